"""The preload tests' application (test_wsgi.py, Preload): it records who
imported it, defines a task at import time, runs Python on several threads
at once, and starts a child process from a request."""
import json
import os
import subprocess

import overlap
import spindle

IMPORTED_BY = os.getpid()


@spindle.task
def double(payload):
    return {"n": payload["n"] * 2, "pid": os.getpid()}


def _json(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/pids":
        return _json(start_response, {"imported_by": IMPORTED_BY, "served_by": os.getpid()})
    if path == "/sleep":
        return _json(start_response, {"max_inflight": overlap.in_flight()})
    if path == "/subprocess":
        out = subprocess.run(["/bin/echo", "from a child"], capture_output=True, check=True)
        return _json(start_response, {"stdout": out.stdout.decode().strip()})
    if path == "/task":
        return spindle.accepted(start_response, spindle.submit(double, {"n": 21}))
    return _json(start_response, {"error": "not found"}, "404 Not Found")
