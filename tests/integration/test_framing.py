"""Malformed and ambiguous framing (TESTING.md "Cases every build must pass"
1-9, 13, 14; limits and Expect are in test_http.py).

"Reject" = one 4xx answer (400 unless stated), the connection closed,
nothing after it parsed (a request hidden behind it never answered), the
worker alive, and a fresh connection still served.  Every hidden request
here targets /hello?name=SMUGGLED so a misparse shows up in any answer."""

import json
import unittest

from spindle_harness import (Conn, ServerCase, build_request, default_config, parse_responses,
                             raw_ex)

SMUGGLED = b"GET /hello?name=SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"


def post(headers, body=b"", target=b"/echo", version=b"HTTP/1.1"):
    """A POST with exactly these header lines (bytes, no Host added)."""
    out = b"POST " + target + b" " + version + b"\r\nHost: x\r\n"
    for h in headers:
        out += h + b"\r\n"
    return out + b"\r\n" + body


class Framing(ServerCase):
    config = default_config(("hello", "echo"), processes=2, threads=4)

    def setUp(self):
        self.workers_before = self.server.workers()

    def send(self, data, timeout=3.0):
        return raw_ex(self.port, data, timeout)

    def assertRejected(self, data, statuses=(400,), note=""):
        got, how = self.send(data)
        msg = "%s\nsent %r\ngot %r (%s)" % (note, data[:400], got[:600], how)
        self.assertNotIn(b"SMUGGLED", got, "hidden request was answered: " + msg)
        try:
            rs = parse_responses(got)
        except ValueError as e:
            self.fail("unparseable answer (%s): %s" % (e, msg))
        self.assertEqual(len(rs), 1, "expected exactly one answer: " + msg)
        self.assertIn(rs[0].status, statuses, msg)
        self.assertEqual(how, "closed", "connection not closed cleanly after the reject: " + msg)
        self.assertProbeOK()
        self.assertWorkersAlive(self.workers_before)
        return rs[0]

    def assertServed(self, data, n=1):
        got, how = self.send(data)
        rs = parse_responses(got, eof=(how != "timeout"))
        self.assertEqual(len(rs), n, "sent %r\ngot %r" % (data, got))
        for r in rs:
            self.assertEqual(r.status, 200, "sent %r\ngot %r" % (data, got))
        self.assertWorkersAlive(self.workers_before)
        return rs

    # 1. CL + TE ----------------------------------------------------------------
    def test_01_cl_and_te_smuggling(self):
        self.assertRejected(post([b"Content-Length: 4", b"Transfer-Encoding: chunked"],
                                 b"0\r\n\r\n" + SMUGGLED))

    def test_01_te_and_cl_smuggling(self):
        self.assertRejected(post([b"Transfer-Encoding: chunked", b"Content-Length: 48"],
                                 b"0\r\n\r\n" + SMUGGLED))

    # 2. Content-Length ----------------------------------------------------------
    def test_02_two_different_content_lengths(self):
        self.assertRejected(post([b"Content-Length: 5", b"Content-Length: 6"], b"hello!" + SMUGGLED))

    def test_02_cl_list(self):
        self.assertRejected(post([b"Content-Length: 5, 6"], b"hello!" + SMUGGLED))

    def test_02_cl_plus(self):
        self.assertRejected(post([b"Content-Length: +5"], b"hello" + SMUGGLED))

    def test_02_cl_hex(self):
        self.assertRejected(post([b"Content-Length: 0x5"], b"hello" + SMUGGLED))

    def test_02_cl_negative(self):
        self.assertRejected(post([b"Content-Length: -1"], b"hello" + SMUGGLED))

    def test_02_cl_underscore(self):
        self.assertRejected(post([b"Content-Length: 1_0"], b"helloworld" + SMUGGLED))

    def test_02_cl_empty(self):
        self.assertRejected(post([b"Content-Length: "], SMUGGLED))

    def test_02_cl_25_digits(self):
        self.assertRejected(post([b"Content-Length: 1000000000000000000000000"], b"x" + SMUGGLED),
                            (400, 413))

    def test_02_cl_20_digits_overflowing_u64(self):
        self.assertRejected(post([b"Content-Length: 18446744073709551621"], b"hello" + SMUGGLED),
                            (400, 413))

    def test_02_cl_fine(self):
        rs = self.assertServed(post([b"Content-Length: 5"], b"hello"))
        self.assertEqual(json.loads(rs[0].body)["body"], "hello")

    # 3. Transfer-Encoding ---------------------------------------------------------
    CHUNKED_WITH_HIDDEN = b"0\r\n\r\n" + SMUGGLED

    def test_03_te_gzip(self):
        self.assertRejected(post([b"Transfer-Encoding: gzip"], self.CHUNKED_WITH_HIDDEN), (400, 501))

    def test_03_te_chunked_then_identity(self):
        self.assertRejected(post([b"Transfer-Encoding: chunked, identity"], self.CHUNKED_WITH_HIDDEN),
                            (400, 501))

    def test_03_te_line_starting_with_space(self):
        # " Transfer-Encoding: chunked" continues the previous line (obs-fold)
        self.assertRejected(post([b"X-A: 1", b" Transfer-Encoding: chunked"], self.CHUNKED_WITH_HIDDEN))

    def test_03_te_value_vertical_tab(self):
        self.assertRejected(post([b"Transfer-Encoding: \x0bchunked"], self.CHUNKED_WITH_HIDDEN),
                            (400, 501))

    def test_03_te_xchunked(self):
        self.assertRejected(post([b"Transfer-Encoding: xchunked"], self.CHUNKED_WITH_HIDDEN), (400, 501))

    def test_03_te_space_before_colon(self):
        self.assertRejected(post([b"Transfer-Encoding : chunked"], self.CHUNKED_WITH_HIDDEN))

    def test_03_te_twice(self):
        self.assertRejected(post([b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"],
                                 self.CHUNKED_WITH_HIDDEN), (400, 501))

    def test_03_te_chunked_fine(self):
        rs = self.assertServed(post([b"Transfer-Encoding: chunked"], b"2\r\nok\r\n0\r\n\r\n"))
        self.assertEqual(json.loads(rs[0].body)["body"], "ok")

    # 4. Chunk sizes -------------------------------------------------------------------
    def chunked(self, body):
        return post([b"Transfer-Encoding: chunked"], body)

    def test_04_chunk_size_overflow(self):
        self.assertRejected(self.chunked(b"FFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n" + SMUGGLED), (400, 413))

    def test_04_chunk_size_hex_prefix(self):
        self.assertRejected(self.chunked(b"0x5\r\nhello\r\n0\r\n\r\n" + SMUGGLED))

    def test_04_chunk_size_not_hex(self):
        self.assertRejected(self.chunked(b"Z\r\nhello\r\n0\r\n\r\n" + SMUGGLED))

    def test_04_chunk_size_empty(self):
        self.assertRejected(self.chunked(b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED))

    def test_04_chunk_data_without_crlf(self):
        self.assertRejected(self.chunked(b"5\r\nhelloXX0\r\n\r\n" + SMUGGLED))

    def test_04_bare_lf_in_chunk_line(self):
        self.assertRejected(self.chunked(b"5\nhello\r\n0\r\n\r\n" + SMUGGLED))

    def test_04_bare_cr_in_chunk_line(self):
        self.assertRejected(self.chunked(b"5\rhello\r\n0\r\n\r\n" + SMUGGLED))

    def test_04_bare_lf_after_data(self):
        self.assertRejected(self.chunked(b"5\r\nhello\n0\r\n\r\n" + SMUGGLED))

    # 5. Chunk extensions -------------------------------------------------------------
    def test_05_extensions_ignored(self):
        rs = self.assertServed(self.chunked(b"5;foo=bar\r\nhello\r\n6;a;b=\"c\"\r\n world\r\n0\r\n\r\n"))
        self.assertEqual(json.loads(rs[0].body)["body"], "hello world")

    def test_05_extension_over_16k(self):
        self.assertRejected(self.chunked(b"5;x=" + b"a" * (17 * 1024) + b"\r\nhello\r\n0\r\n\r\n"
                                         + SMUGGLED), (413,))

    def test_04_chunk_size_over_limit_refused_at_its_size_line(self):
        # limit-body is 1M: a 16 MiB chunk is refused as soon as its size
        # line is read, before any of its data (none is ever sent here).
        self.assertRejected(self.chunked(b"1000000\r\n"), (413,))

    def test_04_chunks_adding_up_over_limit(self):
        piece = b"80000\r\n" + b"a" * 0x80000 + b"\r\n"  # 512 KiB each
        self.assertRejected(self.chunked(piece + piece + b"1\r\n"), (413,))

    def test_04_http10_with_chunked(self):
        # RFC 9112 6.1: Transfer-Encoding in a 1.0 message is faulty framing.
        self.assertRejected(post([b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n"
                                 + SMUGGLED, version=b"HTTP/1.0"))

    # 6. Trailers -------------------------------------------------------------------
    def test_06_trailers_do_not_change_next_request(self):
        body = b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\nX-Checksum: abc\r\n\r\n"
        data = self.chunked(body) + build_request("GET", "/hello?name=next")
        with Conn(self.port) as c:
            c.send(data)
            r1 = c.read_response()
            r2 = c.read_response()
        self.assertEqual(json.loads(r1.body)["body"], "hello")
        self.assertEqual(r2.body, b"Hello, next!")

    def test_06_framing_and_routing_fields_refused_in_trailers(self):
        for field in (b"Content-Length: 99", b"content-length: 5", b"Transfer-Encoding: chunked",
                      b"Host: other", b"Content-Type: text/plain", b"Authorization: x",
                      b"If-Match: *", b"Trailer: X-A", b"Connection: close"):
            with self.subTest(field=field):
                self.assertRejected(self.chunked(b"5\r\nhello\r\n0\r\n" + field + b"\r\n\r\n"
                                                 + SMUGGLED))

    def test_06_trailer_lines_count_against_limit_header_count(self):
        many = b"".join(b"X-T%d: 1\r\n" % i for i in range(2000))
        self.assertRejected(self.chunked(b"5\r\nhello\r\n0\r\n" + many + b"\r\n" + SMUGGLED),
                            (431,))

    def test_06_two_content_types_refused(self):
        self.assertRejected(post([b"Content-Length: 5", b"Content-Type: text/plain",
                                  b"Content-Type: application/json"], b"hello" + SMUGGLED))

    # 7. Header syntax ---------------------------------------------------------------
    def test_07_obs_fold(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" + SMUGGLED)

    def test_07_obs_fold_tab(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n" + SMUGGLED)

    def test_07_first_header_line_starts_with_space(self):
        self.assertRejected(b"GET / HTTP/1.1\r\n Host: x\r\n\r\n" + SMUGGLED)

    def test_07_space_before_colon(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n" + SMUGGLED)

    def test_07_bad_header_name_bytes(self):
        for name in (b"X(A)", b"X\x01A", b"X A", b"X\x80A", b""):
            with self.subTest(name=name):
                self.assertRejected(b"GET / HTTP/1.1\r\nHost: x\r\n" + name + b": 1\r\n\r\n" + SMUGGLED)

    def test_07_nul_in_value(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n" + SMUGGLED)

    def test_07_cr_in_value(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n" + SMUGGLED)

    def test_07_bare_lf_line_end(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n" + SMUGGLED)

    def test_07_high_bytes_pass_through(self):
        rs = self.assertServed(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Name: J\xc3\xb6rg \xe2\x82\xac\r\n"
                               b"Connection: close\r\n\r\n")
        hs = json.loads(rs[0].body)["headers"]
        self.assertIn(["X-Name", "J\u00f6rg \u20ac"], hs)

    # 8. Host ------------------------------------------------------------------------
    def test_08_http11_without_host(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n" + SMUGGLED)

    def test_08_two_hosts(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + SMUGGLED)

    def test_08_two_identical_hosts(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n" + SMUGGLED)

    def test_08_host_with_space(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" + SMUGGLED)

    def test_08_http10_without_host_served(self):
        rs = self.assertServed(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(rs[0].body, b"Hello, World!")

    # 9. Request line -------------------------------------------------------------------
    def test_09_double_space(self):
        self.assertRejected(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED)

    def test_09_space_in_target(self):
        self.assertRejected(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED)

    def test_09_version_1_11(self):
        self.assertRejected(b"GET / HTTP/1.11\r\nHost: x\r\n\r\n" + SMUGGLED, (400, 505))

    def test_09_asterisk_only_for_options(self):
        for method in (b"GET", b"POST", b"HEAD", b"DELETE"):
            with self.subTest(method=method):
                self.assertRejected(method + b" * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                                    + SMUGGLED)
        got, _ = self.send(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rs = parse_responses(got)
        self.assertEqual(len(rs), 1)
        self.assertNotEqual(rs[0].status, 400, got)

    def test_09_raw_utf8_target_served(self):
        # Not every client percent-encodes; nginx takes raw UTF-8 in the
        # target, and so does spindle (the echo shows the bytes as sent).
        rs = self.assertServed(b"GET /echo/caf\xc3\xa9?q=\xe2\x82\xac HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n")
        self.assertEqual(json.loads(rs[0].body)["target"], "/echo/caf\u00e9?q=\u20ac")

    def test_09_fragment(self):
        self.assertRejected(b"GET /#frag HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED)

    def test_09_lowercase_version(self):
        self.assertRejected(b"GET / http/1.1\r\nHost: x\r\n\r\n" + SMUGGLED)

    def test_09_http2(self):
        self.assertRejected(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n" + SMUGGLED, (400, 505))

    def test_09_unknown_method(self):
        self.assertRejected(b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED, (400, 501))

    def test_09_garbage(self):
        self.assertRejected(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40)

    # 13. Pipelining with an invalid request in the middle ----------------------------
    def test_13_invalid_in_the_middle(self):
        data = (build_request("GET", "/hello?name=one")
                + b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"
                + SMUGGLED)
        got, how = self.send(data)
        self.assertNotIn(b"SMUGGLED", got)
        rs = parse_responses(got)
        self.assertEqual([r.status for r in rs], [200, 400], got)
        self.assertEqual(rs[0].body, b"Hello, one!")
        self.assertEqual(how, "closed")
        self.assertProbeOK()

    # 14. A handler that does not read the body ----------------------------------------
    def test_14_unread_body_not_misread(self):
        hidden = b"GET /hello?name=SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
        data = (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(hidden) + hidden
                + build_request("GET", "/hello?name=second", [("Connection", "close")]))
        got, how = self.send(data)
        self.assertNotIn(b"SMUGGLED", got)
        rs = parse_responses(got)
        self.assertGreaterEqual(len(rs), 1, got)
        self.assertEqual((rs[0].status, rs[0].body), (200, b"Hello, World!"))
        # Either the body was skipped and the next request served, or the
        # connection closed after the first answer.
        self.assertIn([r.body for r in rs[1:]], ([], [b"Hello, second!"]))
        self.assertProbeOK()

    def test_14_unread_body_on_404(self):
        hidden = b"GET /hello?name=SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
        data = (b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(hidden)
                + hidden + build_request("GET", "/hello?name=second", [("Connection", "close")]))
        got, how = self.send(data)
        self.assertNotIn(b"SMUGGLED", got)
        rs = parse_responses(got)
        self.assertEqual(rs[0].status, 404, got)
        self.assertIn([r.body for r in rs[1:]], ([], [b"Hello, second!"]))


if __name__ == "__main__":
    unittest.main()
