/*
 * crawl.c - background tasks demo: POST a list of URLs, get 202 at once,
 * poll /_tasks/ID until the crawl is done.
 *
 *   curl -si --data-binary $'http://127.0.0.1:8000/\nhttp://127.0.0.1:8000/hello' \
 *        http://127.0.0.1:8000/crawl                  -> 202, Location: /_tasks/ID
 *   curl -s http://127.0.0.1:8000/_tasks/ID           -> {"state":"running", ...}
 *                                                     -> {"state":"done","result":[...]}
 *
 * server.ini needs the built-in tasks module for the polling URL:
 *   [module:tasks]            (GET /_tasks/{id})
 *   [module:crawl]
 *   spool = true              ; optional: durable, run by a spooler
 *
 * The fetcher is a deliberately tiny blocking HTTP/1.0 client: a task
 * thread may block (that is what task threads are for), and only
 * http://127.0.0.1 is allowed so the demo can never be turned into a proxy
 * to the rest of the network.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <spindle/spindle.h>

#define URL_MAX      1024
#define MAX_URLS     100
#define IO_TIMEOUT_S 10
#define ALLOWED      "http://127.0.0.1"

/* Set in init_worker, read-only afterwards. */
static bool use_spool;

/* "http://127.0.0.1[:port][/path]" into port and path; 0, or -1. */
static int parse_url(const char *url, int *port, const char **path)
{
    const char *p = url + strlen(ALLOWED);
    if (strncmp(url, ALLOWED, strlen(ALLOWED)) != 0)
        return -1;
    *port = 80;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
        p = end;
    }
    if (*p != '/' && *p != '\0')
        return -1;
    *path = *p ? p : "/";
    for (const char *c = url; *c; c++)
        if (*c <= ' ' || *c == '"' || *c == '\\' || *c == 0x7f)
            return -1;
    return 0;
}

/* GET url; *status (0 if no answer) and *bytes of body. */
static const char *fetch(int port, const char *path, int *status, long *bytes)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {IO_TIMEOUT_S, 0};
    char buf[16384], req[URL_MAX + 64];
    long total = 0, head = -1;
    *status = 0;
    *bytes = 0;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return "socket failed";
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || send(fd, req, (size_t)n, 0) != n) {
        close(fd);
        return "cannot connect";
    }
    for (ssize_t got; (got = recv(fd, buf, sizeof(buf) - 1, 0)) > 0; total += got) {
        buf[got] = '\0';
        if (total == 0 && sscanf(buf, "HTTP/1.%*d %d", status) != 1)
            *status = 0;
        char *end = head < 0 ? strstr(buf, "\r\n\r\n") : NULL; /* headers fit the first read */
        if (end)
            head = total + (end - buf) + 4;
    }
    close(fd);
    *bytes = head >= 0 ? total - head : 0;
    return *status ? NULL : "no HTTP answer";
}

/* One {"url":...,"status":...} of the result per URL line. */
static void crawl_one(sp_json *out, const char *url)
{
    int port, status;
    long bytes;
    const char *path;
    int ok = parse_url(url, &port, &path) == 0;
    const char *err = ok ? fetch(port, path, &status, &bytes) : "not an http://127.0.0.1 URL";
    sp_json_object(out);
    sp_json_key(out, "url");
    sp_json_cstr(out, url); /* escaped by the writer, whatever the line holds */
    sp_json_key(out, "status");
    sp_json_int(out, err ? 0 : status);
    sp_json_key(out, err ? "error" : "bytes");
    if (err)
        sp_json_cstr(out, err);
    else
        sp_json_int(out, bytes);
    sp_json_end(out);
}

/* The result is JSON, set as such: /_tasks/ID shows it as an array, not
 * as a string holding one. */
static int crawl_task(sp_task *t, const void *payload, size_t len)
{
    char *urls = malloc(len + 1), *save = NULL;
    sp_json *out = sp_json_buffer();
    if (urls == NULL || out == NULL) {
        free(urls);
        sp_json_free(out);
        return SP_ENOMEM;
    }
    memcpy(urls, payload, len);
    urls[len] = '\0';
    sp_json_array(out);
    for (char *line = strtok_r(urls, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
        crawl_one(out, line);
    sp_json_end(out);
    int rc = sp_json_finish(out);
    size_t rlen;
    const char *result = sp_json_data(out, &rlen);
    if (rc == SP_OK)
        rc = sp_task_set_result_json(t, result, rlen);
    sp_json_free(out);
    free(urls);
    return rc;
}

/* Every line an allowed URL, 1 to MAX_URLS of them. */
static int valid_list(sp_str body)
{
    char url[URL_MAX + 1];
    int n = 0, port;
    const char *path;
    for (size_t i = 0; i < body.len;) {
        size_t e = i;
        while (e < body.len && body.ptr[e] != '\n' && body.ptr[e] != '\r')
            e++;
        if (e > i) {
            if (e - i > URL_MAX || ++n > MAX_URLS)
                return 0;
            memcpy(url, body.ptr + i, e - i);
            url[e - i] = '\0';
            if (parse_url(url, &port, &path) != 0)
                return 0;
        }
        i = e + 1;
    }
    return n > 0;
}

static int submit(sp_request *req, sp_response *res)
{
    sp_str body = sp_body(req);
    char id[SP_TASK_ID_LEN], location[64];
    if (body.ptr == NULL || !valid_list(body))
        return sp_send_text(res, 400,
                            "one http://127.0.0.1[:port]/path URL per line, at most "
                            "%d\n",
                            MAX_URLS);
    int rc = sp_task_submit(sp_request_app(req), "crawl", body.ptr, body.len,
                            use_spool ? SP_TASK_SPOOL : 0, id);
    if (rc == SP_EFULL) {
        sp_set_header(res, "Retry-After", "1");
        return sp_send_text(res, 503, "busy: try again in a second\n");
    }
    if (rc != SP_OK) {
        sp_log(SP_LOG_ERROR, "crawl: cannot submit: %s", sp_strerror(rc));
        return 500;
    }
    snprintf(location, sizeof(location), "/_tasks/%s", id);
    sp_set_header(res, "Location", location);
    sp_json *j = sp_json_response(res, 202);
    sp_json_object(j);
    sp_json_key(j, "id");
    sp_json_cstr(j, id);
    sp_json_key(j, "status");
    sp_json_cstr(j, location);
    sp_json_end(j);
    return j ? sp_json_finish(j) : SP_ENOMEM;
}

static int setup(sp_app *app, const sp_section *conf)
{
    /* true/false, yes/no, on/off, 1/0, as server.ini's own switches */
    int rc = sp_conf_bool(conf, "spool", false, &use_spool);
    if (rc == SP_OK)
        rc = sp_task_define(app, "crawl", crawl_task);
    return rc == SP_OK ? sp_route(app, "POST", "/crawl", submit) : rc;
}

/* The settings [module:crawl] may hold: any other key is refused at start
 * and by spindle -t, with a "did you mean". */
static const sp_conf_key keys[] = {
    {"spool", SP_CONF_BOOL, "run each crawl as a spooled task (survives restarts)"},
    {NULL, 0, NULL}};

SP_MODULE(crawl, .init_worker = setup, .conf_keys = keys);
