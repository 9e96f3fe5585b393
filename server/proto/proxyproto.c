/*
 * proxyproto.c - PROXY protocol v1/v2 parsing (see proxyproto.h).
 *
 * Strict on purpose: the header decides which address every later log
 * line and handler believes, so anything the spec does not allow (extra
 * spaces, leading zeros in ports, v2 DGRAM, short address blocks) is an
 * error rather than a best guess.
 */
#include "server/proto/proxyproto.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const char v1_sig[6] = "PROXY ";
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static int prefix_of(const char *buf, size_t len, const void *sig, size_t n)
{
    return memcmp(buf, sig, min_sz(len, n)) == 0;
}

int sp__pp_looks_like(const char *buf, size_t len)
{
    int v1 = prefix_of(buf, len, v1_sig, sizeof v1_sig);
    int v2 = prefix_of(buf, len, v2_sig, sizeof v2_sig);

    if ((v1 && len >= sizeof v1_sig) || (v2 && len >= sizeof v2_sig))
        return 1;
    return v1 || v2 ? -1 : 0;
}

static enum sp__pp_state fail(sp__pp_result *out, const char *reason)
{
    out->reason = reason;
    return SP__PP_ERROR;
}

/* A decimal port, 0-65535, without leading zeros. */
static int parse_port(const char *s, size_t n)
{
    int v = 0;

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/* Split "a b c d" (single spaces) into exactly four fields. */
static int split4(const char *s, size_t n, const char *f[4], size_t fl[4])
{
    size_t i = 0;

    for (int k = 0; k < 4; k++) {
        f[k] = s + i;
        while (i < n && s[i] != ' ')
            i++;
        fl[k] = (size_t)(s + i - f[k]);
        if (fl[k] == 0 || (k < 3 && i >= n))
            return -1;
        i++; /* the space */
    }
    return i == n + 1 ? 0 : -1;
}

static int valid_addr(int family, const char *s, size_t n, char *out, size_t outlen)
{
    unsigned char bin[16];

    if (n >= outlen)
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return inet_pton(family, out, bin) == 1;
}

/* "TCP4 1.2.3.4 5.6.7.8 111 222" (the line without "PROXY " and CRLF). */
static enum sp__pp_state v1_fields(const char *s, size_t n, sp__pp_result *out)
{
    const char *f[4];
    size_t fl[4];
    char dst[48];

    if (n >= 7 && memcmp(s, "UNKNOWN", 7) == 0 && (n == 7 || s[7] == ' ')) {
        out->local = 1;
        return SP__PP_DONE;
    }
    if (n < 5 || (memcmp(s, "TCP4 ", 5) != 0 && memcmp(s, "TCP6 ", 5) != 0))
        return fail(out, "PROXY v1: protocol is not TCP4, TCP6 or UNKNOWN");
    out->family = s[3] == '4' ? AF_INET : AF_INET6;
    if (split4(s + 5, n - 5, f, fl) != 0)
        return fail(out, "PROXY v1: malformed address fields");
    if (!valid_addr(out->family, f[0], fl[0], out->addr, sizeof out->addr) ||
        !valid_addr(out->family, f[1], fl[1], dst, sizeof dst))
        return fail(out, "PROXY v1: bad address");
    out->port = parse_port(f[2], fl[2]);
    if (out->port < 0 || parse_port(f[3], fl[3]) < 0)
        return fail(out, "PROXY v1: bad port");
    return SP__PP_DONE;
}

static enum sp__pp_state parse_v1(const char *buf, size_t len, sp__pp_result *out)
{
    const char *lf = memchr(buf, '\n', min_sz(len, SP__PP_V1_MAX));

    out->version = 1;
    if (!lf) {
        if (len >= SP__PP_V1_MAX)
            return fail(out, "PROXY v1: no CRLF within 107 bytes");
        if (memchr(buf, '\r', len) && buf[len - 1] != '\r')
            return fail(out, "PROXY v1: CR without LF");
        return SP__PP_NEED_MORE;
    }
    if (lf == buf || lf[-1] != '\r')
        return fail(out, "PROXY v1: line does not end in CRLF");
    if (memchr(buf, '\r', (size_t)(lf - 1 - buf)))
        return fail(out, "PROXY v1: CR inside the line");
    out->len = (size_t)(lf - buf) + 1;
    return v1_fields(buf + sizeof v1_sig, (size_t)(lf - 1 - buf) - sizeof v1_sig, out);
}

static void v2_inet(sp__pp_result *out, int family, const unsigned char *a)
{
    size_t alen = family == AF_INET ? 4 : 16;

    out->family = family;
    inet_ntop(family, a, out->addr, sizeof out->addr);
    out->port = a[2 * alen] << 8 | a[2 * alen + 1];
}

static enum sp__pp_state parse_v2(const char *buf, size_t len, size_t max, sp__pp_result *out)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t body;

    out->version = 2;
    if (len < 16)
        return SP__PP_NEED_MORE;
    if ((b[12] >> 4) != 2)
        return fail(out, "PROXY v2: version is not 2");
    if ((b[12] & 15) > 1)
        return fail(out, "PROXY v2: command is not LOCAL or PROXY");
    body = (size_t)b[14] << 8 | b[15];
    if (16 + body > max)
        return fail(out, "PROXY v2: header longer than allowed");
    if (len < 16 + body)
        return SP__PP_NEED_MORE;
    out->len = 16 + body;
    if ((b[12] & 15) == 0 || b[13] == 0) { /* LOCAL, or PROXY with UNSPEC */
        out->local = 1;
        return SP__PP_DONE;
    }
    if ((b[13] & 15) != 1)
        return fail(out, "PROXY v2: transport is not a stream");
    switch (b[13] >> 4) {
    case 1:
        if (body < 12)
            return fail(out, "PROXY v2: IPv4 address block too short");
        v2_inet(out, AF_INET, b + 16);
        return SP__PP_DONE;
    case 2:
        if (body < 36)
            return fail(out, "PROXY v2: IPv6 address block too short");
        v2_inet(out, AF_INET6, b + 16);
        return SP__PP_DONE;
    case 3:
        if (body < 216)
            return fail(out, "PROXY v2: unix address block too short");
        out->family = AF_UNIX;
        strcpy(out->addr, "unix");
        out->port = 0;
        return SP__PP_DONE;
    default:
        return fail(out, "PROXY v2: unknown address family");
    }
}

enum sp__pp_state sp__pp_parse(const char *buf, size_t len, int accept, size_t max_v2,
                               sp__pp_result *out)
{
    memset(out, 0, sizeof *out);
    if ((accept & SP__PP_ACCEPT_V1) && prefix_of(buf, len, v1_sig, sizeof v1_sig)) {
        if (len < sizeof v1_sig)
            return SP__PP_NEED_MORE;
        return parse_v1(buf, len, out);
    }
    if ((accept & SP__PP_ACCEPT_V2) && prefix_of(buf, len, v2_sig, sizeof v2_sig)) {
        if (len < sizeof v2_sig)
            return SP__PP_NEED_MORE;
        return parse_v2(buf, len, max_v2, out);
    }
    if (len == 0)
        return SP__PP_NEED_MORE;
    return fail(out, accept == SP__PP_ACCEPT_V1   ? "no PROXY v1 header"
                     : accept == SP__PP_ACCEPT_V2 ? "no PROXY v2 header"
                                                  : "no PROXY header");
}
