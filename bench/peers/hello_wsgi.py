"""WSGI hello world for the peer servers in bench/run (uWSGI, gunicorn).

Same answer as spindle's hello example and nginx's `return 200`:
200, text/plain, "Hello, World!" with a Content-Length (so keep-alive works).
"""

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


# uWSGI's --wsgi-file looks for "application" by default.
application = app
