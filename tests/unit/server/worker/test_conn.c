/*
 * test_conn.c - unit tests for server/worker/conn.c, the IO loop's side of
 * a connection: reading, handing complete requests to the handlers one at
 * a time, keep-alive, refusals and closing (TESTING.md cases 11-14).
 *
 * A real connection in the in-process worker (conn_fixture.h), fed by a
 * client over a socketpair, whole or in small pieces.
 *
 * What the file proves: pipelined requests are answered in order, the
 * same whatever the read boundaries; a refusal in a pipeline answers what
 * came before it, then the refusal, then closes without running anything
 * after it; HTTP/1.0 and Connection: close end the connection after their
 * answer; 100 Continue goes out after the head and before the body is
 * sent, never for a body that will be refused or an unknown expectation;
 * a body is never read as a request, whether the handler reads it or not;
 * a keep-alive connection serves again after an idle pause; a client that
 * leaves mid-request costs nothing.
 */
#include <pthread.h>

#include "tests/common/inproc_worker.h"
#include "conn_fixture.h"

/* What the handlers ran, in order ("GET /a;POST /b;"). */
static char trace[4096];
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

static void note(sp_request *req)
{
    sp_str m = sp_method(req), p = sp_path(req);
    pthread_mutex_lock(&trace_lock);
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof trace - n, "%.*s %.*s;", SP_STR_ARGS(m), SP_STR_ARGS(p));
    pthread_mutex_unlock(&trace_lock);
}

static const char *ran(void)
{
    static char copy[sizeof trace];
    pthread_mutex_lock(&trace_lock);
    memcpy(copy, trace, sizeof trace);
    pthread_mutex_unlock(&trace_lock);
    return copy;
}

/* Answers with its own path. */
static int h_path(sp_request *req, sp_response *res)
{
    note(req);
    sp_str p = sp_path(req);
    return sp_send_text(res, 200, "path=%.*s", SP_STR_ARGS(p));
}

/* Answers with the body, read in pieces from wherever it lives. */
static int h_echo(sp_request *req, sp_response *res)
{
    char buf[333];
    long n;
    note(req);
    while ((n = sp_body_read(req, buf, sizeof buf)) > 0)
        if (sp_write(res, buf, (size_t)n) != SP_OK)
            return SP_ENOMEM;
    return n < 0 ? (int)n : SP_OK;
}

/* Never looks at the body. */
static int h_ignore(sp_request *req, sp_response *res)
{
    note(req);
    return sp_send_text(res, 200, "ignored");
}

static void setup(void)
{
    conn_setup(5000, 0);
    route("*", "/echo", h_echo);
    route("*", "/ignore", h_ignore);
    route("*", "/{name}", h_path);
    conn_start();
    trace[0] = '\0';
}

TestSuite(conn, .init = setup, .fini = conn_teardown);

static const char three[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                            "PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

static void assert_three(client *c)
{
    cr_assert_eq(wait_replies(c, 3, 0), 3);
    cr_assert_eq(R[0].status, 200);
    ASSERT_BODY(&R[0], "path=/one");
    ASSERT_BODY(&R[1], "hello");
    ASSERT_BODY(&R[2], "abcde");
    cr_assert_eq(R[2].end, c->got.len, "bytes after the third answer");
    cr_assert_str_eq(ran(), "GET /one;POST /echo;PUT /echo;");
}

Test(conn, pipelined_requests_answered_in_order)
{
    client c;

    client_open(&c);
    client_say(&c, three);
    assert_three(&c);
    /* The connection is still there for more. */
    cr_assert_not(c.eof);
    client_say(&c, "GET /four HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(wait_replies(&c, 4, 0), 4);
    ASSERT_BODY(&R[3], "path=/four");
    client_close(&c);
}

/* A client that pipelines and then half-closes (nc -N, a script's
 * shutdown) has sent three whole requests: it gets three answers, and the
 * connection ends after the last. */
Test(conn, pipelined_then_half_closed_all_answered)
{
    client c;

    client_open(&c);
    client_say(&c, three);
    client_shut(&c);
    wait_closed(&c);
    assert_three(&c);
    cr_assert_str_eq(header(&R[2], "Connection"), "close");
    cr_assert_null(header(&R[0], "Connection"), "the first answers keep the connection");
    client_close(&c);
}

/* The same bytes, arriving one by one and in odd-sized reads. */
Test(conn, read_boundaries_change_nothing)
{
    static const size_t pieces[] = {1, 7, 64};

    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        client c;
        trace[0] = '\0';
        client_open(&c);
        client_send(&c, three, sizeof three - 1, pieces[i]);
        assert_three(&c);
        client_close(&c);
    }
}

/* Case 13: earlier answers, then 400, then close; the request after the
 * bad one never runs. */
Test(conn, refusal_in_a_pipeline_ends_it)
{
    client c;

    client_open(&c);
    client_say(&c,
               "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
               "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"
               "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 2);
    ASSERT_BODY(&R[0], "path=/first");
    assert_refusal(&R[1], 400);
    cr_assert_eq(R[1].end, c.got.len, "something was sent after the refusal");
    cr_assert_str_eq(ran(), "GET /first;");
    client_close(&c);
}

/* A request the parser refuses is answered by the server itself. */
Test(conn, refusal_is_a_page_then_close)
{
    client c;

    client_open(&c);
    client_say(&c, "GET / HTTP/1.1\r\nX-No-Host: 1\r\n\r\n");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1);
    assert_refusal(&R[0], 400);
    cr_assert_eq(R[0].length, (int)R[0].body.len);
    cr_assert_str_eq(ran(), "");
    client_close(&c);
}

/* Case 12: an HTTP/1.0 request without keep-alive is the last. */
Test(conn, http10_closes_after_its_answer)
{
    client c;

    client_open(&c);
    client_say(&c, "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1);
    cr_assert_eq(R[0].minor, 0);
    ASSERT_BODY(&R[0], "path=/a");
    cr_assert_str_eq(ran(), "GET /a;");
    client_close(&c);
}

Test(conn, connection_close_is_the_last_request)
{
    client c;

    client_open(&c);
    client_say(&c, "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                   "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1);
    cr_assert_str_eq(header(&R[0], "Connection"), "close");
    ASSERT_BODY(&R[0], "path=/a");
    cr_assert_str_eq(ran(), "GET /a;");
    client_close(&c);
}

/* Case 11: the 100 comes once the head is in, before the client sends the
 * body; the client here sends nothing more until it has it. */
Test(conn, expect_100_continue_comes_before_the_body)
{
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
    client c;

    client_open(&c);
    client_say(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                   "Content-Length: 4\r\n\r\n");
    wait_text(&c, interim);
    cr_assert_eq(c.got.len, sizeof interim - 1, "more than the 100 before the body");
    cr_assert_eq(memcmp(c.got.data, interim, sizeof interim - 1), 0);
    client_say(&c, "data");
    cr_assert_eq(wait_replies(&c, 2, 0), 2);
    cr_assert_eq(R[0].status, 100);
    cr_assert_eq(R[1].status, 200);
    ASSERT_BODY(&R[1], "data");

    /* Each request asks for its own 100. */
    client_say(&c, "PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                   "Content-Length: 2\r\n\r\n");
    cr_assert_eq(wait_replies(&c, 3, 0), 3);
    cr_assert_eq(R[2].status, 100);
    client_say(&c, "ok");
    cr_assert_eq(wait_replies(&c, 4, 0), 4);
    ASSERT_BODY(&R[3], "ok");
    client_close(&c);
}

Test(conn, no_100_for_a_body_over_the_limit)
{
    client c;

    client_open(&c);
    client_say(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                   "Content-Length: 1000000\r\n\r\n");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1, "a 100 went out for a body that is refused");
    assert_refusal(&R[0], 413);
    cr_assert_str_eq(ran(), "");
    client_close(&c);
}

Test(conn, unknown_expectation_is_417)
{
    client c;

    client_open(&c);
    client_say(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nContent-Length: 2\r\n\r\nok");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1);
    assert_refusal(&R[0], 417);
    cr_assert_str_eq(ran(), "");
    client_close(&c);
}

/* Case 14: a body that looks like a request is a body, read or not. */
Test(conn, a_body_is_never_a_request)
{
    static const char inner[] = "GET /inner HTTP/1.1\r\nHost: a\r\n\r\n";
    char in[512];
    client c;

    snprintf(in, sizeof in,
             "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n%s"
             "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n%s"
             "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
             sizeof inner - 1, inner, sizeof inner - 1, inner);
    client_open(&c);
    client_send(&c, in, strlen(in), 5);
    cr_assert_eq(wait_replies(&c, 3, 0), 3);
    ASSERT_BODY(&R[0], "ignored");
    ASSERT_BODY(&R[1], inner);
    ASSERT_BODY(&R[2], "path=/next");
    cr_assert_str_eq(ran(), "POST /ignore;POST /echo;GET /next;");
    client_close(&c);
}

/* A body larger than body-buffer-size (1 KiB here) arrives in many reads,
 * goes to a temp file, and reaches the handler byte for byte. */
Test(conn, a_big_body_reaches_the_handler_whole)
{
    size_t n = 40000;
    char head[128];
    char *data = malloc(n);
    client c;

    cr_assert_not_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + (i * 7 + i / 26) % 26);
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", n);
    client_open(&c);
    client_say(&c, head);
    client_send(&c, data, n, 1500);
    cr_assert_eq(wait_replies(&c, 1, 0), 1);
    cr_assert_eq(R[0].status, 200);
    cr_assert_eq(R[0].body.len, n);
    cr_assert_eq(memcmp(R[0].body.data, data, n), 0, "the body changed on its way");
    free(data);
    client_close(&c);
}

/* Empty lines before a request line are no request (RFC 9112 2.2). */
Test(conn, empty_lines_between_requests_are_skipped)
{
    client c;

    client_open(&c);
    client_say(&c, "\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n\r\n"
                   "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(wait_replies(&c, 2, 0), 2);
    ASSERT_BODY(&R[0], "path=/a");
    ASSERT_BODY(&R[1], "path=/b");
    cr_assert_not(c.eof);
    client_close(&c);
}

/* After an answer the connection waits idle, then serves the next request
 * as it did the first. */
Test(conn, keep_alive_serves_again_after_a_pause)
{
    client c;

    client_open(&c);
    for (int i = 0; i < 3; i++) {
        char req[64], want[32];
        snprintf(req, sizeof req, "GET /r%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
        snprintf(want, sizeof want, "path=/r%d", i);
        client_say(&c, req);
        cr_assert_eq(wait_replies(&c, (size_t)i + 1, 0), (size_t)i + 1);
        ASSERT_BODY(&R[i], want);
        /* Nothing waits: the loop turns with the connection idle. */
        for (int t = 0; t < 3; t++)
            event_base_loop(ip.w.base, EVLOOP_NONBLOCK);
        cr_assert_not(c.eof);
        cr_assert_eq(ip.w.n_conns, 1);
    }
    client_close(&c);
}

/* A client that goes away mid-request: the connection is closed and
 * nothing is run. */
Test(conn, a_client_leaving_mid_request_is_let_go)
{
    client c;

    client_open(&c);
    client_say(&c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    client_shut(&c);
    wait_closed(&c);
    cr_assert_eq(c.got.len, 0, "an answer to half a request");
    cr_assert_eq(ip.w.n_conns, 0);
    cr_assert_str_eq(ran(), "");
    client_close(&c);
}
