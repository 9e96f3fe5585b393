"""Quick requests and the IO loop's hand-over (server/worker/loop.h).

A request whose route has lately run fast is run by the thread that holds
the IO loop.  These tests check what an operator relies on around that:
- a quick request that starts to block, or to compute for long, does not
  stall the worker's other connections: the watch hands the loop to
  another thread;
- `threads` still caps the requests that run at once;
- thread indexes stay within 1..threads + 1;
- a graceful stop works while the loop sits on another thread;
- serial handlers (sp_handler_serial) run on the loop's thread whatever
  they cost, and go to the handler threads once one blocks.

One worker, so that every request meets the same loop.  Nothing here is
timed: holds are released by the test (or expire as a bound), and the
checks are about order and counts."""

import json
import os
import select
import signal
import threading
import unittest

from spindle_harness import (WAIT, Conn, Server, build_request, default_config, free_port, get,
                             wait_until)

HOLD_MS = 20000  # a held request's own bound; the tests release it long before


def config(threads_, **server):
    return default_config(("tm:gate",), processes=1, threads=threads_, log_level="debug",
                          **server)


LOOP_SLICE_NS = 100000  # SP__LOOP_SLICE_US


def custom_slices():
    """Whether this kernel takes a slice from sched_setattr (Linux 6.12)."""
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 12)


def slices(pid):
    """{tid: se.slice in ns} for every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/sched" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("se.slice"):
                        out[int(tid)] = int(line.split(":")[1])
        except OSError:
            pass
    return out


def answered(conn, timeout=0.0):
    """Whether the server has sent anything on conn yet (nothing is read)."""
    if conn.buf:
        return True
    r, _, _ = select.select([conn.sock], [], [], timeout)
    return bool(r)


def clients(test, port, path, clients=8, rounds=3):
    """`clients` connections, each sending `rounds` GETs of path, all at
    once: the X-Thread of every answer (every one must be a 200)."""
    seen, errors = [], []

    def client():
        try:
            with Conn(port, timeout=30) as c:
                for _ in range(rounds):
                    r = c.request("GET", path)
                    if r.status != 200:
                        errors.append(r.status)
                    seen.append(int(r.header("X-Thread")))
        except AssertionError as e:  # no answer within the bound
            errors.append(str(e))

    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    test.assertEqual(errors, [])
    return seen


class Handover(unittest.TestCase):
    def setUp(self):
        self.s = Server(config(2))
        self.addCleanup(self.s.cleanup)
        self.s.start()

    def warm(self, n=20):
        # The route must be known quick before the request that will hold.
        with Conn(self.s.port) as c:
            for _ in range(n):
                r = c.request("GET", "/gate")
                self.assertEqual((r.status, r.body), (200, b"open"))

    def test_quick_requests_run_on_the_loop_thread(self):
        seen = set()
        with Conn(self.s.port) as c:
            for _ in range(50):
                r = c.request("GET", "/gate")
                self.assertEqual(r.status, 200)
                seen.add(int(r.header("X-Thread")))
        # threads = 2: handler threads 1 and 2, the main thread 3.
        self.assertTrue(seen <= {1, 2, 3}, seen)
        self.assertIn(3, seen, "no request ran on the thread that holds the loop")

    def hand_over(self, path, released, answer):
        """Send path (a quick route, warmed) on a connection of its own, see
        other connections answered while it runs, then release it with
        /open (whose answer must be `released`) and return its answer."""
        stuck = Conn(self.s.port, timeout=30)
        self.addCleanup(stuck.close)
        stuck.send(build_request("GET", path))
        # While that request holds the loop's thread, other connections of
        # the same worker are still read and answered.
        for i in range(5):
            r = get(self.s.port, "/gate", timeout=10.0)
            self.assertEqual((r.status, r.body), (200, b"open"), i)
        self.assertFalse(answered(stuck), "the stuck request was answered early")
        r = get(self.s.port, "/open", timeout=10.0)
        self.assertEqual((r.status, r.body), (200, released))
        r = stuck.read_response(timeout=10.0)
        self.assertEqual((r.status, r.body), (200, answer))
        self.assertIn("the IO loop moves to another thread", self.s.log())
        return stuck

    def test_held_quick_request_hands_the_loop_over(self):
        self.warm()
        held = self.hand_over("/gate?hold=%d" % HOLD_MS, b"released 1", b"opened")
        # The same connection goes on being served.
        r = held.request("GET", "/gate")
        self.assertEqual((r.status, r.body), (200, b"open"))

    def test_computing_quick_request_hands_the_loop_over(self):
        # A handler that computes for long is as stuck as one that sleeps:
        # its thread stays runnable, but the CPU time it uses tells it from
        # a thread that merely waits for a CPU.
        with Conn(self.s.port) as c:
            for _ in range(20):
                r = c.request("GET", "/spin?ms=0")
                self.assertEqual((r.status, r.body), (200, b"expired"))
        self.hand_over("/spin?ms=%d" % HOLD_MS, b"released 0", b"released")

    @unittest.skipUnless(custom_slices(), "the kernel ignores a requested slice before 6.12")
    def test_the_loop_thread_runs_with_a_short_slice(self):
        [w] = self.s.workers()
        short = lambda: [t for t, ns in slices(w).items() if ns == LOOP_SLICE_NS]
        # The main thread holds the loop to begin with; nobody else asked.
        self.assertEqual(short(), [w], slices(w))
        # The slice goes with the loop: the new holder asks for it, and the
        # thread that lost the loop is back to the default once its request
        # is done.
        self.warm()
        self.hand_over("/gate?hold=%d" % HOLD_MS, b"released 1", b"opened")
        moved = wait_until(lambda: len(short()) == 1 and short()[0] != w, WAIT)
        self.assertTrue(moved, "short slices after the hand-over: %r" % slices(w))

    def test_graceful_stop_with_the_loop_handed_over(self):
        self.warm()
        held = Conn(self.s.port, timeout=30)
        self.addCleanup(held.close)
        held.send(build_request("GET", "/gate?hold=1500"))
        r = get(self.s.port, "/gate", timeout=10.0)  # served: the loop has moved
        self.assertEqual(r.status, 200)
        self.s.signal(signal.SIGTERM)
        r = held.read_response(timeout=10.0)
        self.assertEqual((r.status, r.body), (200, b"expired"))
        self.assertEqual(self.s.wait_exit(15), 0, self.s.log()[-2000:])


class Serial(unittest.TestCase):
    """Handlers declared serial compute under a lock every thread shares
    (the wsgi module's: the GIL), so the loop's thread runs them in turn;
    one that blocks is caught and its route goes to the handler threads."""

    THREADS = 4

    def test_computing_serial_requests_run_on_the_loop_thread(self):
        with Server(config(self.THREADS)) as s:
            # 2 ms each: forty times a quick route's bound, well under the
            # serial one (SP__LOOP_SERIAL_RUN_MS)
            seen = clients(self, s.port, "/serial/spin?ms=2", clients=4, rounds=10)
            self.assertEqual(len(seen), 40)
            if "the IO loop moves to another thread" in s.log():
                self.skipTest("the loop moved (a thread descheduled for long on a busy "
                              "machine): where requests ran tells nothing")
            # threads = 4: the main thread, which holds the loop, is 5
            self.assertEqual(set(seen), {self.THREADS + 1}, seen)

    def test_a_serial_request_that_blocks_goes_to_the_handler_threads(self):
        with Server(config(self.THREADS)) as s:
            seen = clients(self, s.port, "/serial/busy?ms=50")
            self.assertIn("the IO loop moves to another thread", s.log())
            r = get(s.port, "/busy-max")
            self.assertEqual(r.status, 200)
            # they slept side by side on the handler threads, within the cap
            self.assertGreater(int(r.body), 1, seen)
            self.assertLessEqual(int(r.body), self.THREADS)


class ThreadsCap(unittest.TestCase):
    """`threads = N`: never more than N requests at once, quick or not."""

    def busy_max(self, threads_):
        with Server(config(threads_)) as s:
            clients(self, s.port, "/busy?ms=50")
            r = get(s.port, "/busy-max")
            self.assertEqual(r.status, 200)
            return int(r.body)

    def test_one_thread(self):
        self.assertEqual(self.busy_max(1), 1)

    def test_three_threads(self):
        self.assertEqual(self.busy_max(3), 3)

    def test_quick_request_waits_while_every_thread_is_busy(self):
        # threads = 1 and that thread holds a slow request: a quick one must
        # wait for it rather than run beside it on the loop's thread.
        sport = free_port()
        with Server(config(1, stats="127.0.0.1:%d" % sport)) as s:
            # /hold becomes known slow (its first run is caught, or measured).
            self.assertEqual(get(s.port, "/hold?hold=100", timeout=10.0).body, b"expired")
            for _ in range(20):
                self.assertEqual(get(s.port, "/gate").body, b"open")
            slow = Conn(s.port, timeout=30)
            self.addCleanup(slow.close)
            slow.send(build_request("GET", "/hold?hold=5000"))

            def holding():
                doc = json.loads(get(sport, "/").body)
                return any(t.get("request", "").startswith("GET /hold")
                           for w in doc["workers"] for t in w["threads"])
            self.assertTrue(wait_until(holding, WAIT), "the slow request never started")
            quick = Conn(s.port, timeout=30)
            self.addCleanup(quick.close)
            quick.send(build_request("GET", "/gate"))
            self.assertFalse(answered(quick, 0.5), "a second request ran beside the held one")
            r = slow.read_response(timeout=15.0)
            self.assertEqual((r.status, r.body), (200, b"expired"))
            r = quick.read_response(timeout=15.0)
            self.assertEqual((r.status, r.body), (200, b"open"))


if __name__ == "__main__":
    unittest.main()
