"""Resource exhaustion (TESTING.md cases 10 and 19, issue 4): running out
of descriptors, max-connections, and memory that stays flat over many
requests.  Timings are generous bounds only."""

import os
import resource
import shutil
import socket
import subprocess
import time
import unittest

from spindle_harness import (BIN, WAIT, Conn, Server, ServerCase, _die_with_parent, build_request,
                             connect, default_config, get, raw_ex, rss_kib, skip_if_sanitized,
                             wait_until)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of pid from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read().decode("latin-1")
    rest = data[data.rfind(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def nofile_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return line.split()[3:5]
    return None


class PrlimitServer(Server):
    """Server started as `prlimit --nofile=N:N -- spindle ...` (prlimit
    execs spindle, so the pid is the master's; workers inherit the limit)."""

    def __init__(self, *a, nofile=256, **kw):
        super().__init__(*a, **kw)
        self.nofile = nofile

    def start(self):
        self.write_config()
        self._logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile), "--", BIN, self.ini]
            + self.args, stdin=subprocess.DEVNULL, stdout=self._logf, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.dir, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self


def open_many(port, n, budget):
    """Up to n connections (as many as succeed within budget seconds)."""
    socks = []
    deadline = time.monotonic() + budget
    failures = 0
    for _ in range(n):
        if time.monotonic() > deadline or failures >= 20:
            break
        try:
            socks.append(connect(port, timeout=1.0))
        except OSError:
            failures += 1
    return socks


@unittest.skipUnless(shutil.which("prlimit"), "prlimit (util-linux) not installed")
class FdExhaustion(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 1200 if hard == resource.RLIM_INFINITY else min(hard, 1200)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))

    def test_1000_connections_under_256_fds(self):
        server = PrlimitServer(default_config(("hello",), processes=1, threads=2), nofile=256)
        self.addCleanup(server.cleanup)
        server.start()
        [worker] = server.workers()
        self.assertEqual(nofile_limit(worker), ["256", "256"], "prlimit did not reach the worker")
        socks = open_many(server.port, 1000, 30.0)
        try:
            self.assertGreater(len(socks), 300, "could open only %d connections" % len(socks))
            # Let the worker reach EMFILE, then watch it for 2 s.
            self.assertTrue(wait_until(lambda: "Too many open files" in server.log(), WAIT),
                            "the worker never ran out of descriptors; log:\n" + server.log()[-2000:])
            time.sleep(0.5)
            cpu0 = cpu_seconds(worker)
            time.sleep(2.0)
            cpu1 = cpu_seconds(worker)
            self.assertEqual(server.workers(), [worker],
                             "the worker died under EMFILE; log:\n" + server.log()[-2000:])
            self.assertLess(cpu1 - cpu0, 0.5, "the worker used %.2fs of CPU in 2s while out of "
                            "descriptors (busy loop?)" % (cpu1 - cpu0))
        finally:
            for s in socks:
                s.close()

        def served():
            try:
                return get(server.port, "/", timeout=2.0, headers=[("Connection", "close")]).status == 200
            except (OSError, AssertionError):
                return False
        self.assertTrue(wait_until(served, WAIT, 0.2), "no 200 after the connections "
                        "closed; log:\n" + server.log()[-2000:])
        self.assertEqual(server.workers(), [worker])


class MaxConnections(ServerCase):
    config = default_config(("hello", "tm:blob"), processes=1, threads=2, max_connections=20)

    def test_21st_waits_while_20_idle_held(self):
        """20 connections that never sent a request: the 21st waits in the
        backlog and is served once some of them close."""
        held = [connect(self.port, 5.0) for _ in range(20)]
        try:
            time.sleep(0.3)  # let the worker accept all 20
            extra = connect(self.port, 5.0)
            held.append(extra)
            extra.sendall(build_request("GET", "/hello?name=extra"))
            extra.settimeout(1.5)
            try:
                early = extra.recv(4096)
            except socket.timeout:
                early = None
            self.assertIsNone(early, "the 21st connection was served while 20 were held")
            for s in held[:5]:
                s.close()
            extra.settimeout(5.0)
            data = extra.recv(4096)
            self.assertTrue(b"Hello, extra!" in data, "21st not answered: %r" % data[:200])
        finally:
            for s in held:
                s.close()

    def test_21st_waits_until_one_closes(self):
        """The same when the 20 held connections have each been served one
        request (keep-alive, now idle): a finished request must not turn
        accepting back on past max-connections.  The held requests get 4 MB
        answers the client does not read at first, so a handler thread
        cannot finish them itself: they go back to the IO loop (the
        worker's on_done) while all 20 connections are open."""
        held = []
        try:
            conns = [Conn(self.port, 10.0) for _ in range(20)]
            held.extend(c.sock for c in conns)
            for c in conns:
                c.send(build_request("GET", "/blob?size=4000000"))
            time.sleep(0.5)  # not reading yet: the IO loop must finish the writes
            for i, c in enumerate(conns):
                r = c.read_response(timeout=10.0)
                self.assertEqual((r.status, len(r.body)), (200, 4000000), "held %d" % i)
            extra = connect(self.port, 5.0)  # completes in the kernel's backlog
            held.append(extra)
            extra.sendall(build_request("GET", "/hello?name=extra"))
            extra.settimeout(1.5)
            try:
                early = extra.recv(4096)
            except socket.timeout:
                early = None
            self.assertIsNone(early, "the 21st connection was served while 20 were held: %r"
                              % (early,))
            for s in held[:5]:
                s.close()
            extra.settimeout(5.0)
            data = extra.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 ") and b"Hello, extra!" in data,
                            "21st not answered after held connections closed: %r" % data[:200])
        finally:
            for s in held:
                s.close()


class MemoryFlat(ServerCase):
    config = default_config(("hello", "echo"), processes=1, threads=4, limit_body=2048,
                            max_keepalive_requests=0)

    # 100,000 pipelined keep-alive requests took about 2 s here (4
    # connections, 100 in flight on each), well under the 30 s the issue
    # allows, so the full count from issue 4 is used.
    HELLO_REQUESTS = 100000
    CONNS = 4
    BATCH = 100
    # A pooled request state with these buffers is about 12 KiB: the pool's
    # cap of 256 would be 3 MiB; the connections themselves 100 KiB.
    BURST = 400
    BURST_LIMIT_KIB = 1024

    def rejects(self, n):
        req = build_request("POST", "/echo", [("Content-Length", "100000")])
        for i in range(n):
            data, how = raw_ex(self.port, req, 2.0)
            self.assertTrue(data.startswith(b"HTTP/1.1 413 ") and how == "closed",
                            "reject %d: %r (%s)" % (i, data[:100], how))

    def hellos(self, total):
        """total GET /hello over CONNS keep-alive connections, BATCH pipelined
        at a time; every answer must be a 200."""
        req = build_request("GET", "/hello?name=m")
        answer = b"HTTP/1.1 200 "
        conns = [connect(self.port, 5.0) for _ in range(self.CONNS)]
        try:
            done = 0
            for _ in range(total // (self.BATCH * self.CONNS) + 1):
                if done >= total:
                    break
                for s in conns:
                    s.sendall(req * self.BATCH)
                for s in conns:
                    buf = b""
                    deadline = time.monotonic() + 10.0
                    for _ in range(100000):
                        if buf.count(b"Hello, m!") >= self.BATCH or time.monotonic() > deadline:
                            break
                        b = s.recv(1 << 20)
                        if not b:
                            break
                        buf += b
                    self.assertEqual(buf.count(answer), self.BATCH, "batch at %d: %r"
                                     % (done, buf[-300:]))
                    self.assertEqual(buf.count(b"HTTP/1.1 "), self.BATCH)
                    done += self.BATCH
        finally:
            for s in conns:
                s.close()

    @skip_if_sanitized
    def test_burst_request_state_given_back(self):
        """BURST requests in progress at once each take a request state; the
        answers put them in the worker's pool, and the pool gives back what
        nothing used again within a second or two, while every connection
        stays open."""
        [w] = self.server.workers()
        self.hellos(4000)
        base = rss_kib(w)
        req = build_request("GET", "/hello?name=b", [("X-Pad", "p" * 3000)])
        conns = [Conn(self.port) for _ in range(self.BURST)]
        try:
            for c in conns:  # every head begun: every connection holds its state
                c.sock.sendall(req[:-2])
            time.sleep(0.5)
            for c in conns:
                c.sock.sendall(req[-2:])
            for i, c in enumerate(conns):
                r = c.read_response(timeout=10.0)
                self.assertEqual((r.status, r.body), (200, b"Hello, b!"), "connection %d" % i)
            peak = rss_kib(w)
            settled = wait_until(lambda: rss_kib(w) - base < self.BURST_LIMIT_KIB
                                 and rss_kib(w), 10.0)
            print("RSS KiB: base %d, %d requests at once %d, settled %s"
                  % (base, self.BURST, peak, settled or rss_kib(w)))
            self.assertTrue(settled, "RSS %d KiB above the base %d s after a burst of %d "
                            "(peak +%d)" % (rss_kib(w) - base, 10, self.BURST, peak - base))
            for c in conns:  # still open, and served
                c.sock.sendall(build_request("GET", "/hello?name=c"))
                self.assertEqual(c.read_response(timeout=10.0).status, 200)
        finally:
            for c in conns:
                c.sock.close()

    @skip_if_sanitized
    def test_rss_flat_after_rejects_and_keepalive_requests(self):
        [w] = self.server.workers()
        self.rejects(100)  # warm-up: arenas, buffers, thread stacks
        self.hellos(4000)
        base = rss_kib(w)
        self.rejects(1000)
        after_rejects = rss_kib(w)
        t0 = time.monotonic()
        self.hellos(self.HELLO_REQUESTS)
        spent = time.monotonic() - t0
        after_hellos = rss_kib(w)
        self.assertEqual(self.server.workers(), [w])
        limit = 8 * 1024
        self.assertLess(after_rejects - base, limit, "RSS grew %d KiB over 1000 413s"
                        % (after_rejects - base))
        self.assertLess(after_hellos - base, limit, "RSS grew %d KiB over %d keep-alive requests "
                        "(%.1fs)" % (after_hellos - base, self.HELLO_REQUESTS, spent))
        print("RSS KiB: base %d, after 1000 413s %d, after %d hellos %d (%.1fs)"
              % (base, after_rejects, self.HELLO_REQUESTS, after_hellos, spent))


if __name__ == "__main__":
    unittest.main()
