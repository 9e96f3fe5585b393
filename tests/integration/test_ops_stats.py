"""Stats JSON, Prometheus /metrics and the control socket (spindle ctl).
(docs/operations.md)"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from ops_load import control, http_get, parse_prometheus, stats
from spindle_harness import BIN, WAIT, Server, default_config, free_port, get, wait_until


def worker_requests(doc):
    return sum(w["requests"] for w in doc["workers"])


class Stats(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sport = free_port()
        cfg = default_config(("hello", "echo"), processes=2, threads=2,
                             stats="127.0.0.1:%d" % cls.sport)
        cls.server = Server(cfg)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()

    def test_json_counts_match_requests_sent(self):
        # Every worker past its start (a slow start under load still shows
        # "starting" for a moment).
        self.assertTrue(wait_until(lambda: all(w["state"] == "serving"
                                               for w in stats(self.sport)["workers"]), 10.0),
                        stats(self.sport)["workers"])
        before = stats(self.sport)
        for _ in range(25):
            self.assertEqual(get(self.server.port, "/").status, 200)
        for _ in range(5):
            self.assertEqual(get(self.server.port, "/no-such-route").status, 404)
        after = stats(self.sport)
        self.assertEqual(after["requests_total"] - before["requests_total"], 30)
        self.assertEqual(worker_requests(after) - worker_requests(before), 30)
        self.assertEqual(sorted(w["pid"] for w in after["workers"]), self.server.workers())
        for w in after["workers"]:
            self.assertEqual(w["state"], "serving")
            self.assertGreater(w["rss_kib"], 0)
            self.assertEqual(len(w["threads"]), 3)  # 2 handler threads + the main thread
            self.assertEqual(sum(t["requests"] for t in w["threads"]), w["requests"])
        (lst,) = after["listen"]
        self.assertEqual(lst["method"], "tcp_info")
        self.assertEqual(lst["queue"], 0)
        self.assertEqual(after["harakiri_total"], 0)

    def test_metrics_parse_and_count_by_route_and_class(self):
        def counts():
            _, samples = parse_prometheus(http_get("127.0.0.1", self.sport, "/metrics")[1])
            return {(s[1].get("route"), s[1].get("status")): s[2]
                    for s in samples if s[0] == "spindle_requests_total"}, samples
        before, _ = counts()
        for _ in range(7):
            get(self.server.port, "/hello?name=x")
        for _ in range(3):
            get(self.server.port, "/nope")
        after, samples = counts()
        key = ("/hello", "2xx")
        self.assertEqual(after.get(key, 0) - before.get(key, 0), 7, after)
        key = ("unmatched", "4xx")
        self.assertEqual(after.get(key, 0) - before.get(key, 0), 3, after)
        names = {s[0] for s in samples}
        for n in ("spindle_request_duration_seconds_bucket", "spindle_request_duration_seconds_sum",
                  "spindle_request_duration_seconds_count", "spindle_busy_threads",
                  "spindle_request_queue", "spindle_listen_queue",
                  "spindle_worker_respawns_total", "spindle_workers"):
            self.assertIn(n, names)
        buckets = [s for s in samples if s[0] == "spindle_request_duration_seconds_bucket"]
        values = [b[2] for b in buckets]
        self.assertEqual(values, sorted(values))  # cumulative
        self.assertEqual(buckets[-1][1]["le"], "+Inf")
        total = [s[2] for s in samples if s[0] == "spindle_request_duration_seconds_count"][0]
        self.assertEqual(buckets[-1][2], total)

    def test_unknown_path_is_404(self):
        self.assertEqual(http_get("127.0.0.1", self.sport, "/nope")[0], 404)


class Control(unittest.TestCase):
    def test_ctl_commands(self):
        with Server(default_config(("hello",), processes=2, threads=1)) as s:
            path = os.path.join(s.dir, "ctl.sock")
            cfg = default_config(("hello",), processes=2, threads=1, control="unix:" + path)
            s.stop()
            s.config = cfg
            s.start()

            def ctl(*args):
                p = subprocess.run([BIN, "ctl", "--control", "unix:" + path] + list(args),
                                   capture_output=True, text=True, timeout=15)
                return p.returncode, p.stdout + p.stderr

            rc, out = ctl("workers", "+2")
            self.assertEqual((rc, out.strip()), (0, "ok workers 4"))
            self.assertTrue(wait_until(lambda: len(s.workers()) == 4, WAIT), s.log())
            rc, out = ctl("workers", "-1")
            self.assertEqual(rc, 0, out)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 3, WAIT), s.log())
            rc, out = ctl("stats")
            self.assertEqual(rc, 0, out)
            doc = json.loads(out.split("\n", 1)[1])
            self.assertEqual(doc["target_workers"], 3)
            old = s.workers()
            rc, out = ctl("chain-reload")
            self.assertEqual((rc, out.strip()), (0, "ok reloading"))
            self.assertTrue(wait_until(lambda: not set(old) & set(s.workers()), WAIT), s.log())
            self.assertIn("reloading (chain)", s.log())
            rc, out = ctl("reload")
            self.assertEqual(rc, 0, out)
            self.assertTrue(wait_until(lambda: s.log().count("reload done") == 2, WAIT), s.log())
            self.assertEqual(control(path, "bogus")[:6], "error ")
            rc, out = ctl("stop")
            self.assertEqual(rc, 0, out)
            self.assertEqual(s.wait_exit(15), 0, s.log())
            self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()


class SlowOperatorClients(unittest.TestCase):
    """The master never waits on a stats or control client: with 100
    clients on each socket that send half a request and then a byte now
    and then, a worker killed with kill -9 is replaced, a well-behaved stats
    client is answered, and TERM stops the server within graceful-timeout."""

    CROWD = 100
    CROWD_SECONDS = 20.0

    def setUp(self):
        self.sport = free_port()
        self.ctl = os.path.join(tempfile.mkdtemp(prefix="spindle-ctl-"), "ctl.sock")
        self.addCleanup(shutil.rmtree, os.path.dirname(self.ctl), True)
        cfg = default_config(("hello",), processes=2, threads=2, graceful_timeout=10,
                             stats="127.0.0.1:%d" % self.sport, control="unix:" + self.ctl)
        self.server = Server(cfg)
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.stop_crowd = threading.Event()
        self.crowd_in = threading.Event()  # every crowd socket has connected
        self.crowd = threading.Thread(target=self.trickle, daemon=True)
        self.addCleanup(self.crowd.join, 30)
        self.addCleanup(self.stop_crowd.set)

    def trickle(self):
        socks = []
        for _ in range(self.CROWD):
            for fam, addr, first in ((socket.AF_INET, ("127.0.0.1", self.sport), b"GET / HT"),
                                     (socket.AF_UNIX, self.ctl, b"sta")):
                s = socket.socket(fam, socket.SOCK_STREAM)
                try:
                    s.connect(addr)
                    s.send(first)
                    socks.append(s)
                except OSError:
                    s.close()
        self.crowd_in.set()
        deadline = time.monotonic() + self.CROWD_SECONDS
        while not self.stop_crowd.wait(0.8) and time.monotonic() < deadline:
            for s in socks:
                try:
                    s.send(b"T")
                except OSError:
                    pass
        for s in socks:
            s.close()

    def test_kill_9_replaced_and_stats_answered_with_a_crowd(self):
        old = self.server.workers()
        self.crowd.start()
        os.kill(old[0], signal.SIGKILL)
        replaced = lambda: len(self.server.workers()) == 2 and old[0] not in self.server.workers()
        self.assertTrue(wait_until(replaced, self.CROWD_SECONDS / 2),
                        "no replacement while slow clients held the operator sockets; log:\n"
                        + self.server.log())
        # the check is of a crowd that is there, not of one still arriving:
        # each newcomer pushes out the client that has been there longest
        self.assertTrue(self.crowd_in.wait(WAIT))
        self.assertTrue(self.crowd.is_alive(), "the crowd was gone before the check")
        doc = stats(self.sport)
        self.assertEqual(len(doc["workers"]), 2, doc)
        self.assertIn("ok", control(self.ctl, "stats").splitlines()[0])

    def test_term_stops_within_graceful_timeout_with_a_crowd(self):
        self.crowd.start()
        self.server.signal(signal.SIGTERM)
        self.assertEqual(self.server.wait_exit(10.0), 0, self.server.log())
        self.assertTrue(self.crowd.is_alive(), "the crowd was gone before the stop")
