/*
 * test_serve.c - unit tests for server/worker/serve.c, a handler thread's
 * side of a connection: rendering the response head, framing the body,
 * streaming, and writing what the socket takes.
 *
 * A real connection in the in-process worker (conn_fixture.h); the
 * replies are read back from the client's end of the socket.
 *
 * What the file proves: every response is framed so the next one on the
 * connection parses: Content-Length for a body (also a file or one bigger
 * than the socket buffer), none and no body for HEAD, 204 and 304, chunked
 * for a stream on HTTP/1.1 and close-delimited on HTTP/1.0; the head has
 * the status line of the request's version, Server, a Date of now and the
 * handler's headers as set; max-keepalive-requests closes the connection
 * after its last answer; a header with CR/LF from a handler is never sent
 * (case 16).
 */
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#include "tests/common/inproc_worker.h"
#include "conn_fixture.h"

static atomic_int calls;

static int h_hello(sp_request *req, sp_response *res)
{
    atomic_fetch_add(&calls, 1);
    if (sp_add_header(res, "X-A", "1") != SP_OK || sp_add_header(res, "X-A", "2") != SP_OK)
        return SP_ENOMEM;
    return sp_send_text(res, 200, "hello");
}

static int h_empty(sp_request *req, sp_response *res)
{
    return SP_OK;
}

/* /status/204: that status, with a body the server must not send. */
static int h_status(sp_request *req, sp_response *res)
{
    sp_str code = sp_param(req, "code");
    int rc = sp_set_status(res, atoi(code.ptr));
    return rc != SP_OK ? rc : sp_printf(res, "a body");
}

static int h_stream(sp_request *req, sp_response *res)
{
    static const char *const parts[] = {"one\n", "two\n", "three\n"};
    int rc = sp_stream_start(res);
    for (size_t i = 0; rc == SP_OK && i < 3; i++)
        rc = sp_stream_write(res, parts[i], strlen(parts[i]));
    return rc;
}

/* A body far bigger than a socket buffer: the handler thread writes what
 * the socket takes, the IO loop the rest. */
#define BIG (1024 * 1024 + 17)
static char *big;

static int h_big(sp_request *req, sp_response *res)
{
    return sp_send(res, 200, "application/octet-stream", big, BIG);
}

static char file_path[64];
static size_t file_len = 300 * 1000 + 3;

static int h_file(sp_request *req, sp_response *res)
{
    return sp_send_file(res, 200, "application/octet-stream", file_path);
}

static int h_evil(sp_request *req, sp_response *res)
{
    int rc = sp_set_header(res, "X-Evil", "a\r\nInjected: 1");
    return rc != SP_OK ? rc : sp_send_text(res, 200, "sent anyway");
}

static void routes(void)
{
    route("GET", "/hello", h_hello);
    route("GET", "/empty", h_empty);
    route("GET", "/status/{code}", h_status);
    route("GET", "/stream", h_stream);
    route("GET", "/big", h_big);
    route("GET", "/file", h_file);
    route("GET", "/evil", h_evil);
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 31 + seed + i / 251) & 0xff);
}

static void setup(void)
{
    conn_setup(5000, 0);
    routes();
    conn_start();
    big = malloc(BIG);
    cr_assert_not_null(big);
    fill(big, BIG, 1);

    char *data = malloc(file_len);
    cr_assert_not_null(data);
    fill(data, file_len, 2);
    strcpy(file_path, "/tmp/sp_serve_XXXXXX");
    int fd = mkstemp(file_path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, file_len), (ssize_t)file_len);
    close(fd);
    free(data);
}

static void teardown(void)
{
    conn_teardown();
    free(big);
    unlink(file_path);
}

TestSuite(serve, .init = setup, .fini = teardown);

#define GET(path)  "GET " path " HTTP/1.1\r\nHost: a\r\n\r\n"
#define HEAD(path) "HEAD " path " HTTP/1.1\r\nHost: a\r\n\r\n"

/* One request, its replies. */
static size_t ask(client *c, const char *req, size_t n_replies, unsigned head_mask)
{
    client_open(c);
    client_say(c, req);
    return wait_replies(c, n_replies, head_mask);
}

/* The Date header is an IMF-fixdate within a few seconds of now. */
static void assert_date_is_now(const reply *r)
{
    const char *d = header(r, "Date");
    struct tm tm;
    cr_assert_not_null(d, "no Date header");
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cr_assert(end != NULL && *end == '\0', "Date '%s' is no IMF-fixdate", d);
    long long skew = (long long)timegm(&tm) - (long long)time(NULL);
    cr_assert(skew >= -5 && skew <= 1, "Date '%s' is %lld s off", d, skew);
}

Test(serve, a_body_is_framed_by_content_length)
{
    client c;

    cr_assert_eq(ask(&c, GET("/hello") GET("/empty"), 2, 0), 2);
    cr_assert_eq(R[0].minor, 1);
    cr_assert_eq(R[0].status, 200);
    cr_assert_eq(memcmp(c.got.data, "HTTP/1.1 200 OK\r\n", 17), 0, "status line");
    cr_assert_str_eq(header(&R[0], "Server"), "spindle");
    assert_date_is_now(&R[0]);
    cr_assert_eq(R[0].length, 5);
    ASSERT_BODY(&R[0], "hello");
    cr_assert_null(header(&R[0], "Transfer-Encoding"));
    cr_assert_null(header(&R[0], "Connection"), "keep-alive is HTTP/1.1's default");
    cr_assert_str_eq(header(&R[0], "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_eq(header_count(&R[0], "X-A"), 2, "an added header replaced the other");
    cr_assert_eq(header_count(&R[0], "Content-Length"), 1);

    cr_assert_eq(R[1].length, 0, "an empty body still needs its length");
    cr_assert_eq(R[1].end, c.got.len);
    client_close(&c);
}

/* HEAD: the length GET would have, and no body, so the next reply is
 * where the client looks for it. */
Test(serve, head_has_the_length_but_no_body)
{
    client c;

    cr_assert_eq(ask(&c, HEAD("/hello") GET("/hello"), 2, 1), 2);
    cr_assert_eq(R[0].length, 5);
    cr_assert_eq(R[0].body.len, 0);
    ASSERT_BODY(&R[1], "hello");
    cr_assert_eq(R[1].end, c.got.len);
    client_close(&c);
}

Test(serve, no_body_for_204_and_304)
{
    client c;

    cr_assert_eq(ask(&c, GET("/status/204") GET("/status/304") GET("/status/200"), 3, 0), 3);
    cr_assert_eq(R[0].status, 204);
    cr_assert_null(header(&R[0], "Content-Length"));
    cr_assert_eq(R[1].status, 304);
    cr_assert_null(header(&R[1], "Content-Length"));
    cr_assert_eq(R[2].status, 200);
    ASSERT_BODY(&R[2], "a body");
    cr_assert_eq(R[2].end, c.got.len, "a bodyless status sent its body after all");
    client_close(&c);
}

Test(serve, a_stream_is_chunked_on_http11)
{
    client c;

    cr_assert_eq(ask(&c, GET("/stream") GET("/hello"), 2, 0), 2);
    cr_assert(R[0].chunked);
    cr_assert_null(header(&R[0], "Content-Length"));
    ASSERT_BODY(&R[0], "one\ntwo\nthree\n");
    ASSERT_BODY(&R[1], "hello");
    cr_assert_not(c.eof, "a chunked stream ended the connection");
    client_close(&c);
}

/* HTTP/1.0 has no chunked coding: the stream ends with the connection,
 * even when the client asked to keep it. */
Test(serve, a_stream_on_http10_is_close_delimited)
{
    client c;

    client_open(&c);
    client_say(&c, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1);
    cr_assert_eq(R[0].minor, 0);
    cr_assert_null(header(&R[0], "Transfer-Encoding"));
    cr_assert_null(header(&R[0], "Content-Length"));
    cr_assert_str_eq(header(&R[0], "Connection"), "close");
    ASSERT_BODY(&R[0], "one\ntwo\nthree\n");
    client_close(&c);
}

Test(serve, head_of_a_stream_sends_no_chunks)
{
    client c;

    cr_assert_eq(ask(&c, HEAD("/stream") GET("/hello"), 2, 1), 2);
    cr_assert(R[0].chunked);
    ASSERT_BODY(&R[1], "hello");
    cr_assert_eq(R[1].end, c.got.len);
    client_close(&c);
}

Test(serve, http10_keep_alive_is_answered_in_kind)
{
    client c;

    cr_assert_eq(ask(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, 0), 1);
    cr_assert_eq(memcmp(c.got.data, "HTTP/1.0 200 OK\r\n", 17), 0, "status line");
    cr_assert_str_eq(header(&R[0], "Connection"), "keep-alive");
    cr_assert_eq(R[0].length, 5);
    client_say(&c, "GET /hello HTTP/1.0\r\n\r\n");
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 2);
    cr_assert_str_eq(header(&R[1], "Connection"), "close");
    ASSERT_BODY(&R[1], "hello");
    client_close(&c);
}

Test(serve, a_body_bigger_than_the_socket_buffer_arrives_whole)
{
    client c;

    cr_assert_eq(ask(&c, GET("/big") GET("/hello"), 2, 0), 2);
    cr_assert_eq(R[0].length, BIG);
    cr_assert_eq(R[0].body.len, (size_t)BIG);
    cr_assert_eq(memcmp(R[0].body.data, big, BIG), 0, "the body changed on its way");
    ASSERT_BODY(&R[1], "hello");
    client_close(&c);
}

Test(serve, a_file_is_sent_whole)
{
    char *want = malloc(file_len);
    client c;

    cr_assert_not_null(want);
    fill(want, file_len, 2);
    cr_assert_eq(ask(&c, GET("/file") HEAD("/file") GET("/hello"), 3, 2), 3);
    cr_assert_eq(R[0].length, (int)file_len);
    cr_assert_eq(R[0].body.len, file_len);
    cr_assert_eq(memcmp(R[0].body.data, want, file_len), 0, "the file changed on its way");
    cr_assert_eq(R[1].length, (int)file_len, "HEAD of a file");
    cr_assert_eq(R[1].body.len, 0);
    ASSERT_BODY(&R[2], "hello");
    cr_assert_eq(R[2].end, c.got.len);
    free(want);
    client_close(&c);
}

/* Case 16: the header is refused, the handler's error is a 500 page, and
 * not one byte of the value goes out. */
Test(serve, a_header_with_crlf_is_never_sent)
{
    client c;

    cr_assert_eq(ask(&c, GET("/evil"), 1, 0), 1);
    cr_assert_eq(R[0].status, 500);
    ASSERT_BODY(&R[0], "500 Internal Server Error\n");
    cr_assert_null(memmem(c.got.data, c.got.len, "Injected", 8), "the injected line was sent");
    cr_assert_null(header(&R[0], "X-Evil"));
    cr_assert(logged("refused response header X-Evil"));
    client_close(&c);
}

/* ---- max-keepalive-requests ------------------------------------------------------ */

static void setup_capped(void)
{
    conn_setup(5000, 2);
    routes();
    conn_start();
    big = NULL;
    file_path[0] = '\0';
}

TestSuite(capped, .init = setup_capped, .fini = conn_teardown);

Test(capped, the_last_allowed_request_closes_the_connection)
{
    client c;

    atomic_store(&calls, 0);
    client_open(&c);
    client_say(&c, GET("/hello") GET("/hello") GET("/hello"));
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 2);
    cr_assert_null(header(&R[0], "Connection"));
    cr_assert_str_eq(header(&R[1], "Connection"), "close");
    cr_assert_eq(R[1].end, c.got.len);
    cr_assert_eq(atomic_load(&calls), 2, "a request past the cap ran");
    client_close(&c);
}
