/*
 * test_front.c - unit tests for server/worker/front.c, what comes before
 * plain HTTP on a connection behind a proxy: a PROXY protocol header, a
 * uwsgi packet, and which client address and scheme a request carries.
 *
 * A real connection in the in-process worker (conn_fixture.h), from a
 * unix socket peer; trusted-proxies, proxy-protocol and forwarded-headers
 * are set per test as server.ini would.  A handler answers with the
 * address, port and scheme it was given.
 *
 * What the file proves: only a trusted peer may name the client, by a
 * PROXY header (read once per connection) or by forwarded headers; a PROXY
 * header from anyone else closes the connection unanswered and is logged,
 * and forwarded headers from anyone else are ignored; behind a PROXY
 * header, trust is decided on the address it names, not on the proxy's;
 * a uwsgi listener's packet becomes the request, with its client address
 * and scheme, and its connection serves that one request.
 */
#include "tests/common/inproc_worker.h"
#include "conn_fixture.h"
#include "tests/unit/server/proto/uwsgi_fixture.h"

static atomic_int calls;

static int h_who(sp_request *req, sp_response *res)
{
    sp_str a = sp_remote_addr(req), s = sp_scheme(req);
    atomic_fetch_add(&calls, 1);
    return sp_send_text(res, 200, "%.*s %d %.*s", SP_STR_ARGS(a), sp_remote_port(req),
                        SP_STR_ARGS(s));
}

static void setup(void)
{
    conn_setup(5000, 0);
    route("*", "/who", h_who);
    conn_start();
    atomic_store(&calls, 0);
}

TestSuite(front, .init = setup, .fini = conn_teardown);

/* server.ini's trusted-proxies, proxy-protocol and forwarded-headers. */
static void behind(const char *trusted, int proxy_mode, int fwd_mode)
{
    char err[160];
    sp__cidr_free(&ip.cfg.trusted_proxies);
    cr_assert_eq(sp__cidr_parse(&ip.cfg.trusted_proxies, trusted, err, sizeof err), 0, "%s", err);
    ip.cfg.proxy_protocol = proxy_mode;
    ip.cfg.forwarded_headers = fwd_mode;
}

#define WHO "GET /who HTTP/1.1\r\nHost: a\r\n\r\n"

/* "PROXY ..." read as a request line: an unknown method, refused (501 or
 * 400, as TESTING.md case 9 allows) and the connection closed. */
static void assert_refused_as_a_request(const reply *r)
{
    cr_assert(r->status == 501 || r->status == 400, "status %d", r->status);
    cr_assert_str_eq(header(r, "Connection"), "close");
}

/* The one reply to what the client sent, which must be a 200. */
static const reply *answer(client *c, size_t n)
{
    cr_assert_eq(wait_replies(c, n, 0), n, "the server closed after %zu replies", replies(c, 0));
    cr_assert_eq(R[n - 1].status, 200);
    return &R[n - 1];
}

Test(front, a_trusted_proxy_names_the_client_once_per_connection)
{
    client c;

    behind("unix", SP__PROXY_V1, SP__FWD_OFF);
    client_open(&c);
    client_say(&c, "PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n" WHO);
    ASSERT_BODY(answer(&c, 1), "203.0.113.7 51234 http");
    /* The header named the connection's client: the next request too. */
    client_say(&c, WHO);
    ASSERT_BODY(answer(&c, 2), "203.0.113.7 51234 http");
    /* A second PROXY header is no header, just a bad request. */
    client_say(&c, "PROXY TCP4 198.51.100.1 192.0.2.1 1 443\r\n" WHO);
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 3);
    assert_refused_as_a_request(&R[2]);
    cr_assert_eq(atomic_load(&calls), 2);
    client_close(&c);
}

/* The header may come in pieces, like any bytes. */
Test(front, a_proxy_header_in_pieces)
{
    static const char in[] = "PROXY TCP6 2001:db8::7 2001:db8::1 40000 80\r\n" WHO;
    client c;

    behind("unix", SP__PROXY_AUTO, SP__FWD_OFF);
    client_open(&c);
    client_send(&c, in, sizeof in - 1, 3);
    ASSERT_BODY(answer(&c, 1), "2001:db8::7 40000 http");
    client_close(&c);
}

/* From a peer that is not a trusted proxy, a PROXY header is an attempt
 * to lie about the client: closed unanswered, and the reason logged. */
Test(front, a_proxy_header_from_an_untrusted_peer_closes_the_connection)
{
    client c;

    behind("10.0.0.0/8", SP__PROXY_V1, SP__FWD_OFF);
    client_open(&c);
    client_say(&c, "PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n" WHO);
    wait_closed(&c);
    cr_assert_eq(c.got.len, 0, "an untrusted PROXY header was answered");
    cr_assert_eq(atomic_load(&calls), 0);
    cr_assert(logged("PROXY header from a peer not in trusted-proxies"));
    client_close(&c);
}

/* proxy-protocol on does not shut out direct clients that send none. */
Test(front, an_untrusted_peer_without_a_header_is_itself)
{
    client c;

    behind("10.0.0.0/8", SP__PROXY_V1, SP__FWD_X_FORWARDED);
    client_open(&c);
    client_say(&c, "GET /who HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.9\r\n"
                   "X-Forwarded-Proto: https\r\n\r\n");
    ASSERT_BODY(answer(&c, 1), "unix 0 http");
    client_close(&c);
}

/* A trusted proxy's header, when it expects none, is a bad request. */
Test(front, a_proxy_header_when_none_is_expected_is_refused)
{
    client c;

    behind("unix", SP__PROXY_OFF, SP__FWD_OFF);
    client_open(&c);
    client_say(&c, "PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n" WHO);
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1);
    assert_refused_as_a_request(&R[0]);
    cr_assert_eq(atomic_load(&calls), 0);
    client_close(&c);
}

Test(front, forwarded_headers_count_from_a_trusted_peer_only)
{
    static const char req[] = "GET /who HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.9\r\n"
                              "X-Forwarded-Proto: https\r\n\r\n";
    client c;

    behind("unix", SP__PROXY_OFF, SP__FWD_X_FORWARDED);
    client_open(&c);
    client_say(&c, req);
    ASSERT_BODY(answer(&c, 1), "198.51.100.9 0 https");
    client_close(&c);

    behind("unix", SP__PROXY_OFF, SP__FWD_OFF);
    client_open(&c);
    client_say(&c, req);
    ASSERT_BODY(answer(&c, 1), "unix 0 http");
    client_close(&c);

    behind("127.0.0.1", SP__PROXY_OFF, SP__FWD_X_FORWARDED);
    client_open(&c);
    client_say(&c, req);
    ASSERT_BODY(answer(&c, 1), "unix 0 http");
    client_close(&c);
}

/* A PROXY header names the hop before the proxy; forwarded headers count
 * only if that hop is trusted too. */
Test(front, behind_a_proxy_header_trust_follows_the_named_address)
{
    static const char fwd[] =
        "GET /who HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n";
    client c;

    behind("unix, 10.0.0.0/8", SP__PROXY_V1, SP__FWD_X_FORWARDED);
    client_open(&c);
    client_say(&c, "PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n");
    client_say(&c, fwd);
    ASSERT_BODY(answer(&c, 1), "203.0.113.7 51234 http");
    client_close(&c);

    client_open(&c);
    client_say(&c, "PROXY TCP4 10.1.2.3 192.0.2.1 51234 443\r\n");
    client_say(&c, fwd);
    ASSERT_BODY(answer(&c, 1), "198.51.100.9 0 http");
    client_close(&c);
}

/* ---- a uwsgi listener -------------------------------------------------------------- */

#define FAKE_LFD 1000 /* the listener's fd: only compared, never used */

static sp__listener uwsgi_listener = {.fd = FAKE_LFD, .proto = SP__PROTO_UWSGI};
static sp__listeners uwsgi_only = {&uwsgi_listener, 1};

/* nginx's uwsgi_params for GET /who over https.  Pairs read best three to
 * a row. */
/* clang-format off */
static const char *const nginx_get[] = {
    "REQUEST_METHOD", "GET",         "REQUEST_URI", "/who",     "PATH_INFO",   "/who",
    "QUERY_STRING",   "",            "SERVER_PROTOCOL", "HTTP/1.1", "HTTPS", "on",
    "REMOTE_ADDR",    "192.0.2.44",  "REMOTE_PORT", "5555",     "HTTP_HOST",   "example.com",
    NULL};
/* clang-format on */

Test(front, a_uwsgi_packet_is_one_request_with_its_client)
{
    char pkt[1024];
    size_t n = uwsgi_packet(pkt, 0, nginx_get);
    client c;

    ip.w.ls = &uwsgi_only;
    client_open_on(&c, FAKE_LFD);
    client_send(&c, pkt, n, 0);
    /* A second packet on the same connection is never read: nginx does
     * not reuse uwsgi connections, and neither does spindle. */
    client_send(&c, pkt, n, 0);
    wait_closed(&c);
    cr_assert_eq(replies(&c, 0), 1);
    cr_assert_eq(R[0].status, 200);
    ASSERT_BODY(&R[0], "192.0.2.44 5555 https");
    cr_assert_str_eq(header(&R[0], "Connection"), "close");
    cr_assert_eq(R[0].end, c.got.len);
    cr_assert_eq(atomic_load(&calls), 1);
    client_close(&c);
    ip.w.ls = &ip.no_listeners;
}

/* The same packet on a plain HTTP connection is no request. */
Test(front, a_uwsgi_packet_on_an_http_listener_is_refused)
{
    char pkt[1024];
    size_t n = uwsgi_packet(pkt, 0, nginx_get);
    client c;

    client_open(&c);
    client_send(&c, pkt, n, 0);
    wait_closed(&c);
    cr_assert_eq(atomic_load(&calls), 0);
    cr_assert_eq(replies(&c, 0), 1);
    cr_assert_eq(R[0].status, 400);
    client_close(&c);
}
