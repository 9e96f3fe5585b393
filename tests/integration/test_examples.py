"""The shipped example modules: hello, echo, sleep."""

import base64
import json
import unittest

from spindle_harness import (Conn, Server, ServerCase, build_request, default_config, example,
                             free_port, get)


class Hello(ServerCase):
    config = default_config(("hello", "echo", "sleep"), processes=2, threads=4)

    def test_root(self):
        r = get(self.port, "/")
        self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
        self.assertTrue(r.header("Content-Type", "").startswith("text/plain"), r.headers)

    def test_name(self):
        r = get(self.port, "/hello?name=x")
        self.assertEqual((r.status, r.body), (200, b"Hello, x!"))

    def test_name_percent_decoded(self):
        r = get(self.port, "/hello?name=a%20b%2Fc")
        self.assertEqual(r.body, b"Hello, a b/c!")

    def test_name_utf8(self):
        r = get(self.port, "/hello?name=%E2%82%AC")
        self.assertEqual(r.body.decode(), "Hello, \u20ac!")

    def test_name_among_other_params(self):
        r = get(self.port, "/hello?x=1&name=y&name=z")
        self.assertEqual(r.body, b"Hello, y!")

    def test_head_hello(self):
        with Conn(self.port) as c:
            r = c.request("HEAD", "/hello?name=x")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), "9")


class Echo(ServerCase):
    config = default_config(("hello", "echo"), processes=1, threads=2)

    def echo(self, method, target, headers=None, body=None):
        with Conn(self.port) as c:
            local_port = c.sock.getsockname()[1]
            r = c.request(method, target, headers, body)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"), r.headers)
        return json.loads(r.body), local_port

    def test_fields(self):
        j, port = self.echo("POST", "/echo/a?x=1", [("Host", "h"), ("X-Mixed-Case", "V")], b"hi")
        self.assertEqual(j["method"], "POST")
        self.assertEqual(j["target"], "/echo/a?x=1")
        self.assertEqual(j["path"], "/echo/a")
        self.assertEqual(j["query"], "x=1")
        self.assertEqual(j["version"], "HTTP/1.1")
        self.assertEqual(j["scheme"], "http")
        self.assertEqual(j["client"], {"address": "127.0.0.1", "port": port})
        self.assertIsInstance(j["request_id"], str)
        self.assertTrue(j["request_id"])
        self.assertEqual(j["body"], "hi")
        self.assertEqual(j["body_encoding"], "utf-8")

    def test_headers_in_arrival_order_original_case(self):
        hs = [("Host", "h"), ("zeta", "1"), ("ALPHA", "2"), ("Mid-Dle", "3"), ("zeta", "4"),
              ("Content-Length", "0")]
        j, _ = self.echo("POST", "/echo", hs, b"")
        self.assertEqual(j["headers"], [list(h) for h in hs])

    def test_binary_body_base64(self):
        body = bytes(range(256))
        j, _ = self.echo("PUT", "/echo/bin", [("Content-Type", "application/octet-stream")], body)
        self.assertEqual(j["body_encoding"], "base64")
        self.assertEqual(base64.b64decode(j["body"]), body)

    def test_utf8_body(self):
        body = "grüße \u20ac \"quoted\" \\ back\nslash".encode()
        j, _ = self.echo("POST", "/echo", None, body)
        self.assertEqual(j["body_encoding"], "utf-8")
        self.assertEqual(j["body"], body.decode())

    def test_control_chars_in_body_escaped(self):
        body = b"a\x01b\x1fc\td"
        j, _ = self.echo("POST", "/echo", None, body)
        self.assertEqual(j["body"].encode() if j["body_encoding"] == "utf-8"
                         else base64.b64decode(j["body"]), body)

    def test_any_method_and_subpaths(self):
        for m, target in (("GET", "/echo"), ("DELETE", "/echo/x/y"), ("PATCH", "/echo/z?q="),
                          ("OPTIONS", "/echo")):
            j, _ = self.echo(m, target, None, b"" if m != "GET" else None)
            self.assertEqual(j["method"], m)
            self.assertEqual(j["target"], target)

    def test_no_query(self):
        j, _ = self.echo("GET", "/echo")
        self.assertEqual(j["query"], "")
        self.assertEqual(j["body"], "")

    def test_encoded_path_left_encoded(self):
        j, _ = self.echo("GET", "/echo/a%20b?x=%41")
        self.assertEqual(j["path"], "/echo/a%20b")
        self.assertEqual(j["query"], "x=%41")

    def test_http10(self):
        with Conn(self.port) as c:
            c.send(b"GET /echo HTTP/1.0\r\nHost: h\r\n\r\n")
            r = c.read_response()
        self.assertEqual(json.loads(r.body)["version"], "HTTP/1.0")

    def test_not_echo(self):
        self.assertEqual(get(self.port, "/echoes").status, 404)


class EchoIPv6(ServerCase):
    """An IPv6 loopback listener; echo reports the v6 client address."""

    @classmethod
    def setUpClass(cls):
        try:
            port = free_port("::1")
        except OSError:
            raise unittest.SkipTest("no IPv6 loopback")
        cfg = ("[server]\nlisten = [::1]:%d\nprocesses = 1\nthreads = 2\n[app]\nmodule = %s\n"
               "module = %s\n" % (port, example("hello"), example("echo")))
        cls.server = Server(cfg, host="::1")
        cls.server.port = port
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.port = port

    def test_client_address_v6(self):
        with Conn(self.port, host="::1") as c:
            local = c.sock.getsockname()[1]
            c.send(build_request("GET", "/echo"))
            r = c.read_response()
        j = json.loads(r.body)
        self.assertEqual(j["client"], {"address": "::1", "port": local})


class Sleep(ServerCase):
    config = default_config(("hello", "sleep"), processes=1, threads=4)

    def test_sleep(self):
        r = get(self.port, "/sleep?ms=50")
        self.assertEqual((r.status, r.body), (200, b"slept 50 ms"))

    def test_sleep_zero(self):
        r = get(self.port, "/sleep?ms=0")
        self.assertEqual((r.status, r.body), (200, b"slept 0 ms"))

    def test_threads_sleep_in_parallel(self):
        # 4 threads, 4 concurrent sleeps: every one is answered.
        conns = [Conn(self.port, timeout=10) for _ in range(4)]
        try:
            for c in conns:
                c.send(build_request("GET", "/sleep?ms=400"))
            bodies = [c.read_response(timeout=10).body for c in conns]
        finally:
            for c in conns:
                c.close()
        self.assertEqual(bodies, [b"slept 400 ms"] * 4)


if __name__ == "__main__":
    unittest.main()
