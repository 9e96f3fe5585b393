/*
 * test_router.c - unit tests for app/router.c.
 *
 * Handlers are never called; their addresses tell which route matched.
 * Where many routes share a handler, the param name (which points into the
 * matched route's pattern) tells them apart.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "app/router.h"

static int h_a(sp_request *q, sp_response *s)
{
    return 1;
}
static int h_b(sp_request *q, sp_response *s)
{
    return 2;
}
static int h_c(sp_request *q, sp_response *s)
{
    return 3;
}
static int h_d(sp_request *q, sp_response *s)
{
    return 4;
}

static sp__router *r;
static sp__match m;

static void setup(void)
{
    r = sp__router_new();
    cr_assert_not_null(r);
    memset(&m, 0x5a, sizeof(m)); /* match must set what it reports */
}

static void teardown(void)
{
    sp__router_free(r);
}

TestSuite(router, .init = setup, .fini = teardown);

static sp_str S(const char *s)
{
    return (sp_str){s, strlen(s)};
}

static void add_ok(const char *method, const char *pattern, sp_handler_fn fn)
{
    int rc = sp__router_add(r, method, pattern, fn);
    cr_assert_eq(rc, SP_OK, "add %s %s: %d", method, pattern, rc);
}

static enum sp__route_result match(const char *method, const char *path)
{
    return sp__router_match(r, S(method), S(path), &m);
}

/* Asserts that method + path routes to fn. */
static void found(const char *method, const char *path, sp_handler_fn fn)
{
    enum sp__route_result res = match(method, path);
    cr_assert_eq(res, SP__ROUTE_FOUND, "%s %s: result %d", method, path, (int)res);
    cr_assert(m.fn == fn, "%s %s: wrong handler", method, path);
}

static void not_found(const char *method, const char *path)
{
    enum sp__route_result res = match(method, path);
    cr_assert_eq(res, SP__ROUTE_NOT_FOUND, "%s %s: result %d", method, path, (int)res);
    cr_assert_null(m.fn);
    cr_assert_eq(m.n_params, 0);
}

static void bad_method(const char *method, const char *path, const char *allow)
{
    enum sp__route_result res = match(method, path);
    cr_assert_eq(res, SP__ROUTE_BAD_METHOD, "%s %s: result %d", method, path, (int)res);
    cr_assert_null(m.fn);
    cr_assert_str_eq(m.allow, allow);
}

/* The value of param name in m, NUL-terminated in a static buffer; NULL
 * when m has no such param. */
static const char *param(const char *name)
{
    static char buf[256];

    for (size_t i = 0; i < m.n_params; i++) {
        if (m.params[i].name.len == strlen(name) &&
            memcmp(m.params[i].name.ptr, name, strlen(name)) == 0) {
            snprintf(buf, sizeof(buf), "%.*s", SP_STR_ARGS(m.params[i].value));
            return buf;
        }
    }
    return NULL;
}

/* ---- exact routes -------------------------------------------------------- */

Test(router, empty_router)
{
    not_found("GET", "/");
    not_found("GET", "/a");
}

Test(router, exact)
{
    add_ok("GET", "/hello", h_a);
    add_ok("GET", "/hello/world", h_b);
    found("GET", "/hello", h_a);
    found("GET", "/hello/world", h_b);
    cr_assert_eq(m.n_params, 0);
    cr_assert_str_eq(m.allow, "");
    not_found("GET", "/hell");
    not_found("GET", "/helloo");
    not_found("GET", "/hello/world/x");
    not_found("GET", "/Hello");
    not_found("GET", "/");
}

Test(router, root)
{
    add_ok("GET", "/", h_a);
    found("GET", "/", h_a);
    not_found("GET", "/a");
    not_found("GET", "//");
}

Test(router, path_not_absolute)
{
    add_ok("GET", "/*", h_a);
    not_found("GET", "");
    not_found("GET", "*");
    not_found("GET", "a/b");
    cr_assert_eq(sp__router_match(r, S("GET"), SP_STR_NULL, &m), SP__ROUTE_NOT_FOUND);
}

Test(router, trailing_slash_is_significant)
{
    add_ok("GET", "/hello", h_a);
    not_found("GET", "/hello/");
    add_ok("GET", "/hello/", h_b);
    found("GET", "/hello", h_a);
    found("GET", "/hello/", h_b);
}

Test(router, empty_segments_are_literal)
{
    add_ok("GET", "/a//b", h_a);
    add_ok("GET", "/a/b", h_b);
    found("GET", "/a//b", h_a);
    found("GET", "/a/b", h_b);
    not_found("GET", "/a///b");
}

Test(router, path_is_matched_raw)
{
    add_ok("GET", "/caf%C3%A9", h_a);
    add_ok("GET", "/f/{name}", h_b);
    found("GET", "/caf%C3%A9", h_a);
    not_found("GET", "/caf%c3%a9");
    found("GET", "/f/a%2Fb", h_b);
    cr_assert_str_eq(param("name"), "a%2Fb");
}

/* ---- params -------------------------------------------------------------- */

Test(router, one_param)
{
    const char *path = "/users/42";

    add_ok("GET", "/users/{id}", h_a);
    found("GET", path, h_a);
    cr_assert_eq(m.n_params, 1);
    cr_assert_str_eq(param("id"), "42");
    cr_assert(m.params[0].value.ptr == path + 7, "value points into the path");
    not_found("GET", "/users");
    not_found("GET", "/users/42/x");
}

Test(router, param_never_matches_empty_segment)
{
    add_ok("GET", "/users/{id}", h_a);
    not_found("GET", "/users/");
    not_found("GET", "/users//x");
}

Test(router, several_params)
{
    add_ok("GET", "/a/{x}/b/{y}/{z}", h_a);
    found("GET", "/a/1/b/two/3%20", h_a);
    cr_assert_eq(m.n_params, 3);
    cr_assert_str_eq(param("x"), "1");
    cr_assert_str_eq(param("y"), "two");
    cr_assert_str_eq(param("z"), "3%20");
    cr_assert_eq(m.params[0].name.len, 1);
    cr_assert_eq(m.params[0].name.ptr[0], 'x');
    cr_assert_eq(m.params[2].name.ptr[0], 'z');
}

Test(router, param_names_point_into_the_routers_copy)
{
    char pattern[] = "/p/{name}";

    add_ok("GET", pattern, h_a);
    memset(pattern, 'X', sizeof(pattern) - 1);
    found("GET", "/p/v", h_a);
    cr_assert_str_eq(param("name"), "v", "the name survives the caller's string");
}

Test(router, param_names_belong_to_each_route)
{
    add_ok("GET", "/u/{id}", h_a);
    add_ok("POST", "/u/{uid}", h_b);
    add_ok("GET", "/u/{user}/posts", h_c);
    found("GET", "/u/7", h_a);
    cr_assert_str_eq(param("id"), "7");
    found("POST", "/u/8", h_b);
    cr_assert_str_eq(param("uid"), "8");
    cr_assert_null(param("id"));
    found("GET", "/u/9/posts", h_c);
    cr_assert_str_eq(param("user"), "9");
}

Test(router, max_params)
{
    char pattern[256] = "", path[256] = "";

    for (int i = 0; i < SP__MAX_PARAMS; i++) {
        snprintf(pattern + strlen(pattern), 16, "/{p%d}", i);
        snprintf(path + strlen(path), 16, "/v%d", i);
    }
    add_ok("GET", pattern, h_a);
    found("GET", path, h_a);
    cr_assert_eq(m.n_params, SP__MAX_PARAMS);
    cr_assert_str_eq(param("p0"), "v0");
    cr_assert_str_eq(param("p15"), "v15");
    strcat(pattern, "/{one_more}");
    cr_assert_eq(sp__router_add(r, "GET", pattern, h_a), SP_EINVAL);
}

/* ---- mounts -------------------------------------------------------------- */

Test(router, mount_matches_prefix_slash_and_below)
{
    add_ok("GET", "/static/*", h_a);
    found("GET", "/static", h_a);
    found("GET", "/static/", h_a);
    found("GET", "/static/a", h_a);
    found("GET", "/static/a/b/c", h_a);
    found("GET", "/static//x", h_a);
    not_found("GET", "/staticx");
    not_found("GET", "/stati");
    not_found("GET", "/");
}

Test(router, root_mount_matches_everything)
{
    add_ok("GET", "/*", h_a);
    found("GET", "/", h_a);
    found("GET", "/x", h_a);
    found("GET", "/x/y/z/", h_a);
    found("GET", "//", h_a);
}

Test(router, nested_mounts_longest_prefix_wins)
{
    add_ok("GET", "/*", h_a);
    add_ok("GET", "/a/*", h_b);
    add_ok("GET", "/a/b/*", h_c);
    found("GET", "/x", h_a);
    found("GET", "/a", h_b);
    found("GET", "/a/c", h_b);
    found("GET", "/a/b", h_c);
    found("GET", "/a/b/", h_c);
    found("GET", "/a/b/c/d", h_c);
    found("GET", "/ab", h_a);
}

Test(router, mount_and_exact_of_the_same_prefix)
{
    add_ok("GET", "/docs", h_a);
    add_ok("GET", "/docs/*", h_b);
    found("GET", "/docs", h_a);
    found("GET", "/docs/", h_b);
    found("GET", "/docs/x", h_b);
}

Test(router, mount_below_a_param)
{
    add_ok("GET", "/u/{id}/*", h_a);
    found("GET", "/u/5/files/x", h_a);
    cr_assert_eq(m.n_params, 1);
    cr_assert_str_eq(param("id"), "5");
    found("GET", "/u/6", h_a);
    cr_assert_str_eq(param("id"), "6");
    not_found("GET", "/u");
}

/* ---- precedence ---------------------------------------------------------- */

Test(router, literal_beats_param)
{
    add_ok("GET", "/a/{x}", h_a);
    add_ok("GET", "/a/b", h_b);
    found("GET", "/a/b", h_b);
    cr_assert_eq(m.n_params, 0);
    found("GET", "/a/c", h_a);
    cr_assert_str_eq(param("x"), "c");
}

Test(router, param_beats_mount)
{
    add_ok("GET", "/a/*", h_a);
    add_ok("GET", "/a/{x}", h_b);
    found("GET", "/a/c", h_b);
    found("GET", "/a/c/d", h_a);
    found("GET", "/a", h_a);
    cr_assert_eq(m.n_params, 0);
}

Test(router, literal_beats_mount)
{
    add_ok("GET", "/static/*", h_a);
    add_ok("GET", "/static/special", h_b);
    found("GET", "/static/special", h_b);
    found("GET", "/static/special/x", h_a);
    found("GET", "/static/other", h_a);
}

Test(router, literal_position_decides_first)
{
    /* At the first differing position "b" (literal) beats "{x}", so the
     * mount under "/a/b" wins over the longer param route. */
    add_ok("GET", "/a/b/*", h_a);
    add_ok("GET", "/a/{x}/c", h_b);
    found("GET", "/a/b/c", h_a);
    found("GET", "/a/z/c", h_b);
}

Test(router, backtracks_from_literal_to_param)
{
    add_ok("GET", "/a/{x}/c", h_a);
    add_ok("GET", "/a/b/d", h_b);
    found("GET", "/a/b/c", h_a);
    cr_assert_eq(m.n_params, 1);
    cr_assert_str_eq(param("x"), "b");
    found("GET", "/a/b/d", h_b);
    cr_assert_eq(m.n_params, 0);
    not_found("GET", "/a/b/e");
}

Test(router, backtracks_to_a_shallower_mount)
{
    add_ok("GET", "/a/*", h_a);
    add_ok("GET", "/a/b/c/d", h_b);
    add_ok("GET", "/a/{x}/{y}/e", h_c);
    found("GET", "/a/b/c/d", h_b);
    found("GET", "/a/b/c/e", h_c);
    cr_assert_str_eq(param("x"), "b");
    cr_assert_str_eq(param("y"), "c");
    found("GET", "/a/b/c/f", h_a);
    cr_assert_eq(m.n_params, 0, "params of abandoned branches are dropped");
}

Test(router, backtracking_keeps_params_in_step)
{
    add_ok("GET", "/{x}/lit/q", h_a);
    add_ok("GET", "/{a}/{b}/z", h_b);
    found("GET", "/1/lit/z", h_b);
    cr_assert_eq(m.n_params, 2);
    cr_assert_str_eq(param("a"), "1");
    cr_assert_str_eq(param("b"), "lit");
    found("GET", "/1/lit/q", h_a);
    cr_assert_eq(m.n_params, 1);
    cr_assert_str_eq(param("x"), "1");
}

Test(router, backtracking_drops_params_of_abandoned_branches)
{
    add_ok("GET", "/a/{x}/c", h_a);
    add_ok("GET", "/{y}/b/d", h_b);
    found("GET", "/a/b/d", h_b);
    cr_assert_eq(m.n_params, 1);
    cr_assert_str_eq(param("y"), "a");
}

/* ---- methods ------------------------------------------------------------- */

Test(router, exact_method)
{
    add_ok("GET", "/r", h_a);
    add_ok("POST", "/r", h_b);
    add_ok("M-SEARCH", "/r", h_c);
    found("GET", "/r", h_a);
    found("POST", "/r", h_b);
    found("M-SEARCH", "/r", h_c);
}

Test(router, any_method)
{
    add_ok("*", "/r", h_a);
    add_ok("POST", "/r", h_b);
    found("GET", "/r", h_a);
    found("DELETE", "/r", h_a);
    found("HEAD", "/r", h_a);
    found("get", "/r", h_a);
    found("POST", "/r", h_b);
    cr_assert_eq(sp__router_match(r, SP_STR_NULL, S("/r"), &m), SP__ROUTE_FOUND);
    cr_assert(m.fn == h_a);
}

Test(router, head_falls_back_to_get)
{
    add_ok("GET", "/r", h_a);
    found("HEAD", "/r", h_a);
    add_ok("HEAD", "/r", h_b);
    found("HEAD", "/r", h_b);
    found("GET", "/r", h_a);
}

Test(router, head_prefers_get_over_any)
{
    add_ok("*", "/r", h_a);
    add_ok("GET", "/r", h_b);
    found("HEAD", "/r", h_b);
    found("PUT", "/r", h_a);
}

Test(router, method_not_allowed)
{
    add_ok("POST", "/r", h_a);
    add_ok("GET", "/r", h_b);
    add_ok("DELETE", "/r", h_c);
    bad_method("PUT", "/r", "DELETE, GET, HEAD, POST");
    cr_assert_eq(m.n_params, 0);
    bad_method("get", "/r", "DELETE, GET, HEAD, POST");
}

Test(router, allow_lists)
{
    add_ok("POST", "/post", h_a);
    bad_method("GET", "/post", "POST");
    bad_method("HEAD", "/post", "POST");
    add_ok("HEAD", "/head", h_a);
    add_ok("GET", "/head", h_a);
    bad_method("PUT", "/head", "GET, HEAD");
    add_ok("PURGE", "/z", h_a);
    add_ok("GET", "/z", h_a);
    add_ok("A", "/z", h_a);
    bad_method("PUT", "/z", "A, GET, HEAD, PURGE");
}

Test(router, any_method_node_never_405)
{
    add_ok("GET", "/r", h_a);
    add_ok("*", "/r", h_b);
    found("BREW", "/r", h_b);
}

Test(router, bad_method_does_not_fall_through_to_a_mount)
{
    add_ok("*", "/files/*", h_a);
    add_ok("GET", "/files/{name}", h_b);
    bad_method("DELETE", "/files/x", "GET, HEAD");
    found("DELETE", "/files/x/y", h_a);
    found("DELETE", "/files", h_a);
}

Test(router, bad_method_does_not_fall_through_to_a_param)
{
    add_ok("GET", "/a/b", h_a);
    add_ok("POST", "/a/{x}", h_b);
    bad_method("POST", "/a/b", "GET, HEAD");
    found("POST", "/a/c", h_b);
}

Test(router, allow_list_must_fit)
{
    char method[16];
    int rc = SP_OK, added = 0;

    /* 10-letter methods take 12 bytes each with ", ": ten fit in 127. */
    for (int i = 0; i < 20 && rc == SP_OK; i++) {
        snprintf(method, sizeof(method), "METHODXXX%c", 'A' + i);
        rc = sp__router_add(r, method, "/r", h_a);
        added += rc == SP_OK;
    }
    cr_assert_eq(rc, SP_EINVAL);
    cr_assert_eq(added, 10);
    bad_method("GET", "/r",
               "METHODXXXA, METHODXXXB, METHODXXXC, METHODXXXD, "
               "METHODXXXE, METHODXXXF, METHODXXXG, METHODXXXH, "
               "METHODXXXI, METHODXXXJ");
    found("METHODXXXJ", "/r", h_a);
    not_found("METHODXXXK", "/other");
}

/* ---- invalid input and duplicates ---------------------------------------- */

Test(router, invalid_patterns)
{
    static const char *const bad[] = {
        "",       "a",        "hello/", "*",    "{x}",    "/a{b}",  "/{b}c", "/{}",   "/{1a}",
        "/{a-b}", "/{a}/{a}", "/{a",    "/a}",  "/{{a}}", "/a/*/b", "/a*",   "/*a",   "/**",
        "/*/",    "/a/b*",    "/a/*/*", "/a b", "/a?b",   "/a#b",   "/a\tb", "/{a}*",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(sp__router_add(r, "GET", bad[i], h_a), SP_EINVAL, "pattern \"%s\"", bad[i]);
    not_found("GET", "/a");
}

Test(router, valid_edge_patterns)
{
    static const char *const good[] = {
        "/", "//", "/*", "//*", "/{_}", "/{A_9}/x", "/a.b/c-d~e", "/%7E/{x}/*", "/a/{x}/*",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_expect_eq(sp__router_add(r, "GET", good[i], h_a), SP_OK, "pattern \"%s\"", good[i]);
}

Test(router, invalid_methods)
{
    static const char *const bad[] = {"",   "get", "Get",  "G ET",  "GET/",
                                      "**", "G*",  " GET", "GET\n", "G1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(sp__router_add(r, bad[i], "/a", h_a), SP_EINVAL, "method \"%s\"", bad[i]);
    add_ok("X_CUSTOM-A", "/a", h_a);
}

Test(router, null_arguments)
{
    cr_assert_eq(sp__router_add(r, NULL, "/a", h_a), SP_EINVAL);
    cr_assert_eq(sp__router_add(r, "GET", NULL, h_a), SP_EINVAL);
    cr_assert_eq(sp__router_add(r, "GET", "/a", NULL), SP_EINVAL);
    cr_assert_eq(sp__router_add(NULL, "GET", "/a", h_a), SP_EINVAL);
    sp__router_free(NULL);
}

Test(router, duplicates)
{
    add_ok("GET", "/a", h_a);
    cr_assert_eq(sp__router_add(r, "GET", "/a", h_b), SP_EEXIST);
    add_ok("POST", "/a", h_b);
    add_ok("*", "/a", h_c);
    cr_assert_eq(sp__router_add(r, "*", "/a", h_d), SP_EEXIST);
    add_ok("GET", "/a/*", h_d);
    cr_assert_eq(sp__router_add(r, "GET", "/a/*", h_d), SP_EEXIST);
    found("GET", "/a", h_a);
    found("POST", "/a", h_b);
    found("PUT", "/a", h_c);
    found("GET", "/a/x", h_d);
}

Test(router, same_shape_with_other_param_names_is_a_duplicate)
{
    /* "/u/{id}" and "/u/{uid}" match the same paths: the second could
     * never be reached, so it is refused like an exact duplicate. */
    add_ok("GET", "/u/{id}", h_a);
    cr_assert_eq(sp__router_add(r, "GET", "/u/{uid}", h_b), SP_EEXIST);
    found("GET", "/u/1", h_a);
    cr_assert_str_eq(param("id"), "1");
}

/* ---- scale --------------------------------------------------------------- */

Test(router, a_thousand_routes)
{
    static const sp_handler_fn fns[] = {h_a, h_b, h_c, h_d};
    char pattern[128], path[128], name[32];

    for (int i = 0; i < 1000; i++) {
        snprintf(pattern, sizeof(pattern), "/api/v%d/res%d/{id%d}", i % 7, i, i);
        add_ok(i % 2 ? "GET" : "POST", pattern, h_a);
        snprintf(pattern, sizeof(pattern), "/e%d", i);
        add_ok("GET", pattern, fns[i % 4]);
        snprintf(pattern, sizeof(pattern), "/m%d/{p%d}/*", i % 10, i);
        if (i < 10)
            add_ok("*", pattern, fns[i % 4]);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(path, sizeof(path), "/api/v%d/res%d/x%d", i % 7, i, i);
        found(i % 2 ? "GET" : "POST", path, h_a);
        snprintf(name, sizeof(name), "id%d", i);
        snprintf(pattern, sizeof(pattern), "x%d", i);
        cr_assert_eq(m.n_params, 1);
        cr_assert_str_eq(param(name), pattern);
        bad_method("PUT", path, i % 2 ? "GET, HEAD" : "POST");
        snprintf(path, sizeof(path), "/api/v%d/res%d/x", (i + 1) % 7, i);
        not_found("GET", path);
        snprintf(path, sizeof(path), "/e%d", i);
        found("GET", path, fns[i % 4]);
        snprintf(path, sizeof(path), "/m%d/q/r/s", i % 10);
        found("GET", path, fns[i % 10 % 4]);
        snprintf(name, sizeof(name), "p%d", i % 10);
        cr_assert_str_eq(param(name), "q");
    }
    not_found("GET", "/e1000");
    not_found("GET", "/api/v0/res0");
}
