"""Background tasks of the test project, defined from Python."""
import os
import time

import spindle


@spindle.task
def add(payload):
    """A slow sum, so a poll can see it running."""
    time.sleep(payload.get("sleep", 0))
    return {"sum": sum(payload["numbers"]), "pid": os.getpid()}


@spindle.task
def fail(payload):
    raise ValueError("this task fails on purpose")


@spindle.task
def tick():
    """Fired by [cron]; leaves a mark where the test looks."""
    with open(os.environ["DJSITE_TICKS"], "a") as f:
        f.write("%d\n" % os.getpid())
    return "ticked"
