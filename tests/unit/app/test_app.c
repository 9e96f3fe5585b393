/*
 * test_app.c - unit tests for app/app.c: the middleware chain, dispatch to
 * the router, and settling what a handler returns into a response.
 *
 * What the file proves: the chain runs outermost first and every layer sees
 * a complete response after sp_next_call; a middleware may short-circuit
 * or rewrite what came back; a returned status (or a bad return) becomes
 * exactly the core's error page, logged when it is a bug; once a stream
 * has started nothing is rendered over it; no route is 404 and a wrong
 * method 405 with Allow.  The fixture is app_fixture.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app_fixture.h"

/* What the middleware and handlers saw, in call order. */
static char trace[1024];
static int handler_calls;

static void tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tracef(const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(trace);
    va_start(ap, fmt);
    vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
    va_end(ap);
}

static void setup_app(void)
{
    setup();
    trace[0] = '\0';
    handler_calls = 0;
}

TestSuite(app, .init = setup_app, .fini = teardown);

/* The chain, by the names middleware were defined under. */
static void chain(const char *const *names, size_t n)
{
    app->chain = calloc(n + 1, sizeof(*app->chain));
    cr_assert_not_null(app->chain);
    for (size_t i = 0; i < n; i++) {
        size_t d = 0;
        while (d < app->n_defs && strcmp(app->defs[d].name, names[i]) != 0)
            d++;
        cr_assert_lt(d, app->n_defs, "no middleware %s", names[i]);
        app->chain[i] = app->defs[d].fn;
    }
    app->n_chain = n;
}

/* ---- middleware and handlers ------------------------------------------------- */

/* Each middleware notes its entry, and on the way out the response it got
 * back from sp_next_call: status and body size. */
#define MW(name)                                                                                   \
    static int mw_##name(sp_request *req, sp_response *res, sp_next *next)                         \
    {                                                                                              \
        tracef(#name "(");                                                                         \
        int rc = sp_next_call(next, req, res);                                                     \
        tracef(")" #name ":%d:%zu", sp_status(res), sp_body_size(res));                            \
        return rc;                                                                                 \
    }
MW(a)
MW(b)
MW(c)

static int mw_deny(sp_request *req, sp_response *res, sp_next *next)
{
    tracef("deny");
    return 403;
}

static int mw_fail(sp_request *req, sp_response *res, sp_next *next)
{
    return SP_ENOMEM;
}

/* Rewrites whatever came back: middleware owns the response after next. */
static int mw_rewrite(sp_request *req, sp_response *res, sp_next *next)
{
    int rc = sp_next_call(next, req, res);
    cr_assert_eq(rc, SP_OK);
    tracef("rewrite saw %d", sp_status(res));
    cr_assert_eq(sp_set_status(res, 201), SP_OK);
    cr_assert_eq(sp_set_header(res, "X-Mw", "1"), SP_OK);
    cr_assert_eq(sp_clear_body(res), SP_OK);
    return sp_printf(res, "rewritten");
}

static int h_hello(sp_request *req, sp_response *res)
{
    handler_calls++;
    tracef("h");
    return sp_send_text(res, 200, "hello");
}

static int h_ret;
static int h_returns(sp_request *req, sp_response *res)
{
    handler_calls++;
    sp_printf(res, "partial output");
    return h_ret;
}

static void define(const char *name, sp_middleware_fn fn)
{
    cr_assert_eq(sp_middleware_define(app, name, fn), SP_OK);
}

/* ---- app: the chain -------------------------------------------------------------- */

Test(app, chain_runs_outermost_first_and_sees_filled_response)
{
    /* Defined in another order than the chain: the chain decides. */
    define("c", mw_c);
    define("a", mw_a);
    define("b", mw_b);
    chain((const char *[]){"a", "b", "c"}, 3);
    route("GET", "/", h_hello);

    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_str_eq(trace, "a(b(c(h)c:200:5)b:200:5)a:200:5");
    cr_assert_eq(rs.status, 200);
    ASSERT_STR(body_str(), "hello");
}

Test(app, chain_order_is_the_chain_arrays)
{
    define("a", mw_a);
    define("b", mw_b);
    define("c", mw_c);
    chain((const char *[]){"c", "a", "b"}, 3);
    route("GET", "/", h_hello);

    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_str_eq(trace, "c(a(b(h)b:200:5)a:200:5)c:200:5");
}

Test(app, no_chain_runs_handler)
{
    route("GET", "/", h_hello);
    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_eq(handler_calls, 1);
    ASSERT_STR(body_str(), "hello");
}

Test(app, short_circuit_renders_error_page)
{
    define("a", mw_a);
    define("deny", mw_deny);
    chain((const char *[]){"a", "deny"}, 2);
    route("GET", "/", h_hello);

    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_eq(handler_calls, 0, "the handler ran behind a middleware that refused");
    /* The outer middleware already sees the rendered 403 page. */
    cr_assert_str_eq(trace, "a(deny)a:403:14");
    assert_page(403, "403 Forbidden\n");
}

Test(app, inner_error_status_seen_rendered_by_outer)
{
    define("a", mw_a);
    chain((const char *[]){"a"}, 1);
    h_ret = 404;
    route("GET", "/", h_returns);

    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_str_eq(trace, "a()a:404:14");
    assert_page(404, "404 Not Found\n");
}

Test(app, middleware_rewrites_after_next)
{
    define("rw", mw_rewrite);
    chain((const char *[]){"rw"}, 1);
    h_ret = 503;
    route("GET", "/", h_returns);

    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_str_eq(trace, "rewrite saw 503");
    cr_assert_eq(rs.status, 201);
    ASSERT_STR(body_str(), "rewritten");
    ASSERT_STR(sp_response_header(&rs, "X-Mw"), "1");
}

Test(app, middleware_failing_is_500)
{
    define("a", mw_a);
    define("fail", mw_fail);
    chain((const char *[]){"a", "fail"}, 2);
    route("GET", "/", h_hello);

    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_eq(handler_calls, 0);
    cr_assert_str_eq(trace, "a()a:500:26");
    assert_page(500, "500 Internal Server Error\n");
}

Test(app, define_rules)
{
    define("a", mw_a);
    cr_assert_eq(sp_middleware_define(app, "a", mw_b), SP_EEXIST);
    cr_assert_eq(sp_middleware_define(app, "x", NULL), SP_EINVAL);
    cr_assert_eq(sp_middleware_define(app, NULL, mw_b), SP_EINVAL);
    cr_assert_eq(sp_route(app, "GET", "/", NULL), SP_EINVAL);
    route("GET", "/", h_hello);
    cr_assert_eq(sp_route(app, "GET", "/", h_hello), SP_EEXIST);
}

/* ---- app: settling what a handler returns ------------------------------------------ */

static void returns(int rc, int status, const char *page)
{
    h_ret = rc;
    route("GET", "/", h_returns);
    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_eq(handler_calls, 1);
    assert_page(status, page);
}

/* The page replaces whatever the handler had written. */
Test(app, handler_404)
{
    returns(404, 404, "404 Not Found\n");
}
Test(app, handler_503)
{
    returns(503, 503, "503 Service Unavailable\n");
}
Test(app, handler_431)
{
    returns(431, 431, "431 Request Header Fields Too Large\n");
}
Test(app, handler_negative_is_500)
{
    returns(SP_ENOMEM, 500, "500 Internal Server Error\n");
    cr_assert(logged("handler returned -2 (out of memory)"));
}
Test(app, handler_minus_one_is_500)
{
    returns(-1, 500, "500 Internal Server Error\n");
}
Test(app, handler_42_is_500)
{
    returns(42, 500, "500 Internal Server Error\n");
    cr_assert(logged("GET /: handler returned 42"), "a bad return is logged");
}
Test(app, handler_600_is_500)
{
    returns(600, 500, "500 Internal Server Error\n");
}
/* An interim status as the answer would leave the connection out of step
 * (the next response would follow a bodyless 1xx): 500 instead. */
Test(app, handler_1xx_is_500)
{
    returns(101, 500, "500 Internal Server Error\n");
    cr_assert(logged("GET /: handler returned 101 (not a final HTTP status: 200 to 599)"));
}
Test(app, handler_100_is_500)
{
    returns(100, 500, "500 Internal Server Error\n");
}

Test(app, handler_ok_keeps_its_response)
{
    h_ret = SP_OK;
    route("GET", "/", h_returns);
    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_eq(rs.status, 200);
    ASSERT_STR(body_str(), "partial output");
}

Test(app, handler_204_has_no_body)
{
    h_ret = 204;
    route("GET", "/", h_returns);
    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_eq(rs.status, 204);
    cr_assert_eq(sp_body_size(&rs), 0);
}

/* A connection that broke is not answered with a page. */
Test(app, closed_connection_passes_through)
{
    h_ret = SP_ECLOSED;
    route("GET", "/", h_returns);
    cr_assert_eq(run("GET", "/"), SP_ECLOSED);
    ASSERT_STR(body_str(), "partial output");
}

static int h_stream_then(sp_request *req, sp_response *res)
{
    cr_assert_eq(sp_stream_start(res), SP_OK);
    cr_assert_eq(sp_write(res, "chunk", 5), SP_OK);
    return h_ret;
}

/* Once the headers are out, a status cannot become a page any more. */
Test(app, status_after_stream_started_is_not_rendered)
{
    h_ret = 500;
    route("GET", "/", h_stream_then);
    cr_assert_eq(run("GET", "/"), SP_OK);
    cr_assert_eq(sink.starts, 1);
    cr_assert_eq(sink.out.len, 5);
    cr_assert_eq(memcmp(sink.out.data, "chunk", 5), 0);
    cr_assert_eq(rs.status, 200);
}

Test(app, failure_after_stream_started_closes)
{
    h_ret = SP_EIO;
    route("GET", "/", h_stream_then);
    cr_assert_eq(run("GET", "/"), SP_ECLOSED);
}

/* ---- app: dispatch ------------------------------------------------------------------ */

Test(app, no_route_is_404)
{
    route("GET", "/here", h_hello);
    cr_assert_eq(run("GET", "/elsewhere"), SP_OK);
    cr_assert_eq(handler_calls, 0);
    assert_page(404, "404 Not Found\n");
}

Test(app, wrong_method_is_405_with_allow)
{
    route("GET", "/x", h_hello);
    route("PUT", "/x", h_hello);
    cr_assert_eq(run("POST", "/x"), SP_OK);
    cr_assert_eq(handler_calls, 0);
    assert_page(405, "405 Method Not Allowed\n");
    ASSERT_STR(sp_response_header(&rs, "Allow"), "GET, HEAD, PUT");
}

Test(app, query_is_not_part_of_the_route)
{
    route("GET", "/x", h_hello);
    cr_assert_eq(run("GET", "/x?y=/z"), SP_OK);
    cr_assert_eq(handler_calls, 1);
}
