/*
 * test_uwsgi.c - unit tests for server/proto/uwsgi.c: uwsgi packets rewritten
 * into HTTP/1.x heads, fed whole and one byte at a time, and every
 * malformed packet refused without touching the buffer.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/proto/uwsgi.h"
#include "uwsgi_fixture.h"

#define MAX_VARS (16 * 1024)
#define MAX_BODY (1024 * 1024)

/* nginx's uwsgi_params for a GET, plus a couple of headers. */
/* Pairs read best two to a column. */
/* clang-format off */
static const char *const nginx_get[] = {
    "QUERY_STRING", "x=1",      "REQUEST_METHOD", "GET",          "CONTENT_TYPE", "",
    "CONTENT_LENGTH", "",       "REQUEST_URI", "/a/b?x=1",        "PATH_INFO", "/a/b",
    "DOCUMENT_ROOT", "/srv",    "SERVER_PROTOCOL", "HTTP/1.1",    "REQUEST_SCHEME", "http",
    "REMOTE_ADDR", "192.0.2.7", "REMOTE_PORT", "40123",           "SERVER_PORT", "80",
    "SERVER_NAME", "example",   "HTTP_HOST", "example.com",       "HTTP_USER_AGENT", "curl/7",
    "HTTP_X_FORWARDED_FOR", "1.2.3.4", NULL};
/* clang-format on */

static void set_datasize(char *buf, size_t n)
{
    buf[1] = (char)(n & 255);
    buf[2] = (char)(n >> 8);
}

static const char *convert_all(char *buf, size_t *len, sp__uw_result *r)
{
    enum sp__uw_state st = sp__uw_convert(buf, 0, len, MAX_VARS, MAX_BODY, r);

    cr_assert_eq(st, SP__UW_DONE, "convert: %d %s", st, r->reason ? r->reason : "");
    buf[*len] = '\0';
    return buf;
}

Test(uwsgi, nginx_get_becomes_http_head)
{
    char buf[4096];
    size_t len = uwsgi_packet(buf, 0, nginx_get);
    size_t plen = len;
    sp__uw_result r;

    cr_assert_str_eq(convert_all(buf, &len, &r),
                     "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7\r\n"
                     "X-Forwarded-For: 1.2.3.4\r\n\r\n");
    cr_assert_eq(r.packet_len, plen);
    cr_assert_eq(r.head_len, len);
    cr_assert_str_eq(r.addr, "192.0.2.7");
    cr_assert_eq(r.port, 40123);
    cr_assert_eq(r.https, 0);
    cr_assert_eq(r.version, 11);
    cr_assert_eq(r.body_len, 0);
}

Test(uwsgi, body_follows_the_head)
{
    static const char *const kv[] = {"REQUEST_METHOD",
                                     "POST",
                                     "REQUEST_URI",
                                     "/echo",
                                     "CONTENT_TYPE",
                                     "text/plain",
                                     "CONTENT_LENGTH",
                                     "5",
                                     "SERVER_PROTOCOL",
                                     "HTTP/1.0",
                                     "HTTP_CONTENT_LENGTH",
                                     "5",
                                     "HTTP_TRANSFER_ENCODING",
                                     "chunked",
                                     "HTTP_EXPECT",
                                     "100-continue",
                                     "HTTP_CONNECTION",
                                     "keep-alive",
                                     NULL};
    char buf[4096];
    size_t len = uwsgi_packet(buf, 0, kv);
    sp__uw_result r;

    memcpy(buf + len, "hel", 3); /* part of the body arrived with the packet */
    len += 3;
    cr_assert_str_eq(convert_all(buf, &len, &r),
                     "POST /echo HTTP/1.0\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                     "\r\nhel");
    cr_assert_eq(r.body_len, 5);
    cr_assert_eq(r.version, 10);
    cr_assert_eq(r.head_len + 3, len);
}

Test(uwsgi, path_info_and_query_when_no_request_uri)
{
    static const char *const kv[] = {
        "REQUEST_METHOD", "GET",         "PATH_INFO", "/p", "QUERY_STRING", "a=b",
        "SERVER_NAME",    "srv.example", NULL};
    char buf[1024];
    size_t len = uwsgi_packet(buf, 0, kv);
    sp__uw_result r;

    cr_assert_str_eq(convert_all(buf, &len, &r),
                     "GET /p?a=b HTTP/1.1\r\nHost: srv.example\r\n\r\n");
    cr_assert_str_eq(r.addr, "");
    cr_assert_eq(r.port, 0);
}

Test(uwsgi, header_names_are_title_cased)
{
    static const char *const kv[] = {"REQUEST_METHOD",
                                     "GET",
                                     "REQUEST_URI",
                                     "/",
                                     "HTTP_HOST",
                                     "h",
                                     "HTTP_ACCEPT_ENCODING",
                                     "gzip",
                                     "HTTP_x_lower_case",
                                     "v",
                                     "HTTP_DNT",
                                     "1",
                                     NULL};
    char buf[1024];
    size_t len = uwsgi_packet(buf, 0, kv);
    sp__uw_result r;

    cr_assert_str_eq(convert_all(buf, &len, &r),
                     "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nX-Lower-Case: v\r\n"
                     "Dnt: 1\r\n\r\n");
}

static int https_of(const char *const *kv)
{
    char buf[1024];
    size_t len = uwsgi_packet(buf, 0, kv);
    sp__uw_result r;

    convert_all(buf, &len, &r);
    return r.https;
}

Test(uwsgi, scheme_precedence)
{
    const char *const a[] = {"REQUEST_METHOD", "GET",   "REQUEST_URI", "/",
                             "REQUEST_SCHEME", "https", NULL};
    const char *const b[] = {"REQUEST_METHOD", "GET",  "REQUEST_URI", "/", "HTTPS", "on",
                             "REQUEST_SCHEME", "http", NULL};
    const char *const c[] = {"REQUEST_METHOD", "GET",   "REQUEST_URI", "/", "UWSGI_SCHEME",
                             "http",           "HTTPS", "on",          NULL};
    const char *const d[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/", "HTTPS", "off", NULL};

    cr_assert_eq(https_of(a), 1);
    cr_assert_eq(https_of(b), 1);
    cr_assert_eq(https_of(c), 0);
    cr_assert_eq(https_of(d), 0);
}

Test(uwsgi, ipv6_remote_and_bad_remote_ignored)
{
    const char *const a[] = {"REQUEST_METHOD", "GET",         "REQUEST_URI", "/", "REMOTE_ADDR",
                             "2001:db8::1",    "REMOTE_PORT", "65535",       NULL};
    const char *const b[] = {"REQUEST_METHOD", "GET",         "REQUEST_URI", "/", "REMOTE_ADDR",
                             "not-an-ip",      "REMOTE_PORT", "65536",       NULL};
    char buf[1024];
    size_t len = uwsgi_packet(buf, 0, a);
    sp__uw_result r;

    convert_all(buf, &len, &r);
    cr_assert_str_eq(r.addr, "2001:db8::1");
    cr_assert_eq(r.port, 65535);
    len = uwsgi_packet(buf, 0, b);
    convert_all(buf, &len, &r);
    cr_assert_str_eq(r.addr, "");
    cr_assert_eq(r.port, 0);
}

/* One byte at a time: NEED_MORE until the packet is whole, then the same
 * head as when it came at once. */
Test(uwsgi, byte_at_a_time)
{
    char whole[4096], buf[4096], want[4096];
    size_t plen = uwsgi_packet(whole, 0, nginx_get), wlen = plen;
    sp__uw_result r;

    memcpy(want, whole, plen);
    convert_all(want, &wlen, &r);
    for (size_t i = 0; i < plen; i++) {
        size_t len = i;

        memcpy(buf, whole, plen);
        cr_assert_eq(sp__uw_convert(buf, 0, &len, MAX_VARS, MAX_BODY, &r), SP__UW_NEED_MORE,
                     "at %zu: %s", i, r.reason ? r.reason : "");
        cr_assert_eq(len, i);
        cr_assert_eq(memcmp(buf, whole, plen), 0, "buffer changed at %zu", i);
    }
    size_t len = plen;
    memcpy(buf, whole, plen);
    cr_assert_eq(sp__uw_convert(buf, 0, &len, MAX_VARS, MAX_BODY, &r), SP__UW_DONE);
    cr_assert_eq(len, wlen);
    cr_assert_eq(memcmp(buf, want, len), 0);
}

Test(uwsgi, start_offset_is_honoured)
{
    char buf[4096];
    size_t len = 5 + uwsgi_packet(buf + 5, 0, nginx_get);
    sp__uw_result r;

    memcpy(buf, "XXXXX", 5);
    cr_assert_eq(sp__uw_convert(buf, 5, &len, MAX_VARS, MAX_BODY, &r), SP__UW_DONE);
    cr_assert_eq(memcmp(buf, "XXXXXGET /a/b?x=1 HTTP/1.1\r\n", 28), 0);
    cr_assert_eq(len, 5 + r.head_len);
}

/* ---- malformed packets ------------------------------------------------ */

static void refused(const char *buf, size_t len, size_t max_vars, const char *why)
{
    char copy[70000];
    size_t l = len;
    sp__uw_result r;

    memcpy(copy, buf, len);
    cr_assert_eq(sp__uw_convert(copy, 0, &l, max_vars, MAX_BODY, &r), SP__UW_ERROR,
                 "%s: not refused", why);
    cr_assert_not_null(r.reason);
    cr_assert_eq(l, len, "%s: length changed", why);
    cr_assert_eq(memcmp(copy, buf, len), 0, "%s: buffer changed", why);
}

static void refused_kv(const char *const *kv, const char *why)
{
    char buf[4096];

    refused(buf, uwsgi_packet(buf, 0, kv), MAX_VARS, why);
}

Test(uwsgi, modifier1_not_zero_refused_at_first_byte)
{
    char buf[1024];

    uwsgi_packet(buf, 5, nginx_get);
    refused(buf, 1, MAX_VARS, "modifier1 5, one byte");
    buf[0] = 30; /* uWSGI's PSGI modifier */
    refused(buf, 4, MAX_VARS, "modifier1 30");
}

Test(uwsgi, bad_sizes_refused)
{
    char buf[70000] = {0};
    size_t len = uwsgi_packet(buf, 0, nginx_get);

    refused("\0\0\0\0", 4, MAX_VARS, "datasize 0");
    refused(buf, len, len - 5, "datasize over limit-headers");
    buf[1] = (char)0xff;
    buf[2] = (char)0xff; /* 65535, announced before the bytes arrive */
    refused(buf, 4, MAX_VARS, "datasize 65535 over 16K");
}

Test(uwsgi, truncated_variables_refused)
{
    char buf[1024];
    size_t len = uwsgi_packet(buf, 0, nginx_get);

    buf[4] = 0x7f; /* first key claims more bytes than the packet has */
    buf[5] = 0x7f;
    refused(buf, len, MAX_VARS, "key length overruns");
    len = uwsgi_packet(buf, 0, nginx_get);
    buf[4 + 2 + 12] = (char)0xf0; /* QUERY_STRING's value length */
    buf[4 + 2 + 12 + 1] = 0x7f;
    refused(buf, len, MAX_VARS, "value length overruns");
    /* datasize one short: the last value is cut */
    len = uwsgi_packet(buf, 0, nginx_get);
    set_datasize(buf, len - 4 - 1);
    refused(buf, len - 1, MAX_VARS, "last value cut");
    /* a lone length byte at the end */
    len = uwsgi_packet(buf, 0, nginx_get);
    buf[len] = 1;
    set_datasize(buf, len - 4 + 1);
    refused(buf, len + 1, MAX_VARS, "dangling length byte");
    /* a zero-length key */
    const char *const kv[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/", "", "x", NULL};
    refused_kv(kv, "empty key");
}

Test(uwsgi, request_line_pieces_checked)
{
    const char *const no_method[] = {"REQUEST_URI", "/", NULL};
    const char *const sp_method[] = {"REQUEST_METHOD", "GET /x HTTP/1.1\r\nX:", "REQUEST_URI", "/",
                                     NULL};
    const char *const no_target[] = {"REQUEST_METHOD", "GET", NULL};
    const char *const sp_target[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/a b", NULL};
    const char *const crlf_target[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/a\r\nHost: evil",
                                       NULL};
    const char *const sp_query[] = {"REQUEST_METHOD", "GET", "PATH_INFO", "/",
                                    "QUERY_STRING",   "a b", NULL};

    refused_kv(no_method, "no method");
    refused_kv(sp_method, "method with spaces");
    refused_kv(no_target, "no target");
    refused_kv(sp_target, "space in REQUEST_URI");
    refused_kv(crlf_target, "CRLF in REQUEST_URI");
    refused_kv(sp_query, "space in QUERY_STRING");
}

Test(uwsgi, header_injection_refused)
{
    const char *const cr[] = {"REQUEST_METHOD",     "GET", "REQUEST_URI", "/", "HTTP_X_A",
                              "v\r\nX-Injected: 1", NULL};
    const char *const lf[] = {"REQUEST_METHOD", "GET",  "REQUEST_URI", "/",
                              "HTTP_X_A",       "a\nb", NULL};
    const char *const nul[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/",
                               "CONTENT_TYPE",   "a\r", NULL};
    const char *const name[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/",
                                "HTTP_X: Y",      "v",   NULL};
    const char *const colon[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/",
                                 "HTTP_A:B",       "v",   NULL};

    refused_kv(cr, "CRLF in a header value");
    refused_kv(lf, "LF in a header value");
    refused_kv(nul, "CR in CONTENT_TYPE");
    refused_kv(name, "space in a header name");
    refused_kv(colon, "colon in a header name");
}

Test(uwsgi, content_length_checked)
{
    const char *bad[] = {"abc",    "-1", "+5", "0x5", "1_0", "5 ", "9999999999999999999999999",
                         "2097152"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const kv[] = {"REQUEST_METHOD", "POST", "REQUEST_URI", "/",
                                  "CONTENT_LENGTH", bad[i], NULL};
        refused_kv(kv, bad[i]);
    }
}

/* Random damage to a valid packet: refused or converted, never a crash
 * or a head that outgrows the packet (ASan builds check the memory). */
Test(uwsgi, mutations_never_crash)
{
    char whole[4096], buf[4096];
    size_t plen = uwsgi_packet(whole, 0, nginx_get);
    unsigned seed = 12345;

    for (int round = 0; round < 20000; round++) {
        size_t len = plen;
        sp__uw_result r;

        memcpy(buf, whole, plen);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % plen] = (char)(seed >> 16);
        }
        enum sp__uw_state st = sp__uw_convert(buf, 0, &len, MAX_VARS, MAX_BODY, &r);
        if (st == SP__UW_DONE)
            cr_assert_leq(r.head_len, r.packet_len);
        else if (st == SP__UW_ERROR)
            cr_assert_not_null(r.reason);
    }
}
