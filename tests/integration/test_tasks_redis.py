"""tasks-backend = redis://: two spindle instances share one queue and one
state store (a real redis-server on a free loopback port, started and
stopped here)."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from spindle_harness import _die_with_parent, free_port, wait_until
from test_tasks import config, start, submit, task, wait_task

REDIS = shutil.which("redis-server")


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@unittest.skipUnless(REDIS, "redis-server is not installed (scripts/dev.sh setup)")
class SharedQueue(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-redis-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.rport = free_port()
        self.redis = subprocess.Popen(
            [REDIS, "--port", str(self.rport), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.addCleanup(self.stop_redis)
        self.assertTrue(wait_until(lambda: redis_ping(self.rport), 10), "redis did not start")
        self.out = os.path.join(self.dir, "runs.txt")

    def stop_redis(self):
        self.redis.terminate()
        try:
            self.redis.wait(5)
        except subprocess.TimeoutExpired:
            self.redis.kill()
            self.redis.wait(5)

    def instance(self, cron=None):
        cfg = config({"tasks-backend": "redis://127.0.0.1:%d/3" % self.rport, "spoolers": 2},
                     cron=cron, module_conf={"file": self.out})
        s = start(cfg)
        self.addCleanup(s.cleanup)
        return s

    def test_tasks_run_once_on_any_instance_and_results_read_from_all(self):
        a, b = self.instance(), self.instance()
        ids = []
        for i in range(30):
            s = (a, b)[i % 2]
            r = submit(s.port, "append", spool=True)
            self.assertEqual(r.status, 202, r)
            ids.append(r.body.decode())
        for i, task_id in enumerate(ids):  # polled on the other instance
            other = (b, a)[i % 2]
            self.assertEqual(wait_task(other.port, task_id, ("done", "failed"))["state"], "done")
        with open(self.out) as f:
            runs = [line.split() for line in f]
        self.assertEqual(sorted(r[0] for r in runs), sorted(ids))  # each ran exactly once
        # in-process task states are shared too
        r = submit(a.port, "echo", b"from a")
        self.assertEqual(wait_task(b.port, r.body.decode(), ("done",))["result"], "from a")

    def test_a_task_whose_spooler_crashes_is_retried_then_failed(self):
        a = self.instance()
        task_id = submit(a.port, "crash", spool=True).body.decode()
        j = wait_task(a.port, task_id, ("failed",))
        self.assertEqual(j["attempts"], 4)  # task-retries = 3, the default
        self.assertIn("gave up after 4 attempts", j["error"])

    def test_instances_with_the_same_cron_line_fire_each_due_time_once(self):
        line = "* * * * * * task_jobs:cron_append\n"  # every second
        a, b = self.instance(cron=line), self.instance(cron=line)
        self.assertTrue(wait_until(lambda: len(self.runs()) >= 4, 15), a.log() + b.log())
        self.assertEqual(a.stop(), 0)
        self.assertEqual(b.stop(), 0)
        fired = {}
        for s in (a, b):
            for at, task_id in re.findall(r"due at (\S+): task ([0-9a-f]+)", s.log()):
                self.assertNotIn(at, fired, "fired twice:\n" + a.log() + b.log())
                fired[at] = task_id
        # both ran through the same seconds; each second went to one of them
        self.assertGreaterEqual(len(fired), 4)
        ran = [r[0] for r in self.runs()]
        self.assertEqual(len(ran), len(set(ran)))
        self.assertLessEqual(set(ran), set(fired.values()))

    def runs(self):
        if not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            return [line.split() for line in f]


if __name__ == "__main__":
    unittest.main()
