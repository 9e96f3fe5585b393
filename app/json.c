/*
 * json.c - bytes into JSON text: escaped strings, a UTF-8 check, and
 * base64 for bytes that are not text.  The one home of these rules for
 * the server (stats) and for modules (echo, tasks, access_log), so every
 * JSON document spindle writes escapes the same way.
 *
 * The rules, chosen so that the output is always valid JSON on one line
 * and still says which bytes arrived:
 *   - '"' and '\' are escaped; so are the controls below 0x20 and 0x7F
 *     (\b \f \n \r \t, else \u00XX): a client cannot end a log line or a
 *     string early.
 *   - Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
 *     nothing past U+10FFFF) passes through as it is, except the C1
 *     controls U+0080..U+009F and U+2028/U+2029, which are \u-escaped:
 *     some terminals act on the first, some JSON readers break lines at
 *     the others.
 *   - Any other byte >= 0x80 becomes \u00XX, its value read as Latin-1.
 *     The result is valid JSON, but such a string no longer round-trips
 *     to the same bytes; callers that must return bytes exactly (a body, a
 *     task's result) ask sp_utf8_valid first and send base64 otherwise.
 *
 * Base64 is RFC 4648's standard alphabet with '=' padding.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "spindle/spindle.h"

/* ---- UTF-8 ------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (n > 0 bytes left,
 * s[0] >= 0x80), its code point in *cp; 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, c = s[0] & 0x1fu, min = 0x80;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, c = s[0] & 0x0fu, min = 0x800;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, c = s[0] & 0x07u, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

SP_EXPORT bool sp_utf8_valid(const void *src, size_t len)
{
    const unsigned char *s = src;
    uint32_t cp;

    for (size_t i = 0, n; i < len; i += n) {
        n = s[i] < 0x80 ? 1 : utf8_seq(s + i, len - i, &cp);
        if (n == 0)
            return false;
    }
    return true;
}

/* ---- JSON strings -------------------------------------------------------------- */

/* Where escaped text goes.  A buffer (res NULL): the first cap bytes land
 * in dst, len counts them all.  A response: text gathers in dst, a stack
 * buffer of cap bytes, len of them waiting, and leaves by sp_write a
 * buffer-full at a time, so a short string is one write however many
 * escapes it holds (one chunk, when the response streams). */
typedef struct sink {
    char *dst;
    size_t cap, len;
    sp_response *res;
    int rc; /* the first failure of sp_write */
} sink;

static void flush(sink *k)
{
    if (k->len > 0 && k->rc == SP_OK)
        k->rc = sp_write(k->res, k->dst, k->len);
    k->len = 0;
}

static void emit(sink *k, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (k->res == NULL) {
        if (k->len < k->cap)
            memcpy(k->dst + k->len, p, n < k->cap - k->len ? n : k->cap - k->len);
        k->len += n;
        return;
    }
    if (k->len + n > k->cap)
        flush(k);
    if (n > k->cap) {
        if (k->rc == SP_OK)
            k->rc = sp_write(k->res, p, n);
        return;
    }
    memcpy(k->dst + k->len, p, n);
    k->len += n;
}

/* The unit at s (n > 0 bytes left): its length in *len, and whether it
 * passes through as it is; if not, it is written as the escape of *cp. */
static bool plain(const unsigned char *s, size_t n, size_t *len, uint32_t *cp)
{
    *len = 1;
    *cp = s[0];
    if (s[0] < 0x80)
        return s[0] >= 0x20 && s[0] != 0x7f && s[0] != '"' && s[0] != '\\';
    size_t seq = utf8_seq(s, n, cp);
    if (seq == 0)
        return false; /* a stray byte: \u00XX, *cp still holds it */
    *len = seq;
    return *cp >= 0xa0 && *cp != 0x2028 && *cp != 0x2029;
}

/* The escape of code point cp (below 0x10000) into esc; its length. */
static size_t escape_of(uint32_t cp, char esc[6])
{
    static const char hex[] = "0123456789abcdef";
    static const char shorts[0x60] = {['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
                                      ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't'};
    esc[0] = '\\';
    if (cp < sizeof(shorts) && shorts[cp]) {
        esc[1] = shorts[cp];
        return 2;
    }
    esc[1] = 'u';
    for (int i = 0; i < 4; i++)
        esc[2 + i] = hex[cp >> (12 - 4 * i) & 15];
    return 6;
}

/* Runs of plain bytes go out whole, each escape on its own. */
static void escape(sink *k, const unsigned char *s, size_t n)
{
    size_t run = 0, len;
    uint32_t cp;
    char esc[6];

    for (size_t i = 0; i < n; i += len) {
        if (plain(s + i, n - i, &len, &cp))
            continue;
        emit(k, s + run, i - run);
        emit(k, esc, escape_of(cp, esc));
        run = i + len;
    }
    if (run < n)
        emit(k, s + run, n - run);
}

SP_EXPORT size_t sp_json_escape(char *dst, size_t cap, const void *src, size_t len)
{
    sink k = {dst, cap, 0, NULL, SP_OK};
    escape(&k, src, len);
    return k.len;
}

SP_EXPORT int sp_write_json_str(sp_response *res, sp_str s)
{
    char buf[512];
    sink k = {buf, sizeof(buf), 0, res, SP_OK};

    emit(&k, "\"", 1);
    escape(&k, (const unsigned char *)s.ptr, s.len);
    emit(&k, "\"", 1);
    flush(&k);
    return k.rc;
}

/* ---- base64 ------------------------------------------------------------------------ */

/* Input bytes per piece sp_write_base64 encodes on the stack: a multiple
 * of 3, so only the last piece can carry padding. */
#define B64_PIECE 768

SP_EXPORT size_t sp_base64_encode(char *dst, size_t cap, const void *src, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = src;
    size_t o = 0;

    for (size_t i = 0; i < len && o < cap; i += 3, o += 4) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < len ? s[i + 2] : 0);
        char q[4] = {tab[v >> 18], tab[v >> 12 & 63], i + 1 < len ? tab[v >> 6 & 63] : '=',
                     i + 2 < len ? tab[v & 63] : '='};
        memcpy(dst + o, q, cap - o < 4 ? cap - o : 4);
    }
    return (len + 2) / 3 * 4;
}

SP_EXPORT int sp_write_base64(sp_response *res, const void *src, size_t len)
{
    char buf[B64_PIECE / 3 * 4];
    const unsigned char *s = src;

    for (size_t i = 0; i < len; i += B64_PIECE) {
        size_t n = len - i < B64_PIECE ? len - i : B64_PIECE;
        int rc = sp_write(res, buf, sp_base64_encode(buf, sizeof(buf), s + i, n));
        if (rc != SP_OK)
            return rc;
    }
    return SP_OK;
}
