/*
 * app_fixture.h - shared set-up for the app/ unit tests (test_app.c,
 * test_request.c, test_response.c).
 *
 * The application is built by hand, as sp__app_load would leave it but
 * without modules: a router, and middleware that a test defines and puts
 * in app->chain itself.  Requests are filled the way conn.c fills them
 * from the parser; responses get a sink that records the stream calls the
 * server would turn into socket writes.  The error log goes to a temp
 * file (tests/common/log_capture.h), so a test can check what was logged.
 *
 * Each test file includes it once and declares
 *   TestSuite(name, .init = setup, .fini = teardown);
 */
#ifndef SPINDLE_TESTS_APP_FIXTURE_H
#define SPINDLE_TESTS_APP_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/request.h"
#include "app/response.h"
#include "app/router.h"
#include "server/lib/arena.h"
#include "server/lib/buf.h"
#include "tests/common/log_capture.h"

typedef struct sink_log {
    int starts;
    int writes;
    sp__buf out;
} sink_log;

static inline int sink_start(void *ctx, sp_response *res)
{
    ((sink_log *)ctx)->starts++;
    return SP_OK;
}

static inline int sink_write(void *ctx, const void *data, size_t len)
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

static inline void setup(void)
{
    log_capture_start(SP_LOG_ERROR);
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
}

static inline void teardown(void)
{
    sp__response_release(&rs);
    sp__app_free(app);
    sp__arena_free(&arena);
    sp__buf_free(&body);
    sp__buf_free(&sink.out);
    log_capture_stop();
}

static inline sp_str S(const char *s)
{
    return (sp_str){s, strlen(s)};
}

/* The request conn.c would build for METHOD TARGET. */
static inline void request(const char *method, const char *target)
{
    rq.method = S(method);
    rq.target = S(target);
    rq.version = 11;
    rq.scheme = S("http");
    rq.body = S("");
    sp__request_prepare(&rq);
}

/* METHOD TARGET through the chain, the router and the handler. */
static inline int run(const char *method, const char *target)
{
    request(method, target);
    return sp__app_handle(app, &rq, &rs);
}

static inline void route(const char *method, const char *pattern, sp_handler_fn fn)
{
    cr_assert_eq(sp_route(app, method, pattern, fn), SP_OK);
}

static inline int str_is(sp_str s, const char *c)
{
    return s.ptr && s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

#define ASSERT_STR(s, c)                                                                           \
    cr_assert(str_is((s), (c)), "got '%.*s' (ptr %p), wanted '%s'", (int)(s).len,                  \
              (s).ptr ? (s).ptr : "", (const void *)(s).ptr, (c))

static inline sp_str body_str(void)
{
    return (sp_str){rs.body->data ? rs.body->data : "", rs.body->len};
}

/* The response is the core's plain-text page for status. */
static inline void assert_page(int status, const char *text)
{
    cr_assert_eq(rs.status, status, "status %d, wanted %d", rs.status, status);
    ASSERT_STR(body_str(), text);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/plain; charset=utf-8");
}

#endif /* SPINDLE_TESTS_APP_FIXTURE_H */
