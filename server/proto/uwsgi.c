/*
 * uwsgi.c - uwsgi packet -> HTTP/1.x head (see uwsgi.h for why).
 *
 * Two passes over the variables: the first finds the ones that make the
 * request line and checks every one, the second writes the head in their
 * arrival order into a scratch buffer the size of the packet; only then is
 * the packet overwritten, so an error leaves the buffer untouched.
 */
#include "server/proto/uwsgi.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct view {
    const char *p;
    size_t n;
} view;

/* The variables the head and the connection are built from. */
typedef struct specials {
    view method, uri, path_info, query, proto, host, server_name;
    view uw_scheme, https, req_scheme, raddr, rport, clen;
} specials;

typedef struct writer {
    char *w, *end;
    int overflow;
} writer;

static const char *const hop_by_hop[] = {"CONTENT_LENGTH", "CONTENT_TYPE",      "CONNECTION",
                                         "KEEP_ALIVE",     "TRANSFER_ENCODING", "TE",
                                         "EXPECT",         "UPGRADE",           "PROXY_CONNECTION"};

static unsigned le16(const char *p)
{
    return (unsigned)(unsigned char)p[0] | (unsigned)(unsigned char)p[1] << 8;
}

static bool is(view v, const char *s)
{
    return v.n == strlen(s) && memcmp(v.p, s, v.n) == 0;
}

static int ieq(view v, const char *s)
{
    return v.n == strlen(s) && strncasecmp(v.p, s, v.n) == 0;
}

static int all_of(view v, const char *set)
{
    for (size_t i = 0; i < v.n; i++)
        if (!v.p[i] || !strchr(set, v.p[i]))
            return 0;
    return 1;
}

#define TCHAR    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define NAMECHAR "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
#define HOSTCHAR "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-_:[]"

static bool target_ok(view v)
{
    if (v.n == 0)
        return false;
    for (size_t i = 0; i < v.n; i++)
        if ((unsigned char)v.p[i] <= ' ' || v.p[i] == 0x7f)
            return false;
    return true;
}

static bool value_ok(view v)
{
    return !memchr(v.p, '\r', v.n) && !memchr(v.p, '\n', v.n) && !memchr(v.p, '\0', v.n);
}

/* Walk the variables; fn sees each (key, value).  -1 if one is cut off. */
static int each_var(const char *p, size_t n, int (*fn)(void *, view, view), void *ctx)
{
    size_t i = 0;

    while (i < n) {
        view k, v;

        if (n - i < 2 || n - i - 2 < le16(p + i))
            return -1;
        k = (view){p + i + 2, le16(p + i)};
        i += 2 + k.n;
        if (n - i < 2 || n - i - 2 < le16(p + i))
            return -1;
        v = (view){p + i + 2, le16(p + i)};
        i += 2 + v.n;
        if (k.n == 0 || fn(ctx, k, v) != 0)
            return -1;
    }
    return 0;
}

static int dropped(view name) /* name without HTTP_ */
{
    for (size_t i = 0; i < sizeof hop_by_hop / sizeof hop_by_hop[0]; i++)
        if (ieq(name, hop_by_hop[i]))
            return 1;
    return 0;
}

static void keep_first(view *slot, view v)
{
    if (!slot->p)
        *slot = v;
}

/* First pass: remember the specials; refuse what would break the head. */
static int collect(void *ctx, view k, view v)
{
    specials *s = ctx;
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"REQUEST_METHOD", offsetof(specials, method)},
        {"REQUEST_URI", offsetof(specials, uri)},
        {"PATH_INFO", offsetof(specials, path_info)},
        {"QUERY_STRING", offsetof(specials, query)},
        {"SERVER_PROTOCOL", offsetof(specials, proto)},
        {"SERVER_NAME", offsetof(specials, server_name)},
        {"HTTP_HOST", offsetof(specials, host)},
        {"UWSGI_SCHEME", offsetof(specials, uw_scheme)},
        {"HTTPS", offsetof(specials, https)},
        {"REQUEST_SCHEME", offsetof(specials, req_scheme)},
        {"REMOTE_ADDR", offsetof(specials, raddr)},
        {"REMOTE_PORT", offsetof(specials, rport)},
        {"CONTENT_LENGTH", offsetof(specials, clen)},
    };

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (is(k, map[i].name))
            keep_first((view *)((char *)s + map[i].off), v);
    if (k.n > 5 && memcmp(k.p, "HTTP_", 5) == 0 && !all_of(k, NAMECHAR))
        return -1;
    if ((k.n > 5 && memcmp(k.p, "HTTP_", 5) == 0) || is(k, "CONTENT_TYPE"))
        return value_ok(v) ? 0 : -1;
    return 0;
}

static void put(writer *wr, const char *p, size_t n)
{
    if (wr->overflow || (size_t)(wr->end - wr->w) < n) {
        wr->overflow = 1;
        return;
    }
    memcpy(wr->w, p, n);
    wr->w += n;
}

static void put_s(writer *wr, const char *s)
{
    put(wr, s, strlen(s));
}

/* HTTP_X_FORWARDED_FOR -> X-Forwarded-For */
static void put_name(writer *wr, view k)
{
    char name[256];
    int up = 1;
    size_t n = k.n - 5 < sizeof name ? k.n - 5 : sizeof name;

    for (size_t i = 0; i < n; i++) {
        char c = k.p[5 + i];

        if (c == '_') {
            name[i] = '-';
            up = 1;
            continue;
        }
        name[i] = up ? (char)(c >= 'a' && c <= 'z' ? c - 32 : c)
                     : (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        up = 0;
    }
    if (k.n - 5 > sizeof name)
        wr->overflow = 1;
    put(wr, name, n);
}

static void put_header(writer *wr, const char *name, view v)
{
    put_s(wr, name);
    put(wr, ": ", 2);
    put(wr, v.p, v.n);
    put(wr, "\r\n", 2);
}

/* Second pass: headers in arrival order. */
static int emit(void *ctx, view k, view v)
{
    writer *wr = ctx;

    if (k.n > 5 && memcmp(k.p, "HTTP_", 5) == 0 && !dropped((view){k.p + 5, k.n - 5})) {
        put_name(wr, k);
        put(wr, ": ", 2);
        put(wr, v.p, v.n);
        put(wr, "\r\n", 2);
    } else if (is(k, "CONTENT_TYPE") && v.n) {
        put_header(wr, "Content-Type", v);
    } else if (is(k, "CONTENT_LENGTH") && v.n) {
        put_header(wr, "Content-Length", v);
    }
    return 0;
}

/* CONTENT_LENGTH: digits only, within max.  -1 when it is not a number. */
static int content_length(view v, uint64_t max, uint64_t *out)
{
    uint64_t n = 0;

    *out = 0;
    if (!v.p || v.n == 0)
        return 0;
    if (v.n > 19 || !all_of(v, "0123456789"))
        return -1;
    for (size_t i = 0; i < v.n; i++)
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    *out = n;
    return n > max ? -2 : 0;
}

/* Client address, port and scheme as nginx saw them. */
static void client_of(const specials *s, sp__uw_result *out)
{
    char tmp[48];
    unsigned char bin[16];
    uint64_t port;

    if (s->raddr.p && s->raddr.n < sizeof tmp) {
        memcpy(tmp, s->raddr.p, s->raddr.n);
        tmp[s->raddr.n] = '\0';
        if (inet_pton(AF_INET, tmp, bin) == 1 || inet_pton(AF_INET6, tmp, bin) == 1)
            memcpy(out->addr, tmp, s->raddr.n + 1);
    }
    if (content_length(s->rport, 65535, &port) == 0)
        out->port = (int)port;
    if (s->uw_scheme.p)
        out->https = ieq(s->uw_scheme, "https");
    else if (s->https.p && (ieq(s->https, "on") || ieq(s->https, "1")))
        out->https = 1;
    else if (s->req_scheme.p)
        out->https = ieq(s->req_scheme, "https");
    out->version = is(s->proto, "HTTP/1.0") ? 10 : 11;
}

static const char *check(const specials *s, uint64_t max_body, sp__uw_result *out)
{
    int rc;

    if (!s->method.p || s->method.n == 0 || !all_of(s->method, TCHAR))
        return "uwsgi: REQUEST_METHOD missing or not a token";
    if (s->uri.p && s->uri.n ? !target_ok(s->uri)
                             : !target_ok(s->path_info) || (s->query.n && !target_ok(s->query)))
        return "uwsgi: REQUEST_URI (or PATH_INFO) missing or malformed";
    rc = content_length(s->clen, max_body, &out->body_len);
    if (rc == -1)
        return "uwsgi: CONTENT_LENGTH is not a number";
    if (rc == -2)
        return "uwsgi: CONTENT_LENGTH over limit-body";
    return NULL;
}

static void request_line(writer *wr, const specials *s, int version)
{
    put(wr, s->method.p, s->method.n);
    put(wr, " ", 1);
    if (s->uri.p && s->uri.n) {
        put(wr, s->uri.p, s->uri.n);
    } else {
        put(wr, s->path_info.p, s->path_info.n);
        if (s->query.n) {
            put(wr, "?", 1);
            put(wr, s->query.p, s->query.n);
        }
    }
    put_s(wr, version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
}

/* Build the head into scratch; its length, or 0 on overflow. */
static size_t compose(char *scratch, size_t cap, const char *vars, size_t n, const specials *s,
                      int version)
{
    writer wr = {scratch, scratch + cap, 0};

    request_line(&wr, s, version);
    each_var(vars, n, emit, &wr);
    if (!s->host.p && version == 11) {
        int named = s->server_name.n && all_of(s->server_name, HOSTCHAR);

        put_header(&wr, "Host", named ? s->server_name : (view){"", 0});
    }
    put(&wr, "\r\n", 2);
    return wr.overflow ? 0 : (size_t)(wr.w - scratch);
}

static enum sp__uw_state fail(sp__uw_result *out, const char *reason)
{
    out->reason = reason;
    return SP__UW_ERROR;
}

enum sp__uw_state sp__uw_convert(char *buf, size_t start, size_t *len, size_t max_vars,
                                 uint64_t max_body, sp__uw_result *out)
{
    const char *p = buf + start, *problem;
    size_t have = *len - start, datasize, head;
    specials s;
    char *scratch;

    memset(out, 0, sizeof *out);
    memset(&s, 0, sizeof s);
    if (have >= 1 && p[0] != 0)
        return fail(out, "uwsgi: modifier1 is not 0 (only WSGI-style requests are served)");
    if (have < 4)
        return SP__UW_NEED_MORE;
    datasize = le16(p + 1);
    if (datasize == 0)
        return fail(out, "uwsgi: empty packet");
    if (datasize > max_vars)
        return fail(out, "uwsgi: packet over limit-headers");
    if (have < 4 + datasize)
        return SP__UW_NEED_MORE;
    if (each_var(p + 4, datasize, collect, &s) != 0)
        return fail(out, "uwsgi: truncated or malformed variable");
    if ((problem = check(&s, max_body, out)) != NULL)
        return fail(out, problem);
    client_of(&s, out);
    scratch = malloc(4 + datasize);
    if (!scratch)
        return fail(out, "uwsgi: out of memory");
    head = compose(scratch, 4 + datasize, p + 4, datasize, &s, out->version);
    if (head == 0) {
        free(scratch);
        return fail(out, "uwsgi: request head does not fit");
    }
    memcpy(buf + start, scratch, head);
    free(scratch);
    memmove(buf + start + head, p + 4 + datasize, have - 4 - datasize);
    out->packet_len = 4 + datasize;
    out->head_len = head;
    *len = start + head + (have - 4 - datasize);
    return SP__UW_DONE;
}
