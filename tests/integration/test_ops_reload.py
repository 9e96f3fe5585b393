"""Reloads and recycling under load lose no request: HUP, chain reload,
max-requests, max-worker-lifetime; touch-reload; TTIN/TTOU.
(docs/operations.md, TESTING.md case 17)"""

import os
import re
import signal
import time
import unittest

from ops_load import KeepAliveLoad, Load
from spindle_harness import WAIT, Server, default_config, wait_until


def gone_all(s, old):
    return lambda: s.workers() and not set(old) & set(s.workers())


class ReloadUnderLoad(unittest.TestCase):
    def run_reload(self, mode, trigger):
        cfg = default_config(("hello",), processes=3, threads=2, reload_mode=mode)
        with Server(cfg) as s:
            old = s.workers()
            load = Load(s.port, threads=4, max_each=200000).start()
            self.assertTrue(load.wait_ok(50))
            trigger(s)
            self.assertTrue(wait_until(gone_all(s, old), WAIT), s.log())
            n = load.ok
            self.assertTrue(load.wait_ok(n + 50))
            load.stop()
            self.assertEqual(load.failures, [], s.log()[-3000:])
            self.assertEqual(len(s.workers()), 3)
            return s.log()

    def test_hup_all_loses_nothing(self):
        log = self.run_reload("all", lambda s: s.signal(signal.SIGHUP))
        self.assertIn("reloading (all)", log)

    def test_chain_reload_loses_nothing(self):
        log = self.run_reload("chain", lambda s: s.signal(signal.SIGHUP))
        self.assertIn("reloading (chain)", log)
        self.assertIn("reload done", log)

    def test_touch_reload(self):
        cfg = default_config(("hello",), processes=2, threads=2)
        with Server(cfg) as s:
            touch = os.path.join(s.dir, "touch-me")
            open(touch, "w").close()
            cfg["server"]["touch-reload"] = touch
            s.reload(cfg)  # start watching it
            self.assertTrue(wait_until(lambda: "reload done" in s.log(), WAIT), s.log())
            old = s.workers()
            time.sleep(1.5)  # the watcher has read the first mtime
            os.utime(touch, (time.time() + 5, time.time() + 5))
            self.assertTrue(wait_until(lambda: "touch-me changed: reloading" in s.log(), WAIT),
                            s.log())
            self.assertTrue(wait_until(gone_all(s, old), WAIT), s.log())


class Recycling(unittest.TestCase):
    def test_max_requests_recycles_without_losing_requests(self):
        cfg = default_config(("hello",), processes=2, threads=2, max_requests=100,
                             max_requests_jitter=20)
        with Server(cfg) as s:
            old = s.workers()
            load = Load(s.port, threads=4, max_each=250).start()
            load.join(60)
            self.assertEqual(load.failures, [], s.log()[-3000:])
            self.assertEqual(load.ok, 1000)
            self.assertIn("max-requests reached", s.log())
            self.assertIn("recycling worker", s.log())
            self.assertTrue(wait_until(lambda: len(s.workers()) == 2, WAIT))
            self.assertTrue(set(s.workers()) - set(old), s.log())

    def recycled_under_load(self, **recycle):
        """One worker recycled for `recycle` while two clients keep asking:
        the first worker is replaced and no request fails.  The log."""
        cfg = default_config(("hello",), processes=1, threads=2, **recycle)
        with Server(cfg) as s:
            old = s.workers()
            load = Load(s.port, threads=2, max_each=200000).start()
            self.assertTrue(wait_until(gone_all(s, old), WAIT), s.log())
            n = load.ok
            self.assertTrue(load.wait_ok(n + 20), (n, load.ok, load.failures, s.log()))
            load.stop()
            self.assertEqual(load.failures, [], s.log()[-3000:])
            return s.log()

    def test_max_worker_lifetime(self):
        self.assertIn("max-worker-lifetime reached", self.recycled_under_load(max_worker_lifetime=2))

    def test_reload_on_rss(self):
        # Every worker is over 1 MiB at once, so each is recycled within a
        # second or two of its start.
        log = self.recycled_under_load(reload_on_rss=1)
        mib = [int(m) for m in re.findall(r"reload-on-rss: (\d+) MiB resident", log)]
        self.assertTrue(mib, log)
        self.assertGreater(min(mib), 1)


# ---- keep-alive clients across every way of retiring a worker -----------------------

# Requests per case: 100k in an optimised build; sanitizer builds run the
# same cases with fewer (the server is several times slower there).
KEEPALIVE_TOTAL = 20000 if os.environ.get("SPINDLE_SANITIZE") else 100000


class KeepAliveNothingLost(unittest.TestCase):
    """8 keep-alive clients send back to back while workers are retired:
    not one request fails (issue: a retiring worker closed a reused
    connection whose next request was already on its way).  Each case
    prints its "0 of N"."""

    def run_case(self, name, trigger=None, processes=2, **server):
        """Keep the clients going until the first workers are retired (by
        trigger, or by the recycling setting) and at least KEEPALIVE_TOTAL
        requests are answered; then no request may have failed."""
        cfg = default_config(("hello",), processes=processes, threads=4, **server)
        with Server(cfg) as s:
            first = s.workers()
            load = KeepAliveLoad(s.port, "/", clients=8, total=KEEPALIVE_TOTAL * 50).start()
            try:
                self.assertTrue(load.wait_ok(2000), (load.ok, load.failures, s.log()[-2000:]))
                if trigger:
                    trigger(s)
                else:
                    self.assertTrue(wait_until(lambda: set(first) - set(s.workers()), 60),
                                    "no worker was recycled: " + s.log()[-2000:])
                self.assertTrue(load.wait_ok(KEEPALIVE_TOTAL, 600), (load.ok, load.failures))
            finally:
                load.stop()
            retired = len(set(first) - set(s.workers()))
            print("%s: %d failed of %d requests (%d reconnects, %d of %d first workers retired)"
                  % (name, len(load.failures), load.ok + len(load.failures), load.reconnects,
                     retired, len(first)))
            self.assertEqual(load.failures[:10], [], s.log()[-3000:])
            self.assertGreater(retired, 0, "no worker was retired: " + s.log()[-2000:])
            return s

    def test_hup(self):
        def trigger(s):
            for _ in range(3):
                old = s.workers()
                s.signal(signal.SIGHUP)
                self.assertTrue(wait_until(gone_all(s, old), 30), s.log())
        self.run_case("HUP x3", trigger)

    def test_chain_reload(self):
        def trigger(s):
            old = s.workers()
            s.signal(signal.SIGHUP)
            self.assertTrue(wait_until(gone_all(s, old), 30), s.log())
        self.run_case("chain reload", trigger, reload_mode="chain")

    def test_ttou(self):
        def trigger(s):
            s.signal(signal.SIGTTOU)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 2, 30), s.log())
        self.run_case("TTOU", trigger, processes=3)

    def test_max_requests(self):
        self.run_case("max-requests", max_requests=KEEPALIVE_TOTAL // 8)

    def test_max_worker_lifetime(self):
        self.run_case("max-worker-lifetime", max_worker_lifetime=2)

    def test_reload_on_rss(self):
        self.run_case("reload-on-rss", reload_on_rss=1)


class WorkerCount(unittest.TestCase):
    def test_ttin_ttou(self):
        with Server(default_config(("hello",), processes=2, threads=1)) as s:
            s.signal(signal.SIGTTIN)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 3, WAIT), s.log())
            s.signal(signal.SIGTTIN)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 4, WAIT), s.log())
            s.signal(signal.SIGTTOU)
            self.assertTrue(wait_until(lambda: len(s.workers()) == 3, WAIT), s.log())
            self.assertEqual(s.url_get("/").status, 200)



class ReloadSizes(unittest.TestCase):
    """The scoreboard is sized at start: a reload asking for more workers or
    threads than it holds is refused with the reason, and the running
    workers keep serving; one that fits goes through."""

    def test_too_many_is_refused_and_what_fits_reloads(self):
        cfg = default_config(("hello",), processes=2, threads=2)
        with Server(cfg) as s:
            old = set(s.workers())
            for key, value, says in (("processes", 30, r"reload refused: processes = 30: "
                                      r"with the 2 running, that is 32 workers at once"),
                                     ("threads", 200, r"reload refused: threads = 200: this "
                                      r"master watches at most \d+ threads per worker")):
                bigger = default_config(("hello",), processes=2, threads=2)
                bigger["server"][key] = value
                s.reload(bigger)
                self.assertTrue(wait_until(lambda: re.search(says, s.log()), WAIT), s.log())
                self.assertEqual(set(s.workers()), old)
                self.assertEqual(s.url_get("/").status, 200)
            s.reload(default_config(("hello",), processes=4, threads=16))
            self.assertTrue(wait_until(lambda: len(s.workers()) == 4 and
                                       not old & set(s.workers()), 15), s.log())
            self.assertEqual(s.url_get("/").status, 200)

if __name__ == "__main__":
    unittest.main()
