"""Harness for spindle's integration tests (Python 3 stdlib only).

Boots the real binary with a per-test server.ini on a free loopback port,
talks to it over real sockets, looks at its processes in /proc, and always
stops what it started.

Environment (set by ctest, see tests/CMakeLists.txt):
  SPINDLE_BIN    the spindle binary
  SPINDLE_BUILD  the build folder (examples/*.so, tests/modules/*.so)
  SPINDLE_SRC    the source folder (conf/server.ini, ...)

Every wait here is bounded in both count and time.
"""

import ctypes
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest


HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SPINDLE_SRC") or os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("SPINDLE_BUILD") or os.path.join(SRC, "build")

# Set when the binary is built with sanitizers (SPINDLE_SANITIZE=address or
# thread).  A few tests measure what sanitizers change by design: RSS (ASan
# keeps freed memory in quarantine) and deaths by signal (a sanitizer turns
# a SEGV into a report and an exit code).  Those skip, saying why.
SANITIZED = os.environ.get("SPINDLE_SANITIZE", "")
skip_if_sanitized = unittest.skipIf(SANITIZED, "measures what %s sanitizers change by design"
                                    % (SANITIZED or "the"))


_SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                    "runtime error:")


def sanitizer_report(log):
    """The first sanitizer report in a server log, or "" (a server's
    workers report to the log, where no exit code carries it to a test)."""
    for mark in _SANITIZER_MARKS:
        at = log.find(mark)
        if at >= 0:
            return log[max(0, at - 200):at + 3000]
    return ""

BIN = os.environ.get("SPINDLE_BIN") or os.path.join(BUILD, "spindle")

EX_CONFIG = 78
START_TIMEOUT = 10.0
PORT_TRIES = 3
STOP_TIMEOUT = 10.0
POLL = 0.02
# bound of a wait for what must happen: it ends as soon as it happens, so a
# slow or busy machine makes a test slower, never red
WAIT = 30.0


def _die_with_parent():
    """preexec_fn: the server gets SIGKILL if the test process dies, so a
    killed test run leaves no server behind (workers follow their master)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def example(name):
    """Path of a shipped example module (hello, echo, sleep)."""
    return os.path.join(BUILD, "examples", name + ".so")


def test_module(name):
    """Path of a test-only module built from tests/modules/NAME.c."""
    return os.path.join(BUILD, "tests", "modules", name + ".so")


def free_port(host="127.0.0.1"):
    """A port nothing listens on right now (bind 0, read it, close)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_on_free_port(start_once, failed, stop, lost_port, new_port):
    """start_once() a server on a port free_port() chose.  free_port() only
    says the port was free when it looked: a server another test starts may
    take it first.  That is the harness's race, not the server's, so when
    start_once raises failed and lost_port() says so, new_port() and try
    again (PORT_TRIES in all).  Whatever start_once raises, stop() first."""
    for attempt in range(PORT_TRIES):
        try:
            return start_once()
        except BaseException as e:
            stop()
            if not isinstance(e, failed) or attempt + 1 == PORT_TRIES or not lost_port():
                raise
            new_port()


def wait_until(pred, timeout, interval=POLL):
    """Poll pred() until it returns a truthy value or timeout passes.
    Returns the last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    n = int(timeout / interval) + 2
    value = None
    for _ in range(n):
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return value


# ---- ini ----------------------------------------------------------------------

def render_ini(sections):
    """{"server": {"threads": 2, "listen": [...]}, "app": {...}} -> ini text.
    Lists become repeated keys, True a bare key; a str is taken as is."""
    if isinstance(sections, str):
        return sections
    out = []
    for name, body in sections.items():
        out.append("[%s]" % name)
        if isinstance(body, str):
            out.append(body.rstrip("\n"))
        else:
            for key, value in body.items():
                values = value if isinstance(value, (list, tuple)) else [value]
                for v in values:
                    if v is True:
                        out.append(key)
                    else:
                        out.append("%s = %s" % (key, v))
        out.append("")
    return "\n".join(out) + "\n"


def default_config(modules=("hello",), processes=2, threads=4, **server):
    """A small config: hello (and friends) on one loopback listener.
    Module names are example names or "tm:NAME" for test modules."""
    mods = []
    for m in modules:
        if m.startswith("tm:"):
            mods.append(test_module(m[3:]))
        elif m.startswith("/"):
            mods.append(m)
        else:
            mods.append(example(m))
    srv = {"processes": processes, "threads": threads}
    for k, v in server.items():
        srv[k.replace("_", "-")] = v
    return {"server": srv, "app": {"module": mods}}


# ---- /proc ----------------------------------------------------------------------

def _stat(pid):
    """(state, ppid, pgrp) of pid from /proc/PID/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def _pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def alive(pid):
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children(pid):
    """Live (non-zombie) child pids of pid, sorted."""
    out = []
    for p in _pids():
        st = _stat(p)
        if st and st[1] == pid and st[0] not in ("Z", "X"):
            out.append(p)
    return sorted(out)


def group_members(pgid):
    """Live pids whose process group is pgid."""
    out = []
    for p in _pids():
        st = _stat(p)
        if st and st[2] == pgid and st[0] not in ("Z", "X"):
            out.append(p)
    return sorted(out)


def worker_threads(threads_):
    """How many threads a worker with `threads = threads_` runs: the handler
    threads, the main thread (it starts out holding the IO loop, which may
    pass between them; quick requests run on whichever holds it) and the
    loop's watch.  See server/worker/loop.h."""
    return threads_ + 2


def threads(pid):
    """Number of spindle's threads in pid (entries in /proc/PID/task), 0 if
    gone.  Threads a sanitizer runs for itself are not counted."""
    try:
        tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    except OSError:
        return 0
    if SANITIZED != "thread":
        return len(tids)
    # TSan's own threads carry the process title; spindle names every
    # thread it starts ("handler 1", ...), so count the main one and those.
    own = 1
    for tid in tids:
        try:
            with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
                own += tid != pid and not f.read().startswith("spindle:")
        except OSError:
            pass
    return own


def cmdline(pid):
    """Process title as ps shows it: /proc/PID/cmdline, NULs -> spaces."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def maps(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return f.read()
    except OSError:
        return ""


# ---- HTTP client pieces -----------------------------------------------------------

class Response:
    """One parsed response.  Unpacks as (status, headers, body)."""

    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order, as sent
        self.body = body
        self.raw = raw

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def header(self, name, default=None):
        """First value of header name (case-insensitive)."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %s %s %r %r>" % (self.status, self.reason, self.headers, self.body[:200])


class Incomplete(Exception):
    pass


def parse_one(buf, pos=0, head=False, eof=False):
    """Parse one response from buf[pos:].  Returns (Response, new_pos).
    Raises Incomplete when more bytes are needed, ValueError when the
    bytes are not HTTP.  head: the request was HEAD (no body).  eof: the
    peer closed, so a close-delimited body ends at len(buf)."""
    end = buf.find(b"\r\n\r\n", pos)
    if end < 0:
        if len(buf) - pos > 1 << 20:
            raise ValueError("no end of headers in 1 MiB")
        if eof and len(buf) > pos:
            raise ValueError("truncated response head: %r" % buf[pos:pos + 200])
        raise Incomplete()
    head_text = buf[pos:end].decode("latin-1")
    lines = head_text.split("\r\n")
    m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise ValueError("bad status line: %r" % lines[0])
    version, status, reason = m.group(1), int(m.group(2)), m.group(3) or ""
    headers = []
    for line in lines[1:]:
        if ":" not in line:
            raise ValueError("bad header line: %r" % line)
        k, v = line.split(":", 1)
        headers.append((k, v.strip(" \t")))
    p = end + 4
    hmap = {}
    for k, v in headers:
        hmap.setdefault(k.lower(), v)
    if head or 100 <= status < 200 or status in (204, 304):
        body = b""
    elif "chunked" in hmap.get("transfer-encoding", "").lower():
        chunks = []
        for _ in range(1 << 20):
            le = buf.find(b"\r\n", p)
            if le < 0:
                if eof:
                    raise ValueError("truncated chunk size")
                raise Incomplete()
            size = int(buf[p:le].split(b";")[0].strip(), 16)
            p = le + 2
            if size == 0:
                # trailers until an empty line
                for _ in range(1000):
                    le = buf.find(b"\r\n", p)
                    if le < 0:
                        if eof:
                            raise ValueError("truncated trailers")
                        raise Incomplete()
                    line = buf[p:le]
                    p = le + 2
                    if line == b"":
                        break
                break
            if len(buf) < p + size + 2:
                if eof:
                    raise ValueError("truncated chunk")
                raise Incomplete()
            chunks.append(buf[p:p + size])
            p += size + 2
        body = b"".join(chunks)
    elif "content-length" in hmap:
        n = int(hmap["content-length"])
        if len(buf) < p + n:
            if eof:
                raise ValueError("truncated body: %d of %d" % (len(buf) - p, n))
            raise Incomplete()
        body = buf[p:p + n]
        p += n
    else:
        if not eof:
            raise Incomplete()
        body = buf[p:]
        p = len(buf)
    return Response(version, status, reason, headers, body, buf[pos:p]), p


def parse_responses(data, heads=(), eof=True):
    """Split pipelined responses.  heads: indexes (among final, non-1xx
    responses) of HEAD requests.  Returns a list of Response; trailing
    garbage or a truncated response raises ValueError."""
    out = []
    pos = 0
    final = 0
    for _ in range(10000):
        if pos >= len(data):
            break
        try:
            r, pos = parse_one(data, pos, head=(final in heads), eof=eof)
        except Incomplete:
            raise ValueError("incomplete response at byte %d: %r" % (pos, data[pos:pos + 200]))
        out.append(r)
        if not 100 <= r.status < 200:
            final += 1
    return out


def connect(port, timeout=5.0, host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((host, port))
    except OSError:
        s.close()
        raise
    return s


def send_all(sock, data):
    """sendall that tolerates the server closing on us (it may reject early).
    Returns True when everything went out."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def read_until_close(sock, timeout):
    """Read until EOF or timeout.  Returns (bytes, how) with how one of
    "closed", "reset", "timeout"."""
    chunks = []
    deadline = time.monotonic() + timeout
    for _ in range(100000):
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout"
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            return b"".join(chunks), "timeout"
        except ConnectionResetError:
            return b"".join(chunks), "reset"
        if not b:
            return b"".join(chunks), "closed"
        chunks.append(b)
    return b"".join(chunks), "timeout"


def raw_ex(port, data, read_timeout=2.0, host="127.0.0.1"):
    """Send data on a fresh connection; read until close or timeout.
    Returns (bytes, how)."""
    with connect(port, host=host) as s:
        send_all(s, data)
        return read_until_close(s, read_timeout)


def raw(port, data, read_timeout=2.0, host="127.0.0.1"):
    """Send data on a fresh connection, return everything read until the
    server closes or read_timeout passes."""
    return raw_ex(port, data, read_timeout, host)[0]


def build_request(method, path, headers=None, body=None, version="HTTP/1.1", host="127.0.0.1"):
    """Request bytes.  headers: list of pairs or dict; Host added unless
    given (pass host=None for none); Content-Length added for a body
    unless a framing header is given."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if host is not None and "host" not in names:
        hs.insert(0, ("Host", host))
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        if "content-length" not in names and "transfer-encoding" not in names:
            hs.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in hs)
    head += "\r\n"
    return head.encode("latin-1") + (body or b"")


class Conn:
    """One client connection for keep-alive / pipelining tests."""

    def __init__(self, port=None, timeout=5.0, host="127.0.0.1", sock=None):
        """A TCP connection to port, or sock as given (a unix socket, say)."""
        self.sock = sock if sock is not None else connect(port, timeout, host)
        self.buf = b""
        self.eof = False
        self.how = None

    def send(self, data):
        return send_all(self.sock, data)

    def request(self, method, path, headers=None, body=None, **kw):
        self.send(build_request(method, path, headers, body, **kw))
        return self.read_response(head=(method == "HEAD"))

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.eof:
            return False
        self.sock.settimeout(left)
        try:
            b = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof, self.how = True, "reset"
            return False
        if not b:
            self.eof, self.how = True, "closed"
            return False
        self.buf += b
        return True

    def read_response(self, head=False, timeout=5.0, allow_1xx=False):
        """Next response (skipping 1xx unless allow_1xx).  Raises
        AssertionError on timeout/close before a whole response."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            try:
                r, p = parse_one(self.buf, 0, head=head, eof=self.eof)
                self.buf = self.buf[p:]
                if 100 <= r.status < 200 and not allow_1xx:
                    continue
                return r
            except Incomplete:
                pass
            if not self._fill(deadline):
                if self.eof:
                    try:
                        r, p = parse_one(self.buf, 0, head=head, eof=True)
                        self.buf = self.buf[p:]
                        return r
                    except (Incomplete, ValueError):
                        pass
                raise AssertionError("no complete response (%s) within %.1fs; got %r"
                                     % (self.how or "timeout", timeout, self.buf[:300]))
        raise AssertionError("response loop bound hit")

    def read_exact_prefix(self, n, timeout=5.0):
        """Read until at least n bytes are buffered; return them (kept)."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if len(self.buf) >= n:
                break
            if not self._fill(deadline):
                break
        return self.buf

    def is_closed(self, timeout=2.0):
        """True when the server closes within timeout (extra bytes are kept
        in self.buf)."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if self.eof:
                return True
            if not self._fill(deadline) and not self.eof:
                return False
        return self.eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def http(port, method, path, headers=None, body=None, timeout=5.0, **kw):
    """One request on a fresh connection -> Response ((status, headers, body))."""
    with Conn(port, timeout) as c:
        return c.request(method, path, headers, body, **kw)


def get(port, path="/", **kw):
    return http(port, "GET", path, **kw)


# ---- the server -------------------------------------------------------------------

class ServerFailed(AssertionError):
    pass


class Server:
    """Context manager that runs spindle with a per-test server.ini.

        with Server(default_config(("hello",))) as s:
            status, headers, body = http(s.port, "GET", "/")

    config: dict of sections (see render_ini) or ini text; "@PORT@" in a
    text config is replaced by the port.  A [server] listen is added unless
    given.  probe: path that must answer (any HTTP status) before start()
    returns, or None to only wait for the port.  args: extra CLI args."""

    def __init__(self, config=None, probe="/", args=(), wait_workers=True, env=None,
                 host="127.0.0.1"):
        self.config = config if config is not None else default_config()
        self.probe = probe
        self.args = list(args)
        self.wait_workers = wait_workers
        self.env = env
        self.host = host
        self.dir = tempfile.mkdtemp(prefix="spindle-it-")
        self.ini = os.path.join(self.dir, "server.ini")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.port = free_port(host)
        self.proc = None
        self.pid = None
        self.returncode = None
        self.leftovers = []
        self._logf = None

    # config -----------------------------------------------------------------
    def expected_processes(self):
        m = re.search(r"^\s*processes\s*=\s*(\d+)", self.ini_text, re.M)
        for i, a in enumerate(self.args):
            if a == "--processes" and i + 1 < len(self.args):
                return int(self.args[i + 1])
        return int(m.group(1)) if m else None

    def write_config(self, config=None):
        if config is not None:
            self.config = config
        cfg = self.config
        if isinstance(cfg, dict):
            cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
            srv = cfg.setdefault("server", {})
            if isinstance(srv, dict) and "listen" not in srv:
                cfg["server"] = dict([("listen", "127.0.0.1:%d" % self.port)] + list(srv.items()))
            text = render_ini(cfg)
        else:
            text = cfg.replace("@PORT@", str(self.port))
        self.ini_text = text
        tmp = self.ini + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.ini)

    # lifecycle --------------------------------------------------------------
    def start(self):
        return start_on_free_port(self._start_once, ServerFailed, self.stop, self._lost_port,
                                  lambda: setattr(self, "port", free_port(self.host)))

    def _start_once(self):
        self.write_config()
        self._logf = open(self.log_path, "wb")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen([BIN, self.ini] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.dir, env=env,
                                     preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        self._wait_ready()
        return self

    def _lost_port(self):
        """Whether the last start failed because another process took the
        port the harness chose (and not a port the test chose itself)."""
        if isinstance(self.config, dict):
            srv = self.config.get("server")
            if isinstance(srv, dict) and "listen" in srv:
                return False
        elif "@PORT@" not in self.config:
            return False
        taken = ":%d: %s" % (self.port, os.strerror(errno.EADDRINUSE))
        return "cannot listen on" in self.log() and taken in self.log()

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / POLL) + 10):
            if self.proc.poll() is not None:
                raise ServerFailed("spindle exited with %s before serving; log:\n%s"
                                   % (self.proc.returncode, self.log()))
            if self._ready():
                break
            if time.monotonic() > deadline:
                raise ServerFailed("spindle not ready on port %d within %.0fs; log:\n%s"
                                   % (self.port, START_TIMEOUT, self.log()))
            time.sleep(POLL)
        n = self.expected_processes()
        if self.wait_workers and n:
            ok = wait_until(lambda: len(self.workers()) == n,
                            max(0.5, deadline - time.monotonic()))
            if not ok:
                raise ServerFailed("expected %d workers, have %r; log:\n%s"
                                   % (n, self.workers(), self.log()))

    def _ready(self):
        try:
            s = connect(self.port, 1.0, self.host)
        except OSError:
            return False
        with s:
            if self.probe is None:
                return True
            s.sendall(build_request("GET", self.probe, [("Connection", "close")]))
            data, _ = read_until_close(s, 2.0)
            return data.startswith(b"HTTP/1.")

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send sig to the master, wait up to timeout for it to exit, then
        KILL the whole process group.  Returns the master's exit code (None
        if it had to be killed).  Processes of the group still alive after
        the master exited are recorded in self.leftovers (then killed)."""
        if self.proc is None:
            return self.returncode
        rc = self.proc.poll()
        if rc is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                rc = None
        if rc is not None:
            # Give orphans a moment to finish their own exit.
            wait_until(lambda: not group_members(self.pid), 1.0)
            self.leftovers = group_members(self.pid)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if rc is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        wait_until(lambda: not group_members(self.pid), 2.0)
        self.returncode = rc
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def wait_exit(self, timeout):
        """Wait for the master to exit on its own; returns its code or None."""
        if self.proc is None:
            return self.returncode
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        os.kill(self.pid, sig)

    def reload(self, config=None):
        """Rewrite server.ini (optionally) and send HUP."""
        if config is not None:
            self.write_config(config)
        self.signal(signal.SIGHUP)

    def cleanup(self):
        self.stop()
        report = sanitizer_report(self.log())
        shutil.rmtree(self.dir, ignore_errors=True)
        return report

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        report = self.cleanup()
        if report and exc[0] is None:
            raise AssertionError("sanitizer report in the server log:\n" + report)

    # inspection -------------------------------------------------------------
    def workers(self):
        return children(self.pid) if self.pid else []

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def url_get(self, path="/", **kw):
        return get(self.port, path, **kw)


def run_binary(args, timeout=15.0, env=None, cwd=None):
    """Run spindle to completion (for -t, -T, config errors).  Returns
    (returncode, stdout, stderr) as text; kills its group on timeout and
    returns returncode None."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.Popen([BIN] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, env=e, cwd=cwd,
                         preexec_fn=_die_with_parent)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate(timeout=5)
        rc = None
    try:
        os.killpg(p.pid, signal.SIGKILL)  # stray workers, if any
    except ProcessLookupError:
        pass
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def write_temp_ini(text, dirpath=None, name="server.ini"):
    d = dirpath or tempfile.mkdtemp(prefix="spindle-it-")
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


class ServerCase(unittest.TestCase):
    """A TestCase sharing one server per class (for tests that do not
    disturb it).  Subclasses set config (and optionally probe, args)."""

    config = None
    probe = "/"
    args = ()

    @classmethod
    def _stop_server(cls):
        report = cls.server.cleanup()
        if report:
            raise AssertionError("sanitizer report in the server log:\n" + report)

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.config, probe=cls.probe, args=cls.args)
        cls.addClassCleanup(cls._stop_server)
        cls.server.start()
        cls.port = cls.server.port

    def assertProbeOK(self, path="/"):
        """A fresh connection still gets a 200 (the server survived)."""
        r = get(self.port, path, headers=[("Connection", "close")])
        self.assertEqual(r.status, 200, "probe %s after the test: %r" % (path, r))

    def assertWorkersAlive(self, before):
        self.assertEqual(self.server.workers(), before,
                         "worker pids changed (a worker died?); log:\n" + self.server.log()[-3000:])
