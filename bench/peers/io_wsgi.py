"""An IO-bound WSGI view for bench/wsgi: sleeps 10 ms (a stand-in for a
database or an HTTP call), then answers.  P processes x T threads can at
best answer P * T / 0.010 requests per second."""

import time

BODY = b"slept 10 ms"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    time.sleep(0.010)
    start_response("200 OK", HEADERS)
    return [BODY]


application = app
