/*
 * facts.c - what a module may ask of the server outside a request: the
 * error log, which worker and which thread it runs on, and when the
 * current request began.
 *
 * The worker (server/worker/scoreboard.c) tells this file who it is as it
 * binds each thread; modules read it back through the public getters.
 * Process-wide and thread-local on purpose: these calls take no context
 * object, like errno.
 */
#include "app/facts.h"

#include <stdarg.h>

#include "server/lib/log.h"
#include "spindle/spindle.h"

static int worker_id;
static _Thread_local int thread_index;
static _Thread_local const _Atomic uint64_t *thread_start_ns;

void sp__facts_set_worker(int id)
{
    worker_id = id;
}

void sp__facts_set_thread(int index, const _Atomic uint64_t *start_ns)
{
    thread_index = index;
    thread_start_ns = start_ns;
}

SP_EXPORT void sp_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp__logv(level, fmt, ap);
    va_end(ap);
}

SP_EXPORT int sp_worker_id(void)
{
    return worker_id;
}

SP_EXPORT int sp_thread_index(void)
{
    return thread_index;
}

SP_EXPORT uint64_t sp_request_start_ns(const sp_request *req)
{
    return req != NULL && thread_start_ns != NULL ? atomic_load(thread_start_ns) : 0;
}
