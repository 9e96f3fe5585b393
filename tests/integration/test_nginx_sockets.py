"""Unix listen sockets as nginx uses them: file mode, removed on exit, a
stale file from a crashed run replaced, a live one never stolen."""

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import unittest

import time

from spindle_harness import (BIN, WAIT, Conn, Server, build_request, example, read_until_close,
                             render_ini, test_module, wait_until)


def unix_get(path, target="/echo/u"):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(build_request("GET", target, [("Connection", "close")]))
        data, _ = read_until_close(s, 5)
    return data


def unix_server(path, modules=(), **server):
    """A Server on a loopback port (for the harness) and the unix path."""
    s = Server("")
    srv = {"listen": ["127.0.0.1:%d" % s.port, "unix:" + path], "processes": 1, "threads": 2}
    srv.update(server)
    s.config = render_ini({"server": srv, "app": {"module": [example("echo")] + list(modules)}})
    s.probe = "/echo/probe"
    return s


class UnixSockets(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-sock-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "app.sock")
        self.server = unix_server(self.path, **{"socket-mode": "660"})
        self.addCleanup(self.server.cleanup)

    def test_mode_served_and_removed_on_exit(self):
        self.server.start()
        st = os.stat(self.path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(st.st_mode & 0o777, 0o660)
        self.assertTrue(unix_get(self.path).startswith(b"HTTP/1.1 200"))
        self.assertEqual(self.server.stop(), 0)
        self.assertFalse(os.path.exists(self.path), "socket file removed on exit")

    def test_stale_socket_replaced(self):
        # A crashed run leaves the file behind with nobody listening.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.path)
        s.close()
        self.assertTrue(os.path.exists(self.path))
        with self.assertRaises(ConnectionRefusedError):
            unix_get(self.path)
        self.server.start()
        self.assertTrue(unix_get(self.path).startswith(b"HTTP/1.1 200"))

    def test_live_socket_not_stolen(self):
        self.server.start()
        second = unix_server(self.path)
        self.addCleanup(second.cleanup)
        second.write_config()
        p = subprocess.Popen([BIN, second.ini], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate(timeout=5)
            self.fail("the second server did not give up: %r" % out[-500:])
        self.assertNotEqual(p.returncode, 0)
        text = out.decode(errors="replace")
        self.assertIn("cannot listen on unix:" + self.path, text)
        self.assertIn("in use", text)
        # The first server still owns and serves its socket.
        self.assertTrue(wait_until(lambda: os.path.exists(self.path), WAIT))
        self.assertTrue(unix_get(self.path).startswith(b"HTTP/1.1 200"))


class UnixSlowReader(unittest.TestCase):
    """A response larger than the socket buffer, to a client that reads
    late over a unix socket: the worker waits for write space (EV_WRITE is
    registered for unix connections only while it waits), sends it all,
    then serves the next request on the same connection."""

    def test_large_answers_to_a_late_reader_then_keep_alive(self):
        folder = tempfile.mkdtemp(prefix="spindle-sock-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "app.sock")
        server = unix_server(path, modules=[test_module("blob")])
        self.addCleanup(server.cleanup)
        server.start()
        size = 4 << 20
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        with Conn(sock=s) as c:
            for round_ in range(3):
                c.send(build_request("GET", "/blob?size=%d" % size))
                time.sleep(0.3)  # the worker fills the socket and waits
                r = c.read_response(timeout=10.0)
                self.assertEqual(r.status, 200, "round %d" % round_)
                self.assertEqual(len(r.body), size, "round %d" % round_)
                self.assertEqual(r.body[:3], bytes([0, 1, 2]))


if __name__ == "__main__":
    unittest.main()
