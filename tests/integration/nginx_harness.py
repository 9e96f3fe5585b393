"""A real nginx in front of spindle, for the test_nginx_* tests (stdlib only).

The site configs are the shipped files in conf/nginx/: a test names one and
the concrete values to swap (the upstream address, the socket folder), so
what the tests run is what users copy.  Every substitution must match, so a
shipped file that drifts from the tests fails loudly instead of silently
testing something else.

nginx runs in the foreground ("daemon off"), one worker, on a free loopback
port, with every path (pid, logs, temp folders) in its own temp folder, and
is always stopped by the test that started it.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile

from spindle_harness import (SRC, connect, free_port, parse_one, read_until_close,
                             start_on_free_port, wait_until)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
UWSGI_PARAMS = "/etc/nginx/uwsgi_params"


def site_path(name):
    return os.path.join(SRC, "conf", "nginx", name)


def have_nginx():
    return os.path.exists(NGINX)


MAIN_CONF = """\
{user}daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    uwsgi_temp_path {dir}/uwsgi;
    fastcgi_temp_path {dir}/fastcgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""


class Nginx:
    """nginx with one shipped site file.  subs: [(text in the file, its
    test value)], each of which must occur in the file."""

    def __init__(self, site, subs=()):
        self.dir = tempfile.mkdtemp(prefix="spindle-ngx-")
        self.site = site
        with open(site_path(site)) as f:
            text = f.read()
        for old, new in [("listen 80;", None)] + list(subs):
            if old not in text:
                raise AssertionError("%s no longer contains %r" % (site, old))
            if new is not None:
                text = text.replace(old, new)
        self._template = text
        self._listen_on(free_port())
        if os.path.exists(UWSGI_PARAMS):
            shutil.copy(UWSGI_PARAMS, os.path.join(self.dir, "uwsgi_params"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(MAIN_CONF.format(user=user, dir=self.dir))
        self.proc = None

    def _listen_on(self, port):
        self.port = port
        self.site_text = self._template.replace("listen 80;", "listen 127.0.0.1:%d;" % port)
        with open(os.path.join(self.dir, "site.conf"), "w") as f:
            f.write(self.site_text)

    def start(self):
        return start_on_free_port(self._start, AssertionError, self.stop,
                                  lambda: ":%d failed (98" % self.port in self.log(),
                                  lambda: self._listen_on(free_port()))

    def _start(self):
        pid_file = os.path.join(self.dir, "nginx.pid")
        if os.path.exists(pid_file):
            os.unlink(pid_file)
        self._out = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", self.conf, "-e",
                                      os.path.join(self.dir, "error.log")],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited %s:\n%s" % (self.proc.returncode, self.log()))
            # nginx writes its pid file once its sockets are bound: before
            # that, a connect could reach whatever else holds the port
            if not os.path.exists(pid_file):
                return False
            try:
                connect(self.port, 0.5).close()
                return True
            except OSError:
                return False
        if not wait_until(up, 10.0):
            raise AssertionError("nginx did not listen on %d:\n%s" % (self.port, self.log()))
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self._out.close()

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


# ---- /proc/net/tcp: which side closed a connection first --------------------

def _time_wait():
    """(local port, remote port) of every TCP connection in TIME_WAIT.
    TIME_WAIT stays with the side that closed first."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) >= 4 and parts[3] == "06":
                yield (int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16))


def closed_first_by_server(port):
    """Connections to server port that the server closed first."""
    return {r for l, r in _time_wait() if l == port}


def closed_first_by_client(port):
    """Connections to server port that the client (nginx) closed first."""
    return {l for l, r in _time_wait() if r == port}


def pattern(n):
    """The bytes blob.so serves for size n: byte i = i mod 251."""
    period = bytes(range(251))
    return (period * (n // 251 + 1))[:n]



def request_from(port, raw, source="127.0.0.1", timeout=20.0):
    """Send raw bytes to a loopback port from a chosen loopback source
    address (nginx then sees a client other than itself); the parsed
    response, read until the server closes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    with s:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(raw)
        data, _ = read_until_close(s, timeout)
    return parse_one(data, 0, eof=True)[0]


def header_of(picture, name):
    """A header's value in echo's JSON picture of a request, or None."""
    return next((v for k, v in picture["headers"] if k.lower() == name.lower()), None)
