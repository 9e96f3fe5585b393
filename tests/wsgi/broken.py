"""An application whose import fails one level down (test_wsgi.py)."""

import helper_that_is_not_there  # noqa: F401


def application(environ, start_response):
    raise AssertionError("never imported")
