/*
 * cookie.c - reading Cookie headers and writing Set-Cookie lines
 * (RFC 6265).
 *
 * Reading is lenient, as browsers send what servers once set: pairs split
 * on ';', blanks around them dropped, a value's surrounding double quotes
 * removed, every Cookie header searched in order.  Values are views into
 * the header: nothing is copied or decoded.
 *
 * Writing is strict: a name must be a token and a value cookie-octets (or
 * those inside double quotes), a path or domain free of ';' and controls,
 * so a Set-Cookie line can never carry an attribute the handler did not
 * ask for.  Refused with SP_EHEADER, as sp_set_header refuses a bad byte.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app/response.h"
#include "server/lib/httpdate.h"

/* ---- reading ------------------------------------------------------------------ */

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The value of name in one Cookie header, or unset. */
static sp_str find(sp_str h, const char *name, size_t nlen)
{
    const char *p = h.ptr, *end = h.ptr + h.len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        while (p < stop && blank(*p))
            p++;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq != NULL) {
            const char *k = eq;
            while (k > p && blank(k[-1]))
                k--;
            if ((size_t)(k - p) == nlen && memcmp(p, name, nlen) == 0) {
                const char *v = eq + 1, *ve = stop;
                while (v < ve && blank(*v))
                    v++;
                while (ve > v && blank(ve[-1]))
                    ve--;
                if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
                    v++, ve--;
                return (sp_str){v, (size_t)(ve - v)};
            }
        }
        p = stop + 1;
    }
    return SP_STR_NULL;
}

SP_EXPORT sp_str sp_cookie(sp_request *req, const char *name)
{
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0)
        return SP_STR_NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (!sp__str_ieq(req->headers[i].name, "Cookie"))
            continue;
        sp_str v = find(req->headers[i].value, name, nlen);
        if (sp_str_is_set(v))
            return v;
    }
    return SP_STR_NULL;
}

/* ---- writing ------------------------------------------------------------------ */

/* RFC 9110 token. */
static bool token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c) != NULL)
            return false;
    }
    return true;
}

/* RFC 6265 cookie-octet: no controls, space, '"', ',', ';' or '\'. */
static bool octet(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != ',' && c != ';' && c != '\\';
}

static bool cookie_value(const char *s)
{
    size_t n = strlen(s), i = 0;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        i = 1, n--;
    for (; i < n; i++)
        if (!octet((unsigned char)s[i]))
            return false;
    return true;
}

/* An attribute value: any CHAR but controls and ';'. */
static bool av_value(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ';')
            return false;
    return true;
}

static const char *same_site_word(const char *s)
{
    static const char *const words[] = {"Strict", "Lax", "None"};
    for (size_t i = 0; i < 3; i++)
        if (strcasecmp(s, words[i]) == 0)
            return words[i];
    return NULL;
}

/* Check opts and write the attributes after name=value into line. */
static int attributes(char *line, size_t cap, size_t *len, const struct sp_cookie *o, bool clear)
{
    static const struct sp_cookie none;
    char date[SP__HTTPDATE_LEN + 1];
    const char *ss = NULL;
    if (o == NULL)
        o = &none;
    if ((o->path && !av_value(o->path)) || (o->domain && !av_value(o->domain)))
        return SP_EHEADER;
    if (!clear && o->max_age < 0)
        return SP_EINVAL;
    if (o->same_site &&
        ((ss = same_site_word(o->same_site)) == NULL || (strcmp(ss, "None") == 0 && !o->secure)))
        return SP_EINVAL;
    size_t n = *len;
#define ADD(...) (n += (size_t)snprintf(line + n, n < cap ? cap - n : 0, __VA_ARGS__))
    if (o->path)
        ADD("; Path=%s", o->path);
    if (o->domain)
        ADD("; Domain=%s", o->domain);
    if (clear) {
        ADD("; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    } else if (o->max_age > 0) {
        sp__httpdate_format(time(NULL) + (time_t)o->max_age, date);
        ADD("; Max-Age=%ld; Expires=%s", o->max_age, date);
    }
    if (o->secure)
        ADD("; Secure");
    if (o->http_only)
        ADD("; HttpOnly");
    if (ss)
        ADD("; SameSite=%s", ss);
#undef ADD
    *len = n;
    return SP_OK;
}

static int set_cookie(sp_response *res, const char *name, const char *value,
                      const struct sp_cookie *o, bool clear)
{
    if (res == NULL || name == NULL || value == NULL)
        return SP_EINVAL;
    if (res->headers_sent)
        return SP_ESTATE;
    if (!token(name) || !cookie_value(value))
        return SP_EHEADER;
    size_t cap = strlen(name) + strlen(value) + 160 + (o && o->path ? strlen(o->path) : 0) +
                 (o && o->domain ? strlen(o->domain) : 0);
    char *line = sp_alloc(res->req, cap);
    if (line == NULL)
        return SP_ENOMEM;
    size_t len = (size_t)snprintf(line, cap, "%s=%s", name, value);
    int rc = attributes(line, cap, &len, o, clear);
    if (rc != SP_OK)
        return rc;
    if (len >= cap)
        return SP_E2BIG; /* cannot happen: cap counts every attribute */
    return sp_add_header(res, "Set-Cookie", line);
}

SP_EXPORT int sp_set_cookie(sp_response *res, const char *name, const char *value,
                            const struct sp_cookie *opts)
{
    return set_cookie(res, name, value, opts, false);
}

SP_EXPORT int sp_clear_cookie(sp_response *res, const char *name, const struct sp_cookie *opts)
{
    return set_cookie(res, name, "", opts, true);
}
