"""HTTP/1.1 basics: keep-alive, pipelining, bodies, HEAD, Expect, HTTP/1.0,
Connection: close, Date/Server, the router's 404/405, limits and timeouts
(TESTING.md cases 10-12)."""

import json
import socket
import time
import unittest

from spindle_harness import (skip_if_sanitized, Conn, ServerCase, build_request, connect, default_config, get, http,
                             parse_responses, raw, raw_ex, rss_kib)

MODULES = ("hello", "echo", "sleep")


def echo_json(r):
    assert r.status == 200, r
    return json.loads(r.body)


class Basics(ServerCase):
    config = default_config(MODULES, processes=2, threads=4)

    def test_hello(self):
        r = get(self.port, "/")
        self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual(r.header("Content-Length"), "13")

    def test_date_and_server_headers(self):
        r = get(self.port, "/")
        self.assertEqual(r.header("Server"), "spindle")
        date = r.header("Date")
        self.assertIsNotNone(date)
        self.assertRegex(date, r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul"
                               r"|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
        t = time.mktime(time.strptime(date, "%a, %d %b %Y %H:%M:%S GMT")) - time.timezone
        self.assertLess(abs(t - time.time()), 120, date)

    def test_error_pages_have_date_and_server(self):
        r = get(self.port, "/no/such/path")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("Server"), "spindle")
        self.assertIsNotNone(r.header("Date"))

    def test_404(self):
        r = get(self.port, "/no/such/path")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))

    def test_405_with_allow(self):
        r = http(self.port, "POST", "/", body=b"x")
        self.assertEqual(r.status, 405)
        allow = [m.strip() for m in r.header("Allow", "").split(",")]
        self.assertIn("GET", allow)
        self.assertIn("HEAD", allow)
        self.assertNotIn("POST", allow)

    def test_keep_alive(self):
        with Conn(self.port) as c:
            for i in range(5):
                r = c.request("GET", "/hello?name=k%d" % i)
                self.assertEqual((r.status, r.body), (200, b"Hello, k%d!" % i))
                self.assertNotEqual((r.header("Connection") or "").lower(), "close")
            self.assertFalse(c.is_closed(0.3))

    def test_pipelining_in_one_send(self):
        reqs = b"".join(build_request("GET", "/hello?name=p%d" % i) for i in range(3))
        with Conn(self.port) as c:
            c.send(reqs)
            bodies = [c.read_response().body for _ in range(3)]
        self.assertEqual(bodies, [b"Hello, p0!", b"Hello, p1!", b"Hello, p2!"])

    def test_pipelining_byte_by_byte(self):
        reqs = b"".join([build_request("GET", "/hello?name=b0"),
                         build_request("POST", "/echo/x", body=b"abc"),
                         build_request("GET", "/hello?name=b2", [("Connection", "close")])])
        with Conn(self.port) as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(reqs)):
                c.send(reqs[i:i + 1])
            rs = [c.read_response() for _ in range(3)]
            self.assertTrue(c.is_closed(3.0))
        self.assertEqual([r.status for r in rs], [200, 200, 200])
        self.assertEqual(rs[0].body, b"Hello, b0!")
        self.assertEqual(echo_json(rs[1])["body"], "abc")
        self.assertEqual(rs[2].body, b"Hello, b2!")

    def test_pipelining_mixed_with_bodies(self):
        reqs = b"".join([build_request("POST", "/echo", body=b"one"),
                         build_request("POST", "/echo", [("Transfer-Encoding", "chunked")],
                                       b"3\r\ntwo\r\n0\r\n\r\n"),
                         build_request("GET", "/hello?name=three")])
        with Conn(self.port) as c:
            c.send(reqs)
            rs = [c.read_response() for _ in range(3)]
        self.assertEqual(echo_json(rs[0])["body"], "one")
        self.assertEqual(echo_json(rs[1])["body"], "two")
        self.assertEqual(rs[2].body, b"Hello, three!")

    def test_content_length_body(self):
        j = echo_json(http(self.port, "POST", "/echo", body=b"hello body"))
        self.assertEqual(j["body"], "hello body")
        self.assertEqual(j["method"], "POST")

    def test_chunked_body_decoded(self):
        body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
        j = echo_json(http(self.port, "POST", "/echo", [("Transfer-Encoding", "chunked")], body))
        self.assertEqual(j["body"], "Wikipedia in\r\n\r\nchunks.")

    def test_empty_chunked_body(self):
        j = echo_json(http(self.port, "POST", "/echo", [("Transfer-Encoding", "chunked")],
                           b"0\r\n\r\n"))
        self.assertEqual(j["body"], "")

    def test_head(self):
        g = get(self.port, "/hello?name=h")
        with Conn(self.port) as c:
            c.send(build_request("HEAD", "/hello?name=h") + build_request("GET", "/hello?name=z"))
            h = c.read_response(head=True)
            self.assertEqual(h.status, 200)
            self.assertEqual(h.header("Content-Length"), str(len(g.body)))
            # No body bytes: the next response starts right after the head.
            nxt = c.read_response()
            self.assertEqual(nxt.body, b"Hello, z!")

    def test_head_of_404(self):
        with Conn(self.port) as c:
            c.send(build_request("HEAD", "/nope") + build_request("GET", "/"))
            h = c.read_response(head=True)
            self.assertEqual(h.status, 404)
            self.assertEqual(c.read_response().body, b"Hello, World!")

    def test_expect_100_continue(self):
        with Conn(self.port) as c:
            c.send(build_request("POST", "/echo", [("Expect", "100-continue"),
                                                   ("Content-Length", "5")]))
            first = c.read_response(allow_1xx=True, timeout=3.0)
            self.assertEqual(first.status, 100)
            self.assertTrue(first.raw.startswith(b"HTTP/1.1 100 Continue\r\n"), first.raw)
            c.send(b"12345")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["body"], "12345")

    def test_expect_unknown_417(self):
        data = raw(self.port, build_request("POST", "/echo", [("Expect", "foo")], b"abc"), 3.0)
        rs = parse_responses(data)
        self.assertEqual(rs[0].status, 417, data)

    def test_http10_closes(self):
        data, how = raw_ex(self.port, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 3.0)
        self.assertEqual(how, "closed")
        rs = parse_responses(data)
        self.assertEqual(len(rs), 1)
        self.assertEqual(rs[0].status, 200)
        self.assertEqual(rs[0].body, b"Hello, World!")
        self.assertTrue(rs[0].version in ("HTTP/1.1", "HTTP/1.0"))

    def test_http10_keep_alive(self):
        with Conn(self.port) as c:
            for _ in range(2):
                c.send(b"GET /hello?name=ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, b"Hello, ten!"))
                self.assertEqual(r.header("Content-Length"), "11")
                self.assertIsNone(r.header("Transfer-Encoding"))
                self.assertEqual((r.header("Connection") or "").lower(), "keep-alive")
            self.assertFalse(c.is_closed(0.3))

    def test_connection_close(self):
        reqs = (build_request("GET", "/hello?name=first", [("Connection", "close")])
                + build_request("GET", "/hello?name=second"))
        data, how = raw_ex(self.port, reqs, 3.0)
        self.assertIn(how, ("closed", "reset"))
        rs = parse_responses(data)
        self.assertEqual([r.body for r in rs], [b"Hello, first!"])
        self.assertEqual((rs[0].header("Connection") or "").lower(), "close")

    def test_query_percent_decoded(self):
        r = get(self.port, "/hello?name=J%C3%B6rg%20B")
        self.assertEqual(r.body.decode(), "Hello, Jörg B!")


class ConnectionIsolation(ServerCase):
    """One worker, so every connection shares its descriptor table:
    closing one connection must never touch another's socket."""
    config = default_config(MODULES, processes=1, threads=2)

    def bare_connects(self, n):
        for _ in range(n):
            connect(self.port).close()
        time.sleep(0.2)

    def test_clients_that_send_nothing_do_not_break_others(self):
        self.bare_connects(3)
        with Conn(self.port) as held:
            self.bare_connects(3)
            r = held.request("GET", "/hello?name=held")
            self.assertEqual((r.status, r.body), (200, b"Hello, held!"))
        for i in range(5):
            r = get(self.port, "/hello?name=%d" % i, timeout=3.0)
            self.assertEqual(r.body, b"Hello, %d!" % i)

    def test_rejected_clients_do_not_break_others(self):
        bad = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
        with Conn(self.port) as held:
            self.assertEqual(held.request("GET", "/").status, 200)
            for _ in range(3):
                raw(self.port, bad, 2.0)
            r = held.request("GET", "/hello?name=held")
            self.assertEqual((r.status, r.body), (200, b"Hello, held!"))


class Limits(ServerCase):
    config = default_config(MODULES, processes=1, threads=2, limit_uri=1024,
                            limit_headers=4096, limit_header_count=20, limit_body=2048)

    def assertRejected(self, data, status, how):
        rs = parse_responses(data)
        self.assertGreaterEqual(len(rs), 1, data[:300])
        self.assertEqual(rs[0].status, status, data[:300])
        self.assertEqual(len(rs), 1, "more than one answer: %r" % rs)
        self.assertIn(how, ("closed",), "connection not closed after %d" % status)
        self.assertProbeOK()

    def test_uri_under_limit(self):
        r = get(self.port, "/echo?x=" + "a" * 900)
        self.assertEqual(r.status, 200)

    def test_uri_too_long_414(self):
        data, how = raw_ex(self.port, build_request("GET", "/echo?x=" + "a" * 1100), 3.0)
        self.assertRejected(data, 414, how)

    def test_headers_under_limit(self):
        r = get(self.port, "/echo", headers=[("X-H%d" % i, "v" * 100) for i in range(15)])
        self.assertEqual(r.status, 200)

    def test_headers_too_big_431(self):
        data, how = raw_ex(self.port, build_request("GET", "/", [("X-Big", "v" * 5000)]), 3.0)
        self.assertRejected(data, 431, how)

    def test_too_many_header_lines_431(self):
        hs = [("X-H%d" % i, "1") for i in range(30)]
        data, how = raw_ex(self.port, build_request("GET", "/", hs), 3.0)
        self.assertRejected(data, 431, how)

    def test_body_under_limit(self):
        j = echo_json(http(self.port, "POST", "/echo", body=b"z" * 2000))
        self.assertEqual(j["body"], "z" * 2000)

    def test_content_length_over_limit_413_before_body(self):
        # Only the head is sent: the 413 must come without the body.
        req = build_request("POST", "/echo", [("Content-Length", "100000")])
        data, how = raw_ex(self.port, req, 3.0)
        self.assertRejected(data, 413, how)

    def test_chunked_body_over_limit_413(self):
        body = b"".join(b"400\r\n" + b"c" * 1024 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
        data, how = raw_ex(self.port, build_request("POST", "/echo",
                                                    [("Transfer-Encoding", "chunked")], body), 3.0)
        self.assertRejected(data, 413, how)

    def test_expect_with_too_large_body_413_no_100(self):
        req = build_request("POST", "/echo", [("Expect", "100-continue"),
                                              ("Content-Length", "100000")])
        data, how = raw_ex(self.port, req, 3.0)
        self.assertNotIn(b"100 Continue", data)
        self.assertRejected(data, 413, how)

    @skip_if_sanitized
    def test_memory_flat_over_repeats(self):
        w = self.server.workers()[0]
        req = build_request("POST", "/echo", [("Content-Length", "100000")])

        def reject(n):
            for i in range(n):
                data, how = raw_ex(self.port, req, 2.0)
                self.assertTrue(data.startswith(b"HTTP/1.1 413 ") and how == "closed",
                                "repeat %d: got %r (%s)" % (i, data[:100], how))
        reject(100)
        before = rss_kib(w)
        reject(1000)
        after = rss_kib(w)
        self.assertLess(after - before, 4096, "RSS grew %d KiB over 1000 rejects" % (after - before))
        self.assertProbeOK()


class DefaultLimits(ServerCase):
    config = default_config(MODULES, processes=1, threads=2)

    def test_64k_target_414(self):
        data, how = raw_ex(self.port, build_request("GET", "/" + "a" * 65536), 3.0)
        rs = parse_responses(data)
        self.assertEqual(rs[0].status, 414, data[:200])
        self.assertEqual(how, "closed")
        self.assertProbeOK()

    def test_10000_header_lines_431(self):
        hs = [("X-A", "1")] * 10000
        data, how = raw_ex(self.port, build_request("GET", "/", hs), 3.0)
        rs = parse_responses(data)
        self.assertEqual(rs[0].status, 431, data[:200])
        self.assertEqual(how, "closed")
        self.assertProbeOK()


class Timeouts(ServerCase):
    config = default_config(MODULES, processes=1, threads=2, timeout_header=1,
                            timeout_keepalive=1)

    def test_partial_head_408(self):
        with Conn(self.port, timeout=8) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
            closed = c.is_closed(5.0)
            self.assertTrue(closed, "not closed within 5 s of a 1 s header timeout")
            rs = parse_responses(c.buf)
            self.assertEqual([r.status for r in rs], [408], c.buf)
        self.assertProbeOK()

    def test_idle_keepalive_closed(self):
        with Conn(self.port, timeout=8) as c:
            self.assertEqual(c.request("GET", "/").status, 200)
            self.assertTrue(c.is_closed(5.0), "idle keep-alive not closed")

    def test_keepalive_kept_within_timeout(self):
        with Conn(self.port) as c:
            self.assertEqual(c.request("GET", "/").status, 200)
            time.sleep(0.3)
            self.assertEqual(c.request("GET", "/").status, 200)

    def test_slow_handler_not_cut_by_header_timeout(self):
        # The header timeout covers reading the head, not the handler.
        r = get(self.port, "/sleep?ms=1500", timeout=8)
        self.assertEqual((r.status, r.body), (200, b"slept 1500 ms"))


class MaxKeepaliveRequests(ServerCase):
    config = default_config(MODULES, processes=1, threads=2, max_keepalive_requests=3)

    def test_closes_after_n(self):
        reqs = b"".join(build_request("GET", "/hello?name=%d" % i) for i in range(5))
        data, how = raw_ex(self.port, reqs, 3.0)
        rs = parse_responses(data)
        self.assertEqual([r.body for r in rs], [b"Hello, 0!", b"Hello, 1!", b"Hello, 2!"])
        self.assertEqual((rs[-1].header("Connection") or "").lower(), "close")
        self.assertIn(how, ("closed", "reset"))


if __name__ == "__main__":
    unittest.main()
