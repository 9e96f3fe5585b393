#!/usr/bin/env python3
"""startup.py - milliseconds from exec to READY=1 (bench/run's start-up case).

  startup.py SPINDLE INI

Listens on a unix datagram socket, starts SPINDLE INI with NOTIFY_SOCKET
pointing at it (in a session of its own), and times exec -> the master's
READY=1, which it sends once every worker reported ready (each has loaded
the modules, started its threads and begun accepting).  Then stops the
group it started (TERM, KILL after 10 s) and prints the milliseconds.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

spindle, ini = sys.argv[1], sys.argv[2]
d = tempfile.mkdtemp(prefix="spindle-notify.")
path = os.path.join(d, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(10)
env = dict(os.environ, NOTIFY_SOCKET=path)
t0 = time.perf_counter()
p = subprocess.Popen([spindle, ini], env=env, start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ms = None
try:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        if "READY=1" in msg.split("\n"):
            ms = (time.perf_counter() - t0) * 1000
            break
finally:
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    except ProcessLookupError:
        pass
    s.close()
    os.unlink(path)
    os.rmdir(d)
if ms is None:
    sys.exit("no READY=1")
print("%.1f" % ms)
