/*
 * test_cookie.c - unit tests for app/cookie.c: sp_cookie, sp_set_cookie,
 * sp_clear_cookie.
 *
 * What the file proves: a cookie is found in any Cookie header, the first
 * one winning, with blanks around pairs dropped and quotes removed, and a
 * name that is only a prefix or a value never matches; Set-Cookie lines
 * carry exactly the attributes asked for, in one order, with an Expires
 * max_age seconds ahead as an IMF-fixdate; clearing writes an empty value,
 * Max-Age=0 and an Expires in 1970 with the same path and domain; names
 * that are not tokens, values outside cookie-octets, a path or domain with
 * ';' or a control, are SP_EHEADER; a negative max_age, an unknown
 * same_site, and SameSite=None without Secure are SP_EINVAL; nothing is
 * added on a refusal, and nothing once the headers went out.
 */
#include "app_fixture.h"

#include <time.h>

TestSuite(cookie, .init = setup, .fini = teardown);

static sp__header hdr[4];

static void with_headers(size_t n, const char *const *nv)
{
    request("GET", "/");
    for (size_t i = 0; i < n; i++)
        hdr[i] = (sp__header){S(nv[2 * i]), S(nv[2 * i + 1])};
    rq.headers = hdr;
    rq.n_headers = n;
}

Test(cookie, read_from_every_cookie_header)
{
    const char *h[] = {"Host",   "x",
                       "Cookie", "a=1; sid=abc ;  theme=\"dark\"",
                       "cookie", "b=2; a=shadowed",
                       "Cookie", "empty=; q=\"\""};
    with_headers(4, h);
    ASSERT_STR(sp_cookie(&rq, "a"), "1");
    ASSERT_STR(sp_cookie(&rq, "sid"), "abc");
    ASSERT_STR(sp_cookie(&rq, "theme"), "dark");
    ASSERT_STR(sp_cookie(&rq, "b"), "2");
    ASSERT_STR(sp_cookie(&rq, "empty"), "");
    ASSERT_STR(sp_cookie(&rq, "q"), "");
    cr_assert_null(sp_cookie(&rq, "si").ptr, "a prefix of a name");
    cr_assert_null(sp_cookie(&rq, "abc").ptr, "a value");
    cr_assert_null(sp_cookie(&rq, "").ptr);
    cr_assert_null(sp_cookie(&rq, NULL).ptr);
}

Test(cookie, no_cookie_header)
{
    const char *h[] = {"Host", "x"};
    with_headers(1, h);
    cr_assert_null(sp_cookie(&rq, "a").ptr);
}

Test(cookie, a_value_with_equals_and_odd_spacing)
{
    const char *h[] = {"Cookie", "tok=a=b==;x = 1 ;;"};
    with_headers(1, h);
    ASSERT_STR(sp_cookie(&rq, "tok"), "a=b==");
    ASSERT_STR(sp_cookie(&rq, "x"), "1");
}

static sp_str set_cookie_line(size_t i)
{
    size_t seen = 0;
    for (size_t k = 0; k < rs.n_headers; k++)
        if (sp__str_ieq(rs.headers[k].name, "Set-Cookie") && seen++ == i)
            return rs.headers[k].value;
    return SP_STR_NULL;
}

Test(cookie, a_session_cookie_has_no_attributes)
{
    request("GET", "/");
    cr_assert_eq(sp_set_cookie(&rs, "sid", "abc123", NULL), SP_OK);
    struct sp_cookie zero = {0};
    cr_assert_eq(sp_set_cookie(&rs, "b", "", &zero), SP_OK);
    ASSERT_STR(set_cookie_line(0), "sid=abc123");
    ASSERT_STR(set_cookie_line(1), "b=");
}

Test(cookie, every_attribute_in_order)
{
    request("GET", "/");
    struct sp_cookie o = {.path = "/app",
                          .domain = "example.org",
                          .max_age = 3600,
                          .secure = true,
                          .http_only = true,
                          .same_site = "lax"};
    time_t before = time(NULL);
    cr_assert_eq(sp_set_cookie(&rs, "sid", "v", &o), SP_OK);
    time_t after = time(NULL);
    sp_str line = set_cookie_line(0);
    char want_a[200], want_b[200], date[64];
    struct tm tm;
    for (int k = 0; k < 2; k++) {
        time_t t = (k ? after : before) + 3600;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(k ? want_b : want_a, 200,
                 "sid=v; Path=/app; Domain=example.org; Max-Age=3600; Expires=%s; Secure; "
                 "HttpOnly; SameSite=Lax",
                 date);
    }
    cr_assert(str_is(line, want_a) || str_is(line, want_b), "got %.*s", SP_STR_ARGS(line));
}

Test(cookie, a_quoted_value_is_allowed)
{
    request("GET", "/");
    cr_assert_eq(sp_set_cookie(&rs, "q", "\"a-b\"", NULL), SP_OK);
    ASSERT_STR(set_cookie_line(0), "q=\"a-b\"");
}

Test(cookie, same_site_none_needs_secure)
{
    request("GET", "/");
    struct sp_cookie o = {.same_site = "None"};
    cr_assert_eq(sp_set_cookie(&rs, "a", "1", &o), SP_EINVAL);
    o.secure = true;
    cr_assert_eq(sp_set_cookie(&rs, "a", "1", &o), SP_OK);
    ASSERT_STR(set_cookie_line(0), "a=1; Secure; SameSite=None");
}

Test(cookie, clearing_keeps_path_and_domain)
{
    request("GET", "/");
    struct sp_cookie o = {.path = "/", .domain = "a.example", .max_age = 99, .secure = true};
    cr_assert_eq(sp_clear_cookie(&rs, "sid", &o), SP_OK);
    ASSERT_STR(set_cookie_line(0), "sid=; Path=/; Domain=a.example; Max-Age=0; Expires=Thu, 01 "
                                   "Jan 1970 00:00:00 GMT; Secure");
    cr_assert_eq(sp_clear_cookie(&rs, "x", NULL), SP_OK);
    ASSERT_STR(set_cookie_line(1), "x=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
}

Test(cookie, refusals_add_nothing)
{
    request("GET", "/");
    const char *bad_names[] = {"",      "a b",   "a;b",   "a=b",     "a,b",
                               "\"a\"", "a\x01", "a\x7f", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        cr_assert_eq(sp_set_cookie(&rs, bad_names[i], "v", NULL), SP_EHEADER, "name %zu", i);
    const char *bad_values[] = {"a b",      "a;b", "a,b", "a\\b", "a\"b", "\"", "a\r\nX-Evil: 1",
                                "\xc3\xa9", "a\tb"};
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++)
        cr_assert_eq(sp_set_cookie(&rs, "n", bad_values[i], NULL), SP_EHEADER, "value %zu", i);
    struct sp_cookie o = {.path = "/a; Domain=evil"};
    cr_assert_eq(sp_set_cookie(&rs, "n", "v", &o), SP_EHEADER);
    o = (struct sp_cookie){.domain = "a\nb"};
    cr_assert_eq(sp_set_cookie(&rs, "n", "v", &o), SP_EHEADER);
    cr_assert_eq(sp_clear_cookie(&rs, "n", &o), SP_EHEADER);
    o = (struct sp_cookie){.max_age = -1};
    cr_assert_eq(sp_set_cookie(&rs, "n", "v", &o), SP_EINVAL);
    o = (struct sp_cookie){.same_site = "Loose"};
    cr_assert_eq(sp_set_cookie(&rs, "n", "v", &o), SP_EINVAL);
    cr_assert_eq(sp_set_cookie(&rs, NULL, "v", NULL), SP_EINVAL);
    cr_assert_eq(sp_set_cookie(&rs, "n", NULL, NULL), SP_EINVAL);
    cr_assert_null(set_cookie_line(0).ptr, "nothing was added");
}

Test(cookie, not_after_the_headers_went_out)
{
    request("GET", "/");
    cr_assert_eq(sp_stream_start(&rs), SP_OK);
    cr_assert_eq(sp_set_cookie(&rs, "a", "1", NULL), SP_ESTATE);
}
