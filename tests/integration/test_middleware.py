"""Built-in middleware (request_id, access_log) and chain order."""

import json
import os
import re
import time
import unittest

from spindle_harness import (WAIT, Server, ServerCase, default_config, example, get, test_module,
                             wait_until)

ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# nginx "combined": $remote_addr - $remote_user [$time_local] "$request"
#                   $status $body_bytes_sent "$http_referer" "$http_user_agent"
COMBINED = re.compile(r'^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:'
                      r'\d{2}:\d{2}:\d{2} [+-]\d{4})\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
                      r'(?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')


def file_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


class RequestId(ServerCase):
    config = {
        "server": {"processes": 1, "threads": 2},
        "app": {"module": [example("hello"), example("echo")], "middleware": "request_id"},
    }

    def test_generated(self):
        ids = set()
        for _ in range(5):
            r = get(self.port, "/")
            rid = r.header("X-Request-Id")
            self.assertIsNotNone(rid, r.headers)
            self.assertRegex(rid, ID_RE)
            ids.add(rid)
        self.assertEqual(len(ids), 5, "request ids repeat: %r" % ids)

    def test_on_error_pages(self):
        r = get(self.port, "/nowhere")
        self.assertEqual(r.status, 404)
        self.assertRegex(r.header("X-Request-Id", ""), ID_RE)

    def test_client_id_passed_through(self):
        for rid in ("abc-123", "A.b_C-9", "x" * 128):
            r = get(self.port, "/echo", headers=[("X-Request-Id", rid)])
            self.assertEqual(r.header("X-Request-Id"), rid)
            self.assertEqual(json.loads(r.body)["request_id"], rid)

    def test_invalid_client_id_replaced(self):
        for bad in ("has space", "x" * 129, "semi;colon", "quote\"", "slash/", ""):
            with self.subTest(bad=bad):
                r = get(self.port, "/echo", headers=[("X-Request-Id", bad)])
                rid = r.header("X-Request-Id")
                self.assertRegex(rid or "", ID_RE)
                self.assertNotEqual(rid, bad)
                self.assertEqual(json.loads(r.body)["request_id"], rid)

    def test_exactly_one_header(self):
        r = get(self.port, "/", headers=[("X-Request-Id", "abc")])
        self.assertEqual(len(r.header_all("X-Request-Id")), 1)

    def test_echo_sees_the_same_id(self):
        r = get(self.port, "/echo")
        self.assertEqual(json.loads(r.body)["request_id"], r.header("X-Request-Id"))


class NoMiddleware(ServerCase):
    config = default_config(("hello", "echo"), processes=1, threads=2)

    def test_no_request_id_header_but_id_exists(self):
        r = get(self.port, "/echo")
        self.assertIsNone(r.header("X-Request-Id"))
        self.assertRegex(json.loads(r.body)["request_id"], ID_RE)


class AccessLogFile(unittest.TestCase):
    def test_combined_lines(self):
        s = Server({"server": {"processes": 1, "threads": 2},
                    "app": {"module": [example("hello")], "middleware": "access_log"}})
        # The log file lives in the server's own tempdir.
        path = os.path.join(s.dir, "access.log")
        s.config["module:access_log"] = {"file": path}
        self.addCleanup(s.cleanup)
        s.start()
        # start() probed "/" once (maybe more): count from here.
        wait_until(lambda: len(file_lines(path)) >= 1, WAIT)
        base = len(file_lines(path))
        get(s.port, "/hello?name=x", headers=[("User-Agent", "itest/1.0"),
                                               ("Referer", "http://ref.example/")])
        get(s.port, "/nowhere", headers=[("User-Agent", "itest/2.0")])
        wait_until(lambda: len(file_lines(path)) >= base + 2, WAIT)
        time.sleep(0.2)  # nothing more may come
        lines = file_lines(path)[base:]
        self.assertTrue(lines, "access log %s has no lines; server log:\n%s" % (path, s.log()))
        self.assertEqual(len(lines), 2, lines)
        m = COMBINED.match(lines[0])
        self.assertTrue(m, "not combined format: %r" % lines[0])
        self.assertEqual(m.group("addr"), "127.0.0.1")
        self.assertEqual(m.group("request"), "GET /hello?name=x HTTP/1.1")
        self.assertEqual(m.group("status"), "200")
        self.assertEqual(m.group("bytes"), str(len("Hello, x!")))
        self.assertEqual(m.group("referer"), "http://ref.example/")
        self.assertEqual(m.group("agent"), "itest/1.0")
        t = time.mktime(time.strptime(m.group("time")[:20], "%d/%b/%Y:%H:%M:%S"))
        self.assertLess(abs(t - time.time()), 86400 + 120, m.group("time"))
        m2 = COMBINED.match(lines[1])
        self.assertTrue(m2, lines[1])
        self.assertEqual(m2.group("status"), "404")
        self.assertEqual(m2.group("referer"), "-")
        self.assertEqual(m2.group("agent"), "itest/2.0")
        self.assertNotIn(lines[0], s.log(), "also logged to stderr")

    def test_to_stderr_when_no_file(self):
        s = Server({"server": {"processes": 1, "threads": 2},
                    "app": {"module": [example("hello")], "middleware": "access_log"}})
        self.addCleanup(s.cleanup)
        s.start()
        get(s.port, "/hello?name=stderr", headers=[("User-Agent", "itest/3.0")])
        want = '"GET /hello?name=stderr HTTP/1.1" 200 14 "-" "itest/3.0"'
        self.assertTrue(wait_until(lambda: want in s.log(), WAIT), s.log())
        line = [l for l in s.log().splitlines() if want in l][0]
        self.assertRegex(line, COMBINED)


class Order(unittest.TestCase):
    """server.ini order is the chain order, outermost first: each mw_order
    middleware appends its letter after the inner chain returns."""

    def order(self, names):
        with Server({"server": {"processes": 1, "threads": 2},
                     "app": {"module": [example("hello"), test_module("mw_order")],
                             "middleware": names}}) as s:
            return get(s.port, "/").header("X-Order"), get(s.port, "/none").header("X-Order")

    def test_a_then_b(self):
        self.assertEqual(self.order(["order_a", "order_b"]), ("b,a", "b,a"))

    def test_b_then_a(self):
        self.assertEqual(self.order(["order_b", "order_a"]), ("a,b", "a,b"))

    def test_builtin_and_third_party_together(self):
        with Server({"server": {"processes": 1, "threads": 2},
                     "app": {"module": [example("hello"), test_module("mw_third_party")],
                             "middleware": ["request_id", "tp_header"]}}) as s:
            r = get(s.port, "/tp")
            self.assertEqual(r.header("X-Third-Party"), "yes")
            self.assertRegex(r.header("X-Request-Id", ""), ID_RE)


if __name__ == "__main__":
    unittest.main()
