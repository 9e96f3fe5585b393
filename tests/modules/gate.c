/*
 * gate.c - handlers for the tests of quick requests and of the IO loop's
 * hand-over (server/worker/loop.h, tests/integration/test_loop.py).  Run with one
 * worker: the state below is per process.
 *
 *   GET /gate              200 "open" at once: a quick route
 *   GET /gate?hold=MS      the same route, but waits until /open is called
 *                          or MS milliseconds pass: 200 "opened" or "expired"
 *   GET /hold?hold=MS      the same handler on a route of its own (so that
 *                          its cost is told apart from /gate's)
 *   GET /open              releases every held request: 200 "released N"
 *   GET /spin?ms=MS        computes (reads the clock, never sleeps) until
 *                          /open is called or MS milliseconds pass: 200
 *                          "released" or "expired"; ms=0 answers at once
 *   GET /busy?ms=MS        sleeps MS ms, counting the /busy requests that
 *                          run at once: 200 "busy"
 *   GET /busy-max          the most that ever ran at once: 200 "N"
 *   GET /serial/spin, /serial/busy
 *                          /spin and /busy by handlers declared serial
 *                          (sp_handler_serial), as the wsgi module's are
 *
 * Every answer carries X-Thread: sp_thread_index() of the thread that ran it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <spindle/spindle.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t opened = PTHREAD_COND_INITIALIZER; /* CLOCK_REALTIME */
static unsigned long openings;                           /* /open calls so far */
static int held;                                         /* /gate requests waiting */
static int busy, busy_max;
static atomic_ulong released; /* /open calls, for /spin (which takes no lock) */

static long query_ms(sp_request *req, long dflt)
{
    sp_str v = sp_query(req, "hold");
    long ms = 0;
    if (!sp_str_is_set(v))
        v = sp_query(req, "ms");
    if (!sp_str_is_set(v) || v.len == 0 || v.len > 5)
        return dflt;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return dflt;
        ms = ms * 10 + (v.ptr[i] - '0');
    }
    return ms;
}

static int answer(sp_response *res, const char *text)
{
    char idx[16];
    snprintf(idx, sizeof(idx), "%d", sp_thread_index());
    int rc = sp_set_header(res, "X-Thread", idx);
    return rc != SP_OK ? rc : sp_send_text(res, 200, "%s", text);
}

static int gate(sp_request *req, sp_response *res)
{
    long ms = query_ms(req, 0);
    struct timespec until;
    int expired = 0;
    if (ms == 0)
        return answer(res, "open");
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&lock);
    unsigned long seen = openings;
    held++;
    while (openings == seen && !expired)
        expired = pthread_cond_timedwait(&opened, &lock, &until) == ETIMEDOUT;
    held--;
    pthread_mutex_unlock(&lock);
    return answer(res, expired ? "expired" : "opened");
}

static int open_gate(sp_request *req, sp_response *res)
{
    char text[32];
    (void)req;
    pthread_mutex_lock(&lock);
    snprintf(text, sizeof(text), "released %d", held);
    openings++;
    pthread_cond_broadcast(&opened);
    pthread_mutex_unlock(&lock);
    atomic_fetch_add(&released, 1);
    return answer(res, text);
}

static int spin(sp_request *req, sp_response *res)
{
    long ms = query_ms(req, 0);
    unsigned long seen = atomic_load(&released);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (atomic_load(&released) != seen)
            return answer(res, "released");
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= ms)
            return answer(res, "expired");
    }
}

static int busy_for(sp_request *req, sp_response *res)
{
    long ms = query_ms(req, 10);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    pthread_mutex_lock(&lock);
    if (++busy > busy_max)
        busy_max = busy;
    pthread_mutex_unlock(&lock);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&lock);
    busy--;
    pthread_mutex_unlock(&lock);
    return answer(res, "busy");
}

static int busy_most(sp_request *req, sp_response *res)
{
    char text[16];
    (void)req;
    pthread_mutex_lock(&lock);
    snprintf(text, sizeof(text), "%d", busy_max);
    pthread_mutex_unlock(&lock);
    return answer(res, text);
}

/* The same, as other functions: serial is a property of the function. */
static int serial_spin(sp_request *req, sp_response *res)
{
    return spin(req, res);
}

static int serial_busy(sp_request *req, sp_response *res)
{
    return busy_for(req, res);
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc;
    (void)conf;
    if ((rc = sp_handler_serial(app, serial_spin)) != SP_OK ||
        (rc = sp_handler_serial(app, serial_busy)) != SP_OK ||
        (rc = sp_route(app, "GET", "/serial/spin", serial_spin)) != SP_OK ||
        (rc = sp_route(app, "GET", "/serial/busy", serial_busy)) != SP_OK ||
        (rc = sp_route(app, "GET", "/gate", gate)) != SP_OK ||
        (rc = sp_route(app, "GET", "/hold", gate)) != SP_OK ||
        (rc = sp_route(app, "GET", "/open", open_gate)) != SP_OK ||
        (rc = sp_route(app, "GET", "/spin", spin)) != SP_OK ||
        (rc = sp_route(app, "GET", "/busy", busy_for)) != SP_OK)
        return rc;
    return sp_route(app, "GET", "/busy-max", busy_most);
}

SP_MODULE(gate, .init_worker = setup);
