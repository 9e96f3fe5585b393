"""Supervision: crashes, kill -9, crash loops with backoff, harakiri.
(docs/operations.md, TESTING.md cases 17, 18, 20)"""

import os
import re
import signal
import threading
import time
import unittest

from ops_load import Load, stats
from spindle_harness import (WAIT, Server, ServerFailed, default_config, free_port, get,
                             skip_if_sanitized, wait_until)


class KillAndCrash(unittest.TestCase):
    def test_kill9_loses_only_that_workers_requests(self):
        cfg = default_config(("hello",), processes=3, threads=2)
        with Server(cfg) as s:
            # all three must be up, or a late third could pass for the replacement
            self.assertTrue(wait_until(lambda: len(s.workers()) == 3, WAIT), s.log())
            before = s.workers()
            load = Load(s.port, threads=4, max_each=200000).start()
            self.assertTrue(load.wait_ok(50))
            victim = before[0]
            os.kill(victim, signal.SIGKILL)
            replaced = wait_until(lambda: len(s.workers()) == 3 and victim not in s.workers(), WAIT)
            self.assertTrue(replaced, s.log())
            n = load.ok
            self.assertTrue(load.wait_ok(n + 50))
            load.stop()
            # hello answers in microseconds: at most each client's one
            # in-flight request on the victim can fail.
            self.assertLessEqual(len(load.failures), 4, load.failures)
            self.assertTrue(wait_until(lambda: "killed by signal 9" in s.log(), WAIT), s.log())

    @skip_if_sanitized
    def test_segfault_names_worker_signal_and_route(self):
        cfg = default_config(("tm:crash",), processes=2, threads=2)
        with Server(cfg, probe="/ok") as s:
            with self.assertRaises(Exception):
                get(s.port, "/crash", timeout=5)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 2, WAIT))
            line = wait_until(lambda: re.search(r"worker \d+ \(pid \d+\) killed by signal 11 "
                                                r"\(Segmentation fault\) while running GET "
                                                r"/crash \(thread \d+", s.log()), 5)
            self.assertTrue(line, s.log())
            for _ in range(10):
                self.assertEqual(get(s.port, "/ok").status, 200)

    @skip_if_sanitized
    def test_crash_in_init_worker_logs_the_stack(self):
        cfg = default_config(("tm:crash_at_load",), processes=1, threads=1, respawn_limit=1)
        s = Server(cfg, probe=None, wait_workers=False)
        try:
            try:
                s.start()
            except ServerFailed:
                pass
            if s.proc is not None:
                s.wait_exit(30)
            log = s.log()
            self.assertRegex(log, r"crash:   #00 \S*/crash_at_load\.so: setup\+0x", log)
            self.assertIn("spindle: sp__app_load+", log)
        finally:
            s.cleanup()

    @skip_if_sanitized
    def test_crash_at_load_backs_off_and_gives_up(self):
        cfg = default_config(("tm:crash_at_load",), processes=2, threads=1, respawn_limit=4)
        s = Server(cfg, probe=None, wait_workers=False)
        try:
            try:
                s.start()  # the port is bound; no worker ever gets ready
            except ServerFailed:
                pass  # or the master already gave up
            rc = s.returncode if s.proc is None else s.wait_exit(30)
            log = s.log()
            self.assertNotIn(rc, (0, None), log)
            self.assertIn("giving up: 4 workers in a row died", log)
            deaths = len(re.findall(r"killed by signal 11", log))
            # 2 first workers, then respawns until 4 deaths in a row: bounded.
            self.assertGreaterEqual(deaths, 4, log)
            self.assertLessEqual(deaths, 4 + 2, log)
        finally:
            s.cleanup()


class Harakiri(unittest.TestCase):
    def test_stuck_thread_is_logged_and_worker_replaced_sibling_finishes(self):
        cfg = default_config(("hello", "tm:slow"), processes=1, threads=2, harakiri=1,
                             harakiri_mercy=6, stats="127.0.0.1:%d" % free_port())
        with Server(cfg) as s:
            old = s.workers()
            results = {}

            def call(name, ms):
                try:
                    results[name] = get(s.port, "/slow?ms=%d" % ms, timeout=15).status
                except Exception as e:  # noqa: BLE001
                    results[name] = repr(e)

            stuck = threading.Thread(target=call, args=("stuck", 20000))
            stuck.start()
            time.sleep(0.3)  # the sibling starts second, on the same worker's other thread
            sibling = threading.Thread(target=call, args=("sibling", 2500))
            sibling.start()
            logged = wait_until(lambda: re.search(r"harakiri: worker 1 \(pid %d\) thread \d has run "
                                                  r"GET /slow for \d+ ms" % old[0], s.log()), 5)
            self.assertTrue(logged, s.log())
            # the replacement is up while the old worker is still finishing
            self.assertTrue(wait_until(lambda: any(p not in old for p in s.workers()), WAIT))
            self.assertEqual(get(s.port, "/").status, 200)
            sibling.join(15)
            self.assertEqual(results.get("sibling"), 200, s.log())
            stuck.join(15)
            self.assertNotEqual(results.get("stuck"), 200)
            self.assertTrue(wait_until(lambda: old[0] not in s.workers(), WAIT), s.log())
            port = int(cfg["server"]["stats"].rsplit(":", 1)[1])
            self.assertEqual(stats(port)["harakiri_total"], 1)


if __name__ == "__main__":
    unittest.main()
