/*
 * test_request.c - unit tests for app/request.c, the request accessors a
 * handler reads: path and query split, query and route-parameter decoding,
 * headers by name and by position, the request id, the arena helpers.
 *
 * What the file proves: each accessor decodes what it promises ('+' is a
 * space in a query and a plus in a path; a broken escape stays as it is;
 * the first of repeated names wins; header names match without case) and
 * never writes into the connection's read buffer.  The fixture is
 * app_fixture.h: requests are filled the way conn.c fills them.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app_fixture.h"

TestSuite(request, .init = setup, .fini = teardown);

static const char *query(const char *name)
{
    static char buf[256];
    sp_str v = sp_query(&rq, name);
    if (!sp_str_is_set(v))
        return NULL;
    cr_assert_eq(v.ptr[v.len], '\0', "decoded values are NUL terminated");
    snprintf(buf, sizeof(buf), "%.*s", (int)v.len, v.ptr);
    return buf;
}

Test(request, path_and_query_split)
{
    request("GET", "/a/b?x=1&y=2");
    ASSERT_STR(sp_path(&rq), "/a/b");
    ASSERT_STR(sp_query_string(&rq), "x=1&y=2");
    ASSERT_STR(sp_target(&rq), "/a/b?x=1&y=2");
    ASSERT_STR(sp_method(&rq), "GET");
    request("GET", "/plain");
    ASSERT_STR(sp_path(&rq), "/plain");
    cr_assert_eq(sp_query_string(&rq).len, 0);
    cr_assert_null(query("x"));
}

Test(request, query_decoding)
{
    request("GET", "/s?q=a+b%21&x=%41%42&empty=&flag&q=second&bad=%zz%4&u=%c3%A9&qq=no");
    cr_assert_str_eq(query("q"), "a b!", "first of two wins, '+' is a space");
    cr_assert_str_eq(query("x"), "AB");
    cr_assert_str_eq(query("empty"), "");
    cr_assert_str_eq(query("flag"), "");
    cr_assert_str_eq(query("bad"), "%zz%4", "a broken escape stays as it is");
    cr_assert_str_eq(query("u"), "\xc3\xa9");
    cr_assert_str_eq(query("qq"), "no");
    cr_assert_null(query("missing"));
    cr_assert_null(query("Q"), "names are case-sensitive");
    cr_assert_null(query("fla"), "a prefix is not a name");
}

Test(request, query_decoding_does_not_touch_the_buffer)
{
    char target[] = "/s?q=a+b%20c";
    request("GET", target);
    cr_assert_str_eq(query("q"), "a b c");
    cr_assert_str_eq(target, "/s?q=a+b%20c");
}

static sp__header hdrs[] = {
    {{"Host", 4}, {"example.com", 11}},
    {{"X-Dup", 5}, {"1", 1}},
    {{"x-dup", 5}, {"2", 1}},
    {{"Content-Type", 12}, {"text/html", 9}},
};

Test(request, headers)
{
    request("GET", "/");
    rq.headers = hdrs;
    rq.n_headers = 4;
    ASSERT_STR(sp_header(&rq, "HOST"), "example.com");
    ASSERT_STR(sp_header(&rq, "content-type"), "text/html");
    ASSERT_STR(sp_header(&rq, "x-DUP"), "1");
    cr_assert(!sp_str_is_set(sp_header(&rq, "Missing")));
    cr_assert(!sp_str_is_set(sp_header(&rq, "Hos")));
    cr_assert_eq(sp_header_count(&rq), 4);

    sp_str n, v;
    cr_assert_eq(sp_header_at(&rq, 2, &n, &v), SP_OK);
    ASSERT_STR(n, "x-dup");
    ASSERT_STR(v, "2");
    cr_assert_eq(sp_header_at(&rq, 0, &n, &v), SP_OK);
    ASSERT_STR(n, "Host");
    cr_assert_eq(sp_header_at(&rq, 4, &n, &v), SP_ENOENT);
}

Test(request, request_id)
{
    request("GET", "/");
    sp_str id1 = sp_request_id(&rq);
    cr_assert_eq(id1.len, 16);
    for (size_t i = 0; i < id1.len; i++)
        cr_assert(strchr("0123456789abcdef", id1.ptr[i]) != NULL, "id %.*s", (int)id1.len, id1.ptr);
    char first[17];
    memcpy(first, id1.ptr, 16);
    first[16] = '\0';
    request("GET", "/");
    cr_assert(!str_is(sp_request_id(&rq), first), "two requests got the same id %s", first);

    char mine[] = "abc-123";
    cr_assert_eq(sp_set_request_id(&rq, S(mine)), SP_OK);
    mine[0] = 'X';
    ASSERT_STR(sp_request_id(&rq), "abc-123");
}

Test(request, arena_helpers)
{
    request("GET", "/");
    sp_str s = sp_sprintf(&rq, "%s-%d", "x", 42);
    ASSERT_STR(s, "x-42");
    cr_assert_eq(s.ptr[s.len], '\0');
    void *p = sp_alloc(&rq, 3);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0);
}

/* ---- route parameters: matched by the router, decoded by sp_param ------------ */

static char got_id[64], got_name[64];
static int got_missing_set;

static void keep(char *dst, sp_str s)
{
    snprintf(dst, 64, "%s%.*s", s.ptr ? "" : "(unset)", (int)s.len, s.ptr ? s.ptr : "");
}

static int h_params(sp_request *req, sp_response *res)
{
    keep(got_id, sp_param(req, "id"));
    keep(got_name, sp_param(req, "name"));
    got_missing_set = sp_str_is_set(sp_param(req, "nope"));
    return SP_OK;
}

Test(request, route_params_percent_decoded)
{
    route("GET", "/users/{id}/files/{name}", h_params);
    cr_assert_eq(run("GET", "/users/a%20b/files/x%2Fy.txt?id=query"), SP_OK);
    cr_assert_str_eq(got_id, "a b");
    cr_assert_str_eq(got_name, "x/y.txt");
    cr_assert_eq(got_missing_set, 0);
    /* '+' is a plus in a path, unlike in a query. */
    cr_assert_eq(run("GET", "/users/a+b/files/%41%zz%4"), SP_OK);
    cr_assert_str_eq(got_id, "a+b");
    cr_assert_str_eq(got_name, "A%zz%4");
}
