"""Privileges and the service manager: uid/gid drop, socket-owner,
systemd Type=notify (a fake NOTIFY_SOCKET), socket activation (LISTEN_FDS
set up the way systemd does), and the shipped unit and logrotate files.
(docs/operations.md)

The unit files are checked with `systemd-analyze verify` when it is
installed (it is on Debian 12 with systemd); the logrotate file is parsed
by the test (logrotate itself may be absent)."""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from spindle_harness import BIN, SRC, WAIT, Server, default_config, free_port, get, wait_until


def status_id(pid, key):
    """The real uid or gid ("Uid"/"Gid") of pid, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def folder_closed_to_others(path):
    """The first folder above path that users other than its owner cannot
    enter (a checkout under a 0700 mktemp -d, say), or None."""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(d).st_mode & 0o001:
            return d
        if d == os.path.dirname(d):
            return None
        d = os.path.dirname(d)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class Privileges(unittest.TestCase):
    def test_uid_gid_drop_after_binding(self):
        nobody = pwd.getpwnam("nobody").pw_uid
        nogroup = grp.getgrnam("nogroup").gr_gid
        cfg = default_config(("hello",), processes=2, threads=1, uid="nobody", gid="nogroup")
        closed = folder_closed_to_others(cfg["app"]["module"][0])
        if closed:  # the workers load the module as nobody
            self.skipTest("nobody cannot enter %s, above the modules" % closed)
        s = Server(cfg)
        os.chmod(s.dir, 0o755)  # the dropped master still reads its folder
        with s:
            self.assertEqual(get(s.port, "/").status, 200)
            for pid in s.workers() + [s.pid]:
                self.assertEqual(status_id(pid, "Uid"), nobody)
                self.assertEqual(status_id(pid, "Gid"), nogroup)

    def test_socket_owner_and_mode(self):
        d = tempfile.mkdtemp(prefix="spindle-own-")
        try:
            path = os.path.join(d, "app.sock")
            cfg = default_config(("hello",), processes=1, threads=1,
                                 socket_owner="nobody:nogroup", socket_mode="660")
            s = Server(cfg)
            cfg["server"]["listen"] = ["127.0.0.1:%d" % s.port, "unix:" + path]
            with s:
                self.assertTrue(wait_until(lambda: os.path.exists(path), WAIT))
                st = os.stat(path)
                self.assertEqual(st.st_uid, pwd.getpwnam("nobody").pw_uid)
                self.assertEqual(st.st_gid, grp.getgrnam("nogroup").gr_gid)
                self.assertEqual(st.st_mode & 0o777, 0o660)
        finally:
            shutil.rmtree(d, ignore_errors=True)


    def test_socket_owner_applies_to_sockets_a_reload_adds(self):
        d = tempfile.mkdtemp(prefix="spindle-own-")
        try:
            first, added = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
            cfg = default_config(("hello",), processes=1, threads=1, socket_owner="root:nogroup")
            s = Server(cfg)
            cfg["server"]["listen"] = ["127.0.0.1:%d" % s.port, "unix:" + first]
            with s:
                gen = s.workers()
                cfg["server"]["listen"].append("unix:" + added)
                s.reload(cfg)
                self.assertTrue(wait_until(lambda: os.path.exists(added)
                                           and set(s.workers()).isdisjoint(gen), 10),
                                s.log())
                for path in (first, added):
                    self.assertEqual(os.stat(path).st_gid, grp.getgrnam("nogroup").gr_gid, path)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_running_as_root_is_said(self):
        with Server(default_config(("hello",), processes=1, threads=1)) as s:
            self.assertIn("running as root: uid is not set", s.log())


class ControlAndStatsSockets(unittest.TestCase):
    def control_server(self, **server):
        d = tempfile.mkdtemp(prefix="spindle-ctl-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "ctl.sock")
        s = Server(default_config(("hello",), processes=1, threads=1, control="unix:" + path,
                                  **server))
        old = os.umask(0)  # the server inherits it: the mode must not follow it
        try:
            s.start()
        finally:
            os.umask(old)
        self.addCleanup(s.cleanup)
        return s, path

    def test_control_socket_is_0600_whatever_the_umask(self):
        s, path = self.control_server()
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)

    def test_control_mode_and_owner_configurable(self):
        s, path = self.control_server(control_mode="660")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o660)
        if os.geteuid() == 0:
            s2, path2 = self.control_server(control_owner="nobody:nogroup")
            st = os.stat(path2)
            self.assertEqual((st.st_uid, st.st_gid),
                             (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid))

    def test_stats_beyond_loopback_is_warned(self):
        port = free_port("0.0.0.0")
        with Server(default_config(("hello",), processes=1, threads=1,
                                   stats="0.0.0.0:%d" % port)) as s:
            self.assertIn("stats: listening beyond loopback", s.log())
        with Server(default_config(("hello",), processes=1, threads=1,
                                   stats="127.0.0.1:%d" % free_port())) as s:
            self.assertNotIn("stats: listening beyond loopback", s.log())


class Systemd(unittest.TestCase):
    def test_notify_ready_reloading_stopping(self):
        d = tempfile.mkdtemp(prefix="spindle-sd-")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            path = os.path.join(d, "notify")
            sock.bind(path)
            sock.settimeout(10)
            s = Server(default_config(("hello",), processes=2, threads=1),
                       env={"NOTIFY_SOCKET": path})
            with s:
                msgs = []

                def until(word):
                    for _ in range(50):
                        if any(word in m for m in msgs):
                            return True
                        msgs.append(sock.recv(4096).decode())
                    return False

                self.assertTrue(until("READY=1"), msgs)
                self.assertTrue(any("STATUS=serving: 2 workers" in m for m in msgs), msgs)
                s.signal(signal.SIGHUP)
                self.assertTrue(until("RELOADING=1"), msgs)
                msgs.clear()
                self.assertTrue(until("READY=1"), msgs)
                s.signal(signal.SIGTERM)
                self.assertTrue(until("STOPPING=1"), msgs)
                self.assertEqual(s.wait_exit(15), 0)
        finally:
            sock.close()
            shutil.rmtree(d, ignore_errors=True)

    def test_socket_activation_adopts_passed_socket(self):
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(64)
        port = lsock.getsockname()[1]
        d = tempfile.mkdtemp(prefix="spindle-sa-")
        ini = os.path.join(d, "server.ini")
        with open(ini, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\nthreads = 1\n"
                    "[app]\nmodule = %s\n" % (port, os.path.join(os.path.dirname(BIN),
                                                                 "examples", "hello.so")))
        fd = lsock.fileno()
        # as systemd does: the socket as fd 3, LISTEN_PID = the server's pid
        script = 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$1"'
        p = subprocess.Popen(["/bin/sh", "-c", script, BIN, ini], pass_fds=(3,),
                             preexec_fn=lambda: os.dup2(fd, 3),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            lsock.close()  # only the server holds it now: binding again would fail
            ok = wait_until(lambda: _get_ok(port), WAIT)
            self.assertTrue(ok)
        finally:
            os.killpg(p.pid, signal.SIGTERM)
            out = p.communicate(timeout=15)[0].decode()
            shutil.rmtree(d, ignore_errors=True)
        self.assertIn("using the socket the service manager passed", out)
        self.assertEqual(p.returncode, 0, out)


def _get_ok(port):
    try:
        return get(port, "/", timeout=2).status == 200
    except Exception:  # noqa: BLE001
        return False


class ShippedFiles(unittest.TestCase):
    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    def test_units_verify(self):
        d = tempfile.mkdtemp(prefix="spindle-unit-")
        try:
            for name in ("spindle.service", "spindle.socket"):
                with open(os.path.join(SRC, "conf", name)) as f:
                    text = f.read().replace("/usr/local/bin/spindle", BIN)
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            p = subprocess.run(["systemd-analyze", "verify", os.path.join(d, "spindle.service"),
                                os.path.join(d, "spindle.socket")],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_service_keys(self):
        with open(os.path.join(SRC, "conf", "spindle.service")) as f:
            text = f.read()
        keys = dict(re.findall(r"^([A-Za-z]+)=(.*)$", text, re.M))
        self.assertEqual(keys["Type"], "notify")
        self.assertEqual(keys["ExecReload"], "/bin/kill -HUP $MAINPID")
        self.assertEqual(keys["KillSignal"], "SIGTERM")
        self.assertIn("spindle", keys["ExecStart"])

    def test_logrotate_parses_and_signals_usr1(self):
        with open(os.path.join(SRC, "conf", "spindle.logrotate")) as f:
            lines = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
        self.assertRegex(lines[0], r"^/\S+\.log \{$")
        self.assertEqual(lines[-1], "}")
        known = {"daily", "weekly", "rotate", "missingok", "notifempty", "compress",
                 "delaycompress", "sharedscripts", "postrotate", "endscript"}
        body = lines[1:-1]
        script = body[body.index("postrotate") + 1:body.index("endscript")]
        for l in body:
            if l not in script:
                self.assertIn(l.split()[0], known, l)
        self.assertTrue(any("USR1" in l for l in script), script)
        self.assertNotIn("copytruncate", body)


if __name__ == "__main__":
    unittest.main()
