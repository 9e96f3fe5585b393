/*
 * test_cidr.c - unit tests for conf/cidr.c, the trusted-proxies address
 * lists ("127.0.0.1/32, ::1/128, 10.0.0.0/8, unix").
 *
 * What the file proves: v4 and v6 entries match exactly the addresses
 * their prefix covers, at any prefix length; a v4 entry also covers the
 * IPv4-mapped v6 form, and "unix" is the only entry that trusts a unix
 * socket peer; anything that is not an address never matches; a bad entry
 * refuses the whole list with a message and leaves nothing allocated.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "cidr_fixture.h"

TestSuite(cidr, .fini = fini);

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
