/*
 * test_proxyproto.c - unit tests for server/proto/proxyproto.c: PROXY v1 and v2
 * headers, whole and one byte at a time, and every malformed form.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>

#include "server/proto/proxyproto.h"

#define ANY   (SP__PP_ACCEPT_V1 | SP__PP_ACCEPT_V2)
#define MAXV2 4096

static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header: command (0 LOCAL, 1 PROXY), family/transport byte, the
 * address block, and extra bytes (TLVs) counted in the length. */
static size_t v2(unsigned char *out, int ver_cmd, int fam, const void *addr, size_t alen,
                 size_t extra)
{
    memcpy(out, sig, 12);
    out[12] = (unsigned char)ver_cmd;
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)((alen + extra) >> 8);
    out[15] = (unsigned char)((alen + extra) & 255);
    memcpy(out + 16, addr, alen);
    memset(out + 16 + alen, 0x20, extra);
    return 16 + alen + extra;
}

/* Feed buf one byte at a time; every proper prefix must be NEED_MORE. */
static enum sp__pp_state feed_bytes(const char *buf, size_t len, int accept, sp__pp_result *r)
{
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(sp__pp_parse(buf, i, accept, MAXV2, r), SP__PP_NEED_MORE,
                     "prefix of %zu bytes: %s", i, r->reason ? r->reason : "");
    return sp__pp_parse(buf, len, accept, MAXV2, r);
}

Test(proxyproto, v1_tcp4)
{
    const char *h = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
    size_t line = strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
    sp__pp_result r;

    cr_assert_eq(feed_bytes(h, line, SP__PP_ACCEPT_V1, &r), SP__PP_DONE);
    cr_assert_eq(sp__pp_parse(h, strlen(h), ANY, MAXV2, &r), SP__PP_DONE);
    cr_assert_eq(r.len, line);
    cr_assert_eq(r.version, 1);
    cr_assert_eq(r.local, 0);
    cr_assert_eq(r.family, AF_INET);
    cr_assert_str_eq(r.addr, "192.0.2.1");
    cr_assert_eq(r.port, 56324);
}

Test(proxyproto, v1_tcp6_and_unknown)
{
    const char *h6 = "PROXY TCP6 2001:db8::1 ::1 65535 80\r\n";
    const char *unk = "PROXY UNKNOWN\r\n";
    const char *unk2 = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
    sp__pp_result r;

    cr_assert_eq(feed_bytes(h6, strlen(h6), ANY, &r), SP__PP_DONE);
    cr_assert_str_eq(r.addr, "2001:db8::1");
    cr_assert_eq(r.family, AF_INET6);
    cr_assert_eq(r.port, 65535);
    cr_assert_eq(feed_bytes(unk, strlen(unk), ANY, &r), SP__PP_DONE);
    cr_assert_eq(r.local, 1);
    cr_assert_eq(r.len, strlen(unk));
    cr_assert_eq(sp__pp_parse(unk2, strlen(unk2), ANY, MAXV2, &r), SP__PP_DONE);
    cr_assert_eq(r.local, 1);
}

static void v1_refused(const char *h, const char *why)
{
    sp__pp_result r;
    enum sp__pp_state st = sp__pp_parse(h, strlen(h), ANY, MAXV2, &r);

    cr_assert_eq(st, SP__PP_ERROR, "%s: got %d", why, st);
    cr_assert_not_null(r.reason, "%s", why);
}

Test(proxyproto, v1_malformed)
{
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare LF");
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "CR before CRLF");
    v1_refused("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "double space");
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "trailing space");
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "leading zero port");
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port over 65535");
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "negative port");
    v1_refused("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "bad IPv4");
    v1_refused("PROXY TCP4 ::1 ::1 1 2\r\n", "IPv6 in TCP4");
    v1_refused("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "IPv4 in TCP6");
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "missing port");
    v1_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "extra field");
    v1_refused("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol");
    v1_refused("PROXY UNKNOWNX\r\n", "UNKNOWN glued to more");
    v1_refused("PROXY \r\n", "nothing after PROXY");
    v1_refused("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "lower case");
    v1_refused("GET / HTTP/1.1\r\n", "no header at all");
    v1_refused("G", "first byte already wrong");
}

Test(proxyproto, v1_too_long)
{
    char h[200];

    memcpy(h, "PROXY TCP6 ", 11);
    memset(h + 11, 'a', sizeof h - 11);
    sp__pp_result r;
    cr_assert_eq(sp__pp_parse(h, SP__PP_V1_MAX - 1, ANY, MAXV2, &r), SP__PP_NEED_MORE);
    cr_assert_eq(sp__pp_parse(h, SP__PP_V1_MAX, ANY, MAXV2, &r), SP__PP_ERROR);
    cr_assert_eq(sp__pp_parse(h, sizeof h, ANY, MAXV2, &r), SP__PP_ERROR);
}

Test(proxyproto, v2_tcp4_with_tlvs)
{
    const unsigned char a[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb};
    unsigned char h[128];
    size_t n = v2(h, 0x21, 0x11, a, sizeof a, 7);
    sp__pp_result r;

    cr_assert_eq(feed_bytes((char *)h, n, SP__PP_ACCEPT_V2, &r), SP__PP_DONE);
    cr_assert_eq(r.len, n);
    cr_assert_eq(r.version, 2);
    cr_assert_eq(r.family, AF_INET);
    cr_assert_str_eq(r.addr, "192.0.2.1");
    cr_assert_eq(r.port, 56324);
}

Test(proxyproto, v2_tcp6_unix_local_unspec)
{
    unsigned char a6[36] = {0x20, 0x01, 0x0d, 0xb8};
    unsigned char au[216] = {0};
    unsigned char h[512];
    size_t n;
    sp__pp_result r;

    a6[15] = 1;
    a6[32] = 0x01;
    a6[33] = 0x02;
    n = v2(h, 0x21, 0x21, a6, sizeof a6, 0);
    cr_assert_eq(feed_bytes((char *)h, n, ANY, &r), SP__PP_DONE);
    cr_assert_str_eq(r.addr, "2001:db8::1");
    cr_assert_eq(r.port, 258);
    n = v2(h, 0x21, 0x31, au, sizeof au, 0);
    cr_assert_eq(feed_bytes((char *)h, n, ANY, &r), SP__PP_DONE);
    cr_assert_eq(r.family, AF_UNIX);
    cr_assert_str_eq(r.addr, "unix");
    n = v2(h, 0x20, 0x11, a6, 12, 0); /* LOCAL: addresses ignored */
    cr_assert_eq(feed_bytes((char *)h, n, ANY, &r), SP__PP_DONE);
    cr_assert_eq(r.local, 1);
    cr_assert_eq(r.len, n);
    n = v2(h, 0x21, 0x00, a6, 0, 0); /* PROXY with UNSPEC */
    cr_assert_eq(feed_bytes((char *)h, n, ANY, &r), SP__PP_DONE);
    cr_assert_eq(r.local, 1);
}

static void v2_refused(int ver_cmd, int fam, size_t alen, size_t max, const char *why)
{
    unsigned char a[300] = {127, 0, 0, 1, 127, 0, 0, 1, 0, 80, 0, 80};
    unsigned char h[400];
    size_t n = v2(h, ver_cmd, fam, a, alen, 0);
    sp__pp_result r;

    cr_assert_eq(sp__pp_parse((char *)h, n, ANY, max, &r), SP__PP_ERROR, "%s", why);
    cr_assert_not_null(r.reason);
}

Test(proxyproto, v2_malformed)
{
    v2_refused(0x11, 0x11, 12, MAXV2, "version 1 in the v2 byte");
    v2_refused(0x31, 0x11, 12, MAXV2, "version 3");
    v2_refused(0x22, 0x11, 12, MAXV2, "command 2");
    v2_refused(0x21, 0x12, 12, MAXV2, "DGRAM");
    v2_refused(0x21, 0x11, 11, MAXV2, "IPv4 block short");
    v2_refused(0x21, 0x21, 35, MAXV2, "IPv6 block short");
    v2_refused(0x21, 0x31, 215, MAXV2, "unix block short");
    v2_refused(0x21, 0x41, 12, MAXV2, "family 4");
    v2_refused(0x21, 0x11, 12, 27, "longer than allowed");
}

Test(proxyproto, v2_length_announced_over_max_refused_early)
{
    unsigned char h[16];
    sp__pp_result r;

    memcpy(h, sig, 12);
    h[12] = 0x21;
    h[13] = 0x11;
    h[14] = 0xff;
    h[15] = 0xff;
    cr_assert_eq(sp__pp_parse((char *)h, 16, ANY, MAXV2, &r), SP__PP_ERROR);
}

Test(proxyproto, accept_mask)
{
    const char *h1 = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
    unsigned char h[64];
    const unsigned char a[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
    size_t n = v2(h, 0x21, 0x11, a, 12, 0);
    sp__pp_result r;

    cr_assert_eq(sp__pp_parse(h1, strlen(h1), SP__PP_ACCEPT_V2, MAXV2, &r), SP__PP_ERROR);
    cr_assert_eq(sp__pp_parse((char *)h, n, SP__PP_ACCEPT_V1, MAXV2, &r), SP__PP_ERROR);
    cr_assert_eq(sp__pp_parse((char *)h, 1, SP__PP_ACCEPT_V1, MAXV2, &r), SP__PP_ERROR,
                 "a v2 first byte is wrong for v1 at once");
    cr_assert_eq(sp__pp_parse(h1, 1, SP__PP_ACCEPT_V2, MAXV2, &r), SP__PP_ERROR);
}

Test(proxyproto, looks_like)
{
    cr_assert_eq(sp__pp_looks_like("", 0), -1);
    cr_assert_eq(sp__pp_looks_like("P", 1), -1);
    cr_assert_eq(sp__pp_looks_like("PROXY", 5), -1);
    cr_assert_eq(sp__pp_looks_like("PROXY ", 6), 1);
    cr_assert_eq(sp__pp_looks_like("PO", 2), 0);
    cr_assert_eq(sp__pp_looks_like("POST / HTTP/1.1", 15), 0);
    cr_assert_eq(sp__pp_looks_like("GET", 3), 0);
    cr_assert_eq(sp__pp_looks_like("PROXY TCP4", 10), 1);
    cr_assert_eq(sp__pp_looks_like((const char *)sig, 5), -1);
    cr_assert_eq(sp__pp_looks_like((const char *)sig, 12), 1);
    cr_assert_eq(sp__pp_looks_like("\r\n\r\nX", 5), 0);
}
