/*
 * access_log.c - one line per request, in a format the operator picks.
 *
 * The default is nginx's "combined", so one log tool reads both tiers:
 *
 *   127.0.0.1 - - [25/Nov/2026:19:41:58 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/7.88.1"
 *
 *   [module:access_log]
 *   file = /var/log/spindle/access.log   ; default: stderr
 *   format = %(addr) "%(request)" %(status) %(msecs)ms w%(worker) t%(thread) %{User-Agent}i
 *   ; or: format = json                  ; one JSON object per line
 *
 * The format lives in this module's own section (not [server]) because
 * it is this middleware's setting; it is parsed once per worker into a
 * list of pieces, so a request only walks the list.  Each line is built in
 * a stack buffer and leaves in a single write() to an O_APPEND descriptor:
 * lines from every thread and worker land whole, never interleaved, with
 * no lock.  Client-supplied bytes are escaped (\xHH in text; in JSON by
 * sp_json_escape, controls as \n or \u00XX) so a request cannot forge log
 * lines.  USR1 reopens the file
 * (reopen_logs, ABI 1.1) by dup3() over the same descriptor number, so a
 * thread writing at that moment never writes to a closed descriptor.
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
#define MAX_PIECES     64
#define DEFAULT_FORMAT                                                                             \
    "%(addr) - - [%(ltime)] \"%(request)\" %(status) %(size) \"%{Referer}i\" "                     \
    "\"%{User-Agent}i\""

enum field {
    F_LITERAL,
    F_HEADER,
    F_ADDR,
    F_LTIME,
    F_ISOTIME,
    F_REQUEST,
    F_METHOD,
    F_URI,
    F_PROTO,
    F_STATUS,
    F_SIZE,
    F_MSECS,
    F_USECS,
    F_WORKER,
    F_THREAD,
    F_ID
};

static const struct {
    const char *name;
    enum field f;
} names[] = {{"addr", F_ADDR},     {"ltime", F_LTIME}, {"time", F_ISOTIME}, {"request", F_REQUEST},
             {"method", F_METHOD}, {"uri", F_URI},     {"proto", F_PROTO},  {"status", F_STATUS},
             {"size", F_SIZE},     {"msecs", F_MSECS}, {"usecs", F_USECS},  {"worker", F_WORKER},
             {"thread", F_THREAD}, {"id", F_ID}};

typedef struct piece {
    enum field f;
    const char *text; /* literal bytes, or the header name (NUL-terminated copy) */
    size_t len;
} piece;

/* One set per worker process: filled in init_worker before any handler
 * thread starts, only read afterwards (the descriptor number never changes:
 * reopen dup3()s over it), so no lock. */
static int log_fd = -1;
static char *log_path;
static int json;
static piece pieces[MAX_PIECES];
static size_t n_pieces;
static char *format_copy;

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

static void puts_(line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* A quoted JSON string, escaped by the SDK's rules.  A line cut short at
 * LINE_MAX_BYTES may end inside an escape: it was never going to parse. */
static void put_json(line *l, sp_str s)
{
    put(l, "\"", 1);
    size_t room = sizeof(l->buf) - 1 - l->len;
    size_t n = sp_json_escape(l->buf + l->len, room, s.ptr, s.len);
    l->len += n < room ? n : room;
    put(l, "\"", 1);
}

/* JSON mode: put_json.  Text mode: "-" for empty, \xHH for quotes,
 * backslashes, control and non-ASCII bytes (as nginx). */
static void put_value(line *l, sp_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (json) {
        put_json(l, s);
        return;
    }
    if (!sp_str_is_set(s) || s.len == 0) {
        put(l, "-", 1);
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            put(l, (const char[]){'\\', 'x', hex[c >> 4], hex[c & 15]}, 4);
        else
            put(l, (const char *)&c, 1);
    }
}

static void put_num(line *l, unsigned long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", v);
    put(l, num, (size_t)n);
}

static void put_time(line *l, int iso)
{
    char tbuf[64];
    struct tm tm;
    time_t now = time(NULL);
    localtime_r(&now, &tm);
    size_t n =
        strftime(tbuf, sizeof(tbuf), iso ? "%Y-%m-%dT%H:%M:%S%z" : "%d/%b/%Y:%H:%M:%S %z", &tm);
    if (json)
        put(l, "\"", 1);
    put(l, tbuf, n);
    if (json)
        put(l, "\"", 1);
}

static void put_proto(line *l, sp_request *req)
{
    put(l, sp_http_version(req) == 10 ? "HTTP/1.0" : "HTTP/1.1", 8);
}

static void put_field(line *l, const piece *p, sp_request *req, sp_response *res)
{
    switch (p->f) {
    case F_LITERAL:
        put(l, p->text, p->len);
        break;
    case F_HEADER:
        put_value(l, sp_header(req, p->text));
        break;
    case F_ADDR:
        put_value(l, sp_remote_addr(req));
        break;
    case F_LTIME:
        put_time(l, 0);
        break;
    case F_ISOTIME:
        put_time(l, 1);
        break;
    case F_REQUEST:
        put_value(l, sp_method(req));
        put(l, " ", 1);
        put_value(l, sp_target(req));
        put(l, " ", 1);
        put_proto(l, req);
        break;
    case F_METHOD:
        put_value(l, sp_method(req));
        break;
    case F_URI:
        put_value(l, sp_target(req));
        break;
    case F_PROTO:
        put_proto(l, req);
        break;
    case F_STATUS:
        put_num(l, (unsigned long long)sp_status(res));
        break;
    case F_SIZE:
        put_num(l, sp_body_size(res));
        break;
    case F_MSECS:
        put_num(l, sp_request_elapsed_ns(req) / 1000000);
        break;
    case F_USECS:
        put_num(l, sp_request_elapsed_ns(req) / 1000);
        break;
    case F_WORKER:
        put_num(l, (unsigned long long)sp_worker_id());
        break;
    case F_THREAD:
        put_num(l, (unsigned long long)sp_thread_index());
        break;
    case F_ID:
        put_value(l, sp_request_id(req));
        break;
    }
}

static void json_line(line *l, sp_request *req, sp_response *res)
{
    static const struct {
        const char *key;
        piece p;
    } keys[] = {{"{\"time\":", {F_ISOTIME, NULL, 0}},
                {",\"addr\":", {F_ADDR, NULL, 0}},
                {",\"method\":", {F_METHOD, NULL, 0}},
                {",\"uri\":", {F_URI, NULL, 0}},
                {",\"status\":", {F_STATUS, NULL, 0}},
                {",\"bytes\":", {F_SIZE, NULL, 0}},
                {",\"msecs\":", {F_MSECS, NULL, 0}},
                {",\"worker\":", {F_WORKER, NULL, 0}},
                {",\"thread\":", {F_THREAD, NULL, 0}},
                {",\"request_id\":", {F_ID, NULL, 0}},
                {",\"referer\":", {F_HEADER, "Referer", 7}},
                {",\"user_agent\":", {F_HEADER, "User-Agent", 10}}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        puts_(l, keys[i].key);
        put_field(l, &keys[i].p, req, res);
        if (i == 3) {
            puts_(l, ",\"proto\":\"");
            put_proto(l, req);
            put(l, "\"", 1);
        }
    }
    put(l, "}", 1);
}

static int access_log(sp_request *req, sp_response *res, sp_next *next)
{
    int rc = sp_next_call(next, req, res);
    line l;

    l.len = 0;
    if (json)
        json_line(&l, req, res);
    else
        for (size_t i = 0; i < n_pieces; i++)
            put_field(&l, &pieces[i], req, res);
    put(&l, "\n", 1);
    if (l.buf[l.len - 1] != '\n')
        l.buf[l.len++] = '\n'; /* a truncated line still ends its line */
    if (write(log_fd, l.buf, l.len) < 0) {
        /* Nowhere better to report a failing log; the request is served. */
    }
    return rc;
}

/* ---- the format ------------------------------------------------------------- */

static int add_piece(enum field f, const char *text, size_t len)
{
    if (n_pieces == MAX_PIECES)
        return -1;
    pieces[n_pieces++] = (piece){f, text, len};
    return 0;
}

/* "%(name)" at s: its field, or -1. */
static int named(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, s, len) == 0)
            return (int)names[i].f;
    return -1;
}

/* Split the format (edited in place: header names get their NUL) into
 * pieces.  NULL, or what is wrong with it. */
static const char *compile(char *fmt)
{
    char *lit = fmt, *p = fmt;
    while (*p) {
        char *end;
        int f = -1;
        if (p[0] == '%' && p[1] == '(' && (end = strchr(p + 2, ')')) != NULL)
            f = named(p + 2, (size_t)(end - p - 2));
        else if (p[0] == '%' && p[1] == '{' && (end = strchr(p + 2, '}')) != NULL && end[1] == 'i')
            f = F_HEADER;
        else if (p[0] == '%' && p[1] == '%')
            f = F_LITERAL, end = p + 1;
        else if (p[0] == '%')
            return "a % must start %(name), %{Header}i or %%";
        else {
            p++;
            continue;
        }
        if (f < 0)
            return "unknown %(name) (known: addr, ltime, time, request, method, uri, proto, "
                   "status, size, msecs, usecs, worker, thread, id)";
        int rc = p > lit ? add_piece(F_LITERAL, lit, (size_t)(p - lit)) : 0;
        if (f == F_LITERAL)
            rc |= add_piece(F_LITERAL, "%", 1);
        else if (f == F_HEADER)
            rc |= add_piece(F_HEADER, p + 2, (size_t)(end - p - 2));
        else
            rc |= add_piece((enum field)f, NULL, 0);
        if (rc != 0)
            return "too many fields";
        if (f == F_HEADER)
            *end++ = '\0'; /* the name ends here; skip the 'i' */
        p = end + 1;
        lit = p;
    }
    if (p > lit && add_piece(F_LITERAL, lit, (size_t)(p - lit)) != 0)
        return "too many fields";
    return NULL;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static int setup(sp_app *app, const sp_section *conf)
{
    const char *path = sp_conf_get(conf, "file"), *fmt = sp_conf_get(conf, "format"), *why;
    if (path == NULL || path[0] == '\0' || strcmp(path, "stderr") == 0) {
        log_fd = STDERR_FILENO;
    } else if ((log_fd = open_log(path)) < 0 || (log_path = strdup(path)) == NULL) {
        sp_log(SP_LOG_ERROR, "access_log: cannot open %s: %m", path);
        return SP_EIO;
    }
    json = fmt != NULL && strcmp(fmt, "json") == 0;
    n_pieces = 0;
    format_copy = strdup(fmt && !json ? fmt : DEFAULT_FORMAT);
    if (format_copy == NULL)
        return SP_ENOMEM;
    if (!json && (why = compile(format_copy)) != NULL) {
        sp_log(SP_LOG_ERROR, "access_log: format: %s", why);
        return SP_EINVAL;
    }
    return sp_middleware_define(app, "access_log", access_log);
}

static void reopen(sp_app *app)
{
    int fd = log_path ? open_log(log_path) : -1;
    if (log_path && (fd < 0 || dup3(fd, log_fd, O_CLOEXEC) < 0))
        sp_log(SP_LOG_ERROR, "access_log: cannot reopen %s: %m", log_path);
    if (fd >= 0)
        close(fd);
}

static void teardown(sp_app *app)
{
    if (log_fd > STDERR_FILENO)
        close(log_fd);
    log_fd = -1;
    free(log_path);
    free(format_copy);
    log_path = format_copy = NULL;
}

static const sp_conf_key keys[] = {
    {"file", SP_CONF_PATH, "where lines go: a file (relative to the ini file's folder) or stderr"},
    {"format", SP_CONF_STRING, "json, or a format of %(name) fields"},
    {NULL, 0, NULL}};

const sp_module sp__builtin_access_log =
    SP_MODULE_DESCRIPTOR("access_log", .init_worker = setup, .exit_worker = teardown,
                         .reopen_logs = reopen, .conf_keys = keys);
