/*
 * trust.c - forwarded-header evaluation (see trust.h for the rule).
 *
 * Hops are gathered into a small ring (the right-most SP__FWD_MAX_HOPS)
 * across every header line of the kind, in arrival order, because several
 * X-Forwarded-For lines mean the same as one comma-joined line.
 */
#include "server/proto/trust.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

typedef struct hop {
    sp_str node;  /* an X-Forwarded-For entry, or a Forwarded for= value */
    sp_str proto; /* Forwarded proto= of the same element */
} hop;

typedef struct hops {
    hop v[SP__FWD_MAX_HOPS];
    size_t total; /* ever added; the ring holds the last min(total, MAX) */
} hops;

static void add(hops *h, sp_str node, sp_str proto)
{
    h->v[h->total % SP__FWD_MAX_HOPS] = (hop){node, proto};
    h->total++;
}

/* The i-th hop counting from the right (0 = right-most). */
static const hop *from_right(const hops *h, size_t i)
{
    return &h->v[(h->total - 1 - i) % SP__FWD_MAX_HOPS];
}

static sp_str trim(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return (sp_str){p, (size_t)(e - p)};
}

/* End of the current item: the next sep outside a quoted string. */
static const char *item_end(const char *p, const char *e, char sep)
{
    int quoted = 0;

    for (; p < e; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == sep && !quoted)
            return p;
    }
    return e;
}

static void xff_entry(sp_str entry, hops *out)
{
    add(out, entry, SP_STR_NULL);
}

/* Every comma-separated item of every header called name, in order. */
static void each_item(const sp__header *hs, size_t n, const char *name, void (*fn)(sp_str, hops *),
                      hops *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = hs[i].value.ptr, *e = p + hs[i].value.len;

        if (!sp__str_ieq(hs[i].name, name))
            continue;
        for (const char *q = p, *end;; q = end + 1) {
            end = item_end(q, e, ',');
            fn(trim(q, end), out);
            if (end == e)
                break;
        }
    }
}

static sp_str unquote(sp_str v)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        return (sp_str){v.ptr + 1, v.len - 2};
    return v;
}

/* One Forwarded element: "for=...;proto=...;by=...". */
static void forwarded_element(sp_str el, hops *out)
{
    const char *p = el.ptr, *e = el.ptr + el.len;
    sp_str node = {"", 0}, proto = SP_STR_NULL;

    for (const char *q = p, *end;; q = end + 1) {
        end = item_end(q, e, ';');
        sp_str pair = trim(q, end);
        const char *eq = memchr(pair.ptr, '=', pair.len);

        if (eq) {
            sp_str key = trim(pair.ptr, eq), val = unquote(trim(eq + 1, pair.ptr + pair.len));

            if (sp__str_ieq(key, "for"))
                node = val;
            else if (sp__str_ieq(key, "proto"))
                proto = val;
        }
        if (end == e)
            break;
    }
    add(out, node, proto);
}

/* "1.2.3.4", "1.2.3.4:80", "::1", "[::1]", "[::1]:80" -> canonical text
 * and port.  -1 when it is not an address. */
static int parse_node(sp_str v, char addr[48], int *port)
{
    char tmp[64];
    unsigned char bin[16];
    const char *host = v.ptr, *colon = NULL;
    size_t hl = v.len;
    int family, p = 0;

    if (v.len && v.ptr[0] == '[') {
        const char *rb = memchr(v.ptr, ']', v.len);

        if (!rb)
            return -1;
        host = v.ptr + 1;
        hl = (size_t)(rb - host);
        colon = rb + 1 < v.ptr + v.len ? rb + 1 : NULL;
        if (colon && *colon != ':')
            return -1;
    } else if ((colon = memchr(v.ptr, ':', v.len)) != NULL &&
               memchr(colon + 1, ':', v.len - (size_t)(colon + 1 - v.ptr))) {
        colon = NULL; /* a bare IPv6 address */
    } else if (colon) {
        hl = (size_t)(colon - v.ptr);
    }
    if (colon) {
        size_t n = (size_t)(v.ptr + v.len - colon - 1);

        if (n == 0 || n > 5)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return -1;
            p = p * 10 + (colon[1 + i] - '0');
        }
        if (p > 65535)
            return -1;
    }
    if (hl == 0 || hl >= sizeof tmp)
        return -1;
    memcpy(tmp, host, hl);
    tmp[hl] = '\0';
    family = inet_pton(AF_INET, tmp, bin) == 1 ? AF_INET : AF_INET6;
    if (family == AF_INET6 && inet_pton(AF_INET6, tmp, bin) != 1)
        return -1;
    inet_ntop(family, bin, addr, 48);
    *port = p;
    return 0;
}

static int scheme_of(sp_str v)
{
    if (sp__str_ieq(v, "https"))
        return 1;
    return sp__str_ieq(v, "http") ? 0 : -1;
}

/* Right-most hop that is not trusted (or the left-most); 0 when found. */
static int walk(const sp__cidr_list *trusted, const hops *h, sp__fwd_result *out)
{
    size_t n = h->total < SP__FWD_MAX_HOPS ? h->total : SP__FWD_MAX_HOPS;

    for (size_t i = 0; i < n; i++) {
        const hop *hp = from_right(h, i);
        char addr[48];
        int port;

        if (parse_node(hp->node, addr, &port) != 0)
            return -1;
        if (i + 1 < n && sp__cidr_match_text(trusted, addr, strlen(addr)))
            continue;
        memcpy(out->addr, addr, sizeof addr);
        out->port = port;
        if (hp->proto.ptr)
            out->https = scheme_of(hp->proto);
        return 0;
    }
    return -1;
}

/* X-Forwarded-Proto: the right-most value of the last line. */
static int xfp(const sp__header *hs, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (!sp__str_ieq(hs[i].name, "X-Forwarded-Proto"))
            continue;
        const char *p = hs[i].value.ptr, *e = p + hs[i].value.len, *c = e;

        while (c > p && c[-1] != ',')
            c--;
        return scheme_of(trim(c, e));
    }
    return -1;
}

int sp__trust_forwarded(const sp__cidr_list *trusted, int mode, const sp__header *headers, size_t n,
                        sp__fwd_result *out)
{
    hops h;

    memset(out, 0, sizeof *out);
    out->https = -1;
    h.total = 0;
    if (mode == SP__FWD_X_FORWARDED) {
        each_item(headers, n, "X-Forwarded-For", xff_entry, &h);
        if (walk(trusted, &h, out) != 0)
            out->addr[0] = '\0';
        out->https = xfp(headers, n);
    } else if (mode == SP__FWD_FORWARDED) {
        each_item(headers, n, "Forwarded", forwarded_element, &h);
        if (walk(trusted, &h, out) != 0) {
            out->addr[0] = '\0';
            out->https = -1;
        }
    }
    return out->addr[0] != '\0' || out->https >= 0;
}
