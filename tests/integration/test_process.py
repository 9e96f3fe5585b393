"""Process shape: one master that serves nothing, `processes` workers with
`threads + 2` threads each (handler threads, the main thread, the IO
loop's watch), process titles, CLI overriding the ini."""

import os
import signal
import unittest

from spindle_harness import (WAIT, Conn, Server, ServerCase, build_request, cmdline, connect,
                             default_config, example, get, maps, read_until_close, threads,
                             wait_until, worker_threads)


class ProcessShape(ServerCase):
    config = default_config(("hello",), processes=3, threads=5)

    def test_master_title(self):
        self.assertEqual(cmdline(self.server.pid), "spindle: master")

    def test_worker_count(self):
        self.assertEqual(len(self.server.workers()), 3, self.server.log())

    def test_worker_titles(self):
        titles = sorted(cmdline(p) for p in self.server.workers())
        self.assertEqual(titles, ["spindle: worker 1", "spindle: worker 2", "spindle: worker 3"])

    def test_worker_threads_are_handlers_main_and_watch(self):
        # Handler threads start after init_worker; allow a moment.
        ws = self.server.workers()
        ok = wait_until(lambda: all(threads(p) == worker_threads(5) for p in ws), WAIT)
        self.assertTrue(ok, {p: threads(p) for p in ws})

    def test_workers_have_no_children(self):
        from spindle_harness import children
        for p in self.server.workers():
            self.assertEqual(children(p), [], "worker %d forked" % p)

    def test_master_loads_no_handler_module(self):
        # The master never dlopen()s handler modules (no preload here);
        # workers do, from a private copy named after the file.
        hello = "/memfd:hello.so "
        self.assertNotIn(hello, maps(self.server.pid))
        self.assertNotIn(os.path.realpath(example("hello")), maps(self.server.pid))
        # A worker counts once it has its title; it loads the modules just
        # after, so look until each one has (bounded), not at one instant.
        for w in self.server.workers():
            self.assertTrue(wait_until(lambda: hello in maps(w), WAIT), maps(w))
        self.assertNotIn(hello, maps(self.server.pid))

    def test_serves(self):
        r = get(self.port, "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"Hello, World!")


class MasterServesNothing(unittest.TestCase):
    """With every worker stopped, nothing answers: the master holds the
    listen socket but never accepts on it.  Once the workers resume, the
    waiting request is served."""

    def test_master_does_not_answer(self):
        with Server(default_config(("hello",), processes=2, threads=2)) as s:
            ws = s.workers()
            self.assertEqual(len(ws), 2)
            for p in ws:
                os.kill(p, signal.SIGSTOP)
            try:
                with connect(s.port, 5.0) as c:
                    c.sendall(build_request("GET", "/", [("Connection", "close")]))
                    data, how = read_until_close(c, 1.0)
                    self.assertEqual((data, how), (b"", "timeout"),
                                     "someone answered while every worker was stopped")
                    for p in ws:
                        os.kill(p, signal.SIGCONT)
                    data, how = read_until_close(c, 5.0)
                    self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
            finally:
                for p in ws:
                    try:
                        os.kill(p, signal.SIGCONT)
                    except ProcessLookupError:
                        pass


class CommandLineOverridesIni(unittest.TestCase):
    def test_cli_processes_and_threads_win(self):
        cfg = default_config(("hello",), processes=1, threads=2)
        with Server(cfg, args=["--processes", "2", "--threads", "3"]) as s:
            ws = s.workers()
            self.assertEqual(len(ws), 2, s.log())
            ok = wait_until(lambda: all(threads(p) == worker_threads(3) for p in ws), WAIT)
            self.assertTrue(ok, {p: threads(p) for p in ws})
            self.assertEqual(get(s.port, "/").status, 200)


class SingleWorker(unittest.TestCase):
    def test_one_process_one_thread(self):
        with Server(default_config(("hello",), processes=1, threads=1)) as s:
            ws = s.workers()
            self.assertEqual(len(ws), 1)
            self.assertEqual(cmdline(ws[0]), "spindle: worker 1")
            self.assertTrue(wait_until(lambda: threads(ws[0]) == worker_threads(1), WAIT),
                            threads(ws[0]))
            # keep-alive connections do not pin the only handler thread:
            # an idle one open while a second client is served.
            with Conn(s.port) as idle:
                r = idle.request("GET", "/")
                self.assertEqual(r.status, 200)
                self.assertEqual(get(s.port, "/").status, 200)
                self.assertEqual(idle.request("GET", "/").status, 200)


if __name__ == "__main__":
    unittest.main()
