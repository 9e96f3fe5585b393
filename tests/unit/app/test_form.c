/*
 * test_form.c - unit tests for app/form.c: query strings and
 * application/x-www-form-urlencoded bodies, decoded.
 *
 * What the file proves: sp_query keeps its meaning (first value, '+' a
 * space, %XX decoded, a malformed escape kept, "?a" an empty value), and
 * now finds names written encoded; sp_query_all returns every value in
 * order and the whole count past cap; sp_query_at walks every pair and
 * ends with SP_ENOENT; empty fields are skipped; a form is decoded only
 * for its media type (any case, any charset parameter), the same way, in
 * memory or from a spilled temp file; a body that is not a form, or one
 * over the decoding bounds (1 MiB, 10000 fields), reads as having no
 * fields and says why in the log.
 */
#include "app_fixture.h"

#include <unistd.h>

/* The bounds' warnings are checked too. */
static void setup_warn(void)
{
    setup();
    log_capture_stop();
    log_capture_start(SP_LOG_WARN);
}

TestSuite(form, .init = setup_warn, .fini = teardown);

static sp__header hdr[2];

/* A POST with body and Content-Type type (NULL: none). */
static void post(const char *target, const char *type, const char *b)
{
    request("POST", target);
    rq.body = S(b);
    rq.body_len = strlen(b);
    rq.body_fd = -1;
    hdr[0] = (sp__header){S("Host"), S("x")};
    hdr[1] = (sp__header){S("Content-Type"), S(type ? type : "")};
    rq.headers = hdr;
    rq.n_headers = type ? 2 : 1;
}

Test(form, sp_query_decodes_the_first_value)
{
    request("GET", "/p?a=1&b=x+y%21&a=2&c&d=&e=%zz%4&f=%41%2b");
    ASSERT_STR(sp_query(&rq, "a"), "1");
    ASSERT_STR(sp_query(&rq, "b"), "x y!");
    ASSERT_STR(sp_query(&rq, "c"), "");
    ASSERT_STR(sp_query(&rq, "d"), "");
    ASSERT_STR(sp_query(&rq, "e"), "%zz%4");
    ASSERT_STR(sp_query(&rq, "f"), "A+");
    cr_assert_null(sp_query(&rq, "g").ptr);
    cr_assert_null(sp_query(&rq, NULL).ptr);
}

Test(form, names_are_compared_decoded)
{
    request("GET", "/p?first+name=Ada&last%20name=Lovelace&%61=1");
    ASSERT_STR(sp_query(&rq, "first name"), "Ada");
    ASSERT_STR(sp_query(&rq, "last name"), "Lovelace");
    ASSERT_STR(sp_query(&rq, "a"), "1");
    cr_assert_null(sp_query(&rq, "first+name").ptr);
}

Test(form, repeated_keys_in_order_and_the_count_past_cap)
{
    sp_str v[2];
    request("GET", "/p?t=a&x=0&t=b&t=c%20d");
    cr_assert_eq(sp_query_all(&rq, "t", v, 2), 3);
    ASSERT_STR(v[0], "a");
    ASSERT_STR(v[1], "b");
    cr_assert_eq(sp_query_all(&rq, "t", NULL, 0), 3);
    cr_assert_eq(sp_query_all(&rq, "x", v, 2), 1);
    ASSERT_STR(v[0], "0");
    cr_assert_eq(sp_query_all(&rq, "none", v, 2), 0);
}

Test(form, iterate_every_pair_skipping_empty_fields)
{
    sp_str k, v;
    request("GET", "/p?&a=1&&b+c=%2F&d&");
    cr_assert_eq(sp_query_at(&rq, 0, &k, &v), SP_OK);
    ASSERT_STR(k, "a");
    ASSERT_STR(v, "1");
    cr_assert_eq(sp_query_at(&rq, 1, &k, &v), SP_OK);
    ASSERT_STR(k, "b c");
    ASSERT_STR(v, "/");
    cr_assert_eq(sp_query_at(&rq, 2, &k, NULL), SP_OK);
    ASSERT_STR(k, "d");
    cr_assert_eq(sp_query_at(&rq, 3, &k, &v), SP_ENOENT);
}

Test(form, no_query_string)
{
    sp_str k, v;
    request("GET", "/p");
    cr_assert_null(sp_query(&rq, "a").ptr);
    cr_assert_eq(sp_query_at(&rq, 0, &k, &v), SP_ENOENT);
    request("GET", "/p?");
    cr_assert_eq(sp_query_at(&rq, 0, &k, &v), SP_ENOENT);
}

Test(form, a_recycled_request_decodes_its_own_query)
{
    request("GET", "/p?a=1");
    ASSERT_STR(sp_query(&rq, "a"), "1");
    request("GET", "/p?a=2");
    ASSERT_STR(sp_query(&rq, "a"), "2");
}

Test(form, form_fields_are_decoded_like_the_query)
{
    sp_str v[4], k;
    post("/f?a=query", "application/x-www-form-urlencoded", "a=1&name=J%C3%BCrgen+K&a=2&tag");
    ASSERT_STR(sp_form(&rq, "a"), "1");
    ASSERT_STR(sp_form(&rq, "name"), "J\xc3\xbcrgen K");
    ASSERT_STR(sp_form(&rq, "tag"), "");
    cr_assert_null(sp_form(&rq, "none").ptr);
    cr_assert_eq(sp_form_all(&rq, "a", v, 4), 2);
    ASSERT_STR(v[1], "2");
    cr_assert_eq(sp_form_at(&rq, 3, &k, NULL), SP_OK);
    ASSERT_STR(k, "tag");
    cr_assert_eq(sp_form_at(&rq, 4, &k, NULL), SP_ENOENT);
    ASSERT_STR(sp_query(&rq, "a"), "query"); /* query and form apart */
}

Test(form, the_media_type_in_any_case_with_any_charset)
{
    const char *types[] = {"application/x-www-form-urlencoded",
                           "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
                           "application/x-www-form-urlencoded;charset=iso-8859-1",
                           "application/x-www-form-urlencoded ; q=1"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        post("/f", types[i], "a=1");
        ASSERT_STR(sp_form(&rq, "a"), "1");
    }
}

Test(form, other_bodies_are_not_forms)
{
    const char *types[] = {NULL, "text/plain", "application/json",
                           "application/x-www-form-urlencodedx", "multipart/form-data; boundary=x"};
    sp_str k;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        post("/f", types[i], "a=1");
        cr_assert_null(sp_form(&rq, "a").ptr, "type %s", types[i] ? types[i] : "(none)");
        cr_assert_eq(sp_form_at(&rq, 0, &k, NULL), SP_ENOENT);
    }
}

Test(form, a_spilled_body_is_mapped_and_decoded)
{
    char path[] = "/tmp/spindle-form-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    const char *b = "x=1&y=two+words";
    cr_assert_eq(write(fd, b, strlen(b)), (ssize_t)strlen(b));
    post("/f", "application/x-www-form-urlencoded", "");
    rq.body = SP_STR_NULL;
    rq.body_fd = fd;
    rq.body_len = strlen(b);
    ASSERT_STR(sp_form(&rq, "y"), "two words");
    sp__request_release(&rq);
}

Test(form, bodies_over_the_bounds_read_as_empty_and_say_so)
{
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    memcpy(big, "a=1&", 4);
    post("/f", "application/x-www-form-urlencoded", big);
    cr_assert_null(sp_form(&rq, "a").ptr);
    cr_assert(logged("over the 1048576 decoded"));

    /* 10001 fields in a small body */
    char *many = malloc(3 * 10001 + 1);
    cr_assert_not_null(many);
    for (int i = 0; i < 10001; i++)
        memcpy(many + 3 * i, "a=&", 3);
    many[3 * 10001 - 1] = '\0';
    post("/f", "application/x-www-form-urlencoded", many);
    cr_assert_null(sp_form(&rq, "a").ptr);
    cr_assert(logged("10001 fields"));
    /* 10000 are fine */
    many[3 * 10000 - 1] = '\0';
    post("/f", "application/x-www-form-urlencoded", many);
    cr_assert_eq(sp_form_all(&rq, "a", NULL, 0), 10000);
    free(big);
    free(many);
}
