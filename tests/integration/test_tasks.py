"""Background tasks: in-process tasks and GET /_tasks/{id} (the crawl demo),
a bounded queue (503 + Retry-After), the durable spooler (kill -9 of the
whole server, a task that crashes its spooler), and [cron]."""

import json
import os
import re
import shutil
import signal
import socketserver
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler

from ops_load import http_get, parse_prometheus, stats
from spindle_harness import (EX_CONFIG, WAIT, Server, cmdline, example, free_port, get, http,
                             run_binary, test_module, wait_until, write_temp_ini)

POLL_LIMIT = 30.0


def config(tasks=None, cron=None, processes=2, module_conf=None):
    cfg = {"server": {"processes": processes, "threads": 2},
           "app": {"module": [example("hello"), example("crawl"), test_module("task_jobs")]},
           "tasks": dict(tasks or {}),
           "module:tasks": {}}
    if cron:
        cfg["cron"] = cron
    if module_conf:
        cfg["module:task_jobs"] = module_conf
    return cfg


def start(cfg):
    """A server whose children are workers and spoolers (not only workers)."""
    s = Server(cfg, wait_workers=False)
    s.start()
    return s


def task(port, task_id):
    r = get(port, "/_tasks/" + task_id)
    assert r.status == 200, r
    return json.loads(r.body)


def wait_task(port, task_id, states, timeout=POLL_LIMIT):
    """Poll until the task's state is one of states; returns the last JSON."""
    last = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = task(port, task_id)
        if last["state"] in states:
            return last
        time.sleep(0.05)
    raise AssertionError("task %s still %r after %ss" % (task_id, last, timeout))


def submit(port, name, payload=b"", spool=False):
    r = http(port, "POST", "/submit/%s%s" % (name, "?spool=1" if spool else ""), body=payload)
    return r


class Gate:
    """A loopback HTTP server whose answers wait for open(): the test decides
    when the crawl's fetches may finish."""

    def __init__(self):
        self.opened = threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                gate.opened.wait(POLL_LIMIT)
                body = b"x" * (100 if self.path == "/a" else 7)
                self.send_response(200 if self.path != "/missing" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.opened.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class InProcess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = start(config({"task-threads": 2}))
        cls.addClassCleanup(cls.server.cleanup)
        cls.port = cls.server.port

    def test_crawl_answers_202_at_once_and_the_result_comes_later(self):
        gate = Gate()
        self.addCleanup(gate.close)
        urls = "http://127.0.0.1:%d/a\nhttp://127.0.0.1:%d/missing\n" % (gate.port, gate.port)
        r = http(self.port, "POST", "/crawl", body=urls.encode())
        # the fetches are held at the gate, so this 202 came before the job finished
        self.assertEqual(r.status, 202, r)
        loc = r.header("Location")
        self.assertRegex(loc, r"^/_tasks/[0-9a-f]{32}$")
        task_id = loc.rsplit("/", 1)[1]
        self.assertEqual(json.loads(r.body)["id"], task_id)
        j = wait_task(self.port, task_id, ("running",))
        self.assertEqual(j["name"], "crawl")
        self.assertNotIn("result", j)
        gate.opened.set()
        j = wait_task(self.port, task_id, ("done", "failed"))
        self.assertEqual(j["state"], "done", j)
        result = j["result"]  # set with sp_task_set_result_json: JSON, not a string holding it
        self.assertIsInstance(result, list, j)
        self.assertEqual([(x["status"], x["bytes"]) for x in result], [(200, 100), (404, 7)])
        self.assertEqual([x["url"] for x in result], urls.split())

    def test_crawl_refuses_other_hosts(self):
        r = http(self.port, "POST", "/crawl", body=b"http://example.com/\n")
        self.assertEqual(r.status, 400)

    def test_any_worker_answers_for_any_task(self):
        r = submit(self.port, "echo", b"hello \x00 bytes\xff")
        self.assertEqual(r.status, 202, r)
        task_id = r.body.decode()
        j = wait_task(self.port, task_id, ("done",))
        self.assertEqual(j["result_base64"], "aGVsbG8gACBieXRlc/8=")
        for _ in range(20):  # new connections: whichever worker accepts, same answer
            self.assertEqual(task(self.port, task_id)["state"], "done")

    def test_a_failing_task_reports_why(self):
        task_id = submit(self.port, "fail").body.decode()
        j = wait_task(self.port, task_id, ("failed",))
        self.assertEqual(j["error"], "failed on purpose")

    def test_unknown_ids_and_names(self):
        self.assertEqual(get(self.port, "/_tasks/" + "0" * 32).status, 404)
        self.assertEqual(get(self.port, "/_tasks/nope").status, 404)
        r = submit(self.port, "no_such_task")
        self.assertEqual(r.status, 409)
        self.assertIn(b"not found", r.body)
        r = submit(self.port, "echo", spool=True)  # no spool configured
        self.assertIn(b"not allowed", r.body)


class QueueFull(unittest.TestCase):
    def test_full_queue_answers_503_with_retry_after(self):
        s = start(config({"task-threads": 1, "task-queue": 1}, processes=1))
        self.addCleanup(s.cleanup)
        first = submit(s.port, "sleep", b"3000").body.decode()
        wait_task(s.port, first, ("running",))
        second = submit(s.port, "sleep", b"10")
        self.assertEqual(second.status, 202)
        self.assertEqual(task(s.port, second.body.decode())["state"], "queued")
        third = submit(s.port, "sleep", b"10")
        self.assertEqual(third.status, 503, third)
        self.assertEqual(third.header("Retry-After"), "1")
        r = http(s.port, "POST", "/crawl", body=b"http://127.0.0.1:1/\n")
        self.assertEqual((r.status, r.header("Retry-After")), (503, "1"))
        wait_task(s.port, second.body.decode(), ("done",))
        self.assertEqual(submit(s.port, "sleep", b"1").status, 202)  # room again


class Expiry(unittest.TestCase):
    def test_results_expire_after_the_ttl(self):
        s = start(config({"task-result-ttl": "1s"}, processes=1))
        self.addCleanup(s.cleanup)
        task_id = submit(s.port, "echo", b"x").body.decode()
        self.assertEqual(wait_task(s.port, task_id, ("done", "expired"))["state"], "done")
        j = wait_task(s.port, task_id, ("expired",), timeout=10)
        self.assertNotIn("result", j)


class Spool(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-spool-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out = os.path.join(self.dir, "runs.txt")

    def cfg(self, **tasks):
        t = {"spool": os.path.join(self.dir, "spool"), "spoolers": 2}
        t.update(tasks)
        return config(t, module_conf={"file": self.out})

    def spoolers(self, s):
        return [p for p in s.workers() if "spooler" in cmdline(p)]

    def test_spoolers_are_supervised_processes(self):
        s = start(self.cfg())
        self.addCleanup(s.cleanup)
        self.assertTrue(wait_until(lambda: len(self.spoolers(s)) == 2, WAIT), s.log())
        victim = self.spoolers(s)[0]
        os.kill(victim, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: len(self.spoolers(s)) == 2 and
                                   victim not in self.spoolers(s), 10), s.log())

    def test_each_spooled_task_runs_once(self):
        s = start(self.cfg())
        self.addCleanup(s.cleanup)
        ids = [submit(s.port, "append", spool=True).body.decode() for _ in range(20)]
        for i in ids:
            self.assertEqual(wait_task(s.port, i, ("done", "failed"))["state"], "done")
        with open(self.out) as f:
            ran = [line.split()[0] for line in f]
        self.assertEqual(sorted(ran), sorted(ids))

    def test_a_spooled_task_survives_kill_9_of_the_whole_server(self):
        s = start(self.cfg())
        task_id = submit(s.port, "sleep", b"1500", spool=True).body.decode()
        queued = submit(s.port, "sleep", b"1", spool=True).body.decode()
        wait_task(s.port, task_id, ("running",))
        os.killpg(s.pid, signal.SIGKILL)  # master, workers and spoolers at once
        s.stop()
        s.cleanup()
        s2 = start(self.cfg())
        self.addCleanup(s2.cleanup)
        j = wait_task(s2.port, task_id, ("done", "failed"))
        self.assertEqual((j["state"], j["result"]), ("done", "slept 1500"), j)
        self.assertEqual(j["attempts"], 1)  # at least once: it ran again after the kill
        self.assertEqual(wait_task(s2.port, queued, ("done",))["result"], "slept 1")

    def test_a_task_that_crashes_its_spooler_is_retried_then_failed(self):
        s = start(self.cfg(**{"task-retries": 2}))
        self.addCleanup(s.cleanup)
        task_id = submit(s.port, "crash", spool=True).body.decode()
        j = wait_task(s.port, task_id, ("failed",))
        self.assertEqual(j["attempts"], 3)
        # signal 11, or an exit code when a sanitizer build catches the SIGSEGV
        self.assertRegex(j["error"], r"^spooler \d \(pid \d+\) (was killed by signal 11 "
                                     r"\(Segmentation fault\)|exited with code \d+) while running it;")
        self.assertIn("gave up after 3 attempts", j["error"])
        self.assertEqual(len(re.findall(r"retry \d of 2", s.log())), 2, s.log())
        # the spoolers are back and still run other tasks
        ok = submit(s.port, "echo", b"after", spool=True).body.decode()
        self.assertEqual(wait_task(s.port, ok, ("done",))["result"], "after")


class SpoolerStats(unittest.TestCase):
    def test_stats_show_each_spooler_and_the_spool_queue(self):
        d = tempfile.mkdtemp(prefix="spindle-spool-")
        self.addCleanup(shutil.rmtree, d, True)
        sport = free_port()
        cfg = config({"spool": os.path.join(d, "spool"), "spoolers": 2})
        cfg["server"]["stats"] = "127.0.0.1:%d" % sport
        s = start(cfg)
        self.addCleanup(s.cleanup)

        def spoolers():
            return {p["id"]: p for p in stats(sport)["spoolers"]}

        self.assertTrue(wait_until(lambda: [p["state"] for p in spoolers().values()]
                                   == ["running"] * 2, 15), stats(sport))
        first = spoolers()
        self.assertEqual(sorted(first), [1, 2])
        for p in first.values():
            with open("/proc/%d/cmdline" % p["pid"], "rb") as f:
                self.assertIn(b"spindle: spooler %d" % p["id"], f.read())
            self.assertGreater(p["rss_kib"], 0)
            self.assertEqual(p["respawns"], 0)
        self.assertEqual(stats(sport)["spool_queue"], 0)
        # two tasks run, two wait in queue/
        for _ in range(4):
            self.assertEqual(submit(s.port, "sleep", b"3000", spool=True).status, 202)
        self.assertTrue(wait_until(lambda: stats(sport)["spool_queue"] == 2, WAIT), stats(sport))
        _, samples = parse_prometheus(http_get("127.0.0.1", sport, "/metrics")[1])
        values = {name: v for name, labels, v in samples}
        self.assertEqual(values["spindle_spoolers"], 2)
        self.assertEqual(values["spindle_spool_queue"], 2)
        # a killed spooler shows up again, respawned
        os.kill(first[1]["pid"], signal.SIGKILL)
        self.assertTrue(wait_until(lambda: spoolers()[1]["respawns"] == 1
                                   and spoolers()[1]["state"] == "running", 15), stats(sport))
        self.assertNotEqual(spoolers()[1]["pid"], first[1]["pid"])
        self.assertEqual(spoolers()[2]["pid"], first[2]["pid"])


class Cron(unittest.TestCase):
    def test_a_seconds_line_fires_on_time_once_per_due_time(self):
        d = tempfile.mkdtemp(prefix="spindle-cron-")
        self.addCleanup(shutil.rmtree, d, True)
        out = os.path.join(d, "runs.txt")
        spool = os.path.join(d, "spool")
        s = start(config({"spoolers": 2, "spool": spool},
                         cron="*/2 * * * * * task_jobs:cron_append\n", processes=4,
                         module_conf={"file": out}))
        self.addCleanup(s.cleanup)

        def runs():
            with open(out) if os.path.exists(out) else open(os.devnull) as f:
                return [line.split() for line in f]

        self.assertTrue(wait_until(lambda: len(runs()) >= 3, 60), s.log())
        self.assertEqual(s.stop(), 0)
        due = re.findall(r"cron: .* due at (\S+): task ([0-9a-f]+)", s.log())
        fired = [task_id for _, task_id in due]
        left = os.listdir(os.path.join(spool, "queue"))  # fired as the server stopped
        ran = runs()
        # every fire ran once, or is still spooled: none lost, none doubled
        self.assertEqual(sorted([r[0] for r in ran] + [n.split("-")[1] for n in left]),
                         sorted(fired), s.log())
        # due on even seconds (not odd ones, not every tick), each fired once;
        # how long after its due time a run starts depends on the machine
        at = [a for a, _ in due]  # 2026-12-05T19:33:34Z
        self.assertEqual([int(a[-3:-1]) % 2 for a in at], [0] * len(at), s.log())
        self.assertEqual(len(at), len(set(at)), s.log())

    def test_catchup_runs_a_missed_line_once_for_the_time_it_missed(self):
        d = tempfile.mkdtemp(prefix="spindle-cron-")
        self.addCleanup(shutil.rmtree, d, True)
        out, spool = os.path.join(d, "runs.txt"), os.path.join(d, "spool")
        line = "0 3 1 jan * task_jobs:cron_append"  # yearly
        os.makedirs(spool)
        with open(os.path.join(spool, "cron-state"), "w") as f:
            f.write("1577847600\t%s\n" % line)  # it last ran 2020-01-01 03:00 UTC
        cfg = config({"spool": spool, "cron-catchup": "true"}, cron=line + "\n",
                     module_conf={"file": out})
        s = start(cfg)
        self.addCleanup(s.cleanup)
        self.assertTrue(wait_until(lambda: os.path.exists(out), WAIT), s.log())
        self.assertEqual(s.stop(), 0)
        # the first time missed, not every one since, and not "now"
        self.assertEqual(len(re.findall(r"due at 2021-01-01T03:00:00Z: task ", s.log())), 1,
                         s.log())
        # caught up: the next start has nothing left to run
        s = start(cfg)
        self.addCleanup(s.cleanup)
        time.sleep(1)  # ten ticks of the master's loop
        self.assertEqual(s.stop(), 0)
        self.assertNotIn("due at", s.log())
        with open(out) as f:
            self.assertEqual(len(f.readlines()), 1)

    def test_bad_cron_lines_are_config_errors_with_file_and_line(self):
        cases = [("61 * * * * task_jobs:cron_append", "minute: '61' is out of range (0-59)"),
                 ("* * * * task_jobs:cron_append", "expected MIN HOUR DOM MON DOW"),
                 ("0 0 30 feb * task_jobs:cron_append", "never falls in the given months"),
                 ("* * * * * nocolon", "'nocolon' is not module:function")]
        for line, want in cases:
            ini = write_temp_ini("[server]\nlisten = 127.0.0.1:1\n\n[cron]\n%s\n" % line)
            self.addCleanup(shutil.rmtree, os.path.dirname(ini), True)
            for args in (["-t", ini], [ini]):
                rc, out, err = run_binary(args)
                out += err
                self.assertEqual(rc, EX_CONFIG, out)
                self.assertIn("server.ini:5: cron: ", out)
                self.assertIn(want, out)


if __name__ == "__main__":
    unittest.main()
