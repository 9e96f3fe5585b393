"""The body of the /sleep views the thread tests call at once: a request
waits (up to 2 s) until another one is in a /sleep view of this process
too, then sleeps 0.2 s.  So two requests meet when threads run Python at
once, however the client's requests happen to be spread out in time, and
when they do not, none waits for long.  in_flight() returns the most
requests this process has seen in the view at once."""

import threading
import time

_cond = threading.Condition()
_in = 0
_most = 0


def in_flight():
    global _in, _most
    with _cond:
        _in += 1
        _most = max(_most, _in)
        _cond.notify_all()
        _cond.wait_for(lambda: _most >= 2, 2.0)
    time.sleep(0.2)
    with _cond:
        _in -= 1
        return _most
