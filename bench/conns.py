#!/usr/bin/env python3
"""conns.py - connection-level clients for bench/run (stdlib only).

  conns.py idle HOST PORT N     open N keep-alive connections, one GET / on
                                each (at most 256 in flight), keep them open;
                                print "ready OPEN" when all answered, then hold
                                them until stdin closes
  conns.py fresh HOST PORT K    K fresh connections, one GET / each; print
                                "p50_ms max_ms" of connect-to-answer time
  conns.py seq HOST PORT N      N sequential GET / on one keep-alive connection
                                (a fixed request count, for callgrind)
"""
import selectors
import socket
import statistics
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def answered(buf):
    """Whole answers at the front of buf: (count, rest)."""
    n = 0
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return n, buf
        head = buf[:end].lower()
        i = head.find(b"content-length:")
        length = int(head[i + 15:].split(b"\r\n", 1)[0]) if i >= 0 else 0
        if len(buf) < end + 4 + length:
            return n, buf
        buf = buf[end + 4 + length:]
        n += 1


def idle(host, port, n):
    sel = selectors.DefaultSelector()
    todo, inflight, held, failed = n, 0, [], 0
    while todo or inflight:
        while todo and inflight < 256:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            sel.register(s, selectors.EVENT_WRITE, [b"", False])
            todo -= 1
            inflight += 1
        for key, ev in sel.select(timeout=10):
            s, st = key.fileobj, key.data
            try:
                if not st[1]:
                    s.send(REQUEST)
                    st[1] = True
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                failed += 1
                sel.unregister(s)
                s.close()
                inflight -= 1
                continue
            st[0] += data
            done, st[0] = answered(st[0])
            if done:
                sel.unregister(s)
                held.append(s)
                inflight -= 1
    print("ready %d failed %d" % (len(held), failed), flush=True)
    sys.stdin.read()
    for s in held:
        s.close()


def one(host, port):
    t = time.perf_counter()
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(REQUEST)
    buf = b""
    while True:
        data = s.recv(65536)
        if not data:
            raise RuntimeError("closed before the answer")
        buf += data
        if answered(buf)[0]:
            break
    ms = (time.perf_counter() - t) * 1000
    s.close()
    return ms


def fresh(host, port, k):
    times = []
    for _ in range(k):
        times.append(one(host, port))
        time.sleep(0.02)
    print("%.2f %.2f" % (statistics.median(times), max(times)))


def seq(host, port, n):
    s = socket.create_connection((host, port), timeout=30)
    buf = b""
    for _ in range(n):
        s.sendall(REQUEST)
        while True:
            done, rest = answered(buf)
            if done:
                buf = rest
                break
            data = s.recv(65536)
            if not data:
                raise RuntimeError("closed early")
            buf += data
    s.close()


if __name__ == "__main__":
    cmd, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    {"idle": idle, "fresh": fresh, "seq": seq}[cmd](host, port, n)
