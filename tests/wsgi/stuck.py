"""A WSGI application with a view that never returns, for the harakiri
test (tests/integration/test_wsgi.py, Harakiri): GET /stuck computes for
ever in compute_forever(); anything else answers "ok"."""


def compute_forever():
    n = 0
    while True:
        n += 1


def application(environ, start_response):
    if environ["PATH_INFO"] == "/stuck":
        compute_forever()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
