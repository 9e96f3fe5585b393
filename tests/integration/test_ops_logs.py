"""Logs: USR1 reopens the error log and the access log in every process;
access log formats (named fields, headers, json).  (docs/operations.md)"""

import json
import os
import re
import signal
import unittest

from spindle_harness import WAIT, Server, default_config, get, wait_until


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def config(tmp, fmt=None):
    cfg = default_config(("hello",), processes=2, threads=2,
                         log_file=os.path.join(tmp, "error.log"))
    cfg["app"]["middleware"] = ["request_id", "access_log"]
    section = {"file": os.path.join(tmp, "access.log")}
    if fmt:
        section["format"] = fmt
    cfg["module:access_log"] = section
    return cfg


class Logs(unittest.TestCase):
    def test_usr1_reopens_in_every_process(self):
        s = Server({})
        s.write_config(config(s.dir, "w%(worker) %(status)"))
        with s:
            acc, err = os.path.join(s.dir, "access.log"), os.path.join(s.dir, "error.log")
            for _ in range(4):
                get(s.port, "/")
            self.assertTrue(wait_until(lambda: read(acc).count("\n") >= 4, WAIT))
            os.rename(acc, acc + ".1")
            os.rename(err, err + ".1")
            old_lines = read(acc + ".1").count("\n")
            s.signal(signal.SIGUSR1)
            self.assertTrue(wait_until(lambda: "log files reopened" in read(err), WAIT),
                            read(err + ".1"))
            self.assertTrue(wait_until(lambda: os.path.exists(acc), WAIT))
            # every worker reopened: both workers' lines land in the new file
            for _ in range(200):
                get(s.port, "/", headers=[("Connection", "close")])
                if {"w1 200", "w2 200"} <= set(read(acc).splitlines()):
                    break
            self.assertEqual({"w1 200", "w2 200"}, set(read(acc).splitlines()))
            self.assertEqual(read(acc + ".1").count("\n"), old_lines)
            s.signal(signal.SIGTERM)
            self.assertEqual(s.wait_exit(15), 0)
            self.assertIn("stopped", read(err))

    def test_named_fields_and_headers(self):
        fmt = ('%(addr) "%(request)" %(status) %(size) %(msecs) w%(worker) t%(thread) '
               'id=%(id) ua=%{User-Agent}i 100%%')
        s = Server({})
        s.write_config(config(s.dir, fmt))
        with s:
            r = get(s.port, "/", headers=[("User-Agent", 'evil"\\X')])
            rid = r.header("X-Request-Id")
            acc = os.path.join(s.dir, "access.log")
            self.assertTrue(wait_until(lambda: read(acc), WAIT))
            line = read(acc).splitlines()[-1]
            m = re.fullmatch(r'127\.0\.0\.1 "GET / HTTP/1\.1" 200 13 (\d+) w([12]) t([123]) '
                             r'id=(\S+) ua=evil\\x22\\x5CX 100%', line)
            self.assertTrue(m, line)
            self.assertEqual(m.group(4), rid)

    def test_json_lines(self):
        s = Server({})
        s.write_config(config(s.dir, "json"))
        with s:
            get(s.port, "/hello?name=%22q", headers=[("User-Agent", "a\"b\\c")])
            acc = os.path.join(s.dir, "access.log")
            self.assertTrue(wait_until(lambda: read(acc), WAIT))
            doc = json.loads(read(acc).splitlines()[-1])
            self.assertEqual(doc["uri"], "/hello?name=%22q")
            self.assertEqual(doc["status"], 200)
            self.assertEqual(doc["user_agent"], "a\"b\\c")
            self.assertIn(doc["worker"], (1, 2))
            self.assertIn(doc["thread"], (1, 2, 3))  # 3: the main thread
            for k in ("time", "addr", "method", "proto", "bytes", "msecs", "request_id"):
                self.assertIn(k, doc)


if __name__ == "__main__":
    unittest.main()
