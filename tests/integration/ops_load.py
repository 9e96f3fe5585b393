"""Helpers for the test_ops_* integration tests: a bounded load loop and
small readers for the stats server, the control socket and /metrics.
Python 3 stdlib only; every loop is bounded in count and time."""

import json
import re
import socket
import threading
import time

from spindle_harness import get


class _Clients:
    """Client threads running _run, counting answers in ok and failures;
    start, wait for a number of answers, join or stop them (all bounded)."""

    def __init__(self, port, path, threads, timeout):
        self.port, self.path, self.timeout = port, path, timeout
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        raise NotImplementedError

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def wait_ok(self, n, timeout=10.0):
        """Wait until at least n requests succeeded (bounded)."""
        deadline = time.monotonic() + timeout
        while self.ok < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.ok >= n

    def join(self, timeout=60.0):
        """Wait for every client to finish its requests."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return self

    def stop(self, timeout=20.0):
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        return self


class Load(_Clients):
    """threads clients, each sending GET path on a fresh connection
    (Connection: close) until stop() or max_each requests.  Records every
    outcome; failures are (what, detail) pairs."""

    def __init__(self, port, path="/", threads=4, max_each=2000, timeout=10.0):
        self.max_each = max_each
        super().__init__(port, path, threads, timeout)

    def _run(self):
        for _ in range(self.max_each):
            if self._stop.is_set():
                return
            try:
                r = get(self.port, self.path, headers=[("Connection", "close")],
                        timeout=self.timeout)
                good = r.status == 200
                detail = r.status
            except Exception as e:  # noqa: BLE001 - any failure counts
                good, detail = False, repr(e)
            with self._lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append(detail)


class KeepAliveLoad(_Clients):
    """clients keep-alive connections, each sending GET path back to back
    (the next request as soon as the answer is in) until total requests
    are answered or stop().  A response with Connection: close is honoured
    (a new connection next); a connection that ends without a whole answer
    is a failed request.  Bounded: every request has a timeout, and no
    client sends more than total."""

    def __init__(self, port, path="/", clients=8, total=100000, timeout=10.0):
        self.total = total
        self.reconnects = 0
        self._req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
        super().__init__(port, path, clients, timeout)

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _one(self, sock, buf):
        """Send one request and read its answer -> (status, close, rest)."""
        sock.sendall(self._req)
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the answer (%d bytes of it)" % len(buf))
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            fields[k.strip().lower()] = v.strip()
        need = int(fields.get(b"content-length", b"0"))
        while len(rest) < need:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-body")
            rest += chunk
        return status, fields.get(b"connection", b"").lower() == b"close", rest[need:]

    def _run(self):
        sock, buf = None, b""
        for _ in range(self.total):
            if self._stop.is_set() or self.ok >= self.total:
                break
            try:
                if sock is None:
                    sock, buf = self._connect(), b""
                status, close, buf = self._one(sock, buf)
                good, detail = status == 200, status
            except Exception as e:  # noqa: BLE001 - any failure counts
                good, detail, close = False, repr(e), True
            with self._lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append(detail)
                if close:
                    self.reconnects += 1
            if close and sock is not None:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()


def _read_to_close(sock):
    """Everything until the peer closes (bounded: 10,000 reads)."""
    data = b""
    for _ in range(10000):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def http_get(host, port, path, timeout=5.0):
    """GET against the stats server (HTTP/1.0, read to close) -> (status, body)."""
    with socket.create_connection((host, port), timeout) as s:
        s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        data = _read_to_close(s)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode("utf-8")


def stats(port):
    status, body = http_get("127.0.0.1", port, "/")
    assert status == 200, (status, body)
    return json.loads(body)


def control(path, line, timeout=10.0):
    """One control-socket command -> the whole answer as text."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        return _read_to_close(s).decode("utf-8")


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_prometheus(text):
    """Prometheus text format 0.0.4 -> ({name: type}, [(name, {labels}, value)]).
    Raises ValueError on any line that is not a comment, blank or sample."""
    types, samples = {}, []
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if kind not in ("counter", "gauge", "histogram", "summary", "untyped"):
                raise ValueError("bad type line %r" % line)
            types[name] = kind
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError("bad sample line %r" % line)
        labels, rest = {}, m.group(3) or ""
        pos = 0
        while pos < len(rest):
            lm = _LABEL.match(rest, pos)
            if not lm:
                raise ValueError("bad labels in %r" % line)
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        value = float(m.group(4))  # accepts +Inf, NaN too
        base = re.sub(r'_(bucket|sum|count|total)$', "", m.group(1))
        if m.group(1) not in types and base not in types:
            raise ValueError("sample %r has no TYPE line" % line)
        samples.append((m.group(1), labels, value))
    return types, samples
