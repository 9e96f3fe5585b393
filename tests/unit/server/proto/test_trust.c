/*
 * test_trust.c - unit tests for server/proto/trust.c: which client address
 * and scheme X-Forwarded-For / X-Forwarded-Proto / Forwarded give, behind
 * a list of trusted proxies (the list itself: conf/test_cidr.c).
 *
 * What the file proves: the right-most address not in the list is the
 * client, so a client cannot spoof its address by prepending; a malformed
 * hop voids the header instead of being skipped; only the header of the
 * configured mode counts; the walk is bounded.
 */
#include <stdio.h>
#include <string.h>

#include "server/proto/trust.h"
#include "tests/unit/conf/cidr_fixture.h"

TestSuite(forwarded, .fini = fini);

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
