/*
 * loop.c - see loop.h.
 *
 * The word's low two bits: IDLE while the loop's thread is in a turn or
 * between quick requests, RUNNING while it runs one (the loop free for the
 * watch to take), TAKEN once the watch has.  The bits above count quick
 * requests, so the watch tells "the same request, still" from "another
 * one" without reading a clock: RUNNING with the same count at two looks
 * SP__LOOP_WATCH_MS apart means one request has run at least that long.
 * The loop's thread pays one store and one compare-and-swap per quick
 * request, on a line nobody else writes in the common case.
 *
 * The watch sleeps for good once it has seen no quick request for
 * PARK_AFTER looks, and the next quick request wakes it (a store, then a
 * load of `parked`, against the watch's store of `parked`, then a load of
 * the word: one of the two sees the other).
 *
 * Costs: each route (a slot of the table, by pattern) keeps a running
 * average of its requests' run time as the scoreboard measures it, from
 * start to the response being ready.  A route is quick below
 * SP__LOOP_QUICK_US.  A route the watch caught is set well above it; some
 * twenty fast runs on handler threads bring it back.
 */
#include "server/worker/loop.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "server/worker/conn.h"
#include "server/lib/clock.h"
#include "server/lib/log.h"
#include "server/worker/worker.h"

enum { IDLE = 0, RUNNING = 1, TAKEN = 2, STATE = 3, SEQ_ONE = 4 };

#define PARK_AFTER 100                              /* looks without a quick request */
#define CAUGHT_US  (SP__LOOP_WATCH_MS * 1000u * 4u) /* a caught route's cost */
/* A sample counts for at most twice the quick bound: one slow run (often a
 * quick one that lost its CPU for a while) moves a quick route's average
 * by a quarter of that and leaves it quick; a route that is slow every
 * time still averages above the bound within a few requests. */
#define SAMPLE_CAP_US (2u * SP__LOOP_QUICK_US)

int sp__loop_init(sp__loop *l)
{
    pthread_condattr_t ca;
    memset(l, 0, sizeof(*l));
    if (pthread_condattr_init(&ca) != 0)
        return SP_ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return SP_ENOMEM;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        pthread_cond_destroy(&l->wake);
        return SP_ENOMEM;
    }
    return 0;
}

void sp__loop_destroy(sp__loop *l)
{
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
}

/* ---- costs ----------------------------------------------------------------- */

unsigned sp__loop_slot(const sp_request *req)
{
    if (req->match == NULL || req->route != SP__ROUTE_FOUND)
        return 0; /* 404, 405: answered by the core, quick */
    uint64_t h = (uint64_t)(uintptr_t)req->match->pattern * 0x9e3779b97f4a7c15u;
    return 1 + (unsigned)(h >> 40) % (SP__LOOP_SLOTS - 1);
}

void sp__loop_note(sp__worker *w, unsigned slot, uint64_t us)
{
    _Atomic unsigned *cost = &w->loop.cost_us[slot % SP__LOOP_SLOTS];
    unsigned old = atomic_load_explicit(cost, memory_order_relaxed);
    unsigned sample = us > SAMPLE_CAP_US ? SAMPLE_CAP_US : (unsigned)us;
    /* An average over about four requests; racing threads may lose an
     * update, which only makes it a little staler. */
    unsigned now = sample >= old ? old + (sample - old) / 4 : old - (old - sample) / 4;
    atomic_store_explicit(cost, now, memory_order_relaxed);
}

/* A serial request of a slot the watch caught goes to a handler thread
 * (true), counting down the slot's share; only the loop's holder calls
 * it, the watch only ever raises the count. */
static bool serial_off_loop(sp__loop *l, unsigned slot)
{
    _Atomic unsigned *left = &l->off_left[slot % SP__LOOP_SLOTS];
    unsigned n = atomic_load_explicit(left, memory_order_relaxed);
    while (n > 0)
        if (atomic_compare_exchange_weak_explicit(left, &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    return false;
}

bool sp__loop_offer(sp__worker *w, sp__conn *c)
{
    sp__loop *l = &w->loop;
    c->x->cost_slot = 0;
    c->x->serial = false;
    if (sp__app_route(w->app, &c->x->req) != SP_OK)
        return false; /* the chain's end answers for it */
    c->x->cost_slot = (unsigned char)sp__loop_slot(&c->x->req);
    c->x->serial = sp__app_serial(w->app, &c->x->req);
    if (c->x->serial) {
        if (serial_off_loop(l, c->x->cost_slot))
            return false;
    } else {
        unsigned cost = atomic_load_explicit(&l->cost_us[c->x->cost_slot], memory_order_relaxed);
        if (cost >= SP__LOOP_QUICK_US || cost + 1 > l->budget)
            return false;
        l->budget -= cost + 1;
    }
    c->qnode.next = NULL;
    if (l->runq_tail != NULL)
        l->runq_tail->next = &c->qnode;
    else
        l->runq = &c->qnode;
    l->runq_tail = &c->qnode;
    if (++l->runq_len >= SP__LOOP_CHUNK)
        event_base_loopbreak(w->base); /* answer these before reading on */
    return true;
}

/* ---- running quick requests ------------------------------------------------------ */

static void runq_push_front(sp__loop *l, sp__qnode *n)
{
    n->next = l->runq;
    l->runq = n;
    if (l->runq_tail == NULL)
        l->runq_tail = n;
    l->runq_len++;
}

static sp__qnode *runq_pop(sp__loop *l)
{
    sp__qnode *n = l->runq;
    if (n == NULL)
        return NULL;
    if ((l->runq = n->next) == NULL)
        l->runq_tail = NULL;
    l->runq_len--;
    return n;
}

static void wake_watch(sp__loop *l)
{
    pthread_mutex_lock(&l->lock);
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
}

/* Run c on this thread; false if the loop was taken meanwhile (c is then
 * finished as a handler thread would). */
static bool run_quick(sp__worker *w, sp__conn *c)
{
    sp__loop *l = &w->loop;
    bool serial = c->x->serial;
    uint64_t idle = atomic_load_explicit(&l->word, memory_order_relaxed);
    uint64_t t0 = serial ? sp__now_ns() : 0;
    atomic_store_explicit(&l->run_slot, c->x->cost_slot, memory_order_relaxed);
    atomic_store_explicit(&l->run_serial, serial, memory_order_relaxed);
    atomic_store(&l->word, idle | RUNNING); /* from here the watch may take the loop */
    if (atomic_load(&l->parked))
        wake_watch(l);
    sp__conn_run(c);
    uint64_t expect = idle | RUNNING;
    if (!atomic_compare_exchange_strong(&l->word, &expect, idle + SEQ_ONE)) {
        sp__conn_finish(c);
        return false;
    }
    if (serial) {
        l->serial_budget -= (int64_t)((sp__now_ns() - t0) / 1000);
        _Atomic unsigned *b = &l->backoff[c->x->cost_slot % SP__LOOP_SLOTS];
        atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) / 2,
                              memory_order_relaxed); /* it ran through */
    }
    sp__conn_completed(c);
    return true;
}

bool sp__loop_turn(sp__worker *w)
{
    sp__loop *l = &w->loop;
    sp__qnode *n;
    l->budget = SP__LOOP_BUDGET_US;
    l->serial_budget = SP__LOOP_SERIAL_BUDGET_US;
    /* Quick requests left by a thread the loop was taken from must not
     * wait for the next event. */
    int rc = event_base_loop(w->base, EVLOOP_ONCE | (l->runq != NULL ? EVLOOP_NONBLOCK : 0));
    if (rc != 0) {
        /* -1: the backend failed; 1: nothing left to wait for.  Either way
         * the loop cannot go on, as event_base_dispatch would return. */
        if (rc < 0)
            sp_log(SP_LOG_ERROR, "the IO loop failed; the worker stops");
        l->finished = 1;
    }
    while ((n = runq_pop(l)) != NULL) {
        const sp__conn *c = (const sp__conn *)n;
        if (c->x->serial) {
            if (l->serial_budget <= 0) {
                runq_push_front(l, n); /* after the next read, which polls */
                break;
            }
            if (serial_off_loop(l, c->x->cost_slot)) {
                /* its slot was caught since it was read */
                sp__worker_enqueue(w, n);
                sp__worker_queued(w);
                continue;
            }
        }
        if (sp__queue_spare(&w->queue) > 0) {
            if (!run_quick(w, (sp__conn *)n))
                return false;
            continue;
        }
        /* Every handler thread is busy: running it here would be one more
         * than `threads` at once, and leave nobody to take the loop. */
        do
            sp__worker_enqueue(w, n);
        while ((n = runq_pop(l)) != NULL);
        sp__worker_queued(w);
    }
    return true;
}

/* Linux's struct sched_attr (sched_setattr(2)); glibc has no wrapper. */
struct slice_attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period; /* runtime: the slice, for SCHED_OTHER */
};

/* This thread's scheduler slice: us microseconds, or the default for 0. */
static void set_slice(unsigned us)
{
    struct slice_attr a = {0};
    if (syscall(SYS_sched_getattr, 0, &a, (unsigned)sizeof(a), 0) != 0 || a.policy != SCHED_OTHER)
        return; /* an operator's choice of policy stays as it is */
    a.size = sizeof(a);
    a.runtime = us * 1000ull;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0)
        sp_log(SP_LOG_DEBUG, "the IO loop's thread keeps its scheduler slice: %m");
}

bool sp__loop_run(sp__worker *w)
{
    /* Before this thread's first quick request marks the word RUNNING,
     * which is what makes the watch read it. */
    atomic_store_explicit(&w->loop.holder_tid, (int)gettid(), memory_order_relaxed);
    set_slice(SP__LOOP_SLICE_US);
    while (!w->loop.finished)
        if (!sp__loop_turn(w)) {
            set_slice(0);
            return false;
        }
    return true;
}

bool sp__loop_claim(sp__worker *w, sp__qnode *n)
{
    if (n != &w->loop.node)
        return false;
    uint64_t v = atomic_load(&w->loop.word);
    atomic_store(&w->loop.word, (v & ~(uint64_t)STATE) + SEQ_ONE);
    return true;
}

/* ---- the watch ------------------------------------------------------------------ */

bool sp__loop_stalled(sp__loop *l, uint64_t word, char state, uint64_t cpu_ns)
{
    l->seen_looks = l->seen_word == word ? l->seen_looks + 1 : 0;
    if (state != 'R')
        return true; /* asleep, stopped, or unknown: the loop waits on it */
    /* Running, or waiting for a CPU: stuck only if it computed for at
     * least half the time between this look and the last (a serial
     * request: and has run for SP__LOOP_SERIAL_RUN_MS). */
    bool computing =
        l->seen_word == word && cpu_ns - l->seen_cpu_ns >= SP__LOOP_WATCH_MS * 1000000ull / 2;
    if (atomic_load_explicit(&l->run_serial, memory_order_relaxed) &&
        l->seen_looks * SP__LOOP_WATCH_MS < SP__LOOP_SERIAL_RUN_MS)
        computing = false;
    l->seen_word = word;
    l->seen_cpu_ns = cpu_ns;
    return computing;
}

/* Read a small /proc file of thread tid into buf; its length, or -1. */
static ssize_t read_task_file(int tid, const char *name, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/%s", tid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* The scheduler state of thread tid ('R', 'S', 'D', ...) and the CPU time
 * it has used (schedstat's first field); state 0 if /proc cannot tell. */
static char task_state(int tid, uint64_t *cpu_ns)
{
    char buf[512];
    *cpu_ns = 0;
    if (tid <= 0 || read_task_file(tid, "stat", buf, sizeof(buf)) <= 0)
        return 0;
    const char *p = strrchr(buf, ')'); /* the name in (...) may hold anything */
    if (p == NULL || p[1] != ' ')
        return 0;
    char state = p[2];
    if (state != 'R')
        return state;
    if (read_task_file(tid, "schedstat", buf, sizeof(buf)) <= 0)
        return 0; /* no schedstat: waiting for a CPU cannot be told from computing */
    *cpu_ns = strtoull(buf, NULL, 10);
    return state;
}

static void take_over(sp__worker *w, uint64_t running)
{
    sp__loop *l = &w->loop;
    uint64_t taken = (running & ~(uint64_t)STATE) | TAKEN;
    if (!atomic_compare_exchange_strong(&l->word, &running, taken))
        return; /* it finished just now */
    unsigned slot = atomic_load_explicit(&l->run_slot, memory_order_relaxed) % SP__LOOP_SLOTS;
    if (atomic_load_explicit(&l->run_serial, memory_order_relaxed)) {
        unsigned b = atomic_load_explicit(&l->backoff[slot], memory_order_relaxed);
        b = b < SP__LOOP_BACKOFF_MIN        ? SP__LOOP_BACKOFF_MIN
            : b >= SP__LOOP_BACKOFF_MAX / 2 ? SP__LOOP_BACKOFF_MAX
                                            : 2 * b;
        atomic_store_explicit(&l->backoff[slot], b, memory_order_relaxed);
        atomic_store_explicit(&l->off_left[slot], b, memory_order_relaxed);
    } else {
        _Atomic unsigned *cost = &l->cost_us[slot];
        if (atomic_load_explicit(cost, memory_order_relaxed) < CAUGHT_US)
            atomic_store_explicit(cost, CAUGHT_US, memory_order_relaxed);
    }
    sp_log(SP_LOG_DEBUG, "a request on the IO loop's thread blocked or ran long: the IO loop moves "
                         "to another thread");
    sp__queue_push_front(&w->queue, &l->node);
    sp__worker_queued(w); /* threads = auto: someone must be there to take it */
}

static void *watch_main(void *arg)
{
    sp__worker *w = arg;
    sp__loop *l = &w->loop;
    sigset_t all;
    uint64_t last = 0;
    int quiet = 0;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the IO loop's */
    /* A batch thread's wake-ups do not preempt the thread on its CPU: the
     * watch's 500 looks a second then cost the loop's thread nothing when
     * the CPUs are busy (at 1,024 connections on 2 CPUs they were hello's
     * p99), and a look comes at most a scheduler tick late. */
    struct sched_param batch = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch) != 0)
        sp_log(SP_LOG_DEBUG, "the loop watch stays a normal thread: SCHED_BATCH refused");
    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        uint64_t v = atomic_load(&l->word);
        if ((v & STATE) == RUNNING && v == last) {
            uint64_t cpu_ns;
            int tid = atomic_load_explicit(&l->holder_tid, memory_order_relaxed);
            char state = task_state(tid, &cpu_ns);
            if (sp__loop_stalled(l, v, state, cpu_ns))
                take_over(w, v);
        }
        quiet = v == last ? quiet + 1 : 0;
        last = v;
        if (quiet >= PARK_AFTER) {
            atomic_store(&l->parked, 1);
            if (atomic_load(&l->word) == v && !l->stop)
                pthread_cond_wait(&l->wake, &l->lock);
            atomic_store(&l->parked, 0);
            quiet = 0;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SP__LOOP_WATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&l->wake, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

int sp__loop_watch_start(sp__worker *w)
{
    if (pthread_create(&w->loop.watch, NULL, watch_main, w) != 0)
        return SP_ENOMEM;
    pthread_setname_np(w->loop.watch, "loop watch");
    w->loop.watching = 1;
    return 0;
}

void sp__loop_watch_stop(sp__worker *w)
{
    sp__loop *l = &w->loop;
    if (!l->watching)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->watch, NULL);
    l->watching = 0;
}
