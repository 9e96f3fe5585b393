"""nginx's uwsgi_pass in front of a spindle uwsgi listener on a unix socket,
with the shipped conf/nginx/spindle-uwsgi.conf; and malformed uwsgi
packets sent straight to the socket.  See docs/deploy.md."""

import hashlib
import json
import os
import socket
import struct
import unittest

from nginx_harness import Nginx, have_nginx, header_of, pattern, request_from
from spindle_harness import (Server, build_request, example, get, parse_one, read_until_close,
                             render_ini, test_module)

MIB = 1024 * 1024
BIG = 4 * MIB + 4321


def packet(pairs, modifier1=0, datasize=None):
    """A uwsgi request packet from (key, value) pairs (bytes or str)."""
    body = b""
    for k, v in pairs:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        body += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    size = len(body) if datasize is None else datasize
    return struct.pack("<BHB", modifier1, size, 0) + body


def uwsgi_raw(path, data, timeout=5.0):
    """Send bytes to the uwsgi socket; (everything read until close, how)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_close(s, timeout)


GET_VARS = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/echo/d?q=1"), ("PATH_INFO", "/echo/d"),
            ("QUERY_STRING", "q=1"), ("SERVER_PROTOCOL", "HTTP/1.1"), ("HTTP_HOST", "x"),
            ("REMOTE_ADDR", "198.51.100.4"), ("REMOTE_PORT", "5555")]


class UwsgiBase(unittest.TestCase):
    trusted = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server("")  # placeholder for the port; config written below
        cls.addClassCleanup(cls.server.cleanup)
        cls.sock = os.path.join(cls.server.dir, "uwsgi.sock")
        srv = {"listen": ["127.0.0.1:%d" % cls.server.port, "uwsgi://unix:" + cls.sock],
               "processes": 1, "threads": 4, "limit-body": "16M", "socket-mode": "600"}
        if cls.trusted:
            srv["trusted-proxies"] = cls.trusted
        cls.server.config = render_ini({"server": srv, "app": {
            "module": [example("echo"), test_module("blob")]}})
        cls.server.probe = "/echo/probe"
        cls.server.start()


@unittest.skipUnless(have_nginx(), "nginx is not installed")
class ThroughNginx(UwsgiBase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nginx = Nginx("spindle-uwsgi.conf",
                          [("unix:/run/spindle/uwsgi.sock", "unix:" + cls.sock),
                           ("client_max_body_size 1m;", "client_max_body_size 16m;")])
        cls.addClassCleanup(cls.nginx.cleanup)
        cls.nginx.start()

    def echo(self, raw, source="127.0.0.2"):
        r = request_from(self.nginx.port, raw, source)
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.nginx.log()[-1500:]))
        return json.loads(r.body)

    def test_request_fields(self):
        raw = build_request("GET", "/echo/a%20b?x=1&y=2",
                            [("User-Agent", "ua/1"), ("X-Custom-Thing", "v"),
                             ("Connection", "close")], host="example.test")
        p = self.echo(raw)
        self.assertEqual(p["method"], "GET")
        self.assertEqual(p["target"], "/echo/a%20b?x=1&y=2")
        self.assertEqual(p["path"], "/echo/a%20b")
        self.assertEqual(p["query"], "x=1&y=2")
        self.assertEqual(p["version"], "HTTP/1.1")
        self.assertEqual(p["scheme"], "http")
        self.assertEqual(p["client"]["address"], "127.0.0.2", "REMOTE_ADDR, not the socket")
        self.assertGreater(p["client"]["port"], 0)
        self.assertEqual(header_of(p, "User-Agent"), "ua/1")
        self.assertEqual(header_of(p, "X-Custom-Thing"), "v")
        self.assertEqual(header_of(p, "Host"), "example.test")
        names = [k for k, _ in p["headers"]]
        self.assertIn("User-Agent", names, "names as HTTP spells them")

    def test_http10_and_post_body(self):
        raw = build_request("POST", "/echo/p", [("Content-Type", "text/x-test")], b"a=1&b=2",
                            version="HTTP/1.0")
        p = self.echo(raw)
        self.assertEqual(p["version"], "HTTP/1.0")
        self.assertEqual(p["body"], "a=1&b=2")
        self.assertEqual(header_of(p, "Content-Type"), "text/x-test")
        self.assertEqual(header_of(p, "Content-Length"), "7")

    def test_chunked_upload(self):
        body = b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in [b"one ", b"two"]) + b"0\r\n\r\n"
        raw = build_request("POST", "/echo/c", [("Transfer-Encoding", "chunked"),
                                                ("Connection", "close")]) + body
        p = self.echo(raw)
        self.assertEqual(p["body"], "one two")
        self.assertIsNone(header_of(p, "Transfer-Encoding"), "nginx de-chunked it")

    def test_large_download_and_upload(self):
        want = hashlib.sha256(pattern(BIG)).hexdigest()
        for mode in ("", "&mode=stream"):
            raw = build_request("GET", "/blob?size=%d%s" % (BIG, mode), [("Connection", "close")])
            r = request_from(self.nginx.port, raw)
            self.assertEqual(r.status, 200, mode)
            self.assertEqual(len(r.body), BIG, mode)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), want, mode)
        data = pattern(BIG)[::-1]
        r = request_from(self.nginx.port,
                         build_request("POST", "/blob", [("Connection", "close")], data))
        self.assertEqual(r.status, 200)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(data).hexdigest())

    def test_many_sequential_requests(self):
        for i in range(30):
            p = self.echo(build_request("GET", "/echo/n?i=%d" % i, [("Connection", "close")]))
            self.assertEqual(p["query"], "i=%d" % i)


class DirectPackets(UwsgiBase):
    """uwsgi packets straight to the socket: answers, and refusals."""

    def test_one_request_per_connection(self):
        data, how = uwsgi_raw(self.sock, packet(GET_VARS) + packet(GET_VARS))
        self.assertEqual(how, "closed")
        r, end = parse_one(data, 0, eof=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(end, len(data), "the second packet is not answered")
        self.assertEqual(json.loads(r.body)["client"], {"address": "198.51.100.4", "port": 5555})

    def test_streamed_answer_is_close_delimited(self):
        vars_ = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/blob?size=100000&mode=stream"),
                 ("SERVER_PROTOCOL", "HTTP/1.1"), ("HTTP_HOST", "x")]
        data, how = uwsgi_raw(self.sock, packet(vars_))
        r, _ = parse_one(data, 0, eof=True)
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Transfer-Encoding"))
        self.assertEqual(r.body, pattern(100000))

    def test_scheme_from_vars(self):
        vars_ = GET_VARS + [("HTTPS", "on")]
        data, _ = uwsgi_raw(self.sock, packet(vars_))
        self.assertEqual(json.loads(parse_one(data, 0, eof=True)[0].body)["scheme"], "https")

    def assertRefused(self, data, why):
        got, how = uwsgi_raw(self.sock, data)
        self.assertEqual(got, b"", "%s: answered %r" % (why, got[:200]))
        self.assertIn(how, ("closed", "reset"), why)

    def test_malformed_packets_closed_and_logged(self):
        big = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("HTTP_X", "a" * 20000)]
        var = struct.pack("<H", 14) + b"REQUEST_METHOD" + struct.pack("<H", 0x7FFF) + b"GET"
        overrun = struct.pack("<BHB", 0, len(var), 0) + var
        cases = [
            (packet(GET_VARS, modifier1=5), "modifier1 5"),
            (packet(big), "datasize over limit-headers"),
            (packet(GET_VARS, datasize=8)[:12], "truncated variables"),
            (overrun, "value length overruns"),
            (b"\x00\x00\x00\x00", "empty packet"),
            (packet(GET_VARS + [("CONTENT_LENGTH", "abc")]), "CONTENT_LENGTH not a number"),
            (packet(GET_VARS + [("CONTENT_LENGTH", "99999999999")]), "over limit-body"),
            (packet([("REQUEST_URI", "/")]), "no method"),
            (packet(GET_VARS + [("HTTP_X_A", "v\r\nX-Injected: 1")]), "CRLF in a value"),
        ]
        workers = self.server.workers()
        for data, why in cases:
            self.assertRefused(data, why)
        log = self.server.log()
        self.assertIn("modifier1", log)
        self.assertIn("CONTENT_LENGTH over limit-body", log)
        self.assertEqual(self.server.workers(), workers, "no worker died")
        self.assertEqual(get(self.server.port, "/echo/alive").status, 200)
        data, _ = uwsgi_raw(self.sock, packet(GET_VARS))
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])

    def test_truncated_packet_then_close(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(packet(GET_VARS)[:20])
            s.shutdown(socket.SHUT_WR)
            data, how = read_until_close(s, 5)
        self.assertEqual(data, b"")
        self.assertEqual(get(self.server.port, "/echo/alive").status, 200)

    def test_socket_mode(self):
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    unittest.main()
