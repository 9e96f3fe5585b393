/*
 * access_log.c - one nginx "combined" line per request.
 *
 *   127.0.0.1 - - [25/Nov/2026:19:41:58 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/7.88.1"
 *
 * The same format as nginx in front, so one log tool reads both tiers.
 * Each line is built in a stack buffer and leaves in a single write() to an
 * O_APPEND descriptor: lines from every thread and worker land whole,
 * never interleaved, with no lock.  Client-supplied fields are escaped the
 * way nginx does (\xHH for quotes, backslashes and control bytes) so a
 * request cannot forge log lines.
 *
 *   [module:access_log]
 *   file = /var/log/spindle/access.log   ; default: stderr
 *
 * Written only against the public API.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "middleware/builtin.h"
#include "spindle/spindle.h"

#define LINE_MAX_BYTES 8192

typedef struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
} line;

static void put(line *l, const char *s, size_t n)
{
    if (n > sizeof(l->buf) - 1 - l->len)
        n = sizeof(l->buf) - 1 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_escaped(line *l, sp_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!sp_str_is_set(s) || s.len == 0) {
        put(l, "-", 1);
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            put(l, esc, 4);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
}

/* One per worker process: set in init_worker before any handler thread
 * starts, only read afterwards, so it needs no lock. */
static int log_fd = -1;

static void put_request_line(line *l, sp_request *req)
{
    char ver[16];
    put_escaped(l, sp_method(req));
    put(l, " ", 1);
    put_escaped(l, sp_target(req));
    int n = snprintf(ver, sizeof(ver), " HTTP/1.%d", sp_http_version(req) % 10);
    put(l, ver, (size_t)n);
}

static int access_log(sp_request *req, sp_response *res, sp_next *next)
{
    int rc = sp_next_call(next, req, res);
    line l;
    char tbuf[64], num[48];
    struct tm tm;
    time_t now = time(NULL);

    l.len = 0;
    put_escaped(&l, sp_remote_addr(req));
    localtime_r(&now, &tm);
    size_t tn = strftime(tbuf, sizeof(tbuf), " - - [%d/%b/%Y:%H:%M:%S %z] \"", &tm);
    put(&l, tbuf, tn);
    put_request_line(&l, req);
    int n = snprintf(num, sizeof(num), "\" %d %zu \"", sp_status(res), sp_body_size(res));
    put(&l, num, (size_t)n);
    put_escaped(&l, sp_header(req, "Referer"));
    put(&l, "\" \"", 3);
    put_escaped(&l, sp_header(req, "User-Agent"));
    put(&l, "\"\n", 2);
    if (l.buf[l.len - 1] != '\n')
        l.buf[l.len++] = '\n'; /* a truncated line still ends its line */
    if (write(log_fd, l.buf, l.len) < 0) {
        /* Nowhere better to report a failing log; the request is served. */
    }
    return rc;
}

static int setup(sp_app *app, const sp_section *conf)
{
    const char *path = sp_conf_get(conf, "file");
    if (path == NULL || path[0] == '\0' || strcmp(path, "stderr") == 0) {
        log_fd = STDERR_FILENO;
    } else {
        log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (log_fd < 0) {
            sp_log(SP_LOG_ERROR, "access_log: cannot open %s: %m", path);
            return SP_EIO;
        }
    }
    return sp_middleware_define(app, "access_log", access_log);
}

static void teardown(sp_app *app)
{
    if (log_fd > STDERR_FILENO)
        close(log_fd);
    log_fd = -1;
}

const sp_module sp__builtin_access_log = {
    .magic = SP_MODULE_MAGIC,
    .abi_major = SP_ABI_MAJOR,
    .abi_minor = SP_ABI_MINOR,
    .size = sizeof(sp_module),
    .name = "access_log",
    .init_worker = setup,
    .exit_worker = teardown,
};
