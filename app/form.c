/*
 * form.c - name=value pairs of the query string and of
 * application/x-www-form-urlencoded bodies, decoded.
 *
 * Both are split on '&' and decoded once per request, on first use, into
 * the request's arena ('+' is a space, %XX a byte, a malformed escape
 * stays as written); every lookup after that is a scan of the decoded
 * pairs.  Names are compared decoded, so "a%20b=1" is found as "a b".
 *
 * A form body is decoded only up to FORM_MAX bytes and PAIRS_MAX fields:
 * decoding copies the body into the arena, so a bound keeps one request
 * from taking memory without end.  Past either, the form reads as empty
 * and one warning says why (sp_body_read still reads it all).  A query
 * string is already bounded by limit-uri, but takes the same field bound.
 */
#include <string.h>
#include <strings.h>

#include "app/request.h"

#define FORM_MAX  (1024 * 1024)
#define PAIRS_MAX 10000

static sp__pairs no_pairs = {NULL, 0}; /* never written */

/* Split raw on '&' into decoded pairs (empty fields skipped). */
static sp__pairs *parse(sp__arena *a, sp_str raw, const char *what)
{
    size_t fields = 1;
    for (size_t i = 0; i < raw.len; i++)
        fields += raw.ptr[i] == '&';
    if (fields > PAIRS_MAX) {
        sp_log(SP_LOG_WARN, "%s: %zu fields, over the %d decoded: read as empty", what, fields,
               PAIRS_MAX);
        return &no_pairs;
    }
    sp__pairs *p = sp__arena_alloc(a, sizeof(*p));
    sp_str *kv = raw.len ? sp__arena_alloc(a, 2 * fields * sizeof(*kv)) : NULL;
    if (p == NULL || (raw.len && kv == NULL))
        return NULL;
    *p = (sp__pairs){kv, 0};
    const char *s = raw.ptr, *end = raw.ptr + raw.len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(stop - s));
        if (stop > s) {
            sp_str k = {s, (size_t)((eq ? eq : stop) - s)};
            sp_str v = eq ? (sp_str){eq + 1, (size_t)(stop - eq - 1)} : (sp_str){stop, 0};
            kv[2 * p->n] = sp__url_decode(a, k, 1);
            kv[2 * p->n + 1] = sp__url_decode(a, v, 1);
            if (kv[2 * p->n].ptr == NULL || kv[2 * p->n + 1].ptr == NULL)
                return NULL;
            p->n++;
        }
        s = stop + 1;
    }
    return p;
}

static const sp__pairs *query_pairs(sp_request *req)
{
    if (req->query_pairs == NULL)
        req->query_pairs = parse(req->arena, req->query, "query string");
    return req->query_pairs ? req->query_pairs : &no_pairs;
}

/* The media type, any case, then the end or parameters (";charset=..."). */
static bool is_form(sp_str type)
{
    static const char form[] = "application/x-www-form-urlencoded";
    size_t n = sizeof(form) - 1, i = n;
    if (type.len < n || strncasecmp(type.ptr, form, n) != 0)
        return false;
    while (i < type.len && (type.ptr[i] == ' ' || type.ptr[i] == '\t'))
        i++;
    return i == type.len || type.ptr[i] == ';';
}

static const sp__pairs *form_pairs(sp_request *req)
{
    if (req->form_pairs != NULL)
        return req->form_pairs;
    if (!is_form(sp_header(req, "Content-Type")))
        return req->form_pairs = &no_pairs;
    if (req->body_len > FORM_MAX) {
        sp_log(SP_LOG_WARN, "form body of %llu bytes, over the %d decoded: read as empty",
               (unsigned long long)req->body_len, FORM_MAX);
        return req->form_pairs = &no_pairs;
    }
    sp_str body = sp_body(req);
    if (body.ptr == NULL)
        return &no_pairs; /* the mapping failed (logged): try again next call */
    req->form_pairs = parse(req->arena, body, "form body");
    return req->form_pairs ? req->form_pairs : &no_pairs;
}

static bool named(sp_str k, const char *name, size_t nlen)
{
    return k.len == nlen && memcmp(k.ptr, name, nlen) == 0;
}

static size_t all(const sp__pairs *p, const char *name, sp_str *out, size_t cap)
{
    size_t n = 0, nlen = name ? strlen(name) : 0;
    for (size_t i = 0; name && i < p->n; i++)
        if (named(p->kv[2 * i], name, nlen)) {
            if (n < cap)
                out[n] = p->kv[2 * i + 1];
            n++;
        }
    return n;
}

static int at(const sp__pairs *p, size_t i, sp_str *key, sp_str *value)
{
    if (i >= p->n)
        return SP_ENOENT;
    if (key)
        *key = p->kv[2 * i];
    if (value)
        *value = p->kv[2 * i + 1];
    return SP_OK;
}

SP_EXPORT sp_str sp_query(sp_request *req, const char *name)
{
    sp_str v = SP_STR_NULL;
    all(query_pairs(req), name, &v, 1);
    return v;
}

SP_EXPORT size_t sp_query_all(sp_request *req, const char *name, sp_str *out, size_t cap)
{
    return all(query_pairs(req), name, out, out ? cap : 0);
}

SP_EXPORT int sp_query_at(sp_request *req, size_t i, sp_str *key, sp_str *value)
{
    return at(query_pairs(req), i, key, value);
}

SP_EXPORT sp_str sp_form(sp_request *req, const char *name)
{
    sp_str v = SP_STR_NULL;
    all(form_pairs(req), name, &v, 1);
    return v;
}

SP_EXPORT size_t sp_form_all(sp_request *req, const char *name, sp_str *out, size_t cap)
{
    return all(form_pairs(req), name, out, out ? cap : 0);
}

SP_EXPORT int sp_form_at(sp_request *req, size_t i, sp_str *key, sp_str *value)
{
    return at(form_pairs(req), i, key, value);
}
