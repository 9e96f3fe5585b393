/*
 * request.c - the request API handlers call.
 *
 * Lookups are linear scans: requests carry tens of headers and a handful
 * of query parameters, where a scan beats building any index.  Decoded
 * values go to the request's arena, so the raw buffer is never modified.
 */
#include "app/request.h"

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/lib/clock.h"

int sp__str_ieq(sp_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && strncasecmp(s.ptr, c, n) == 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

sp_str sp__url_decode(sp__arena *a, sp_str src, int plus_space)
{
    char *out = sp__arena_alloc(a, src.len + 1);
    size_t n = 0;

    if (out == NULL)
        return SP_STR_NULL;
    for (size_t i = 0; i < src.len; i++) {
        char c = src.ptr[i];
        if (c == '%' && i + 2 < src.len && hexval(src.ptr[i + 1]) >= 0 &&
            hexval(src.ptr[i + 2]) >= 0) {
            c = (char)(hexval(src.ptr[i + 1]) * 16 + hexval(src.ptr[i + 2]));
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return (sp_str){out, n};
}

/* Request ids: 64 bits of per-process random prefix and a counter, as 16
 * hex digits.  Unique per worker without a lock; the prefix differs per
 * worker because it is seeded after fork. */
static _Atomic unsigned long long id_counter;
static unsigned long long id_prefix;

static void request_id_generate(sp_request *req)
{
    if (id_prefix == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id_prefix = ((unsigned long long)getpid() << 40) ^ (unsigned long long)ts.tv_nsec << 8 ^
                    (unsigned long long)ts.tv_sec;
    }
    unsigned long long n = atomic_fetch_add_explicit(&id_counter, 1, memory_order_relaxed);
    unsigned long long v = (id_prefix * 0x9E3779B97F4A7C15ull) ^ (n * 0xBF58476D1CE4E5B9ull);
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        req->id_buf[i] = hex[v & 15];
    req->id_buf[16] = '\0';
    req->request_id = (sp_str){req->id_buf, 16};
}

void sp__request_prepare(sp_request *req)
{
    const char *q = memchr(req->target.ptr, '?', req->target.len);
    if (q != NULL) {
        req->path = (sp_str){req->target.ptr, (size_t)(q - req->target.ptr)};
        req->query = (sp_str){q + 1, req->target.len - req->path.len - 1};
    } else {
        req->path = req->target;
        req->query = (sp_str){req->target.ptr + req->target.len, 0};
    }
    req->match = NULL;
    req->reached = 0;
    req->query_pairs = NULL;
    req->form_pairs = NULL;
    request_id_generate(req);
}

SP_EXPORT sp_str sp_method(const sp_request *req)
{
    return req->method;
}
SP_EXPORT sp_str sp_target(const sp_request *req)
{
    return req->target;
}
SP_EXPORT sp_str sp_path(const sp_request *req)
{
    return req->path;
}
SP_EXPORT sp_str sp_query_string(const sp_request *req)
{
    return req->query;
}
SP_EXPORT int sp_http_version(const sp_request *req)
{
    return req->version;
}
SP_EXPORT sp_str sp_scheme(const sp_request *req)
{
    return req->scheme;
}
SP_EXPORT sp_str sp_remote_addr(const sp_request *req)
{
    return req->remote_addr;
}
SP_EXPORT int sp_remote_port(const sp_request *req)
{
    return req->remote_port;
}
SP_EXPORT sp_str sp_request_id(const sp_request *req)
{
    return req->request_id;
}

void sp__request_release(sp_request *req)
{
    if (req->body_map != NULL)
        munmap(req->body_map, (size_t)req->body_len);
    if (req->body_fd >= 0)
        close(req->body_fd);
    req->body_map = NULL;
    req->body_fd = -1;
    req->body_off = 0;
}

SP_EXPORT sp_str sp_body(sp_request *req)
{
    if (req->body_fd < 0 || req->body.ptr != NULL)
        return req->body;
    void *m = mmap(NULL, (size_t)req->body_len, PROT_READ, MAP_PRIVATE, req->body_fd, 0);
    if (m == MAP_FAILED) {
        sp_log(SP_LOG_ERROR, "mapping a %llu-byte request body: %m",
               (unsigned long long)req->body_len);
        return SP_STR_NULL;
    }
    req->body_map = m;
    req->body = (sp_str){m, (size_t)req->body_len};
    return req->body;
}

SP_EXPORT uint64_t sp_body_length(const sp_request *req)
{
    return req->body_len;
}

SP_EXPORT long sp_body_read(sp_request *req, void *buf, size_t cap)
{
    uint64_t left = req->body_len - req->body_off;
    size_t n = cap < left ? cap : (size_t)left;
    if (n > LONG_MAX)
        n = LONG_MAX;
    if (n == 0)
        return 0;
    if (req->body_fd < 0) {
        memcpy(buf, req->body.ptr + req->body_off, n);
    } else {
        ssize_t r = pread(req->body_fd, buf, n, (off_t)req->body_off);
        if (r <= 0)
            return SP_EIO;
        n = (size_t)r;
    }
    req->body_off += n;
    return (long)n;
}

SP_EXPORT sp_str sp_param(sp_request *req, const char *name)
{
    for (size_t i = 0; req->match != NULL && i < req->match->n_params; i++) {
        const sp__param *p = &req->match->params[i];
        if (p->name.len == strlen(name) && memcmp(p->name.ptr, name, p->name.len) == 0)
            return sp__url_decode(req->arena, p->value, 0);
    }
    return SP_STR_NULL;
}

sp_str sp__header_find(const sp__header *h, size_t n, const char *name)
{
    size_t len = strlen(name); /* once, not per header */
    for (size_t i = 0; i < n; i++)
        if (h[i].name.len == len && strncasecmp(h[i].name.ptr, name, len) == 0)
            return h[i].value;
    return SP_STR_NULL;
}

SP_EXPORT sp_str sp_header(const sp_request *req, const char *name)
{
    return sp__header_find(req->headers, req->n_headers, name);
}

SP_EXPORT size_t sp_header_count(const sp_request *req)
{
    return req->n_headers;
}

SP_EXPORT int sp_header_at(const sp_request *req, size_t i, sp_str *name, sp_str *value)
{
    if (i >= req->n_headers)
        return SP_ENOENT;
    *name = req->headers[i].name;
    *value = req->headers[i].value;
    return SP_OK;
}

SP_EXPORT int sp_set_request_id(sp_request *req, sp_str id)
{
    char *copy = sp__arena_strndup(req->arena, id.ptr, id.len);
    if (copy == NULL)
        return SP_ENOMEM;
    req->request_id = (sp_str){copy, id.len};
    return SP_OK;
}

SP_EXPORT uint64_t sp_request_elapsed_ns(const sp_request *req)
{
    uint64_t start = sp_request_start_ns(req), now = sp__now_ns();
    return start != 0 && now > start ? now - start : 0;
}

SP_EXPORT void *sp_alloc(sp_request *req, size_t size)
{
    return sp__arena_alloc(req->arena, size);
}

SP_EXPORT sp_str sp_sprintf(sp_request *req, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? sp__arena_alloc(req->arena, (size_t)n + 1) : NULL;
    if (p != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p ? (sp_str){p, (size_t)n} : SP_STR_NULL;
}
