/*
 * test_app.c - unit tests for the app layer: app/app.c (middleware chain,
 * dispatch, settling a returned status into an error page), app/request.c,
 * app/response.c, app/status.c, server/lib/arena.c and server/lib/buf.c.
 *
 * The application is built by hand, as sp__app_load would leave it but
 * without modules: a router, middleware defined with sp_middleware_define
 * and put in app->chain in "server.ini order".  Requests are filled the way
 * conn.c fills them from the parser; responses get a sink that records the
 * stream calls the server would turn into socket writes.
 *
 * What the file proves: the chain runs outermost first and every layer sees
 * a complete response after sp_next_call; a returned status (or a bad
 * return) becomes exactly the core's error page; the request accessors
 * decode what they promise; the response refuses any header that could
 * break framing or smuggle a line; and the arena and buffer keep their
 * alignment, growth and recycling promises.
 */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "server/lib/arena.h"
#include "server/lib/buf.h"
#include "app/request.h"
#include "app/response.h"
#include "app/router.h"
#include "server/lib/log.h"

/* ---- fixture ----------------------------------------------------------------- */

typedef struct sink_log {
    int starts;
    int writes;
    sp__buf out;
} sink_log;

static int sink_start(void *ctx, sp_response *res)
{
    ((sink_log *)ctx)->starts++;
    return SP_OK;
}

static int sink_write(void *ctx, const void *data, size_t len)
{
    sink_log *s = ctx;
    s->writes++;
    return sp__buf_append(&s->out, data, len);
}

static const sp__sink_ops sink_ops = {sink_start, sink_write};

static sp_app *app;
static sp__config cfg;
static sp__arena arena;
static sp_request rq;
static sp_response rs;
static sp__buf body;
static sink_log sink;

static char log_path[64];

/* True if the error log so far holds needle. */
static int logged(const char *needle)
{
    static char text[64 * 1024];
    FILE *f = fopen(log_path, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

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

static void setup(void)
{
    strcpy(log_path, "/tmp/test_app_log_XXXXXX");
    int fd = mkstemp(log_path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(sp__log_open(log_path, SP_LOG_ERROR), 0);
    memset(&cfg, 0, sizeof(cfg));
    app = calloc(1, sizeof(*app));
    cr_assert_not_null(app);
    app->router = sp__router_new();
    cr_assert_not_null(app->router);
    app->cfg = &cfg;
    sp__arena_init(&arena, 0);
    memset(&rq, 0, sizeof(rq));
    rq.arena = &arena;
    memset(&body, 0, sizeof(body));
    memset(&sink, 0, sizeof(sink));
    sp__response_init(&rs, &rq, &body, &sink_ops, &sink);
    trace[0] = '\0';
    handler_calls = 0;
}

static void teardown(void)
{
    sp__response_release(&rs);
    sp__app_free(app);
    sp__arena_free(&arena);
    sp__buf_free(&body);
    sp__buf_free(&sink.out);
    unlink(log_path);
}

TestSuite(app, .init = setup, .fini = teardown);
TestSuite(request, .init = setup, .fini = teardown);
TestSuite(response, .init = setup, .fini = teardown);
TestSuite(status);
TestSuite(arena);
TestSuite(buf);

static sp_str S(const char *s)
{
    return (sp_str){s, strlen(s)};
}

/* The request conn.c would build for METHOD TARGET. */
static void request(const char *method, const char *target)
{
    rq.method = S(method);
    rq.target = S(target);
    rq.version = 11;
    rq.scheme = S("http");
    rq.body = S("");
    sp__request_prepare(&rq);
}

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

static int run(const char *method, const char *target)
{
    request(method, target);
    return sp__app_handle(app, &rq, &rs);
}

static int str_is(sp_str s, const char *c)
{
    return s.ptr && s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

#define ASSERT_STR(s, c)                                                                           \
    cr_assert(str_is((s), (c)), "got '%.*s' (ptr %p), wanted '%s'", (int)(s).len,                  \
              (s).ptr ? (s).ptr : "", (const void *)(s).ptr, (c))

static sp_str body_str(void)
{
    return (sp_str){rs.body->data ? rs.body->data : "", rs.body->len};
}

static void assert_page(int status, const char *text)
{
    cr_assert_eq(rs.status, status, "status %d, wanted %d", rs.status, status);
    ASSERT_STR(body_str(), text);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/plain; charset=utf-8");
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

static void route(const char *method, const char *pattern, sp_handler_fn fn)
{
    cr_assert_eq(sp_route(app, method, pattern, fn), SP_OK);
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

Test(app, route_params_percent_decoded)
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

/* ---- request ---------------------------------------------------------------------- */

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

/* ---- response: headers -------------------------------------------------------------- */

Test(response, header_injection_refused)
{
    static const char *values[] = {"a\r\nb", "a\nb", "a\rb", "\r\n", "ok\r\nSet-Cookie: x=1"};
    static const char *names[] = {"X Y", "", "X:Y", "X\r\nY", "X\nY", "X-\xc3\xa9", "(x)", "X\t"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        cr_assert_eq(sp_set_header(&rs, "X-A", values[i]), SP_EHEADER, "value #%zu", i);
        cr_assert_eq(sp_add_header(&rs, "X-A", values[i]), SP_EHEADER, "value #%zu", i);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cr_assert_eq(sp_set_header(&rs, names[i], "v"), SP_EHEADER, "name '%s'", names[i]);
        cr_assert_eq(sp_add_header(&rs, names[i], "v"), SP_EHEADER, "name '%s'", names[i]);
    }
    cr_assert_eq(rs.n_headers, 0, "a refused header was stored");
    cr_assert(logged("refused response header X-A"), "a refusal is logged");
    cr_assert_eq(sp_set_header(&rs, NULL, "v"), SP_EINVAL);
    cr_assert_eq(sp_set_header(&rs, "X", NULL), SP_EINVAL);
}

Test(response, framing_headers_refused)
{
    static const char *names[] = {"Content-Length",    "content-length", "Transfer-Encoding",
                                  "TRANSFER-ENCODING", "Connection",     "connection"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cr_assert_eq(sp_set_header(&rs, names[i], "5"), SP_EINVAL, "%s", names[i]);
        cr_assert_eq(sp_add_header(&rs, names[i], "5"), SP_EINVAL, "%s", names[i]);
    }
    cr_assert_eq(rs.n_headers, 0);
}

Test(response, header_set_add_del)
{
    request("GET", "/");
    cr_assert_eq(sp_add_header(&rs, "X-A", "1"), SP_OK);
    cr_assert_eq(sp_add_header(&rs, "x-a", "2"), SP_OK);
    cr_assert_eq(sp_add_header(&rs, "Other", "o"), SP_OK);
    cr_assert_eq(sp_set_header(&rs, "X-A", "3"), SP_OK);
    cr_assert_eq(rs.n_headers, 2, "set replaces every header of that name");
    ASSERT_STR(sp_response_header(&rs, "x-A"), "3");
    ASSERT_STR(sp_response_header(&rs, "other"), "o");

    cr_assert_eq(sp_add_header(&rs, "Set-Cookie", "a=1"), SP_OK);
    cr_assert_eq(sp_add_header(&rs, "Set-Cookie", "b=2"), SP_OK);
    cr_assert_eq(rs.n_headers, 4);
    ASSERT_STR(rs.headers[2].value, "a=1");
    ASSERT_STR(rs.headers[3].value, "b=2");

    cr_assert_eq(sp_del_header(&rs, "set-cookie"), 2);
    cr_assert_eq(sp_del_header(&rs, "Set-Cookie"), 0);
    cr_assert_eq(rs.n_headers, 2);
    ASSERT_STR(sp_response_header(&rs, "X-A"), "3");
    cr_assert(!sp_str_is_set(sp_response_header(&rs, "Set-Cookie")));
}

Test(response, header_strings_are_copied)
{
    char name[] = "X-Name", value[] = "value";
    cr_assert_eq(sp_set_header(&rs, name, value), SP_OK);
    name[0] = 'Y';
    value[0] = 'W';
    ASSERT_STR(sp_response_header(&rs, "X-Name"), "value");
}

Test(response, many_headers_grow)
{
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "X-%d", i);
        cr_assert_eq(sp_add_header(&rs, name, name), SP_OK);
    }
    cr_assert_eq(rs.n_headers, 100);
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "X-%d", i);
        ASSERT_STR(sp_response_header(&rs, name), name);
    }
}

/* ---- response: body ----------------------------------------------------------------- */

Test(response, printf_grows_past_64k)
{
    char line[1000];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    for (int i = 0; i < 100; i++)
        cr_assert_eq(sp_printf(&rs, "%04d%s\n", i, line), SP_OK);
    size_t each = 4 + strlen(line) + 1;
    cr_assert_eq(sp_body_size(&rs), 100 * each);
    for (int i = 0; i < 100; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%04d", i);
        cr_assert_eq(memcmp(rs.body->data + (size_t)i * each, want, 4), 0, "line %d", i);
        cr_assert_eq(rs.body->data[(size_t)i * each + each - 1], '\n');
    }
}

Test(response, one_printf_over_64k)
{
    size_t n = 100 * 1024;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    cr_assert_eq(sp_write(&rs, "<", 1), SP_OK);
    cr_assert_eq(sp_printf(&rs, "%s>", big), SP_OK);
    cr_assert_eq(sp_body_size(&rs), n + 2);
    cr_assert_eq(rs.body->data[0], '<');
    cr_assert_eq(memcmp(rs.body->data + 1, big, n), 0);
    cr_assert_eq(rs.body->data[n + 1], '>');
    free(big);
}

Test(response, send_and_send_text)
{
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "old", 3), SP_OK);
    cr_assert_eq(sp_send(&rs, 201, "application/json", "{}", 2), SP_OK);
    cr_assert_eq(rs.status, 201);
    ASSERT_STR(body_str(), "{}");
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/json");
    cr_assert_eq(sp_send_text(&rs, 202, "n=%d %s", 7, "ok"), SP_OK);
    cr_assert_eq(rs.status, 202);
    ASSERT_STR(body_str(), "n=7 ok");
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_eq(sp_set_status(&rs, 99), SP_EINVAL);
    cr_assert_eq(sp_set_status(&rs, 1000), SP_EINVAL);
    cr_assert_eq(rs.status, 202);
}

Test(response, send_static_is_not_copied)
{
    static const char page[] = "<html>static</html>";
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "old", 3), SP_OK);
    cr_assert_eq(sp_send_static(&rs, 200, "text/html", page, sizeof(page) - 1), SP_OK);
    cr_assert_eq(rs.status, 200);
    cr_assert_eq(sp__response_body(&rs).ptr, page, "the module's own bytes, not a copy");
    cr_assert_eq(sp_body_size(&rs), sizeof(page) - 1);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/html");
    /* Appending copies it into the response first. */
    cr_assert_eq(sp_printf(&rs, "<!--%d-->", 1), SP_OK);
    cr_assert_neq(sp__response_body(&rs).ptr, page);
    ASSERT_STR(sp__response_body(&rs), "<html>static</html><!--1-->");
    cr_assert_eq(sp_write(&rs, "!", 1), SP_OK);
    ASSERT_STR(sp__response_body(&rs), "<html>static</html><!--1-->!");
    /* A new one replaces the body; clearing drops it; empty is empty. */
    cr_assert_eq(sp_send_static(&rs, 201, NULL, page, 6), SP_OK);
    ASSERT_STR(sp__response_body(&rs), "<html>");
    cr_assert_eq(sp_clear_body(&rs), SP_OK);
    cr_assert_eq(sp_body_size(&rs), 0);
    cr_assert_eq(sp_send_static(&rs, 204, NULL, NULL, 0), SP_OK);
    cr_assert_eq(sp_body_size(&rs), 0);
}

Test(response, send_error_pages)
{
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "junk", 4), SP_OK);
    cr_assert_eq(sp_send_error(&rs, 204), SP_OK);
    cr_assert_eq(rs.status, 204);
    cr_assert_eq(sp_body_size(&rs), 0, "204 carries no body");
    cr_assert_eq(sp_send_error(&rs, 304), SP_OK);
    cr_assert_eq(sp_body_size(&rs), 0, "304 carries no body");
    cr_assert_eq(sp_send_error(&rs, 413), SP_OK);
    assert_page(413, "413 Content Too Large\n");
    cr_assert_eq(sp_send_error(&rs, 599), SP_OK);
    assert_page(599, "599 Unknown\n");
}

Test(response, stream_goes_through_sink)
{
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "before ", 7), SP_OK);
    cr_assert_eq(sp_headers_sent(&rs), 0);
    cr_assert_eq(sp_stream_start(&rs), SP_OK);
    cr_assert_eq(sink.starts, 1);
    cr_assert(sp_headers_sent(&rs));
    cr_assert_eq(sp_printf(&rs, "%s", "after"), SP_OK);
    cr_assert_eq(sink.out.len, 12);
    cr_assert_eq(memcmp(sink.out.data, "before after", 12), 0);
    cr_assert_eq(sp_body_size(&rs), 12);
    /* Headers went out: nothing about them can change any more. */
    cr_assert_eq(sp_set_header(&rs, "X-Late", "1"), SP_ESTATE);
    cr_assert_eq(sp_add_header(&rs, "X-Late", "1"), SP_ESTATE);
    cr_assert_eq(sp_del_header(&rs, "X-Late"), SP_ESTATE);
    cr_assert_eq(sp_set_status(&rs, 500), SP_ESTATE);
    cr_assert_eq(sp_stream_start(&rs), SP_ESTATE);
    cr_assert_eq(sink.starts, 1);
}

Test(response, stream_write_needs_a_stream)
{
    cr_assert_eq(sp_stream_write(&rs, "x", 1), SP_ESTATE);
    cr_assert_eq(sink.writes, 0);
}

/* ---- status and error names -------------------------------------------------------- */

Test(status, strerror_every_code)
{
    static const struct {
        int code;
        const char *msg;
    } errs[] = {
#define SP__XX(name, val, msg) {SP_##name, msg},
        SP_ERRNO_MAP(SP__XX)
#undef SP__XX
    };
    size_t n = sizeof(errs) / sizeof(errs[0]);
    cr_assert_eq(n, 13);
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(errs[i].code, 0);
        cr_assert_str_eq(sp_strerror(errs[i].code), errs[i].msg, "code %d", errs[i].code);
        for (size_t j = 0; j < i; j++) {
            cr_assert_neq(errs[i].code, errs[j].code);
            cr_assert_str_neq(errs[i].msg, errs[j].msg);
        }
    }
    cr_assert_str_eq(sp_strerror(SP_OK), "success");
    cr_assert_str_eq(sp_strerror(-14), "unknown error");
    cr_assert_str_eq(sp_strerror(-999), "unknown error");
    cr_assert_str_eq(sp_strerror(404), "unknown error");
}

Test(status, reasons)
{
    cr_assert_str_eq(sp_status_reason(404), "Not Found");
    cr_assert_str_eq(sp_status_reason(200), "OK");
    cr_assert_str_eq(sp_status_reason(413), "Content Too Large");
    cr_assert_str_eq(sp_status_reason(505), "HTTP Version Not Supported");
    cr_assert_str_eq(sp_status_reason(999), "Unknown");
    cr_assert_str_eq(sp_status_reason(0), "Unknown");
    cr_assert_str_eq(sp_status_reason(-404), "Unknown");
    /* Every status the server itself refuses with has a name. */
    static const int own[] = {400, 404, 405, 408, 413, 414, 417, 431, 500, 501, 503, 505};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        cr_assert_str_neq(sp_status_reason(own[i]), "Unknown", "%d", own[i]);
}

/* ---- arena ------------------------------------------------------------------------ */

Test(arena, alignment_and_no_overlap)
{
    sp__arena a;
    unsigned char *p[300];
    sp__arena_init(&a, 256);
    for (size_t i = 0; i < 300; i++) {
        size_t size = i % 50 + 1;
        p[i] = sp__arena_alloc(&a, size);
        cr_assert_not_null(p[i]);
        cr_assert_eq((uintptr_t)p[i] % alignof(max_align_t), 0, "alloc %zu of %zu bytes", i, size);
        memset(p[i], (int)(i & 0xff), size);
    }
    for (size_t i = 0; i < 300; i++)
        for (size_t j = 0; j < i % 50 + 1; j++)
            cr_assert_eq(p[i][j], (unsigned char)(i & 0xff), "alloc %zu overwritten", i);
    sp__arena_free(&a);
}

Test(arena, bigger_than_a_block)
{
    sp__arena a;
    sp__arena_init(&a, 128);
    void *small = sp__arena_alloc(&a, 8);
    unsigned char *big = sp__arena_alloc(&a, 100000);
    cr_assert_not_null(small);
    cr_assert_not_null(big);
    cr_assert_eq((uintptr_t)big % alignof(max_align_t), 0);
    memset(big, 0xab, 100000);
    cr_assert_null(sp__arena_alloc(&a, SIZE_MAX / 2 + 1));
    cr_assert_null(sp__arena_alloc(&a, SIZE_MAX));
    sp__arena_free(&a);
}

Test(arena, reset_reuses_first_block)
{
    sp__arena a;
    sp__arena_init(&a, 1024);
    void *first = sp__arena_alloc(&a, 16);
    for (int i = 0; i < 50; i++)
        cr_assert_not_null(sp__arena_alloc(&a, 4096));
    sp__arena_reset(&a);
    cr_assert_eq(sp__arena_alloc(&a, 16), first, "after reset the kept block starts over");
    sp__arena_reset(&a);
    sp__arena_reset(&a);
    cr_assert_eq(sp__arena_alloc(&a, 16), first);
    sp__arena_free(&a);
    /* Usable again after free. */
    cr_assert_not_null(sp__arena_alloc(&a, 16));
    sp__arena_free(&a);
}

Test(arena, strndup_copies_n)
{
    sp__arena a;
    const char src[4] = {'a', 'b', 'c', 'd'}; /* not terminated */
    sp__arena_init(&a, 0);
    char *s = sp__arena_strndup(&a, src, 3);
    cr_assert_str_eq(s, "abc");
    char *e = sp__arena_strndup(&a, NULL, 0);
    cr_assert_str_eq(e, "");
    sp__arena_free(&a);
}

/* ---- buf ----------------------------------------------------------------------------- */

Test(buf, reserve_keeps_content)
{
    sp__buf b = {0};
    cr_assert_eq(sp__buf_append(&b, "", 0), SP_OK);
    cr_assert_null(b.data, "an empty append allocates nothing");
    cr_assert_eq(sp__buf_reserve(&b, 10), SP_OK);
    cr_assert_geq(b.cap, 10);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(sp__buf_append(&b, "abc", 3), SP_OK);
    cr_assert_eq(sp__buf_reserve(&b, 5000), SP_OK);
    cr_assert_geq(b.cap - b.len, 5000);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "abc", 3), 0);
    cr_assert_eq(sp__buf_reserve(&b, (size_t)-1), SP_ENOMEM);
    cr_assert_eq(memcmp(b.data, "abc", 3), 0);
    sp__buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len + b.cap, 0);
}

Test(buf, printf_appends)
{
    sp__buf b = {0};
    cr_assert_eq(sp__buf_printf(&b, "%s-%d", "x", 1), SP_OK);
    cr_assert_eq(sp__buf_printf(&b, "|%s", ""), SP_OK);
    cr_assert_eq(b.len, 4);
    cr_assert_eq(memcmp(b.data, "x-1|", 4), 0);
    /* Longer than what is free: the second formatting pass must match. */
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(sp__buf_printf(&b, "[%s]%d", big, 77), SP_OK);
    cr_assert_eq(b.len, 4 + 1 + 2999 + 1 + 2);
    cr_assert_eq(b.data[4], '[');
    cr_assert_eq(memcmp(b.data + 5, big, 2999), 0);
    cr_assert_eq(memcmp(b.data + 5 + 2999, "]77", 3), 0);
    sp__buf_free(&b);
}

Test(buf, reset_keeps_small_frees_big)
{
    sp__buf b = {0};
    cr_assert_eq(sp__buf_append(&b, "abc", 3), SP_OK);
    char *small = b.data;
    size_t cap = b.cap;
    sp__buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, small, "a small buffer is kept for the next request");
    cr_assert_eq(b.cap, cap);

    cr_assert_eq(sp__buf_reserve(&b, SP__BUF_KEEP + 1), SP_OK);
    b.len = SP__BUF_KEEP + 1;
    sp__buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.data, "a buffer that grew past SP__BUF_KEEP is given back");
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(sp__buf_append(&b, "z", 1), SP_OK);
    sp__buf_free(&b);
}
