/*
 * test_trust.c - unit tests for conf/cidr.c (trusted-proxies lists) and
 * server/proto/trust.c (X-Forwarded-For / X-Forwarded-Proto / Forwarded).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "conf/cidr.h"
#include "server/proto/trust.h"

static sp__cidr_list L;

static void use(const char *text)
{
    char err[160];

    sp__cidr_free(&L);
    cr_assert_eq(sp__cidr_parse(&L, text, err, sizeof err), 0, "%s: %s", text, err);
}

static void fini(void)
{
    sp__cidr_free(&L);
}

TestSuite(cidr, .fini = fini);
TestSuite(forwarded, .fini = fini);

static int m(const char *addr)
{
    return sp__cidr_match_text(&L, addr, strlen(addr));
}

Test(cidr, parse_and_match_v4_v6)
{
    use("127.0.0.1/32, ::1/128, 10.0.0.0/8  192.168.1.7 2001:db8::/32");
    cr_assert_eq(L.n, 5);
    cr_assert_str_eq(L.text, "127.0.0.1/32, ::1/128, 10.0.0.0/8  192.168.1.7 2001:db8::/32");
    cr_assert(m("127.0.0.1"));
    cr_assert_not(m("127.0.0.2"));
    cr_assert(m("10.255.0.1"));
    cr_assert_not(m("11.0.0.1"));
    cr_assert(m("192.168.1.7"));
    cr_assert_not(m("192.168.1.8"));
    cr_assert(m("::1"));
    cr_assert_not(m("::2"));
    cr_assert(m("2001:db8:ffff::1"));
    cr_assert_not(m("2001:db9::1"));
    cr_assert(m("::ffff:10.1.2.3"), "IPv4-mapped IPv6 matches the v4 entry");
    cr_assert_not(m("unix"));
    cr_assert_not(m("garbage"));
}

Test(cidr, odd_prefixes)
{
    use("0.0.0.0/0, 172.16.0.0/12, fe80::/10");
    cr_assert(m("8.8.8.8"));
    cr_assert(m("172.31.255.255"));
    cr_assert(m("fe80::1"));
    cr_assert(m("febf::1"));
    cr_assert_not(m("fec0::1"));
    cr_assert_not(m("::1"), "v4 /0 does not cover IPv6");
    use("172.16.0.0/12");
    cr_assert_not(m("172.32.0.0"));
}

Test(cidr, sockaddr_and_unix)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    struct sockaddr_un un = {.sun_family = AF_UNIX};

    inet_pton(AF_INET, "10.1.1.1", &in.sin_addr);
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    use("10.0.0.0/8");
    cr_assert(sp__cidr_match(&L, (struct sockaddr *)&in));
    cr_assert_not(sp__cidr_match(&L, (struct sockaddr *)&in6));
    cr_assert_not(sp__cidr_match(&L, (struct sockaddr *)&un));
    use("::1, unix");
    cr_assert(sp__cidr_match(&L, (struct sockaddr *)&in6));
    cr_assert(sp__cidr_match(&L, (struct sockaddr *)&un));
    cr_assert_not(sp__cidr_match(&L, (struct sockaddr *)&in));
    use("");
    cr_assert_eq(L.n, 0);
    cr_assert_not(sp__cidr_match(&L, (struct sockaddr *)&in));
}

Test(cidr, bad_entries_refused)
{
    const char *bad[] = {"10.0.0.0/33", "::/129",      "10.0.0.0/",   "10.0.0.0/8x",
                         "10.0.0/8",    "1.2.3.4/-1",  "example.com", "10.0.0.0/8, nope",
                         "unixx",       "1.2.3.4/0008"};
    char err[160];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sp__cidr_list l;

        err[0] = '\0';
        cr_assert_eq(sp__cidr_parse(&l, bad[i], err, sizeof err), -1, "%s accepted", bad[i]);
        cr_assert_neq(err[0], '\0');
        cr_assert_null(l.v);
        cr_assert_null(l.text);
    }
}

/* ---- forwarded headers ---------------------------------------------------- */

static sp_str S(const char *s)
{
    return (sp_str){s, strlen(s)};
}

/* Evaluate NULL-terminated name, value pairs. */
static sp__fwd_result eval(int mode, const char *const *kv)
{
    sp__header hs[32];
    size_t n = 0;
    sp__fwd_result r;

    for (; kv[2 * n]; n++)
        hs[n] = (sp__header){S(kv[2 * n]), S(kv[2 * n + 1])};
    sp__trust_forwarded(&L, mode, hs, n, &r);
    return r;
}

#define XFF(...) eval(SP__FWD_X_FORWARDED, (const char *const[]){__VA_ARGS__, NULL})
#define FWD(...) eval(SP__FWD_FORWARDED, (const char *const[]){__VA_ARGS__, NULL})

Test(forwarded, xff_right_most_untrusted)
{
    use("127.0.0.1/32, 10.0.0.0/8");
    cr_assert_str_eq(XFF("X-Forwarded-For", "1.2.3.4").addr, "1.2.3.4");
    cr_assert_str_eq(XFF("X-Forwarded-For", "1.2.3.4, 10.0.0.5").addr, "1.2.3.4");
    cr_assert_str_eq(XFF("x-forwarded-for", "6.6.6.6, 1.2.3.4,10.0.0.5").addr, "1.2.3.4",
                     "a client-supplied left part is not believed");
    cr_assert_str_eq(XFF("X-Forwarded-For", "10.0.0.1, 10.0.0.2").addr, "10.0.0.1",
                     "all trusted: the left-most");
    cr_assert_str_eq(XFF("X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "1.2.3.4").addr,
                     "1.2.3.4", "two lines read as one list");
    cr_assert_str_eq(XFF("X-Forwarded-For", "1.2.3.4, garbage").addr, "",
                     "a bad right-most hop voids the header");
    cr_assert_str_eq(XFF("X-Forwarded-For", "garbage, 1.2.3.4").addr, "1.2.3.4");
    cr_assert_str_eq(XFF("X-Forwarded-For", "").addr, "");
    cr_assert_str_eq(XFF("X-Forwarded-For", "1.2.3.4,").addr, "");
    cr_assert_str_eq(XFF("Host", "x").addr, "");
}

Test(forwarded, xff_address_forms)
{
    sp__fwd_result r;

    use("10.0.0.0/8");
    r = XFF("X-Forwarded-For", "1.2.3.4:5678");
    cr_assert_str_eq(r.addr, "1.2.3.4");
    cr_assert_eq(r.port, 5678);
    r = XFF("X-Forwarded-For", "[2001:DB8::1]:443");
    cr_assert_str_eq(r.addr, "2001:db8::1");
    cr_assert_eq(r.port, 443);
    r = XFF("X-Forwarded-For", "2001:db8:0:0::1");
    cr_assert_str_eq(r.addr, "2001:db8::1");
    cr_assert_eq(r.port, 0);
    cr_assert_str_eq(XFF("X-Forwarded-For", "1.2.3.4:99999").addr, "");
    cr_assert_str_eq(XFF("X-Forwarded-For", "1.2.3.4:").addr, "");
    cr_assert_str_eq(XFF("X-Forwarded-For", "[::1").addr, "");
    cr_assert_str_eq(XFF("X-Forwarded-For", "[::1]x").addr, "");
}

Test(forwarded, xff_proto)
{
    use("127.0.0.1");
    cr_assert_eq(XFF("X-Forwarded-Proto", "https").https, 1);
    cr_assert_eq(XFF("X-Forwarded-Proto", "HTTP").https, 0);
    cr_assert_eq(XFF("X-Forwarded-Proto", "http, https").https, 1);
    cr_assert_eq(XFF("X-Forwarded-Proto", "ftp").https, -1);
    cr_assert_eq(XFF("Forwarded", "for=1.2.3.4;proto=https").https, -1,
                 "Forwarded is ignored in x-forwarded mode");
    cr_assert_str_eq(XFF("Forwarded", "for=1.2.3.4").addr, "");
}

Test(forwarded, rfc7239)
{
    sp__fwd_result r;

    use("127.0.0.1, 10.0.0.0/8");
    r = FWD("Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43");
    cr_assert_str_eq(r.addr, "192.0.2.60");
    cr_assert_eq(r.https, 1);
    r = FWD("Forwarded", "For=\"[2001:db8:cafe::17]:4711\"");
    cr_assert_str_eq(r.addr, "2001:db8:cafe::17");
    cr_assert_eq(r.port, 4711);
    cr_assert_eq(r.https, -1);
    r = FWD("Forwarded", "for=6.6.6.6;proto=http, for=1.2.3.4;proto=https, for=10.0.0.9");
    cr_assert_str_eq(r.addr, "1.2.3.4");
    cr_assert_eq(r.https, 1, "proto of the chosen element");
    r = FWD("Forwarded", "for=unknown, for=10.0.0.9");
    cr_assert_str_eq(r.addr, "", "unknown stops the walk");
    r = FWD("Forwarded", "for=\"_hidden\"");
    cr_assert_str_eq(r.addr, "");
    r = FWD("Forwarded", "by=1.2.3.4");
    cr_assert_str_eq(r.addr, "", "an element without for=");
    r = FWD("Forwarded", "for=\"1.2.3.4\";ext=\"a,b;c\", for=10.0.0.1");
    cr_assert_str_eq(r.addr, "1.2.3.4", "separators inside quotes");
    r = FWD("X-Forwarded-For", "1.2.3.4");
    cr_assert_str_eq(r.addr, "", "X-Forwarded-For is ignored in forwarded mode");
}

Test(forwarded, off_mode_and_many_hops)
{
    char list[64 * 12 + 32];
    size_t n = 0;

    use("10.0.0.0/8");
    sp__fwd_result r = eval(SP__FWD_OFF, (const char *const[]){"X-Forwarded-For", "1.2.3.4", NULL});
    cr_assert_str_eq(r.addr, "");
    cr_assert_eq(r.https, -1);
    /* 70 trusted hops: only the right-most 64 are looked at. */
    n += (size_t)sprintf(list + n, "1.2.3.4");
    for (int i = 0; i < 70; i++)
        n += (size_t)sprintf(list + n, ",10.0.0.%d", i);
    r = XFF("X-Forwarded-For", list);
    cr_assert_str_eq(r.addr, "10.0.0.6");
}
