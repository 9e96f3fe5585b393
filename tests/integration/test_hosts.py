"""Several hosts behind one nginx, made of network namespaces on this
machine: namespace lb runs nginx (the shipped conf/nginx/spindle-hosts.conf)
and one redis-server; three host namespaces, each joined to lb by a veth
pair, run spindle (processes = 2, two spoolers, one [cron] line due every
second, tasks-backend = the redis in lb).  Under a stream of GETs through
nginx, one host's whole spindle is killed with SIGKILL: no GET fails, every
spooled task reaches done (the dead host's claimed ones after task-lease,
with one more attempt), each [cron] due time fires on one host only (the host
that fired last is the one killed, and the others go on firing), and the
host, started again, answers through nginx.

The namespaces, veth pairs and processes are made here and removed here,
even when a check fails; the root namespace's interfaces and routes are
never touched (each veth pair is created inside lb).  The test talks to
nginx, to each host and to redis over unix sockets in its temp folder, which
every namespace sees.  It needs root and `ip netns`; elsewhere it skips.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest

from nginx_harness import MAIN_CONF, NGINX, site_path
from spindle_harness import (BIN, _die_with_parent, parse_one, render_ini, sanitizer_report,
                             test_module, wait_until)
from test_tasks_redis import _reply, cron_fired

IP = shutil.which("ip") or "/usr/sbin/ip"
REDIS = shutil.which("redis-server")
HOSTS = ("h1", "h2", "h3")
LEASE = "2s"
WAIT = 60.0  # bound of every wait below; each ends as soon as what it waits for is seen


def run(*args, check=True):
    return subprocess.run(list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=30, check=check)


def unix_http(path, method, target, body=b"", timeout=10.0):
    """One request over a unix socket, Connection: close; (status, body)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    with s:
        s.connect(path)
        head = "%s %s HTTP/1.1\r\nHost: spindle\r\nConnection: close\r\n" % (method, target)
        if method == "POST":
            head += "Content-Length: %d\r\n" % len(body)
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    r = parse_one(data, 0, eof=True)[0]
    return r.status, r.body


def redis(path, *args):
    """One command to the redis in lb, over its unix socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    with s:
        s.connect(path)
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return _reply(s.makefile("rb"))


def kill_group(proc):
    """SIGKILL a process group we started, and reap its leader."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


class Net:
    """The namespaces and links: lb, and one namespace per host with a veth
    pair to lb (10.77.N.1 on lb's side, 10.77.N.2 on the host's)."""

    def __init__(self):
        tag = "sp%d" % (os.getpid() % 100000)
        self.lb = tag + "lb"
        self.ns = {h: tag + h for h in HOSTS}
        self.made = []

    def add(self, name):
        run(IP, "netns", "add", name)
        self.made.append(name)
        run(IP, "-n", name, "link", "set", "lo", "up")

    def build(self):
        self.add(self.lb)
        for n, h in enumerate(HOSTS, 1):
            ns = self.ns[h]
            self.add(ns)
            # made inside lb, its peer moved straight into the host: the
            # root namespace never holds either end
            run(IP, "-n", self.lb, "link", "add", "v" + h, "type", "veth", "peer", "name",
                "eth0", "netns", ns)
            run(IP, "-n", self.lb, "addr", "add", "10.77.%d.1/24" % n, "dev", "v" + h)
            run(IP, "-n", self.lb, "link", "set", "v" + h, "up")
            run(IP, "-n", ns, "addr", "add", "10.77.%d.2/24" % n, "dev", "eth0")
            run(IP, "-n", ns, "link", "set", "eth0", "up")

    def remove(self):
        for name in reversed(self.made):
            run(IP, "netns", "del", name, check=False)
        self.made = []

    def addr(self, h):
        return "10.77.%d.2" % (HOSTS.index(h) + 1)

    def lb_addr(self, h):
        return "10.77.%d.1" % (HOSTS.index(h) + 1)


def can_make_namespaces():
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    if not os.path.exists(IP):
        return "needs ip (iproute2) to make network namespaces"
    if not REDIS or not os.path.exists(NGINX):
        return "needs nginx and redis-server (scripts/dev.sh setup)"
    name = "sp%dprobe" % (os.getpid() % 100000)
    r = run(IP, "netns", "add", name, check=False)
    if r.returncode != 0:
        return "cannot make a network namespace here: %s" % r.stdout.decode().strip()
    run(IP, "netns", "del", name, check=False)
    return None


class Host:
    """spindle in one host namespace: listens on its veth address for nginx
    and on a unix socket for the test."""

    def __init__(self, name, net, folder):
        self.name = name
        self.net = net
        self.sock = os.path.join(folder, name + ".sock")
        self.ini = os.path.join(folder, name + ".ini")
        self.log_path = os.path.join(folder, name + ".log")
        self.proc = None
        cfg = {"server": {"listen": ["%s:8000" % net.addr(name), "unix:" + self.sock],
                          "processes": 2, "threads": 4},
               "app": {"module": [test_module("task_jobs")]},
               "tasks": {"tasks-backend": "redis://%s:6379/0" % net.lb_addr(name),
                         "spoolers": 2, "instance": name, "task-lease": LEASE},
               "cron": "* * * * * * task_jobs:cron_append\n",
               "module:tasks": {},
               "module:task_jobs": {"file": os.path.join(folder, "runs.txt"), "name": name}}
        with open(self.ini, "w") as f:
            f.write(render_ini(cfg))

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        with open(self.log_path, "ab") as log:
            # ip netns exec execs spindle: the pid is the master's, and its
            # new session is the group of every process of this instance
            self.proc = subprocess.Popen([IP, "netns", "exec", self.net.ns[self.name], BIN,
                                          self.ini], stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        ok = wait_until(self.answers, WAIT)
        if not ok:
            raise AssertionError("%s did not start:\n%s" % (self.name, self.log()))

    def answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited %s:\n%s" % (self.name, self.proc.returncode,
                                                         self.log()))
        try:
            return unix_http(self.sock, "GET", "/whoami") == (200, self.name.encode() + b"\n")
        except OSError:
            return False

    def kill(self):
        kill_group(self.proc)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.proc)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Load:
    """Threads sending GET /whoami through nginx until stopped; counts the
    answers by host, and every failure (anything but 200, or no answer)."""

    def __init__(self, sock, threads=2):
        self.sock = sock
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.by_host = {}
        self.failures = []
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(threads)]

    def loop(self):
        while not self.stopping.is_set():
            try:
                status, body = unix_http(self.sock, "GET", "/whoami")
            except (OSError, ValueError) as e:
                status, body = None, repr(e).encode()
            with self.lock:
                if status == 200:
                    h = body.decode().strip()
                    self.by_host[h] = self.by_host.get(h, 0) + 1
                else:
                    self.failures.append((status, body[:200]))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)

    def count(self, host):
        with self.lock:
            return self.by_host.get(host, 0)


SKIP = can_make_namespaces()


@unittest.skipIf(SKIP, SKIP)
class Hosts(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-hosts-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.net = Net()
        self.addCleanup(self.net.remove)  # runs last: after every process is gone
        self.net.build()
        self.redis_sock = os.path.join(self.dir, "redis.sock")
        self.redis = subprocess.Popen(
            [IP, "netns", "exec", self.net.lb, REDIS, "--port", "6379", "--bind", "0.0.0.0",
             "--protected-mode", "no", "--unixsocket", self.redis_sock, "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent)
        self.addCleanup(kill_group, self.redis)
        self.assertTrue(wait_until(self.redis_up, WAIT), "redis did not start")
        self.nginx_sock = os.path.join(self.dir, "nginx.sock")
        self.nginx = self.start_nginx()
        self.addCleanup(kill_group, self.nginx)
        self.hosts = {}
        for h in HOSTS:
            self.hosts[h] = Host(h, self.net, self.dir)
            self.addCleanup(self.hosts[h].stop)
            self.hosts[h].start()

    def redis_up(self):
        try:
            return redis(self.redis_sock, "PING") == b"PONG"
        except OSError:
            return False

    def start_nginx(self):
        folder = os.path.join(self.dir, "nginx")
        os.mkdir(folder)
        with open(site_path("spindle-hosts.conf")) as f:
            text = f.read()
        subs = [("listen 80;", "listen unix:%s;" % self.nginx_sock)]
        subs += [("server 10.0.0.1%d:8000" % n, "server %s:8000" % self.net.addr(h))
                 for n, h in enumerate(HOSTS, 1)]
        for old, new in subs:
            self.assertIn(old, text, "spindle-hosts.conf no longer has %r" % old)
            text = text.replace(old, new)
        with open(os.path.join(folder, "site.conf"), "w") as f:
            f.write(text)
        conf = os.path.join(folder, "nginx.conf")
        with open(conf, "w") as f:
            f.write(MAIN_CONF.format(user="user root;\n", dir=folder))
        proc = subprocess.Popen([IP, "netns", "exec", self.net.lb, NGINX, "-p", folder, "-c",
                                 conf, "-e", os.path.join(folder, "error.log")],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)
        self.nginx_log = os.path.join(folder, "error.log")

        def up():
            self.assertIsNone(proc.poll(), "nginx exited:\n" + self.read(self.nginx_log))
            return os.path.exists(self.nginx_sock)
        self.assertTrue(wait_until(up, WAIT), "nginx did not start:\n" + self.read(self.nginx_log))
        return proc

    @staticmethod
    def read(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def logs(self):
        return "".join("---- %s\n%s" % (h, s.log()) for h, s in self.hosts.items())

    def submit_wait(self, gate):
        status, body = unix_http(self.nginx_sock, "POST", "/submit/wait?spool=1", gate.encode())
        self.assertEqual(status, 202, body)
        return body.decode()

    def task(self, task_id):
        status, body = unix_http(self.nginx_sock, "GET", "/_tasks/" + task_id)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def claimed_by(self, name):
        """Task ids in the processing lists of instance name, from redis."""
        ids = []
        for key in redis(self.redis_sock, "KEYS", "spindle:processing:%s:*" % name) or []:
            ids += [i.decode() for i in redis(self.redis_sock, "LRANGE", key, 0, -1)]
        return ids

    def runs(self):
        return [line.split()[0] for line in self.read(os.path.join(self.dir, "runs.txt"))
                .splitlines() if line.strip()]

    def fired(self):
        """{due time: (host, task id)} of every [cron] firing in the logs;
        fails if one due time fired on two hosts."""
        return cron_fired(self, {h: s.log() for h, s in self.hosts.items()})

    def test_a_host_dies_whole_and_nothing_is_lost(self):
        load = Load(self.nginx_sock).start()
        self.addCleanup(load.stop)
        # every host answers through nginx
        self.assertTrue(wait_until(lambda: all(load.count(h) for h in HOSTS), WAIT),
                        "%r\n%s" % (load.by_host, self.read(self.nginx_log)))

        # slow spooled tasks: each waits for the gate; 6 spoolers take 6
        gate = os.path.join(self.dir, "gate")
        ids = [self.submit_wait(gate) for _ in range(9)]
        def held_by(h):
            return set(self.claimed_by(h)) & set(ids)
        self.assertTrue(wait_until(lambda: all(len(held_by(h)) == 2 for h in HOSTS), WAIT),
                        "spoolers claimed %r\n%s"
                        % ({h: self.claimed_by(h) for h in HOSTS}, self.logs()))

        # the victim is the host that fired the latest [cron] due time: which
        # host wins a due time is a race, so the test picks the winner to kill
        self.assertTrue(wait_until(self.fired, WAIT), self.logs())
        won = self.fired()
        name = won[max(won)][0]
        victim = self.hosts[name]
        others = [h for h in HOSTS if h != name]
        held = held_by(name)

        # kill -9 of the whole instance: master, workers, spoolers at once
        before = sum(load.count(h) for h in others)
        victim.kill()
        # nginx moves on: the others keep answering
        self.assertTrue(wait_until(lambda: sum(load.count(h) for h in others) > before + 50,
                                   WAIT), "%r" % load.by_host)
        # and [cron] goes on firing on the hosts left (counted from after the
        # kill: the victim's master, which fires [cron], is reaped by then)
        dead = self.fired()
        self.assertTrue(wait_until(lambda: set(self.fired()) - set(dead), WAIT), self.logs())
        after_kill = {at: fired for at, fired in self.fired().items() if at not in dead}
        self.assertTrue(all(h != name for h, _ in after_kill.values()), after_kill)
        with open(gate, "w"):
            pass

        # every task reaches done; the dead host's after its lease, once more
        def all_done():
            return all(self.task(i)["state"] in ("done", "failed") for i in ids)
        self.assertTrue(wait_until(all_done, WAIT, 0.2), self.logs())
        for i in ids:
            j = self.task(i)
            self.assertEqual(j["state"], "done", j)
            self.assertEqual(j["attempts"], 1 if i in held else 0, (i, held, j))
        runs = self.runs()
        for i in ids:  # each ran to the end once (the victim's never finished)
            self.assertEqual(runs.count(i), 1, (i, runs))
        taken_over = [h for h in others
                      if "spindle:processing:%s:%d:" % (name, victim.proc.pid)
                      in self.hosts[h].log()]
        self.assertTrue(taken_over, self.logs())

        # the host comes back and takes requests again
        victim.start()
        back = load.count(name)
        self.assertTrue(wait_until(lambda: load.count(name) > back, WAIT),
                        "%r\n%s" % (load.by_host, self.read(self.nginx_log)))
        load.stop()
        self.assertEqual(load.failures, [], "GETs failed through nginx: %r" % load.failures[:10])

        # each [cron] due time fired on one host only, and its task ran
        fired = self.fired()
        self.assertGreaterEqual(len(fired), 3, self.logs())
        cron_ids = {t for _, t in fired.values()}
        self.assertTrue(wait_until(lambda: cron_ids <= set(self.runs()), WAIT),
                        sorted(cron_ids - set(self.runs())))

        for h, s in self.hosts.items():
            self.assertEqual(sanitizer_report(s.log()), "", h)


if __name__ == "__main__":
    unittest.main()
