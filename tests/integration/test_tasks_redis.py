"""tasks-backend = redis://: two spindle instances share one queue and one
state store (a real redis-server on a free loopback port, started and
stopped here)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from spindle_harness import WAIT, _die_with_parent, free_port, wait_until
from test_tasks import config, start, submit, task, wait_task

REDIS = shutil.which("redis-server")


def _reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_reply(f) for _ in range(n)]
    raise RuntimeError("unexpected reply %r" % line)


def redis_cmd_db(port, db, *args):
    """A command on database db (a connection of its own)."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        f = s.makefile("rb")
        for cmd in (("SELECT", db), args):
            out = b"*%d\r\n" % len(cmd)
            for a in cmd:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            reply = _reply(f)
        return reply


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@unittest.skipUnless(REDIS, "redis-server is not installed (scripts/dev.sh setup)")

def cron_fired(case, logs):
    """{due time: (instance, task id)} of the [cron] firings in logs
    ({instance: its log}); case fails if a due time fired twice."""
    fired = {}
    for name, log in logs.items():
        for at, task_id in re.findall(r"due at (\S+): task ([0-9a-f]+)", log):
            case.assertNotIn(at, fired, "%s fired by %s and %s:\n%s"
                             % (at, fired.get(at), name, "".join(logs.values())))
            fired[at] = (name, task_id)
    return fired


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
        self.assertTrue(wait_until(lambda: redis_ping(self.rport), WAIT), "redis did not start")
        self.out = os.path.join(self.dir, "runs.txt")

    def stop_redis(self):
        self.redis.terminate()
        try:
            self.redis.wait(5)
        except subprocess.TimeoutExpired:
            self.redis.kill()
            self.redis.wait(5)

    def instance(self, cron=None, **tasks):
        keys = {"tasks-backend": "redis://127.0.0.1:%d/3" % self.rport, "spoolers": 2}
        keys.update(tasks)
        cfg = config(keys, cron=cron, module_conf={"file": self.out})
        s = start(cfg)
        self.addCleanup(s.cleanup)
        return s

    def test_a_dead_instances_claimed_task_runs_on_another_after_its_lease(self):
        gate = os.path.join(self.dir, "gate")
        a = self.instance(instance="a", **{"task-lease": "2s"})
        task_id = submit(a.port, "wait", gate.encode(), spool=True).body.decode()
        wait_task(a.port, task_id, ("running",))
        claimed = redis_cmd_db(self.rport, 3, "KEYS", "spindle:processing:a:*")
        self.assertTrue(claimed, "no processing list of instance a")
        b = self.instance(instance="b", **{"task-lease": "2s"})
        os.killpg(a.pid, signal.SIGKILL)  # the whole instance: master, workers, spoolers
        a.stop()
        with open(gate, "w"):
            pass
        # b takes the task over once a's lease (2 s, never renewed) has run out
        j = wait_task(b.port, task_id, ("done", "failed"))
        self.assertEqual(j["state"], "done", j)
        self.assertEqual(j["attempts"], 1, j)  # one more attempt, as for a crashed spooler
        self.assertIn("spindle:processing:a:%d:" % a.pid, b.log())
        self.assertEqual([r[0] for r in self.runs()], [task_id])  # a never finished it

    def test_live_instances_with_one_name_never_take_each_others_tasks(self):
        gate = os.path.join(self.dir, "gate")
        a = self.instance(instance="same", **{"task-lease": "2s"})
        task_id = submit(a.port, "wait", gate.encode(), spool=True).body.decode()
        wait_task(a.port, task_id, ("running",))
        # b starts (its start-up recovery looks at every list named "same")
        b = self.instance(instance="same", **{"task-lease": "2s"})
        lease_b = "spindle:lease:same:%d" % b.pid
        self.assertTrue(wait_until(lambda: redis_cmd_db(self.rport, 3, "EXISTS", lease_b), WAIT))
        # let b renew (and look for lapsed leases) over a few lease periods:
        # a's task stays where it is, running, attempts 0
        for _ in range(4):  # a renewal: the time left falls, then jumps back up
            low = [redis_cmd_db(self.rport, 3, "PTTL", lease_b)]

            def renewed():
                left = redis_cmd_db(self.rport, 3, "PTTL", lease_b)
                low[0] = min(low[0], left)
                return left > low[0] + 50
            self.assertTrue(wait_until(renewed, WAIT), b.log())
        self.assertEqual(task(b.port, task_id)["state"], "running")
        self.assertEqual(task(b.port, task_id)["attempts"], 0)
        with open(gate, "w"):
            pass
        j = wait_task(b.port, task_id, ("done", "failed"))
        self.assertEqual((j["state"], j["attempts"]), ("done", 0), j)
        self.assertEqual([r[0] for r in self.runs()], [task_id])
        self.assertEqual(a.stop(), 0)
        self.assertEqual(b.stop(), 0)
        # a clean stop lets go of the lease at once
        self.assertEqual(redis_cmd_db(self.rport, 3, "KEYS", "spindle:lease:*"), [])

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
        self.assertTrue(wait_until(lambda: len(self.runs()) >= 4, 60), a.log() + b.log())
        self.assertEqual(a.stop(), 0)
        self.assertEqual(b.stop(), 0)
        fired = cron_fired(self, {"a": a.log(), "b": b.log()})
        # both ran through the same seconds; each second went to one of them
        self.assertGreaterEqual(len(fired), 4)
        ran = [r[0] for r in self.runs()]
        self.assertEqual(len(ran), len(set(ran)))
        self.assertLessEqual(set(ran), {task_id for _, task_id in fired.values()})

    def runs(self):
        if not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            return [line.split() for line in f]


if __name__ == "__main__":
    unittest.main()
