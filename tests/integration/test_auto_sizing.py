"""threads = auto and processes = auto (docs/operations.md).

What an operator relies on when spindle sizes itself:
- a worker starts handler threads while requests wait and every thread is
  busy, never more than threads-max, and stops them again after
  threads-idle, down to threads-min; a stopped thread's number is reused;
- the stats and /metrics say how many run and why they changed;
- the master adds a worker while every worker is saturated and retires
  one when fewer are enough, up to processes-max and down to
  processes-min, and a reload keeps the current count; no request fails
  on the way;
- bounds given without auto, or crossed, are refused by -t.

Nothing here is timed: every wait is for a state the server reports (its
stats, its log), with a generous bound."""

import threading
import time
import unittest

from ops_load import http_get, parse_prometheus, stats
from spindle_harness import (Conn, Server, build_request, default_config, free_port, get,
                             run_binary, wait_until)

HOLD_MS = 20000  # a held request's own bound; the tests release it long before
BOUND = 30.0  # the most any state is waited for


def thread_config(sport, **server):
    srv = dict(threads="auto", threads_min=1, threads_max=8, threads_idle="300ms",
               stats="127.0.0.1:%d" % sport, log_level="info")
    srv.update(server)
    return default_config(("tm:gate",), processes=1, **srv)


def worker_stats(sport):
    return stats(sport)["workers"][0]


def hold(port, n, path="/hold?hold=%d" % HOLD_MS):
    """n connections, each with a request sent and not yet answered."""
    conns = []
    for _ in range(n):
        c = Conn(port)
        c.send(build_request("GET", path))
        conns.append(c)
    return conns


class AutoThreads(unittest.TestCase):
    def setUp(self):
        self.sport = free_port()
        self.s = Server(thread_config(self.sport))
        self.addCleanup(self.s.cleanup)
        self.s.start()

    def busy(self):
        return sum(t["state"] == "busy" for t in worker_stats(self.sport)["threads"])

    def test_grows_while_requests_wait_and_shrinks_when_idle(self):
        w = worker_stats(self.sport)
        self.assertEqual(w["threads_max"], 8)
        self.assertEqual(w["threads_running"], 2)  # threads-min 1, and the IO loop's thread
        conns = hold(self.s.port, 6)
        try:
            # Six held at once: more threads than it started with.
            self.assertTrue(wait_until(lambda: self.busy() >= 6, BOUND), self.s.log())
            with Conn(self.s.port) as c:
                r = c.request("GET", "/open")
                self.assertEqual(r.status, 200)
            seen = set()
            for c in conns:
                r = c.read_response(timeout=BOUND)
                self.assertEqual((r.status, r.body), (200, b"opened"))
                seen.add(int(r.header("X-Thread")))
        finally:
            for c in conns:
                c.close()
        self.assertTrue(all(1 <= t <= 9 for t in seen), seen)
        w = worker_stats(self.sport)
        self.assertGreaterEqual(w["threads_grown"], 4)
        self.assertIn("started: ", self.s.log())
        # Idle: back to threads-min.
        self.assertTrue(
            wait_until(lambda: worker_stats(self.sport)["threads_running"] == 2, BOUND),
            worker_stats(self.sport))
        w = worker_stats(self.sport)
        self.assertEqual(w["threads_shrunk"], w["threads_grown"])
        self.assertEqual(len(w["threads"]), 2)
        self.assertIn("stopped: no request for 300 ms", self.s.log())
        _, body = http_get("127.0.0.1", self.sport, "/metrics")
        _, samples = parse_prometheus(body)
        values = {name: v for name, labels, v in samples if not labels}
        self.assertEqual(float(values["spindle_threads"]), 2)
        self.assertEqual(float(values["spindle_threads_max"]), 8)
        self.assertEqual(float(values["spindle_threads_shrunk_total"]),
                         float(values["spindle_threads_grown_total"]))
        # And grows again, reusing the numbers of the threads that stopped.
        conns = hold(self.s.port, 4)
        try:
            self.assertTrue(wait_until(lambda: self.busy() >= 4, BOUND), self.s.log())
            with Conn(self.s.port) as c:
                self.assertEqual(c.request("GET", "/open").status, 200)
            for c in conns:
                r = c.read_response(timeout=BOUND)
                self.assertEqual(r.status, 200)
                self.assertLessEqual(int(r.header("X-Thread")), 9)
        finally:
            for c in conns:
                c.close()

    def test_threads_max_caps_what_runs_at_once(self):
        self.s.stop()
        self.s = Server(thread_config(self.sport, threads_max=2))
        self.addCleanup(self.s.cleanup)
        self.s.start()
        results = []

        def one():
            r = get(self.s.port, "/busy?ms=200", timeout=BOUND)
            results.append(r.status)

        ts = [threading.Thread(target=one) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(BOUND)
        self.assertEqual(results, [200] * 8)
        r = get(self.s.port, "/busy-max")
        self.assertLessEqual(int(r.body), 3)  # threads-max, and the IO loop's thread
        self.assertLessEqual(worker_stats(self.sport)["threads_running"], 3)

    def test_graceful_stop_finishes_what_grown_threads_run(self):
        conns = hold(self.s.port, 4, "/hold?hold=1500")
        try:
            self.assertTrue(wait_until(lambda: self.busy() >= 4, BOUND), self.s.log())
            self.s.proc.send_signal(15)
            for c in conns:
                r = c.read_response(timeout=BOUND)
                self.assertEqual((r.status, r.body), (200, b"expired"))
        finally:
            for c in conns:
                c.close()
        self.assertEqual(self.s.wait_exit(BOUND), 0, self.s.log())


class AutoProcesses(unittest.TestCase):
    def test_adds_a_worker_when_saturated_and_retires_it_when_idle(self):
        sport = free_port()
        cfg = default_config(("tm:gate",), processes="auto", processes_min=1, processes_max=2,
                             processes_busy="300ms", processes_idle="1s", threads=2,
                             stats="127.0.0.1:%d" % sport)
        with Server(cfg) as s:
            self.assertEqual(stats(sport)["target_workers"], 1)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 1, BOUND))
            stop = threading.Event()
            failures, answered = [], [0]

            def load(path, pause=0):
                while not stop.wait(pause):
                    try:
                        r = get(s.port, path, timeout=BOUND)
                        if r.status != 200:
                            failures.append(r.status)
                        answered[0] += 1
                    except OSError as e:
                        failures.append(repr(e))

            busy = [threading.Thread(target=load, args=("/busy?ms=100",)) for _ in range(6)]
            # A light client all along: a worker retired under it must not
            # fail one of its requests.
            quick = threading.Thread(target=load, args=("/gate", 0.01))
            for t in busy + [quick]:
                t.start()
            try:
                grew = wait_until(lambda: stats(sport)["target_workers"] == 2, BOUND)
                self.assertTrue(grew, s.log())
                self.assertTrue(wait_until(lambda: len(s.workers()) == 2, BOUND))
                doc = stats(sport)["autoscale"]
                self.assertEqual((doc["min"], doc["max"], doc["added"]), (1, 2, 1))
                self.assertIn("saturated", doc["last"])
                self.assertIn("processes = auto: added worker 2", s.log())
                # A reload keeps the count it has reached.
                s.proc.send_signal(1)
                self.assertTrue(wait_until(lambda: "reload done" in s.log(), BOUND), s.log())
                self.assertIn("starting 2 new workers", s.log())
            finally:
                stop.set()
                for t in busy + [quick]:
                    t.join(BOUND)
            stop.clear()
            quick = threading.Thread(target=load, args=("/gate", 0.01))
            quick.start()
            try:
                # Only the quick client now: one worker is enough.
                shrank = wait_until(lambda: stats(sport)["target_workers"] == 1, BOUND)
                self.assertTrue(shrank, s.log())
                self.assertTrue(wait_until(lambda: len(s.workers()) == 1, BOUND), s.log())
                time.sleep(0.2)  # a few more requests on the remaining worker
            finally:
                stop.set()
                quick.join(BOUND)
            self.assertEqual(failures, [])
            self.assertGreater(answered[0], 0)
            doc = stats(sport)["autoscale"]
            self.assertEqual(doc["retired"], 1)
            self.assertIn("would have been enough", doc["last"])
            _, body = http_get("127.0.0.1", sport, "/metrics")
            _, samples = parse_prometheus(body)
            values = {name: v for name, labels, v in samples if not labels}
            self.assertEqual(float(values["spindle_workers_target"]), 1)
            self.assertEqual(float(values["spindle_workers_added_total"]), 1)
            self.assertEqual(float(values["spindle_workers_retired_total"]), 1)


class Refused(unittest.TestCase):
    def check(self, server, key, phrase):
        s = Server(default_config(("hello",), **server))
        self.addCleanup(s.cleanup)
        s.write_config()
        rc, out, err = run_binary(["-t", s.ini])
        self.assertEqual(rc, 78, (out, err))
        self.assertIn("%s: " % key, err)
        self.assertIn(phrase, err)

    def test_bounds_without_auto(self):
        self.check({"threads": 4, "threads_max": 16}, "threads-max",
                   "applies only with threads = auto (threads is 4)")
        self.check({"processes": 2, "processes_min": 1}, "processes-min",
                   "applies only with processes = auto (processes is 2)")

    def test_crossed_bounds(self):
        self.check({"threads": "auto", "threads_min": 8, "threads_max": 4}, "threads-max",
                   "4 is below threads-min (8)")
        self.check({"processes": "auto", "processes_min": 3, "processes_max": 2},
                   "processes-max", "2 is below processes-min (3)")

    def test_not_a_number_or_auto(self):
        self.check({"threads": "many"}, "threads", "an integer from 1 to 1024, or auto")

    def test_print_reads_back_auto(self):
        s = Server(default_config(("hello",), processes="auto", threads="auto"))
        self.addCleanup(s.cleanup)
        s.write_config()
        rc, out, err = run_binary(["-T", s.ini])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^threads = auto$")
        self.assertRegex(out, r"(?m)^processes = auto$")


if __name__ == "__main__":
    unittest.main()
