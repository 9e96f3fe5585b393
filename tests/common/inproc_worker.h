/*
 * inproc_worker.h - one spindle worker inside a test process, for the
 * harnesses that drive the real connection code over a socketpair
 * (tests/fuzz/fuzz_conn.c, tests/perf/insn_per_request.c).
 *
 * Real: the worker struct, its event base with the completion eventfd the
 * handler thread posts to, the request queue, the loop's turns with their
 * quick requests, and one handler thread running sp__conn_handle.  Left
 * out: fork, listeners, signals, timers, the loop's watch.
 * The caller adds routes and middleware to ip->app, starts the thread,
 * opens connections with sp__conn_open(&ip->w, ...) and runs the loop
 * (sp__inproc_run, or ip->w.base with its own way of stopping).
 */
#ifndef SPINDLE_TESTS_INPROC_WORKER_H
#define SPINDLE_TESTS_INPROC_WORKER_H

#include <pthread.h>

#include "app/app.h"
#include "server/worker/worker.h"

typedef struct sp__inproc {
    sp__worker w;
    sp__config cfg;
    sp__listeners no_listeners;
    struct sp_app app;
    pthread_t thread;
} sp__inproc;

/* Every timeout timeout_ms; max_keepalive 0 = unlimited. */
void sp__inproc_init(sp__inproc *ip, int timeout_ms, int max_keepalive);
/* Start the handler thread (after the routes are in).  0 or -1. */
int sp__inproc_start(sp__inproc *ip);
/* Run the IO loop until no connection is left open. */
void sp__inproc_run(sp__inproc *ip);

#endif
