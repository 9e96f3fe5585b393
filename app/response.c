/*
 * response.c - the response API handlers call.
 *
 * Framing headers (Content-Length, Transfer-Encoding, Connection) belong
 * to the server, which knows whether the body is buffered, streamed or a
 * file and whether the connection stays open; letting a handler set them
 * is how responses get desynchronised, so they are refused with SP_EINVAL.
 * Every header is checked for CR, LF and NUL before it is stored: a bad
 * one can never reach the wire.
 */
#include "app/response.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void sp__response_init(sp_response *res, sp_request *req, sp__buf *body, const sp__sink_ops *sink,
                       void *sink_ctx)
{
    memset(res, 0, sizeof(*res));
    res->req = req;
    res->status = 200;
    res->body = body;
    body->len = 0;
    res->file_fd = -1;
    res->sink = sink;
    res->sink_ctx = sink_ctx;
}

void sp__response_release(sp_response *res)
{
    if (res->file_fd >= 0)
        close(res->file_fd);
    res->file_fd = -1;
}

sp_str sp__response_body(const sp_response *res)
{
    if (res->fixed.ptr != NULL)
        return res->fixed;
    return (sp_str){res->body->data, res->body->len};
}

/* Before the body grows: sp_send_static's bytes join the buffer. */
static int unfix(sp_response *res)
{
    sp_str f = res->fixed;
    if (f.ptr == NULL)
        return SP_OK;
    res->fixed = SP_STR_NULL;
    return sp__buf_append(res->body, f.ptr, f.len);
}

bool sp__status_bodyless(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/* RFC 9110 tchar, as a table: every header of every response passes here. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* The length of a header name, or (size_t)-1 if a byte is not a tchar. */
static size_t token_len(const char *s)
{
    size_t n = 0;
    for (unsigned char ch; (ch = (unsigned char)s[n]) != 0; n++)
        if (!tchar[ch])
            return (size_t)-1;
    return n;
}

/* The length of a header value, or (size_t)-1 if it holds a byte a field
 * value may not: visible ASCII, space, tab and obs-text (0x80-0xFF) are
 * what RFC 9110 5.5 allows.  CR and LF would split the line; the other
 * controls and DEL are refused too, since a proxy in front may read them
 * as either.  Every header of every response passes here, so eight bytes
 * are looked at in one step (any byte below 0x20, or 0x7F?), and only a
 * word that may hold one is looked at byte by byte (a tab is allowed). */
static size_t value_len(const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t n = strlen(v), i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t x, del;
        memcpy(&x, p + i, 8);
        del = x ^ (0x7f * ones);
        if ((((x - 0x20 * ones) & ~x) | ((del - ones) & ~del)) & highs)
            break;
    }
    for (; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            return (size_t)-1;
    return n;
}

static int framing_header(const char *name, size_t n)
{
    return (n == 14 && strcasecmp(name, "Content-Length") == 0) ||
           (n == 17 && strcasecmp(name, "Transfer-Encoding") == 0) ||
           (n == 10 && strcasecmp(name, "Connection") == 0);
}

/* A header as a handler gives it: C strings, so a NUL ends it and can
 * never be inside; lengths measured once here. */
typedef struct hdr_in {
    const char *name, *value;
    size_t nl, vl;
} hdr_in;

static int check_header(const sp_response *res, hdr_in *h)
{
    if (res->headers_sent)
        return SP_ESTATE;
    if (h->name == NULL || h->value == NULL)
        return SP_EINVAL;
    h->nl = token_len(h->name);
    h->vl = value_len(h->value);
    int name_ok = h->nl != 0 && h->nl != (size_t)-1;
    if (!name_ok || h->vl == (size_t)-1) {
        sp_log(SP_LOG_ERROR,
               "refused response header %.64s: forbidden byte (a control byte "
               "in the value, or a name that is not a token)",
               name_ok ? h->name : "(bad name)");
        return SP_EHEADER;
    }
    if (framing_header(h->name, h->nl))
        return SP_EINVAL;
    return SP_OK;
}

/* Store a checked header (copies in the request arena). */
static int store_header(sp_response *res, const hdr_in *in)
{
    sp__arena *a = res->req->arena;
    if (res->n_headers == res->cap_headers) {
        size_t cap = res->cap_headers ? res->cap_headers * 2 : 8;
        sp__header *h = sp__arena_alloc(a, cap * sizeof(*h));
        if (h == NULL)
            return SP_ENOMEM;
        if (res->n_headers)
            memcpy(h, res->headers, res->n_headers * sizeof(*h));
        res->headers = h;
        res->cap_headers = cap;
    }
    char *n = sp__arena_strndup(a, in->name, in->nl), *v = sp__arena_strndup(a, in->value, in->vl);
    if (n == NULL || v == NULL)
        return SP_ENOMEM;
    res->headers[res->n_headers++] = (sp__header){{n, in->nl}, {v, in->vl}};
    return SP_OK;
}

SP_EXPORT int sp_add_header(sp_response *res, const char *name, const char *value)
{
    hdr_in h = {name, value, 0, 0};
    int rc = check_header(res, &h);
    return rc != SP_OK ? rc : store_header(res, &h);
}

SP_EXPORT int sp_del_header(sp_response *res, const char *name)
{
    size_t kept = 0;
    int removed = 0;
    if (res->headers_sent)
        return SP_ESTATE;
    for (size_t i = 0; i < res->n_headers; i++) {
        if (sp__str_ieq(res->headers[i].name, name))
            removed++;
        else
            res->headers[kept++] = res->headers[i];
    }
    res->n_headers = kept;
    return removed;
}

SP_EXPORT int sp_set_header(sp_response *res, const char *name, const char *value)
{
    hdr_in h = {name, value, 0, 0};
    int rc = check_header(res, &h);
    if (rc != SP_OK)
        return rc;
    sp_del_header(res, name);
    return store_header(res, &h);
}

SP_EXPORT sp_str sp_response_header(const sp_response *res, const char *name)
{
    return sp__header_find(res->headers, res->n_headers, name);
}

SP_EXPORT int sp_status(const sp_response *res)
{
    return res->status;
}

SP_EXPORT int sp_set_status(sp_response *res, int status)
{
    /* A final status only: a 1xx would go out as the answer, with no body,
     * and the next pipelined response would follow it on the same
     * connection (the server sends 100 Continue itself and never switches
     * protocols); and HTTP has no status past 599. */
    if (status < 200 || status > 599)
        return SP_EINVAL;
    if (res->headers_sent)
        return SP_ESTATE;
    res->status = status;
    return SP_OK;
}

SP_EXPORT int sp_write(sp_response *res, const void *data, size_t len)
{
    if (res->streaming)
        return sp_stream_write(res, data, len);
    if (res->file_fd >= 0)
        return SP_ESTATE;
    int rc = unfix(res);
    return rc != SP_OK ? rc : sp__buf_append(res->body, data, len);
}

SP_EXPORT int sp_vprintf(sp_response *res, const char *fmt, va_list ap)
{
    if (res->streaming) {
        char small[1024];
        va_list ap2;
        va_copy(ap2, ap);
        int n = vsnprintf(small, sizeof(small), fmt, ap2);
        va_end(ap2);
        if (n < 0)
            return SP_EINVAL;
        if ((size_t)n < sizeof(small))
            return sp_stream_write(res, small, (size_t)n);
        sp_str big = {0};
        char *p = sp_alloc(res->req, (size_t)n + 1);
        if (p == NULL)
            return SP_ENOMEM;
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        big = (sp_str){p, (size_t)n};
        return sp_stream_write(res, big.ptr, big.len);
    }
    if (res->file_fd >= 0)
        return SP_ESTATE;
    int rc = unfix(res);
    return rc != SP_OK ? rc : sp__buf_vprintf(res->body, fmt, ap);
}

SP_EXPORT int sp_printf(sp_response *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sp_vprintf(res, fmt, ap);
    va_end(ap);
    return rc;
}

SP_EXPORT int sp_clear_body(sp_response *res)
{
    if (res->headers_sent)
        return SP_ESTATE;
    res->body->len = 0;
    res->fixed = SP_STR_NULL;
    sp__response_release(res);
    res->file_size = 0;
    return SP_OK;
}

SP_EXPORT size_t sp_body_size(const sp_response *res)
{
    if (res->streaming)
        return (size_t)res->bytes_streamed;
    if (res->file_fd >= 0)
        return (size_t)res->file_size;
    return sp__response_body(res).len;
}

SP_EXPORT int sp_send(sp_response *res, int status, const char *content_type, const void *data,
                      size_t len)
{
    int rc = sp_clear_body(res);
    if (rc == SP_OK)
        rc = sp_set_status(res, status);
    if (rc == SP_OK && content_type != NULL)
        rc = sp_set_header(res, "Content-Type", content_type);
    if (rc == SP_OK)
        rc = sp__buf_append(res->body, data, len);
    return rc;
}

SP_EXPORT int sp_send_static(sp_response *res, int status, const char *content_type,
                             const void *data, size_t len)
{
    int rc = sp_send(res, status, content_type, "", 0);
    if (rc == SP_OK && len > 0)
        res->fixed = (sp_str){data, len};
    return rc;
}

static int send_vtext(sp_response *res, int status, const char *type, const char *fmt, va_list ap)
{
    int rc = sp_send(res, status, type, "", 0);
    return rc == SP_OK ? sp__buf_vprintf(res->body, fmt, ap) : rc;
}

/* A Content-Type the handler set (application/json, say) is its choice and
 * stays; text/plain is only the default. */
SP_EXPORT int sp_send_text(sp_response *res, int status, const char *fmt, ...)
{
    bool typed = sp_str_is_set(sp_response_header(res, "Content-Type"));
    va_list ap;
    va_start(ap, fmt);
    int rc = send_vtext(res, status, typed ? NULL : "text/plain; charset=utf-8", fmt, ap);
    va_end(ap);
    return rc;
}

/* The core's page is text whatever the handler had set. */
static int error_page(sp_response *res, int status, const char *fmt, ...) SP_PRINTF(3, 4);
static int error_page(sp_response *res, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = send_vtext(res, status, "text/plain; charset=utf-8", fmt, ap);
    va_end(ap);
    return rc;
}

SP_EXPORT int sp_send_error(sp_response *res, int status)
{
    if (sp__status_bodyless(status))
        return sp_send(res, status, NULL, "", 0);
    return error_page(res, status, "%d %s\n", status, sp_status_reason(status));
}

SP_EXPORT int sp_send_file(sp_response *res, int status, const char *content_type, const char *path)
{
    struct stat st;
    int rc = sp_clear_body(res);
    if (rc != SP_OK)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SP_ENOENT;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return SP_ENOENT;
    }
    rc = sp_set_status(res, status);
    if (rc == SP_OK && content_type != NULL)
        rc = sp_set_header(res, "Content-Type", content_type);
    if (rc != SP_OK) {
        close(fd);
        return rc;
    }
    res->file_fd = fd;
    res->file_size = (uint64_t)st.st_size;
    return SP_OK;
}

SP_EXPORT int sp_stream_start(sp_response *res)
{
    if (res->headers_sent || res->file_fd >= 0)
        return SP_ESTATE;
    int rc = res->sink->stream_start(res->sink_ctx, res);
    if (rc == SP_OK) {
        res->headers_sent = 1;
        res->streaming = 1;
        if (res->body->len) {
            size_t n = res->body->len;
            res->body->len = 0;
            rc = sp_stream_write(res, res->body->data, n);
        }
    }
    return rc;
}

SP_EXPORT int sp_stream_write(sp_response *res, const void *data, size_t len)
{
    if (!res->streaming)
        return SP_ESTATE;
    if (len == 0)
        return SP_OK;
    int rc = res->sink->stream_write(res->sink_ctx, data, len);
    if (rc == SP_OK)
        res->bytes_streamed += len;
    return rc;
}

SP_EXPORT int sp_headers_sent(const sp_response *res)
{
    return res->headers_sent;
}
