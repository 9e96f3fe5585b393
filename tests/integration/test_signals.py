"""Signals and lifecycle (DESIGN.md section 6, TESTING.md case 17): TERM
finishes in-flight requests and exits 0; INT/QUIT stop fast; HUP reloads
without failing a request; a killed worker is replaced."""

import json
import os
import signal
import time
import unittest

from ops_load import stats
from spindle_harness import (WAIT, Server, build_request, cmdline, connect, default_config,
                             free_port, get, group_members, http, parse_responses, read_until_close,
                             skip_if_sanitized, threads, wait_until, worker_threads)

MODULES = ("hello", "sleep", "tm:slow", "tm:reads_config")


def cfg(processes=2, threads_=4, greeting=None, **server):
    c = default_config(MODULES, processes=processes, threads=threads_, **server)
    if greeting is not None:
        c["module:reads_config"] = {"greeting": greeting}
    return c


def start_request(port, path):
    """Send a request and return the socket without reading the answer."""
    s = connect(port, 10.0)
    s.sendall(build_request("GET", path, [("Connection", "close")]))
    return s


def in_flight():
    """Give a just-sent request a moment to reach a handler thread (there
    is no outside view of that; 0.3 s is plenty on loopback)."""
    time.sleep(0.3)


class Term(unittest.TestCase):
    def test_term_finishes_in_flight_then_exits_0(self):
        s = Server(cfg(graceful_timeout=10))
        self.addCleanup(s.cleanup)
        s.start()
        c = start_request(s.port, "/slow?ms=1500")
        c2 = start_request(s.port, "/sleep?ms=1200")
        in_flight()
        s.signal(signal.SIGTERM)
        with c, c2:
            data, how = read_until_close(c, 10.0)
            data2, how2 = read_until_close(c2, 10.0)
        rs = parse_responses(data)
        self.assertEqual([(r.status, r.body) for r in rs], [(200, b"slow 1500 ms")],
                         "in-flight request lost on TERM: %r (%s); log:\n%s" % (data, how, s.log()))
        rs2 = parse_responses(data2)
        self.assertEqual([(r.status, r.body) for r in rs2], [(200, b"slept 1200 ms")], data2)
        rc = s.wait_exit(10.0)
        self.assertEqual(rc, 0, "master exit code after TERM; log:\n" + s.log())
        self.assertTrue(wait_until(lambda: not group_members(s.pid), WAIT),
                        "processes left after TERM: %r" % group_members(s.pid))

    def test_term_idle_exits_0_quickly(self):
        s = Server(cfg())
        self.addCleanup(s.cleanup)
        s.start()
        self.assertEqual(get(s.port, "/").status, 200)
        s.signal(signal.SIGTERM)
        rc = s.wait_exit(10.0)
        self.assertEqual(rc, 0, s.log())
        self.assertTrue(wait_until(lambda: not group_members(s.pid), WAIT), group_members(s.pid))

    def test_term_closes_keepalive_after_stray_crlf(self):
        """A CRLF after a request (RFC 9112 2.2 lets a client send one) is
        not the start of another: the connection is idle, and TERM closes it
        at once instead of waiting for a request that never comes.  One
        connection sends it with the request, one after the answer."""
        s = Server(cfg(processes=1, graceful_timeout=60, timeout_keepalive=60))
        self.addCleanup(s.cleanup)
        s.start()
        with connect(s.port, 10.0) as a, connect(s.port, 10.0) as b:
            for c, tail in ((a, b"\r\n"), (b, b"")):
                c.sendall(build_request("GET", "/hello?name=crlf") + tail)
                data = b""
                for _ in range(100):
                    if data.endswith(b"Hello, crlf!"):
                        break
                    data += c.recv(4096)
                self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
            b.sendall(b"\r\n\r\n")
            self.assertEqual(get(s.port, "/").status, 200)  # b's bytes are read by now, or soon
            time.sleep(0.2)
            s.signal(signal.SIGTERM)
            for name, c in (("with the request", a), ("after the answer", b)):
                rest, how = read_until_close(c, 20.0)
                self.assertEqual((rest, how), (b"", "closed"), "CRLF %s: the connection was not "
                                 "closed as idle; log:\n%s" % (name, s.log()))
        self.assertEqual(s.wait_exit(20.0), 0, s.log())

    def test_term_stops_accepting(self):
        s = Server(cfg(graceful_timeout=10))
        self.addCleanup(s.cleanup)
        s.start()
        c = start_request(s.port, "/slow?ms=1500")
        in_flight()
        s.signal(signal.SIGTERM)
        time.sleep(0.3)
        # While the old request drains, new connections are not served.
        refused = False
        try:
            with connect(s.port, 2.0) as n:
                n.sendall(build_request("GET", "/", [("Connection", "close")]))
                data, how = read_until_close(n, 2.0)
                refused = not data.startswith(b"HTTP/1.1 200")
        except OSError:
            refused = True
        with c:
            data, _ = read_until_close(c, 10.0)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertTrue(refused, "a new connection was served after TERM")
        self.assertEqual(s.wait_exit(10.0), 0, s.log())


class FastStop(unittest.TestCase):
    def fast_stop(self, sig):
        s = Server(cfg())
        self.addCleanup(s.cleanup)
        s.start()
        c = start_request(s.port, "/slow?ms=20000")
        in_flight()
        s.signal(sig)
        rc = s.wait_exit(5.0)
        self.assertIsNotNone(rc, "master still running 5 s after %s with a 20 s request in flight"
                             % signal.Signals(sig).name)
        self.assertTrue(wait_until(lambda: not group_members(s.pid), WAIT),
                        "processes left: %r" % group_members(s.pid))
        c.close()

    def test_int(self):
        self.fast_stop(signal.SIGINT)

    def test_quit(self):
        self.fast_stop(signal.SIGQUIT)


class Hup(unittest.TestCase):
    def test_hup_under_requests_zero_failures_new_threads(self):
        s = Server(cfg(processes=2, threads_=2, greeting="old"))
        self.addCleanup(s.cleanup)
        s.start()
        old = s.workers()
        self.assertEqual(len(old), 2)
        self.assertEqual(get(s.port, "/greet").body, b"old")
        failures = []
        n = 300
        for i in range(n):
            if i == n // 2:
                s.reload(cfg(processes=2, threads_=3, greeting="new"))
            try:
                r = get(s.port, "/hello?name=%d" % i, headers=[("Connection", "close")], timeout=5.0)
                if (r.status, r.body) != (200, b"Hello, %d!" % i):
                    failures.append((i, r.status, r.body[:100]))
            except (OSError, AssertionError) as e:
                failures.append((i, repr(e)))
            time.sleep(0.01)
        self.assertEqual(failures, [], "requests failed across HUP; log:\n" + s.log()[-3000:])

        def swapped():
            ws = s.workers()
            return len(ws) == 2 and not set(ws) & set(old)
        self.assertTrue(wait_until(swapped, WAIT),
                        "workers not replaced after HUP: old %r now %r" % (old, s.workers()))
        new = s.workers()
        self.assertTrue(wait_until(lambda: all(threads(p) == worker_threads(3) for p in new), WAIT),
                        {p: threads(p) for p in new})
        self.assertIsNone(s.proc.poll(), "master exited")
        self.assertTrue(wait_until(lambda: get(s.port, "/greet").body == b"new", WAIT))
        for _ in range(4):
            self.assertEqual(get(s.port, "/greet").body, b"new")

    def test_hup_lets_in_flight_finish(self):
        s = Server(cfg(processes=1, threads_=2))
        self.addCleanup(s.cleanup)
        s.start()
        old = s.workers()
        c = start_request(s.port, "/slow?ms=1500")
        in_flight()
        s.signal(signal.SIGHUP)
        with c:
            data, how = read_until_close(c, 10.0)
        rs = parse_responses(data)
        self.assertEqual([(r.status, r.body) for r in rs], [(200, b"slow 1500 ms")], s.log())
        self.assertTrue(wait_until(lambda: s.workers() and not set(s.workers()) & set(old), WAIT))
        self.assertEqual(get(s.port, "/").status, 200)

    def test_hup_with_broken_config_keeps_serving(self):
        s = Server(cfg(processes=1, threads_=2))
        self.addCleanup(s.cleanup)
        s.start()
        old = s.workers()
        s.reload("[server]\nlisten = 127.0.0.1:@PORT@\nthreads = abc\n")
        time.sleep(1.0)
        self.assertIsNone(s.proc.poll(), "master died on a bad reload; log:\n" + s.log())
        self.assertEqual(s.workers(), old, "workers replaced with a broken config")
        for _ in range(5):
            self.assertEqual(get(s.port, "/").status, 200)
        self.assertIn("threads", s.log())


class KilledWorker(unittest.TestCase):
    def test_kill_9_worker_replaced(self):
        s = Server(cfg(processes=2, threads_=2))
        self.addCleanup(s.cleanup)
        s.start()
        old = s.workers()
        victim = old[0]
        os.kill(victim, signal.SIGKILL)

        def replaced():
            ws = s.workers()
            return len(ws) == 2 and victim not in ws
        self.assertTrue(wait_until(replaced, WAIT), "worker not replaced: %r" % s.workers())
        self.assertIn(old[1], s.workers(), "the other worker was disturbed")
        self.assertTrue(wait_until(
            lambda: all(threads(p) == worker_threads(2) for p in s.workers()), WAIT))
        for i in range(20):
            r = get(s.port, "/hello?name=%d" % i)
            self.assertEqual(r.status, 200)
        self.assertIsNone(s.proc.poll())

    def test_kill_all_workers_one_by_one(self):
        s = Server(cfg(processes=2, threads_=2))
        self.addCleanup(s.cleanup)
        s.start()
        for _ in range(3):
            ws = s.workers()
            os.kill(ws[0], signal.SIGKILL)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 2 and ws[0] not in s.workers(),
                                       5.0), s.workers())
        self.assertEqual(get(s.port, "/").status, 200)
        # A respawned worker sets its title just after fork: look until it has.
        want = ["spindle: worker 1", "spindle: worker 2"]
        titles = lambda: sorted(cmdline(p) for p in s.workers())
        self.assertTrue(wait_until(lambda: titles() == want, WAIT), titles())


class CrashingHandler(unittest.TestCase):
    """TESTING.md case 20: a segfaulting handler fails its request only;
    the worker is replaced and others are served."""

    def test_segfault_replaced(self):
        c = default_config(("hello", "tm:crash"), processes=2, threads=2)
        s = Server(c)
        self.addCleanup(s.cleanup)
        s.start()
        old = s.workers()
        try:
            get(s.port, "/crash", timeout=5.0)
        except (OSError, AssertionError):
            pass
        self.assertTrue(wait_until(lambda: len(s.workers()) == 2 and s.workers() != old, WAIT),
                        "crashed worker not replaced: %r -> %r" % (old, s.workers()))
        for _ in range(10):
            self.assertEqual(get(s.port, "/ok").body, b"ok")
        self.assertIsNone(s.proc.poll())

    @skip_if_sanitized
    def test_segfault_logs_the_stack(self):
        """A crash says where: the module file and function of each frame
        (static functions included), then the master's line with the request."""
        c = default_config(("hello", "tm:crash"), processes=1, threads=2)
        s = Server(c)
        self.addCleanup(s.cleanup)
        s.start()
        try:
            get(s.port, "/crash", timeout=5.0)
        except (OSError, AssertionError):
            pass
        self.assertTrue(wait_until(lambda: "while running GET /crash" in s.log(), WAIT), s.log())
        log = s.log()
        self.assertIn("killed by Segmentation fault at 0x0; stack, innermost first:", log)
        self.assertRegex(log, r"crash:   #00 \S*/crash\.so: crash\+0x[0-9a-f]+ ", log)
        self.assertIn("spindle: sp_next_call+", log)


if __name__ == "__main__":
    unittest.main()


# ---- signals never reach handler code ---------------------------------------------------

BLOCK_MS = 2500
KINDS = ("sleep", "poll", "read")


class HandlersNeverSeeSignals(unittest.TestCase):
    """No signal meant for the process cuts a system call short in module
    code: handlers blocked in nanosleep, poll and read on a pipe, on the
    thread that holds the IO loop (a route made quick first) and on handler
    threads, and tasks on task threads, each wait their full time across
    HUP, chain reload, USR1, TTOU and graceful TERM ("eintr=0 left=0")."""

    def start(self, **server):
        self.sport = free_port()
        c = default_config(("hello", "tm:blocker"), processes=2, threads=6,
                           stats="127.0.0.1:%d" % self.sport, graceful_timeout=30, **server)
        c["tasks"] = {"task-threads": 3}
        c["module:tasks"] = {}
        s = Server(c)
        self.addCleanup(s.cleanup)
        s.start()
        return s

    def busy_block_requests(self):
        return sum(1 for w in stats(self.sport)["workers"] for t in w.get("threads", [])
                   if t.get("request", "").startswith("GET /block/"))

    def start_blocked(self, s, with_tasks=True):
        # Quick routes run on the thread that holds the IO loop: make each
        # kind quick, then block in it.
        for kind in KINDS:
            for _ in range(20):
                self.assertEqual(get(s.port, "/block/%s?ms=0" % kind).status, 200)
        tasks = []
        if with_tasks:
            for kind in KINDS:
                r = http(s.port, "POST", "/block/task", body=("%s:%d" % (kind, BLOCK_MS)).encode())
                self.assertEqual(r.status, 202, r.body)
                tasks.append(r.body.decode())
        socks = [start_request(s.port, "/block/%s?ms=%d" % (k, BLOCK_MS)) for k in KINDS for _ in (1, 2)]
        self.assertTrue(wait_until(lambda: self.busy_block_requests() >= len(socks), WAIT),
                        "the blocking requests never all ran: %r" % stats(self.sport))
        return socks, tasks

    def assertUntouched(self, s, socks, tasks, what):
        for c in socks:
            with c:
                data, how = read_until_close(c, 30.0)
            rs = parse_responses(data)
            self.assertEqual(len(rs), 1, "%s: no answer (%s): %r; log:\n%s" % (what, how, data, s.log()))
            self.assertEqual(rs[0].status, 200, rs[0].body)
            self.assertRegex(rs[0].body, rb"^eintr=0 left=0 ", "%s cut a handler's call short" % what)
        for tid in tasks:
            def done():
                r = get(s.port, "/_tasks/" + tid)
                return r.status == 200 and json.loads(r.body)["state"] in ("done", "failed")
            self.assertTrue(wait_until(done, 30.0), "task %s never finished" % tid)
            body = json.loads(get(s.port, "/_tasks/" + tid).body)
            self.assertEqual(body["state"], "done", body)
            self.assertRegex(body["result"], r"^eintr=0 left=0 ", "%s cut a task's call short" % what)

    def test_hup(self):
        s = self.start()
        socks, tasks = self.start_blocked(s)
        s.signal(signal.SIGHUP)
        self.assertUntouched(s, socks, tasks, "HUP")

    def test_chain_reload(self):
        s = self.start(reload_mode="chain")
        socks, tasks = self.start_blocked(s)
        s.signal(signal.SIGHUP)
        self.assertUntouched(s, socks, tasks, "chain reload")

    def test_usr1(self):
        s = self.start()
        socks, tasks = self.start_blocked(s)
        for _ in range(3):
            s.signal(signal.SIGUSR1)
        self.assertUntouched(s, socks, tasks, "USR1")

    def test_ttou(self):
        s = self.start()
        socks, tasks = self.start_blocked(s)
        s.signal(signal.SIGTTOU)
        self.assertUntouched(s, socks, tasks, "TTOU")

    def test_graceful_term(self):
        s = self.start()
        socks, _ = self.start_blocked(s, with_tasks=False)
        s.signal(signal.SIGTERM)
        self.assertUntouched(s, socks, [], "TERM")
        self.assertEqual(s.wait_exit(30.0), 0, s.log())

    def test_sibling_harakiri(self):
        """A stuck request's harakiri retires its worker with TERM: the
        siblings on that worker's other threads still wait their full time,
        and the stuck one is ended as harakiri promises (no 200)."""
        s = self.start(harakiri=BLOCK_MS // 1000 + 2, harakiri_mercy=BLOCK_MS // 1000 + 8)
        stuck = start_request(s.port, "/block/sleep?ms=60000")
        self.assertTrue(wait_until(lambda: self.busy_block_requests() >= 1, WAIT))
        socks, _ = self.start_blocked(s, with_tasks=False)
        self.assertTrue(wait_until(lambda: stats(self.sport)["harakiri_total"] >= 1, 30.0),
                        "no harakiri; log:\n" + s.log())
        self.assertUntouched(s, socks, [], "a sibling's harakiri")
        with stuck:
            data, _ = read_until_close(stuck, 60.0)
        self.assertNotIn(b"200 OK", data, "the stuck request was answered after its harakiri")
