"""Replay llhttp 8.1.0's request test cases (TESTING.md, ../shared/corpora/
llhttp-8.1.0/*.md, MIT) at a running server.

Each case in llhttp's markdown is a fenced ```http block (the raw request;
newlines become CRLF, and \\r \\n \\t \\f \\xNN \\NNN are escapes) followed by
a ```log block with what llhttp's parser reported.  llhttp's own runner
(test/md-test.ts) defines the format; parse_cases() below follows it.

What the server must do with each case:

  refuse   llhttp (strict mode, no lenient flag) reports an error, or the
           case only passes with a lenient flag or in loose mode: one 4xx
           (not 408, so the refusal is not just a timeout; 501/505 allowed
           for an unknown method or version, TESTING case 9) and a closed
           connection.  When the error is only "data after the request that
           ended the connection" (Connection: close, HTTP/1.0), answering
           that request and closing counts too: nothing after it is parsed.
  serve    everything else: each complete request gets a normal answer
           (2xx/3xx or the router's 404/405, never 400 or 5xx), and the
           connection state matches the answer (closed after
           "Connection: close", open otherwise).
  upgrade  Upgrade/CONNECT requests llhttp stops at: spindle answers the
           request (non-5xx) and closes; it never switches protocols.

Cases on HTTP/1.1 without a Host header are sent twice: as they are, where
spindle must answer 400 and close (TESTING case 8, RFC 9112 3.2), and with
"Host: x" added after each request line that lacks one, which must then
meet the expectation above.  Response cases (type=response) are skipped;
request-finish cases are sent followed by a half-close (llhttp_finish).
DEVIATIONS lists strict-valid cases spindle refuses by its own, stricter
policy, each with the reason; they are checked to be refused.
"""

import json
import os
import re
import socket
import threading
import time
import unittest

from spindle_harness import (SRC, ServerCase, connect, default_config, parse_one, Incomplete)

CORPUS_NAME = "llhttp-8.1.0"
CORPUS_DIRS = [os.path.join(os.environ.get("SPINDLE_CORPORA", ""), CORPUS_NAME)
               if os.environ.get("SPINDLE_CORPORA") else "",
               os.path.join(SRC, "..", "shared", "corpora", CORPUS_NAME),
               "/work/shared/corpora/" + CORPUS_NAME]
VERBOSE = bool(os.environ.get("SPINDLE_CORPUS_VERBOSE"))
PER_CASE = 3.0  # seconds to read one case's answers (timeout-header is 2 s)
BUDGET = 80.0   # seconds for the whole replay

# (file, heading) -> why spindle refuses a case llhttp's strict parser accepts.
DEVIATIONS = {
    ("sample.md", "No HTTP version"):
        "HTTP/0.9 request line (no version): spindle speaks HTTP/1.x only",
    ("sample.md", "Line folding in header value with CRLF"):
        "obs-fold is refused (RFC 9112 5.2 allows 400; TESTING case 7)",
    ("sample.md", "X-SSL-Nonsense"):
        "obs-fold is refused (RFC 9112 5.2 allows 400; TESTING case 7)",
    ("method.md", "SOURCE request with ICE"):
        "ICE/1.0 is not HTTP: refused",
    ("method.md", "OPTIONS request with RTSP"):
        "RTSP/1.0 is not HTTP: refused",
    ("method.md", "ANNOUNCE request with RTSP"):
        "RTSP/1.0 is not HTTP: refused",
    ("transfer-encoding.md", "POST with `chunked` as last transfer-encoding"):
        "transfer codings other than chunked are not decoded: refused (TESTING case 3)",
    ("transfer-encoding.md", "POST with `chunked` as last transfer-encoding (multiple headers)"):
        "transfer codings other than chunked are not decoded: refused (TESTING case 3)",
    ("method.md", "M-SEARCH request"):
        "the asterisk target is for OPTIONS only (RFC 9112 3.2.4); SSDP is not served",
    ("transfer-encoding.md", "Trailing headers"):
        "Content-Type in a trailer is refused: fields that say how to read the content "
        "must precede it (RFC 9110 6.5.1)",
    ("uri.md", "Fragment in URI"):
        "a fragment in the request target is refused (RFC 9112 3.2; TESTING case 9)",
}


def corpus_dir():
    for d in CORPUS_DIRS:
        if d and os.path.isdir(d):
            return d
    return None


def unescape(text):
    """md-test.ts's input transformation, on bytes (the markdown is UTF-8;
    \\xNN escapes are raw bytes)."""
    if text.endswith("\n"):
        text = text[:-1]
    b = text.encode("utf-8")
    b = re.sub(rb"\\(\r\n|\r|\n)", b"", b)
    b = re.sub(rb"\r\n|\r|\n", b"\r\n", b)
    b = b.replace(b"\\r", b"\r").replace(b"\\n", b"\n").replace(b"\\t", b"\t").replace(b"\\f", b"\f")
    b = re.sub(rb"\\x([0-9a-fA-F]+)", lambda m: bytes([int(m.group(1), 16) & 0xFF]), b)
    b = re.sub(rb"\\([0-7]{1,3})", lambda m: bytes([int(m.group(1), 8) & 0xFF]), b)
    return b


def parse_cases(path):
    """[{file, line, name, meta, input, log}] from one llhttp markdown file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, heading, meta, cur = [], None, None, None
    i = 0
    for _ in range(len(lines) + 1):
        if i >= len(lines):
            break
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("<!-- meta="):
            meta = json.loads(line[len("<!-- meta="):].rsplit("-->", 1)[0])
        elif line.startswith("```") and line[3:].strip():
            lang, start = line[3:].strip(), i + 1
            i = start
            while i < len(lines) and not lines[i].startswith("```"):
                i += 1
            value = "\n".join(lines[start:i]) + "\n"
            if lang == "http":
                cur = {"file": os.path.basename(path), "line": start, "name": heading,
                       "meta": meta or {}, "input": unescape(value)}
                meta = None
            elif lang == "log" and cur is not None:
                cur["log"] = value
                out.append(cur)
                cur = None
        i += 1
    return out


def messages(log):
    """Per message in the log: dict(version, has_host, line_end, complete)."""
    msgs = []
    field = None
    for line in log.split("\n"):
        m = re.match(r"off=(\d+) (.*)$", line)
        if not m:
            continue
        off, what = int(m.group(1)), m.group(2)
        if what == "message begin":
            msgs.append({"version": None, "has_host": False, "line_end": None, "complete": False,
                         "method": None})
        elif not msgs:
            continue
        elif what.startswith("len=") and "span[method]" in what:
            msgs[-1]["method"] = what.split('="', 1)[1].rstrip('"')
        elif what.startswith("len=") and "span[version]" in what:
            msgs[-1]["version"] = what.split('="', 1)[1].rstrip('"')
        elif what == "version complete":
            msgs[-1]["line_end"] = off
        elif "span[header_field]" in what:
            field = what.split('="', 1)[1].rstrip('"')
        elif what == "header_field complete" and field and field.lower() == "host":
            msgs[-1]["has_host"] = True
        elif what == "message complete":
            msgs[-1]["complete"] = True
    return msgs


def add_host(data, log):
    """data with "Host: x" after each HTTP/1.1 request line lacking a Host,
    or None when every message already has one (or none is 1.1)."""
    inserts = []
    for m in messages(log):
        if m["version"] == "1.1" and not m["has_host"] and m["line_end"] is not None:
            at = m["line_end"]
            if data[at:at + 2] == b"\r\n":
                inserts.append(at + 2)
    if not inserts:
        return None
    for at in sorted(inserts, reverse=True):
        data = data[:at] + b"Host: x\r\n" + data[at:]
    return data


def classify(case):
    """'refuse', 'serve' or 'upgrade' (see the module doc), or None to skip."""
    ty = case["meta"].get("type", "")
    if not ty.startswith("request"):
        return None
    if case["meta"].get("skipBody"):
        return None  # llhttp API case (on_headers_complete skips the body): not a wire format
    log = case["log"]
    errors = re.findall(r'error code=(\d+) reason="([^"]*)"', log)
    if ty.startswith("request-lenient") or case["meta"].get("mode") == "loose":
        return "refuse"
    if errors:
        code = errors[0][0]
        if code == "22":  # Pause on CONNECT/Upgrade: not an error
            return "upgrade"
        return "refuse"
    return "serve"


def exchange(port, data, half_close=False, timeout=PER_CASE, methods=()):
    """Send data, read until the server closes or timeout.  Returns
    (responses, how, leftover bytes)."""
    rs, buf, how = [], b"", "timeout"
    deadline = time.monotonic() + timeout
    with connect(port, 2.0) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        for _ in range(10000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
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
    pos = 0
    for i in range(100):
        head = i < len(methods) and methods[i] == "HEAD"
        try:
            r, pos = parse_one(buf, pos, head=head, eof=(how in ("closed", "reset")))
        except (Incomplete, ValueError):
            break
        rs.append(r)
    return rs, how, buf[pos:]


def normal(status):
    return 200 <= status < 400 or status in (404, 405)


class LlhttpCorpus(ServerCase):
    # timeout-header 2 s: a request spindle wrongly waits on shows as 408,
    # which never counts as a refusal.
    config = default_config(("hello", "echo"), processes=2, threads=4,
                            timeout_header=2, timeout_body=2, timeout_keepalive=1)

    def check_case(self, case, kind):
        """None when the case behaves, else a text saying how it did not."""
        data = case["input"]
        finish = case["meta"].get("type") == "request-finish"
        key = (case["file"], case["name"])
        problems = []

        with_host = add_host(data, case["log"])
        runs = [("as is", data)]
        if with_host is not None:
            runs.append(("with Host", with_host))

        for label, payload in runs:
            rs, how, rest = exchange(self.port, payload, half_close=finish,
                                     methods=[m["method"] for m in messages(case["log"])])
            statuses = [r.status for r in rs]
            desc = "%s: sent %r -> %s, %s, leftover %r" % (label, payload[:300], statuses, how,
                                                          rest[:80])
            if VERBOSE:
                print("CASE %s:%d %s [%s] %s" % (case["file"], case["line"], case["name"], kind,
                                                  desc))
            closed = how in ("closed",)
            if label == "as is" and with_host is not None:
                # HTTP/1.1 without Host: refused with 400 (TESTING case 8),
                # unless an earlier problem in the bytes is refused first.
                # An incomplete request ended by EOF (request-finish) may
                # get nothing or a 4xx (408 included) before the close.
                if not (statuses and 400 <= statuses[-1] < 500 and statuses[-1] != 408
                        and closed) and not (finish and closed and all(
                            400 <= s < 500 for s in statuses)):
                    problems.append("no Host must be 400 + close; " + desc)
                continue
            if key in DEVIATIONS or kind == "refuse":
                ok = closed and (
                    (statuses and (400 <= statuses[-1] < 500 and statuses[-1] != 408
                                   or statuses[-1] in (501, 505)))
                    or (statuses and (rs[-1].header("Connection") or "").lower() == "close"
                        and all(normal(s) for s in statuses))
                    or (finish and not statuses))
                if not ok:
                    problems.append("must be refused (4xx + close); " + desc)
            elif kind == "upgrade":
                if not (statuses and statuses[0] < 500 and statuses[0] != 408 and closed):
                    problems.append("upgrade request: an answer then close; " + desc)
            else:
                n = sum(1 for m in messages(case["log"]) if m["complete"])
                if finish and n == 0:
                    if not closed or any(normal(s) for s in statuses):
                        problems.append("incomplete request + EOF: close, no answer; " + desc)
                    continue
                got = statuses[:n]
                if len(got) < n or not all(normal(s) for s in got):
                    problems.append("%d normal answers expected; %s" % (n, desc))
                    continue
                if n and (rs[n - 1].header("Connection") or "").lower() == "close" and not closed:
                    problems.append("answered Connection: close but kept open; " + desc)
        return "; ".join(problems) or None

    def test_replay(self):
        d = corpus_dir()
        if d is None:
            self.skipTest("llhttp-8.1.0 corpus not found (looked in %s)"
                          % ", ".join(x for x in CORPUS_DIRS if x))
        cases = []
        for name in sorted(os.listdir(d)):
            if name.endswith(".md"):
                cases.extend(parse_cases(os.path.join(d, name)))
        self.assertGreater(len(cases), 50, "parsed only %d cases from %s" % (len(cases), d))
        workers = self.server.workers()
        todo = []
        skipped = 0
        for c in cases:
            kind = classify(c)
            if kind is None:
                skipped += 1
            else:
                todo.append((c, kind))
        results = {}
        lock = threading.Lock()
        it = iter(todo)
        deadline = time.monotonic() + BUDGET

        def run():
            for _ in range(len(todo)):
                if time.monotonic() > deadline:
                    return
                with lock:
                    item = next(it, None)
                if item is None:
                    return
                c, kind = item
                try:
                    err = self.check_case(c, kind)
                except OSError as e:
                    err = "socket error %r" % e
                with lock:
                    results[(c["file"], c["line"])] = (c, kind, err)

        ts = [threading.Thread(target=run) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(BUDGET + 20)
        counts = {}
        for c, kind, err in results.values():
            k = "deviation" if (c["file"], c["name"]) in DEVIATIONS else kind
            counts[k] = counts.get(k, 0) + 1
        print("llhttp corpus: %d cases, %d skipped (responses, skipBody), replayed %d: %s"
              % (len(cases), skipped, len(results),
                 ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
        self.assertEqual(len(results), len(todo), "replayed only %d of %d cases in %ds"
                         % (len(results), len(todo), BUDGET))
        bad = ["%s:%d %s [%s]: %s" % (c["file"], c["line"], c["name"], kind, err)
               for c, kind, err in sorted(results.values(), key=lambda x: (x[0]["file"], x[0]["line"]))
               if err]
        self.assertEqual(self.server.workers(), workers, "worker pids changed")
        self.assertFalse(bad, "%d case(s) misbehaved:\n" % len(bad) + "\n".join(bad))


if __name__ == "__main__":
    unittest.main()
