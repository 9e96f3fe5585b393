"""Slow clients (TESTING.md case 15, issue 4): slowloris headers, a stalled
body and a reader that never reads are each answered 408 or dropped at
their timeouts, while a probe on other connections of the same (single)
worker keeps getting 200s.  Timings are generous bounds only.

Debian's slowhttptest is used on top when installed; the test's own
sockets are the primary mechanism."""

import select
import shutil
import socket
import subprocess
import threading
import time
import unittest

from spindle_harness import (ServerCase, build_request, connect, default_config, get,
                             parse_responses, read_until_close, wait_until)

PROBE_LIMIT = 2.0     # seconds a probe may take while slow clients are around
PROBE_INTERVAL = 0.1


class Probe:
    """Context manager: GET /hello on fresh connections every 0.1 s in a
    thread; .results is [(status or error, seconds)]."""

    def __init__(self, port, max_seconds=30.0):
        self.port = port
        self.max_seconds = max_seconds
        self.results = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        for i in range(int(self.max_seconds / PROBE_INTERVAL) + 1):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            t0 = time.monotonic()
            try:
                r = get(self.port, "/hello?name=probe%d" % i, timeout=5.0,
                        headers=[("Connection", "close")])
                status = r.status if r.body == b"Hello, probe%d!" % i else "body %r" % r.body
            except (OSError, AssertionError) as e:
                status = repr(e)[:120]
            self.results.append((status, time.monotonic() - t0))
            self.stop.wait(PROBE_INTERVAL)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


class SlowClients(ServerCase):
    # One worker: the slow clients and the probe share its event loop.
    config = default_config(("hello", "echo", "tm:blob"), processes=1, threads=4,
                            timeout_header=1, timeout_body=1, timeout_write=1)

    def setUp(self):
        self.workers_before = self.server.workers()

    def assertProbesOK(self, probe):
        self.assertGreaterEqual(len(probe.results), 5, "too few probes ran: %r" % probe.results)
        bad = [(s, round(t, 2)) for s, t in probe.results if s != 200 or t >= PROBE_LIMIT]
        self.assertFalse(bad, "probes failed or took >= %.0fs while slow clients were connected: "
                         "%r (of %d)" % (PROBE_LIMIT, bad, len(probe.results)))
        self.assertEqual(self.server.workers(), self.workers_before, "the worker was replaced")

    def trickle(self, socks, prefix, max_seconds=8.0, gap=0.2):
        """Send prefix on every socket, then one byte per gap seconds on each
        until the server closes it.  Returns {sock: (bytes read, seconds to
        close or None)}."""
        t0 = time.monotonic()
        got = {s: b"" for s in socks}
        closed = {}
        for s in socks:
            s.setblocking(False)
            s.send(prefix)
        for _ in range(int(max_seconds / gap) + 1):
            open_ = [s for s in socks if s not in closed]
            if not open_ or time.monotonic() - t0 > max_seconds:
                break
            for s in open_:
                try:
                    s.send(b"a")
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    pass
            end = time.monotonic() + gap
            for _ in range(50):
                left = end - time.monotonic()
                rest = [s for s in socks if s not in closed]
                if left <= 0 or not rest:
                    break
                readable, _, _ = select.select(rest, [], [], left)
                for s in readable:
                    try:
                        b = s.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError:
                        b = b""
                    if b:
                        got[s] += b
                    else:
                        closed[s] = time.monotonic() - t0
        return {s: (got[s], closed.get(s)) for s in socks}

    def check_408_closed(self, results, bound):
        for i, (data, when) in enumerate(results.values()):
            self.assertIsNotNone(when, "slow client %d never closed within %.0fs; got %r"
                                 % (i, bound, data[:200]))
            self.assertLess(when, bound)
            rs = parse_responses(data)
            self.assertEqual([r.status for r in rs], [408], "client %d got %r" % (i, data[:300]))

    def test_slowloris_headers_408(self):
        """20 connections send a header byte every 200 ms: each gets 408 and
        is closed (timeout-header 1 s), probes keep getting 200."""
        socks = [connect(self.port) for _ in range(20)]
        try:
            with Probe(self.port) as probe:
                results = self.trickle(socks, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            self.check_408_closed(results, 6.0)
            self.assertProbesOK(probe)
        finally:
            for s in socks:
                s.close()

    def test_trickled_body_408(self):
        """A body trickled a byte every 300 ms never lets timeout-body (1 s)
        run out between reads, yet falls far behind min-body-rate (1K/s):
        408 and close long before the 2,000 bytes it announced."""
        socks = [connect(self.port) for _ in range(5)]
        head = build_request("POST", "/echo", [("Content-Length", "2000")])
        try:
            with Probe(self.port) as probe:
                results = self.trickle(socks, head, max_seconds=20.0, gap=0.3)
            self.check_408_closed(results, 20.0)
            self.assertProbesOK(probe)
        finally:
            for s in socks:
                s.close()

    def test_slow_body_408(self):
        """A body that stalls (timeout-body 1 s) -> 408 and close."""
        socks = [connect(self.port) for _ in range(10)]
        head = build_request("POST", "/echo", [("Content-Length", "1000")])
        try:
            with Probe(self.port) as probe:
                for s in socks:
                    s.sendall(head + b"b" * 100)
                results = {}
                for s in socks:
                    results[s] = read_until_close(s, 6.0)
            for i, (data, how) in enumerate(results.values()):
                self.assertIn(how, ("closed", "reset"), "stalled body %d not closed: %r"
                              % (i, data[:200]))
                rs = parse_responses(data)
                self.assertEqual([r.status for r in rs], [408], data[:300])
            self.assertProbesOK(probe)
        finally:
            for s in socks:
                s.close()

    def slow_readers(self, path, n=3):
        """n clients with a small receive buffer ask for path and read
        nothing until the server has logged dropping all of them
        (timeout-write 1 s); then read what is left.  Returns [(bytes, how)]."""
        socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(5.0)
            s.connect(("127.0.0.1", self.port))
            socks.append(s)
        try:
            with Probe(self.port) as probe:
                before = self.server.log().count("timeout-write (the client stopped")
                for s in socks:
                    s.sendall(build_request("GET", path))
                # The slow readers read nothing until the server says it
                # dropped each of them (timeout-write 1 s): a wait derived
                # from the server, not from the clock, so a loaded machine
                # only makes it longer.
                dropped = lambda: self.server.log().count(
                    "timeout-write (the client stopped") - before >= n
                self.assertTrue(wait_until(dropped, 60.0), "slow readers never dropped: "
                                + self.server.log()[-2000:])
                out = [read_until_close(s, 10.0) for s in socks]
            self.assertProbesOK(probe)
            return out
        finally:
            for s in socks:
                s.close()

    def test_slow_reader_dropped(self):
        """32 MiB buffered response, the client never reads: dropped after
        timeout-write, so reading later yields far less, then the end."""
        size = 32 << 20
        for data, how in self.slow_readers("/blob?size=%d" % size):
            self.assertIn(how, ("closed", "reset"), "slow reader not dropped (%d bytes read)"
                          % len(data))
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:100])
            self.assertLess(len(data), size, "the whole body arrived: the server never dropped it")

    def test_slow_reader_streamed_dropped(self):
        """The same with a streamed (chunked) response: the handler thread
        blocked in sp_stream_write must be released too; the probe proves
        the worker still serves."""
        size = 32 << 20
        for data, how in self.slow_readers("/blob?size=%d&mode=stream" % size):
            self.assertIn(how, ("closed", "reset"), "slow reader not dropped (%d bytes read)"
                          % len(data))
            self.assertLess(len(data), size, "the whole body arrived: the server never dropped it")
        # All 4 handler threads must be free again: 4 slow requests at once.
        ts, results = [], []
        for i in range(4):
            t = threading.Thread(target=lambda i=i: results.append(
                get(self.port, "/hello?name=t%d" % i, timeout=5.0).status))
            t.start()
            ts.append(t)
        for t in ts:
            t.join(10)
        self.assertEqual(results, [200] * 4)

    def test_slowhttptest_if_installed(self):
        tool = shutil.which("slowhttptest")
        if tool is None:
            self.skipTest("slowhttptest not installed (Debian package slowhttptest)")
        with Probe(self.port) as probe:
            try:
                subprocess.run([tool, "-H", "-c", "100", "-r", "50", "-i", "0.2", "-l", "6",
                                "-u", "http://127.0.0.1:%d/hello" % self.port, "-p", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.assertProbesOK(probe)


if __name__ == "__main__":
    unittest.main()
