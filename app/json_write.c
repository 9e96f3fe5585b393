/*
 * json_write.c - the JSON writer modules build documents with, and the
 * validator that guards raw JSON (sp_json_raw, task results).
 *
 * A writer keeps a stack of open containers (at most 64) and, per level,
 * whether a value was written (a comma is due) and, in an object, whether
 * a key waits for its value; that is all it needs to place commas and to
 * refuse misuse.  Strings go through sp_json_escape (json.c), the one
 * escaper of the server, so a module's documents escape as the stats and
 * the access log do.  Text goes to the response with sp_write, or to a
 * growing heap buffer for a task result.
 *
 * The first error is sticky: every later call returns it and writes
 * nothing, so a handler may chain calls and check sp_json_finish alone.
 *
 * The validator is a recursive descent over RFC 8259's grammar, its
 * recursion bounded by the same depth limit, so a hostile input cannot
 * exhaust the stack.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/response.h"

#define DEPTH_MAX 64

struct sp_json {
    sp_response *res; /* NULL: a buffer writer */
    char *data;       /* buffer writers: the text, NUL-terminated */
    size_t len, cap;
    int rc;
    int depth;
    bool top_done;                 /* the top-level value is written */
    unsigned char kind[DEPTH_MAX]; /* '{' or '[' per open level */
    bool any[DEPTH_MAX];           /* a value was written at this level */
    bool key_pending[DEPTH_MAX];   /* objects: a key waits for its value */
};

static int put(sp_json *j, const void *p, size_t n)
{
    if (j->res != NULL)
        return sp_write(j->res, p, n);
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *d = realloc(j->data, cap);
        if (d == NULL)
            return SP_ENOMEM;
        j->data = d;
        j->cap = cap;
    }
    memcpy(j->data + j->len, p, n);
    j->len += n;
    j->data[j->len] = '\0';
    return SP_OK;
}

static int fail(sp_json *j, int rc)
{
    if (j->rc == SP_OK)
        j->rc = rc;
    return j->rc;
}

/* Before a value: is one allowed here, and the comma it needs. */
static int before_value(sp_json *j)
{
    if (j->rc != SP_OK)
        return j->rc;
    if (j->depth == 0) {
        if (j->top_done)
            return fail(j, SP_ESTATE);
        return SP_OK;
    }
    int d = j->depth - 1;
    if (j->kind[d] == '{') {
        if (!j->key_pending[d])
            return fail(j, SP_ESTATE);
        return SP_OK; /* the key wrote the comma */
    }
    if (j->any[d]) {
        int rc = put(j, ",", 1);
        if (rc != SP_OK)
            return fail(j, rc);
    }
    return SP_OK;
}

/* After a whole value (a scalar, or a container just closed). */
static void after_value(sp_json *j)
{
    if (j->depth == 0) {
        j->top_done = true;
        return;
    }
    j->any[j->depth - 1] = true;
    j->key_pending[j->depth - 1] = false;
}

static int value(sp_json *j, const char *text, size_t n)
{
    int rc = before_value(j);
    if (rc != SP_OK)
        return rc;
    if ((rc = put(j, text, n)) != SP_OK)
        return fail(j, rc);
    after_value(j);
    return SP_OK;
}

/* A quoted, escaped string (a key or a value), written in one piece. */
static int quoted(sp_json *j, const char *s, size_t n, bool colon)
{
    char small[256], *buf = small;
    size_t need = sp_json_escape(NULL, 0, s, n) + 3;
    if (need > sizeof(small) && (buf = malloc(need)) == NULL)
        return fail(j, SP_ENOMEM);
    size_t len = sp_json_escape(buf + 1, need - 1, s, n) + 1;
    buf[0] = '"';
    buf[len++] = '"';
    if (colon)
        buf[len++] = ':';
    int rc = put(j, buf, len);
    if (buf != small)
        free(buf);
    return rc == SP_OK ? SP_OK : fail(j, rc);
}

SP_EXPORT sp_json *sp_json_response(sp_response *res, int status)
{
    if (res == NULL || status < 200 || status > 599 || res->headers_sent)
        return NULL;
    sp_json *j = sp_alloc(res->req, sizeof(*j));
    if (j == NULL)
        return NULL;
    memset(j, 0, sizeof(*j));
    j->res = res;
    bool typed = sp_str_is_set(sp_response_header(res, "Content-Type"));
    if (sp_clear_body(res) != SP_OK || sp_set_status(res, status) != SP_OK ||
        (!typed && sp_set_header(res, "Content-Type", "application/json") != SP_OK))
        return NULL;
    return j;
}

SP_EXPORT sp_json *sp_json_buffer(void)
{
    return calloc(1, sizeof(sp_json));
}

SP_EXPORT const char *sp_json_data(const sp_json *j, size_t *len)
{
    if (len != NULL)
        *len = j != NULL && j->res == NULL ? j->len : 0;
    if (j == NULL || j->res != NULL)
        return NULL;
    return j->data != NULL ? j->data : "";
}

SP_EXPORT void sp_json_free(sp_json *j)
{
    if (j == NULL || j->res != NULL)
        return; /* a response writer lives in the arena */
    free(j->data);
    free(j);
}

static int open_container(sp_json *j, char kind)
{
    int rc = before_value(j);
    if (rc != SP_OK)
        return rc;
    if (j->depth == DEPTH_MAX)
        return fail(j, SP_ESTATE);
    if ((rc = put(j, &kind, 1)) != SP_OK)
        return fail(j, rc);
    j->kind[j->depth] = (unsigned char)kind;
    j->any[j->depth] = false;
    j->key_pending[j->depth] = false;
    j->depth++;
    return SP_OK;
}

SP_EXPORT int sp_json_object(sp_json *j)
{
    return j ? open_container(j, '{') : SP_EINVAL;
}

SP_EXPORT int sp_json_array(sp_json *j)
{
    return j ? open_container(j, '[') : SP_EINVAL;
}

SP_EXPORT int sp_json_end(sp_json *j)
{
    if (j == NULL)
        return SP_EINVAL;
    if (j->rc != SP_OK)
        return j->rc;
    if (j->depth == 0 || j->key_pending[j->depth - 1])
        return fail(j, SP_ESTATE);
    char c = j->kind[j->depth - 1] == '{' ? '}' : ']';
    int rc = put(j, &c, 1);
    if (rc != SP_OK)
        return fail(j, rc);
    j->depth--;
    after_value(j);
    return SP_OK;
}

SP_EXPORT int sp_json_key(sp_json *j, const char *key)
{
    if (j == NULL)
        return SP_EINVAL;
    if (j->rc != SP_OK)
        return j->rc;
    if (key == NULL)
        return fail(j, SP_EINVAL);
    int d = j->depth - 1;
    if (j->depth == 0 || j->kind[d] != '{' || j->key_pending[d])
        return fail(j, SP_ESTATE);
    if (j->any[d]) {
        int rc = put(j, ",", 1);
        if (rc != SP_OK)
            return fail(j, rc);
    }
    int rc = quoted(j, key, strlen(key), true);
    if (rc == SP_OK)
        j->key_pending[d] = true;
    return rc;
}

SP_EXPORT int sp_json_str(sp_json *j, sp_str s)
{
    if (j == NULL)
        return SP_EINVAL;
    if (!sp_str_is_set(s))
        return sp_json_null(j);
    int rc = before_value(j);
    if (rc == SP_OK && (rc = quoted(j, s.ptr, s.len, false)) == SP_OK)
        after_value(j);
    return rc;
}

SP_EXPORT int sp_json_cstr(sp_json *j, const char *s)
{
    return sp_json_str(j, s ? (sp_str){s, strlen(s)} : SP_STR_NULL);
}

SP_EXPORT int sp_json_int(sp_json *j, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return j ? value(j, buf, (size_t)n) : SP_EINVAL;
}

SP_EXPORT int sp_json_uint(sp_json *j, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    return j ? value(j, buf, (size_t)n) : SP_EINVAL;
}

/* %g may write a decimal comma under a non-C LC_NUMERIC; JSON wants a point. */
static int format_double(char *buf, size_t cap, int digits, double v)
{
    int n = snprintf(buf, cap, "%.*g", digits, v);
    for (int i = 0; i < n; i++)
        if (buf[i] == ',')
            buf[i] = '.';
    return n;
}

SP_EXPORT int sp_json_double(sp_json *j, double v)
{
    char buf[40];
    if (j == NULL)
        return SP_EINVAL;
    if (j->rc != SP_OK)
        return j->rc;
    if (!isfinite(v))
        return fail(j, SP_EINVAL);
    int n = format_double(buf, sizeof(buf), 15, v);
    if (strtod(buf, NULL) != v)
        n = format_double(buf, sizeof(buf), 17, v);
    return value(j, buf, (size_t)n);
}

SP_EXPORT int sp_json_bool(sp_json *j, bool v)
{
    return j ? value(j, v ? "true" : "false", v ? 4 : 5) : SP_EINVAL;
}

SP_EXPORT int sp_json_null(sp_json *j)
{
    return j ? value(j, "null", 4) : SP_EINVAL;
}

SP_EXPORT int sp_json_raw(sp_json *j, const char *json, size_t len)
{
    if (j == NULL)
        return SP_EINVAL;
    if (j->rc != SP_OK)
        return j->rc;
    if (json == NULL || !sp_json_valid(json, len))
        return fail(j, SP_EINVAL);
    return value(j, json, len);
}

SP_EXPORT int sp_json_finish(sp_json *j)
{
    if (j == NULL)
        return SP_EINVAL;
    if (j->rc == SP_OK && (j->depth != 0 || !j->top_done))
        return fail(j, SP_ESTATE);
    return j->rc;
}

SP_EXPORT int sp_send_json(sp_response *res, int status, const char *json, size_t len)
{
    bool typed = sp_str_is_set(sp_response_header(res, "Content-Type"));
    if (json == NULL && len > 0)
        return SP_EINVAL;
    return sp_send(res, status, typed ? NULL : "application/json", json ? json : "", len);
}

/* ---- validation -------------------------------------------------------------- */

typedef struct scan {
    const unsigned char *p, *end;
} scan;

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* At the opening quote. */
static bool scan_string(scan *s)
{
    const unsigned char *start = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = *s->p;
        if (c < 0x20)
            return false;
        if (c != '\\') {
            s->p++;
            continue;
        }
        if (s->end - s->p < 2)
            return false;
        c = s->p[1];
        if (c == 'u') {
            if (s->end - s->p < 6 || !is_hex(s->p[2]) || !is_hex(s->p[3]) || !is_hex(s->p[4]) ||
                !is_hex(s->p[5]))
                return false;
            s->p += 6;
        } else if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
            s->p += 2;
        } else {
            return false;
        }
    }
    if (s->p == s->end)
        return false;
    /* Escapes are ASCII: the raw span is UTF-8 exactly when the text is. */
    bool ok = sp_utf8_valid(start, (size_t)(s->p - start));
    s->p++;
    return ok;
}

static bool digits(scan *s)
{
    const unsigned char *from = s->p;
    while (s->p < s->end && is_digit(*s->p))
        s->p++;
    return s->p > from;
}

static bool scan_number(scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p == s->end)
        return false;
    if (*s->p == '0')
        s->p++;
    else if (!digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return false;
    }
    return true;
}

static bool literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool scan_value(scan *s, int depth);

/* At '{' or '['. */
static bool scan_container(scan *s, int depth)
{
    unsigned char close = *s->p == '{' ? '}' : ']';
    bool object = close == '}';
    if (depth >= DEPTH_MAX)
        return false;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    for (;;) {
        if (object) {
            skip_ws(s);
            if (s->p == s->end || *s->p != '"' || !scan_string(s))
                return false;
            skip_ws(s);
            if (s->p == s->end || *s->p++ != ':')
                return false;
        }
        if (!scan_value(s, depth + 1))
            return false;
        skip_ws(s);
        if (s->p == s->end)
            return false;
        if (*s->p == close) {
            s->p++;
            return true;
        }
        if (*s->p++ != ',')
            return false;
    }
}

static bool scan_value(scan *s, int depth)
{
    skip_ws(s);
    if (s->p == s->end)
        return false;
    switch (*s->p) {
    case '{':
    case '[':
        return scan_container(s, depth);
    case '"':
        return scan_string(s);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    default:
        return (*s->p == '-' || is_digit(*s->p)) && scan_number(s);
    }
}

SP_EXPORT bool sp_json_valid(const void *json, size_t len)
{
    if (json == NULL)
        return false;
    scan s = {json, (const unsigned char *)json + len};
    if (!scan_value(&s, 0))
        return false;
    skip_ws(&s);
    return s.p == s.end;
}
