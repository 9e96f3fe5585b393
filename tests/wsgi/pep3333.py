"""A hand-written PEP 3333 application for tests/integration/test_wsgi.py.

Each path exercises one part of the server side of the PEP; most of them
run behind wsgiref.validate.validator, which asserts the server keeps its
half of the contract (environ types and keys, wsgi.input and wsgi.errors
methods, start_response's rules, close() called).  The file_wrapper paths
run without it: the validator wraps the iterable, which hides the
wrapper from the server.

State the tests read back (close() calls, reads) is appended to files in
the folder named by $PEP3333_STATE, so any worker's answer is visible.
"""

import hashlib
import io
import json
import os
import sys
from wsgiref.validate import validator

import overlap

STATE = os.environ.get("PEP3333_STATE", "/tmp")


def record(name, line):
    with open(os.path.join(STATE, name), "a") as f:
        f.write(line + "\n")


def text(start_response, body, status="200 OK", ctype="text/plain"):
    body = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


class Closing:
    """An iterable that records its close(); fail_at raises mid-way."""

    def __init__(self, tag, parts, fail_at=None):
        self.tag, self.parts, self.fail_at = tag, parts, fail_at

    def __iter__(self):
        for i, p in enumerate(self.parts):
            if i == self.fail_at:
                raise RuntimeError("failing mid-body on purpose")
            yield p

    def close(self):
        record("closed", self.tag)


class CountingFile(io.FileIO):
    """A real file that counts the bytes Python reads from it."""

    def read(self, n=-1):
        data = super().read(n)
        record("file_reads", str(len(data)))
        return data


def environ_view(environ, start_response):
    out = {}
    for k, v in environ.items():
        if isinstance(v, (str, bool, int)) or (isinstance(v, tuple) and k == "wsgi.version"):
            out[k] = v
        else:
            out[k] = "<%s>" % type(v).__name__
    out["has_file_wrapper"] = callable(environ.get("wsgi.file_wrapper"))
    return text(start_response, json.dumps(out), ctype="application/json")


def body_view(environ, start_response):
    """Reads the body the way ?how= says; answers its size, sha256, lines."""
    how = environ.get("QUERY_STRING", "") or "read"
    inp = environ["wsgi.input"]
    lines = 0
    if how == "read":
        data = inp.read(int(environ.get("CONTENT_LENGTH") or 0))
    elif how == "chunks":
        parts = []
        while True:
            p = inp.read(7777)
            if not p:
                break
            parts.append(p)
        data = b"".join(parts)
    elif how == "readline":
        parts = []
        while True:
            line = inp.readline()
            if not line:
                break
            lines += 1
            parts.append(line)
        data = b"".join(parts)
    elif how == "limit":
        parts = []
        while True:
            line = inp.readline(100)
            if not line:
                break
            assert len(line) <= 100, len(line)
            parts.append(line)
        data = b"".join(parts)
    elif how == "iter":
        parts = list(inp)
        lines = len(parts)
        data = b"".join(parts)
    elif how == "readlines":
        parts = inp.readlines()
        lines = len(parts)
        data = b"".join(parts)
    else:
        return text(start_response, "bad how", "400 Bad Request")
    return text(start_response, json.dumps({"size": len(data), "lines": lines,
                                            "sha256": hashlib.sha256(data).hexdigest()}),
                ctype="application/json")


def write_view(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first, ")
    write(b"second, ")
    return [b"then the iterable"]


def close_view(environ, start_response):
    tag = environ["QUERY_STRING"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing(tag, [b"a", b"b", b"c"], fail_at=1 if tag.startswith("fail") else None)


def exc_info_view(environ, start_response):
    try:
        raise KeyError("caught by the application")
    except KeyError:
        start_response("200 OK", [("Content-Type", "text/plain")])  # not sent yet
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"replaced by exc_info"]


def exc_info_late_view(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"headers are out")
    try:
        raise ValueError("too late to change the status")
    except ValueError:
        try:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        except ValueError:
            record("reraised", "yes")
            raise
    return [b"never"]


def stream_view(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        for i in range(5):
            yield ("part %d\n" % i).encode()
    return gen()


def length_view(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return iter([b"12345", b"6789"])


def error_view(environ, start_response):
    raise ZeroDivisionError("the application failed on purpose")


def print_view(environ, start_response):
    print("printed by the application: %s" % environ["QUERY_STRING"])
    environ["wsgi.errors"].write("to wsgi.errors: %s\n" % environ["QUERY_STRING"])
    environ["wsgi.errors"].flush()
    return text(start_response, "printed")


def sleep_view(environ, start_response):
    seen = overlap.in_flight()
    return text(start_response, json.dumps({"max_inflight": seen, "pid": os.getpid()}),
                ctype="application/json")


def bad_header_view(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Bad", "a\r\nInjected: 1")])
    return [b"never"]


VALIDATED = {
    "/environ": environ_view,
    "/body": body_view,
    "/write": write_view,
    "/close": close_view,
    "/exc_info": exc_info_view,
    "/stream": stream_view,
    "/error": error_view,
    "/print": print_view,
    "/sleep": sleep_view,
}

# Outside the validator: what it would refuse before the server sees it,
# or what its wrapping would hide.
RAW = {
    "/exc_info_late": exc_info_late_view,
    "/length": length_view,
    "/bad_header": bad_header_view,
}


def file_app(environ, start_response):
    path = os.environ["PEP3333_FILE"]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if environ["PATH_INFO"] == "/file/bytesio":
        with open(path, "rb") as f:
            return environ["wsgi.file_wrapper"](io.BytesIO(f.read()), 4096)
    f = CountingFile(path, "rb")
    if environ["PATH_INFO"] == "/file/offset":
        f.seek(10)
    return environ["wsgi.file_wrapper"](f, 65536)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/file/"):
        return file_app(environ, start_response)
    if path in RAW:
        return RAW[path](environ, start_response)
    view = VALIDATED.get(path)
    if view is None:
        return text(start_response, "no such page: %s" % path, "404 Not Found")
    return validator(view)(environ, start_response)
