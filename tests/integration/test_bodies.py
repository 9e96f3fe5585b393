"""Request bodies past body-buffer-size (temp files), limit-body refusals,
and lingering close (issue 4; TESTING.md cases 10, 13).

Bodies above body-buffer-size go to an unnamed temp file in body-temp-path:
it must exist (as an open, deleted file of the worker) only while its
request is in flight, and the folder must stay empty.  A refused request
must reach the client whole, never destroyed by a TCP reset while the
client is still sending."""

import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest

from spindle_harness import (WAIT, Conn, ServerCase, build_request, connect, default_config,
                             parse_responses, read_until_close, send_all, wait_until)

LIMIT = 1 << 20


def temp_fds(pid, folder):
    """Links of pid's descriptors that point into folder (deleted files)."""
    out = []
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for n in names:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            continue
        if link.startswith(folder + "/"):
            out.append(link)
    return out


def pattern(n, seed=7):
    """n bytes that are not all the same (so a shifted block shows)."""
    block = hashlib.sha256(b"%d" % seed).digest() * 2048  # 64 KiB
    return (block * (n // len(block) + 1))[:n]


def read_one_response(sock, timeout):
    """Read until one whole response is parsed; returns (Response or None,
    how): how is "ok", "closed", "reset" or "timeout" (reset/closed before
    a whole response)."""
    buf = b""
    deadline = time.monotonic() + timeout
    for _ in range(100000):
        try:
            rs = parse_responses(buf, eof=False)
            if rs:
                return rs[0], "ok"
        except ValueError:
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            return None, "timeout"
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            return None, "timeout"
        except ConnectionResetError:
            return None, "reset: had %r" % buf[:200]
        if not b:
            try:
                rs = parse_responses(buf, eof=True)
                return (rs[0], "ok") if rs else (None, "closed")
            except ValueError:
                return None, "closed: had %r" % buf[:200]
        buf += b
    return None, "timeout"


class Bodies(ServerCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="spindle-body-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.config = default_config(("hello", "echo", "tm:blob"), processes=1, threads=4,
                                    body_buffer_size="4K", limit_body="1M",
                                    body_temp_path=cls.tmp)
        super().setUpClass()

    def setUp(self):
        [self.worker] = self.server.workers()

    def assertNoTempLeft(self):
        self.assertTrue(wait_until(lambda: not temp_fds(self.worker, self.tmp), WAIT),
                        "temp file descriptors left: %r" % temp_fds(self.worker, self.tmp))
        self.assertEqual(os.listdir(self.tmp), [], "body-temp-path not empty")

    def test_file_responses_keep_no_descriptor(self):
        """sp_send_file on a keep-alive connection: every response whole,
        and the worker holds no descriptor of the file once they are out
        (one used to stay open for every file response but the last)."""
        folder = tempfile.mkdtemp(prefix="spindle-file-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "data")
        data = pattern(100 * 1024, 5)
        with open(path, "wb") as f:
            f.write(data)
        with Conn(self.port, 10.0) as c:
            for i in range(20):
                r = c.request("GET", "/blob/file?path=" + path)
                self.assertEqual(r.status, 200, "request %d" % i)
                self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(data).digest(),
                                 "request %d" % i)
            self.assertTrue(wait_until(lambda: not temp_fds(self.worker, folder), WAIT),
                            "file descriptors left open: %d" % len(temp_fds(self.worker, folder)))
        self.assertEqual(temp_fds(self.worker, folder), [])

    def test_static_body_reaches_a_late_reader_whole(self):
        """sp_send_static is not copied: what the socket does not take at
        once, the IO loop writes later from the module's own memory.  A
        client that starts reading only then gets every byte, and the next
        answer on the connection after it."""
        size = 12 * 1024 * 1024 + 17
        want = (bytes(range(251)) * (size // 251 + 1))[:size]
        # A small receive window, so that most of it cannot go out at once.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.settimeout(5.0)
        s.connect(("127.0.0.1", self.port))
        with Conn(sock=s) as c:
            c.send(build_request("GET", "/blob?size=%d&mode=static" % size) +
                   build_request("GET", "/blob?size=1000&mode=static"))
            time.sleep(0.3)  # the socket fills; the handler has long returned
            r = c.read_response(timeout=20.0)
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), size)
            self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(want).digest())
            r = c.read_response(timeout=20.0)
            self.assertEqual((r.status, r.body), (200, want[:1000]))

    def test_large_body_echoed(self):
        for size in (4096 + 1, 300 * 1024, LIMIT):
            body = pattern(size, size)
            with Conn(self.port, 10.0) as c:
                r = c.request("POST", "/blob", body=body)
            self.assertEqual(r.status, 200, "size %d" % size)
            self.assertEqual(len(r.body), size)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(body).hexdigest(),
                             "size %d echoed wrong" % size)
        self.assertNoTempLeft()

    def test_large_chunked_body_echoed(self):
        body = pattern(700 * 1024, 3)
        chunks = b"".join(b"%x\r\n" % len(body[i:i + 16384]) + body[i:i + 16384] + b"\r\n"
                          for i in range(0, len(body), 16384)) + b"0\r\n\r\n"
        with Conn(self.port, 10.0) as c:
            c.send(build_request("POST", "/blob", [("Transfer-Encoding", "chunked")], chunks))
            r = c.read_response(timeout=10.0)
        self.assertEqual(r.status, 200)
        self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(body).digest())
        self.assertNoTempLeft()

    def test_temp_file_while_body_read_then_gone(self):
        size = 512 * 1024
        body = pattern(size, 11)
        self.assertEqual(temp_fds(self.worker, self.tmp), [])
        # No shipped module holds its handler with a body, so the file is
        # observed while the body is being read (spilled past 4K), then
        # checked gone once the answer is out.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10.0)
        s.connect(("127.0.0.1", self.port))
        with s:
            s.sendall(build_request("POST", "/blob", [("Content-Length", str(size))]))
            s.sendall(body[:100 * 1024])
            fds = wait_until(lambda: temp_fds(self.worker, self.tmp), WAIT)
            self.assertTrue(fds, "no temp file while a %d-byte body is being read" % size)
            self.assertTrue(all(f.endswith("(deleted)") for f in fds), fds)
            self.assertEqual(os.listdir(self.tmp), [], "the temp file has a name")
            s.sendall(body[100 * 1024:])
            c_buf = b""
            deadline = time.monotonic() + 10.0
            for _ in range(100000):
                try:
                    rs = parse_responses(c_buf, eof=False)
                    if rs:
                        break
                except ValueError:
                    pass
                if time.monotonic() > deadline:
                    break
                b = s.recv(1 << 20)
                if not b:
                    break
                c_buf += b
            rs = parse_responses(c_buf, eof=False)
            self.assertEqual(rs[0].status, 200)
            self.assertEqual(hashlib.sha256(rs[0].body).digest(), hashlib.sha256(body).digest())
            # The connection is still open (keep-alive); the file must be gone.
            self.assertNoTempLeft()
        self.assertNoTempLeft()

    def test_temp_file_released_when_client_leaves_mid_body(self):
        with connect(self.port, 5.0) as s:
            s.sendall(build_request("POST", "/blob", [("Content-Length", str(LIMIT))]))
            s.sendall(pattern(64 * 1024))
            self.assertTrue(wait_until(lambda: temp_fds(self.worker, self.tmp), WAIT))
        self.assertNoTempLeft()
        self.assertProbeOK()

    def test_content_length_over_limit_413_before_body(self):
        with connect(self.port, 5.0) as s:
            s.sendall(build_request("POST", "/blob", [("Content-Length", str(LIMIT + 1))]))
            r, how = read_one_response(s, 3.0)  # nothing of the body was sent
            self.assertEqual(how, "ok")
            self.assertEqual(r.status, 413)
            data, how = read_until_close(s, 3.0)
            self.assertEqual(how, "closed", "not closed after 413 (%r)" % data[:100])
        self.assertNoTempLeft()

    def test_chunked_body_past_limit_413(self):
        piece = b"c" * 65536
        chunk = b"10000\r\n" + piece + b"\r\n"
        with connect(self.port, 10.0) as s:
            s.sendall(build_request("POST", "/blob", [("Transfer-Encoding", "chunked")]))
            sender = threading.Thread(target=send_all, args=(s, chunk * 24), daemon=True)
            sender.start()  # 1.5 MiB, more than limit-body, never ended
            r, how = read_one_response(s, 5.0)
            sender.join(10)
        self.assertEqual(how, "ok", "no whole answer to a chunked body over the limit")
        self.assertEqual(r.status, 413)
        self.assertNoTempLeft()
        self.assertProbeOK()

    # Lingering close ----------------------------------------------------------
    def test_413_readable_while_client_still_sends(self):
        """A client that sends a 4 MiB body without reading first (as most
        simple clients do) still gets the whole 413, not a reset."""
        size = 4 << 20
        with connect(self.port, 10.0) as s:
            send_all(s, build_request("POST", "/blob", [("Content-Length", str(size))])
                     + b"z" * size)
            r, how = read_one_response(s, 5.0)
        self.assertEqual(how, "ok", "413 lost: " + how)
        self.assertEqual(r.status, 413)

    def test_413_readable_with_concurrent_sender(self):
        size = 4 << 20
        with connect(self.port, 10.0) as s:
            s.sendall(build_request("POST", "/blob", [("Content-Length", str(size))]))
            sender = threading.Thread(target=send_all, args=(s, b"z" * size), daemon=True)
            sender.start()
            r, how = read_one_response(s, 5.0)
            sender.join(10)
        self.assertEqual(how, "ok", "413 lost: " + how)
        self.assertEqual(r.status, 413)

    def test_400_mid_pipeline_readable(self):
        """200, then 400 for a bad request, with 2 MiB more pipelined behind
        it: both answers arrive whole before the connection ends."""
        good = build_request("GET", "/hello?name=one")
        bad = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
        more = build_request("GET", "/hello?name=SMUGGLED") * 40000  # ~2 MiB
        with connect(self.port, 10.0) as s:
            sender = threading.Thread(target=send_all, args=(s, good + bad + more), daemon=True)
            sender.start()
            buf = b""
            how = "timeout"
            deadline = time.monotonic() + 5.0
            for _ in range(100000):
                if time.monotonic() > deadline:
                    break
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    how = "reset"
                    break
                if not b:
                    how = "closed"
                    break
                buf += b
            sender.join(10)
        self.assertNotIn(b"SMUGGLED", buf)
        try:
            rs = parse_responses(buf, eof=True)
        except ValueError as e:
            self.fail("answers cut short (%s, %s): %r" % (e, how, buf[-200:]))
        self.assertEqual([r.status for r in rs], [200, 400], buf[:500])
        self.assertIn(how, ("closed", "reset"))


class InMemoryBodies(ServerCase):
    """Bodies that stay in memory: past the head, the rest of a
    Content-Length body is read straight into its buffer, whatever pieces
    it arrives in, and what follows it is the next request."""

    @classmethod
    def setUpClass(cls):
        cls.config = default_config(("hello", "tm:blob"), processes=1, threads=2,
                                    body_buffer_size="2M", limit_body="2M")
        super().setUpClass()

    def test_body_in_pieces_then_a_pipelined_request(self):
        for size in (1, 10, 4095, 65536 + 3, 1 << 20, 2 << 20):
            body = pattern(size, size)
            head = build_request("POST", "/blob", [("Content-Length", str(size))])
            # the head with a few body bytes, then pieces of every size, the
            # last with the next request behind it
            sends, at, step = [head + body[:7]], 7, 1
            while at < size:
                sends.append(body[at:at + step])
                at, step = at + step, step * 16
            sends[-1] += build_request("GET", "/")
            with Conn(self.port, 10.0) as c:
                for piece in sends:
                    c.send(piece)
                    time.sleep(0.005)
                r = c.read_response(timeout=10.0)
                self.assertEqual(r.status, 200, "size %d" % size)
                self.assertEqual(len(r.body), size)
                self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(body).digest(),
                                 "size %d echoed wrong" % size)
                r = c.read_response(timeout=10.0)
                self.assertEqual((r.status, r.body), (200, b"Hello, World!"), "size %d" % size)

    def test_bodies_of_falling_and_rising_sizes_on_one_connection(self):
        with Conn(self.port, 10.0) as c:
            for size in (1 << 20, 100, 300 * 1024, 0, 2 << 20, 5):
                body = pattern(size, size + 1)
                r = c.request("POST", "/blob", body=body)
                self.assertEqual(r.status, 200, "size %d" % size)
                self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(body).digest(),
                                 "size %d echoed wrong" % size)

    def test_upgrade_request_body_in_pieces_answered_then_closed(self):
        body = pattern(5000)
        head = build_request("POST", "/blob", [("Content-Length", str(len(body))),
                                               ("Connection", "Upgrade"),
                                               ("Upgrade", "websocket")])
        for pieces in ([head + body], [head + body[:10], body[10:]]):
            with Conn(self.port, 10.0) as c:
                for piece in pieces:
                    c.send(piece)
                    time.sleep(0.02)
                r = c.read_response(timeout=10.0)
                self.assertEqual((r.status, r.body), (200, body))
                self.assertTrue(c.is_closed(timeout=5.0))

    def test_client_gone_mid_body(self):
        with connect(self.port, 5.0) as s:
            s.sendall(build_request("POST", "/blob", [("Content-Length", "1000000")]) +
                      pattern(300000))
            time.sleep(0.05)
        with Conn(self.port, 10.0) as c:
            self.assertEqual(c.request("POST", "/blob", body=b"after").body, b"after")


if __name__ == "__main__":
    unittest.main()
