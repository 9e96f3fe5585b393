"""Replay h2o's HTTP/1 fuzzing corpus (TESTING.md, ../shared/corpora/
h2o-http1) at a running server: whatever each stream holds, the server
stays up (same worker pids), answers only with well-formed HTTP/1.x, and a
probe still gets 200 afterwards."""

import os
import socket
import threading
import time
import unittest

from spindle_harness import SRC, ServerCase, connect, default_config, get, read_until_close

CORPUS_DIRS = [os.environ.get("SPINDLE_CORPUS_H2O", ""),
               os.path.join(SRC, "..", "shared", "corpora", "h2o-http1"),
               "/work/shared/corpora/h2o-http1"]
BUDGET = 90.0  # seconds for the whole replay
PER_STREAM = 1.0


def corpus_dir():
    for d in CORPUS_DIRS:
        if d and os.path.isdir(d):
            return d
    return None


class H2oCorpus(ServerCase):
    config = default_config(("hello", "echo"), processes=2, threads=4, timeout_header=2)

    def test_replay_stays_up(self):
        d = corpus_dir()
        if d is None:
            self.skipTest("h2o-http1 corpus not found")
        files = sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith("."))
        workers = self.server.workers()
        bad = []
        done = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + BUDGET
        it = iter(files)

        def one(path):
            with open(path, "rb") as f:
                data = f.read()
            try:
                with connect(self.port, 2.0) as s:
                    try:
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    got, _ = read_until_close(s, PER_STREAM)
            except OSError as e:
                return "connect: %r" % e
            if got and not got.startswith(b"HTTP/1."):
                return "not HTTP: %r" % got[:80]
            return None

        def run():
            for _ in range(len(files)):
                if time.monotonic() > deadline:
                    return
                with lock:
                    path = next(it, None)
                if path is None:
                    return
                err = one(path)
                with lock:
                    done[0] += 1
                    if err:
                        bad.append((os.path.basename(path), err))

        ts = [threading.Thread(target=run) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(BUDGET + 10)
        self.assertEqual(done[0], len(files), "replayed only %d of %d streams in %ds"
                         % (done[0], len(files), BUDGET))
        self.assertEqual(bad, [], "%d streams misanswered" % len(bad))
        self.assertEqual(self.server.workers(), workers,
                         "a worker died during the replay; log:\n" + self.server.log()[-3000:])
        self.assertEqual(get(self.port, "/").status, 200)


if __name__ == "__main__":
    unittest.main()
