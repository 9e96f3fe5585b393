/*
 * worker.c - a worker process (see worker.h).
 *
 * Start-up order matters: modules are loaded and their init_worker hooks
 * run before any handler thread exists and before the worker accepts a
 * single connection, and the master is told "ready" only after that, so
 * a reload never retires old workers in favour of ones that cannot serve.
 */
#include "server/worker/worker.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/tasks/cron.h"
#include "app/tasks/tasks.h"
#include "server/worker/conn.h"
#include "server/lib/clock.h"
#include "server/lib/crash.h"
#include "server/lib/log.h"
#include "server/lib/sigs.h"
#include "server/lib/procfs.h"
#include "server/lib/proctitle.h"
#include "server/worker/scoreboard.h"

#define ACCEPT_BATCH     64
#define BALANCE_RETRY_MS 1
#define EMFILE_PAUSE_MS  100
#define TICK_MS          250
#define RSS_EVERY_TICKS  4
#define FRESH_GRACE_MS   1000

/* The one worker of this process.  File scope because the max-requests
 * callback comes from the scoreboard, which passes no context. */
static sp__worker *self;

/* Ask the master for a graceful replacement (once).  The worker keeps
 * serving until its replacement accepts and the master sends TERM. */
static void ask_replacement(sp__worker *w, const char *why)
{
    if (atomic_exchange(&w->replace_asked, 1) || atomic_load(&w->stopping))
        return;
    sp_log(SP_LOG_INFO, "%s; asking the master for a replacement", why);
    if (write(w->master_fd, "X", 1) != 1)
        sp_log(SP_LOG_WARN, "cannot reach the master: %m");
}

static void on_request_limit(void)
{
    ask_replacement(self, "max-requests reached");
}

/* ---- handler threads ------------------------------------------------------------- */

/* A worker's handler threads live in w->ht, cap entries: threads of them
 * with a fixed `threads`, all started at once; with threads = auto,
 * threads-min to begin with, more while requests wait and every thread is
 * busy (sp__worker_grow), and fewer as they idle for threads-idle.  An
 * entry's index is the thread's scoreboard entry and sp_thread_index (one
 * more than its place), so a stopped thread's number is the next one
 * started; the main thread is cap + 1. */
enum { HT_FREE, HT_RUNNING, HT_DONE };

/* Every thread that runs requests: the handler threads, and the main
 * thread, which holds the IO loop to begin with.  The loop may pass from
 * thread to thread (server/worker/loop.h); whoever holds it when the worker is
 * done closes the queue, and the others leave once it is empty.  A thread
 * that may stop when idle returns with *stopped set. */
static bool may_stop(void *arg);

static void serve(sp__worker *w, bool loop, bool can_stop, bool *stopped)
{
    for (;;) {
        if (loop && sp__loop_run(w)) {
            sp__queue_close(&w->queue);
            return;
        }
        sp__qnode *n =
            can_stop ? sp__queue_pop_idle(&w->queue, w->cfg->threads_idle_ms, may_stop, w, stopped)
                     : sp__queue_pop(&w->queue);
        if (n == NULL)
            return;
        loop = sp__loop_claim(w, n);
        if (!loop)
            sp__conn_handle((sp__conn *)n);
    }
}

/* A thread that runs requests takes its scoreboard entry (1-based: the
 * handler threads, then the main thread) and runs the modules'
 * init_thread hooks before its first request. */
static void thread_init(sp__worker *w, int index)
{
    sp__sb_thread_bind(index);
    if (sp__app_thread_init(w->app) != SP_OK)
        _exit(SP__EX_CONFIG);
}

/* Under the queue's lock, for an idle thread of threads = auto: it may
 * stop while more than threads-min run.  Only this takes ht_running down
 * and only start_one takes it up, so the bound holds without ht_lock. */
static bool may_stop(void *arg)
{
    sp__worker *w = arg;
    int n = atomic_load(&w->ht_running);
    while (n > w->ht_min)
        if (atomic_compare_exchange_weak(&w->ht_running, &n, n - 1))
            return true;
    return false;
}

static void *handler_main(void *arg)
{
    sp__worker *w = self;
    int i = (int)(intptr_t)arg;
    bool stopped = false;

    sp__crash_thread();
    sp__sb_thread_bind(i + 1);
    if (sp__app_thread_init(w->app) != SP_OK) {
        if (!atomic_load(&w->serving))
            _exit(SP__EX_CONFIG); /* at start: the worker cannot serve */
        /* Grown while serving (threads = auto): the worker goes on with the
         * threads it has; the next request that waits tries again. */
        sp_log(SP_LOG_ERROR, "handler thread %d not started: a module's init_thread failed", i + 1);
        atomic_fetch_sub(&w->ht_running, 1);
        atomic_fetch_sub(&w->ht_starting, 1);
        goto done;
    }
    atomic_fetch_sub(&w->ht_starting, 1);
    serve(w, false, w->ht_min < w->ht_cap, &stopped);
    sp__app_thread_exit(w->app);
    if (stopped) {
        sp__sb_thread_grown(false);
        sp_log(SP_LOG_INFO, "handler thread %d stopped: no request for %d ms (%d running)", i + 1,
               w->cfg->threads_idle_ms, atomic_load(&w->ht_running));
    }
done:
    sp__sb_thread_unbind();
    pthread_mutex_lock(&w->ht_lock);
    w->ht[i].state = HT_DONE;
    w->ht_done++;
    pthread_mutex_unlock(&w->ht_lock);
    return NULL;
}

/* Join the threads that stopped, freeing their entries (ht_lock held;
 * they mark themselves done as the last thing they do). */
static void reap(sp__worker *w)
{
    for (int i = 0; w->ht_done > 0 && i < w->ht_cap; i++)
        if (w->ht[i].state == HT_DONE) {
            pthread_join(w->ht[i].t, NULL);
            w->ht[i].state = HT_FREE;
            w->ht_done--;
        }
}

/* Start one handler thread in the lowest free entry (ht_lock held). */
static int start_one(sp__worker *w)
{
    int i = 0;
    while (i < w->ht_cap && w->ht[i].state != HT_FREE)
        i++;
    if (i == w->ht_cap)
        return -1;
    atomic_fetch_add(&w->ht_running, 1);
    atomic_fetch_add(&w->ht_starting, 1);
    if (pthread_create(&w->ht[i].t, NULL, handler_main, (void *)(intptr_t)i) != 0) {
        atomic_fetch_sub(&w->ht_running, 1);
        atomic_fetch_sub(&w->ht_starting, 1);
        return -1;
    }
    w->ht[i].state = HT_RUNNING;
    char name[32]; /* the kernel keeps 15 bytes */
    snprintf(name, sizeof(name), "handler %d", (i + 1) % 10000);
    name[15] = '\0';
    pthread_setname_np(w->ht[i].t, name);
    return i;
}

/* threads = auto: a thread more for every request that waits with no
 * thread asleep for it, beyond those already starting, up to the cap. */
static void grow(sp__worker *w, bool reaping)
{
    pthread_mutex_lock(&w->ht_lock);
    if (reaping)
        reap(w);
    for (;;) {
        int unserved = sp__queue_unserved(&w->queue);
        int running = atomic_load(&w->ht_running);
        if (w->ht_closed || unserved <= atomic_load(&w->ht_starting) || running >= w->ht_cap)
            break;
        if (w->ht_done > 0)
            reap(w);
        int i = start_one(w);
        if (i < 0) {
            sp_log(SP_LOG_WARN, "cannot start another handler thread (%d running): %m", running);
            break;
        }
        sp__sb_thread_grown(true);
        sp_log(SP_LOG_INFO,
               "handler thread %d started: %d request(s) waiting and every thread busy "
               "(%d running, threads-max %d)",
               i + 1, unserved, running + 1, w->ht_cap);
    }
    pthread_mutex_unlock(&w->ht_lock);
}

void sp__worker_grow(sp__worker *w)
{
    if (sp__queue_unserved(&w->queue) > atomic_load(&w->ht_starting) &&
        atomic_load(&w->ht_running) < w->ht_cap)
        grow(w, false);
}

static int start_threads(sp__worker *w)
{
    const sp__config *cfg = w->cfg;
    w->ht_cap = sp__threads_cap(cfg);
    w->ht_min = sp__threads_min(cfg);
    w->ht = calloc((size_t)w->ht_cap, sizeof(*w->ht));
    if (w->ht == NULL || pthread_mutex_init(&w->ht_lock, NULL) != 0)
        return -1;
    sp__sb_threads_max(w->ht_cap);
    int rc = 0;
    pthread_mutex_lock(&w->ht_lock);
    for (int i = 0; i < w->ht_min && rc == 0; i++)
        rc = start_one(w) < 0 ? -1 : 0;
    pthread_mutex_unlock(&w->ht_lock);
    return rc;
}

/* The worker is done (its queue closed): no thread starts after this. */
static void join_threads(sp__worker *w)
{
    pthread_mutex_lock(&w->ht_lock);
    w->ht_closed = 1;
    pthread_mutex_unlock(&w->ht_lock);
    /* Outside the lock: a thread takes it to mark itself done. */
    for (int i = 0; i < w->ht_cap; i++) {
        pthread_mutex_lock(&w->ht_lock);
        int state = w->ht[i].state;
        pthread_mutex_unlock(&w->ht_lock);
        if (state != HT_FREE)
            pthread_join(w->ht[i].t, NULL);
    }
    free(w->ht);
}

/* ---- the done list ---------------------------------------------------------------- */

void sp__worker_take_done(sp__worker *w)
{
    pthread_mutex_lock(&w->done_lock);
    sp__conn *c = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->done_lock);
    while (c != NULL) {
        sp__conn *next = c->done_next;
        sp__conn_completed(c);
        c = next;
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        sp_log(SP_LOG_WARN, "reading the done eventfd: %m");
    sp__worker_take_done(w); /* after the read: a later post writes again */
    sp__worker_accept_if_room(w);
}

int sp__worker_done_init(sp__worker *w)
{
    w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->done_fd < 0)
        return -1;
    w->ev_done = event_new(w->base, w->done_fd, EV_READ | EV_PERSIST, on_done, w);
    return w->ev_done != NULL && event_add(w->ev_done, NULL) == 0 ? 0 : -1;
}

void sp__worker_post_done(sp__conn *c)
{
    sp__worker *w = c->w;
    uint64_t one = 1;
    pthread_mutex_lock(&w->done_lock);
    int first = w->done == NULL;
    c->done_next = w->done;
    w->done = c;
    /* Under the lock: later posters do not write, so they must not be
     * able to overtake this one's wake-up. */
    ssize_t n = first ? write(w->done_fd, &one, sizeof(one)) : 1;
    pthread_mutex_unlock(&w->done_lock);
    if (n < 0 && errno != EAGAIN)
        sp_log(SP_LOG_ERROR, "waking the IO loop: %m");
}

/* Errors of one connection, not of the listener: go on with the next
 * (accept(2) asks that the network ones be taken like EAGAIN). */
static bool next_one(int err)
{
    switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

/* Look at the listeners again in ms milliseconds, from a later turn of the
 * loop: after epoll_wait, so the connections' own events get their turn. */
static void look_again(sp__worker *w, int ms)
{
    struct timeval tv = {0, ms * 1000};
    evtimer_add(w->ev_look, &tv);
}

/* Listeners are edge-triggered: every worker hears once of each new
 * connection, so one that leaves it to a sibling (accept balancing, see
 * sp__sb_leave_to_sibling) is not woken for it again and again.  Whoever
 * stops before the listener is drained makes sure someone looks again: a
 * full batch and a connection left to a sibling arm ev_look, and
 * sp__worker_accept looks once when accepting resumes. */
static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    sp__worker *w = arg;
    for (int i = 0; i < ACCEPT_BATCH && atomic_load(&w->accepting); i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (sp__sb_leave_to_sibling()) {
            if (!evtimer_pending(w->ev_look, NULL))
                look_again(w, BALANCE_RETRY_MS);
            return;
        }
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            sp__conn_open(w, (int)lfd, fd, (struct sockaddr *)&ss, len);
            sp__sb_share_set((uint32_t)w->n_conns, true);
            if (w->cfg->max_connections && w->n_conns >= (size_t)w->cfg->max_connections)
                sp__worker_accept(w, 0); /* sp__conn_close turns it back on */
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: stop accepting for a moment instead of
             * retrying at once. */
            struct timeval tv = {0, EMFILE_PAUSE_MS * 1000};
            sp_log(SP_LOG_WARN, "accept: %s; pausing accepts", strerror(errno));
            sp__worker_accept(w, 0);
            w->fd_pause = 1;
            evtimer_add(w->ev_resume, &tv);
            return;
        }
        if (!next_one(errno))
            return; /* EAGAIN: drained */
    }
    if (atomic_load(&w->accepting))
        look_again(w, 0); /* a full batch: more may wait */
}

/* ev_look: accept what waits on the listeners, if anything does (a
 * connection left to a sibling that stopped accepting meanwhile, or the
 * rest after a full batch); for as long as one is left to a sibling, this
 * comes back every BALANCE_RETRY_MS. */
static void on_look(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    for (size_t i = 0; i < w->ls->n; i++) {
        struct pollfd p = {w->ls->v[i].fd, POLLIN, 0};
        if (p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
            on_accept(p.fd, EV_READ, w);
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    w->fd_pause = 0;
    sp__worker_accept_if_room(w);
}

/* The one rule for accepting again, whatever stopped it: not stopping, not
 * in a descriptor pause, under max-connections, and the queue not full.
 * (Accept balancing stops no accepting: it only leaves single connections
 * to siblings, in on_accept.)  Every connection close comes here, so this
 * is also where the siblings learn this worker's count. */
void sp__worker_accept_if_room(sp__worker *w)
{
    size_t max = (size_t)w->cfg->max_connections;
    sp__sb_share_set((uint32_t)w->n_conns, atomic_load(&w->accepting));
    if (atomic_load(&w->accepting) || atomic_load(&w->stopping) || w->fd_pause ||
        (max && w->n_conns >= max) || sp__queue_len(&w->queue) >= w->queue_limit)
        return;
    sp__worker_accept(w, 1);
}

void sp__worker_accept(sp__worker *w, int on)
{
    if (on == atomic_load(&w->accepting))
        return;
    atomic_store(&w->accepting, on);
    sp__sb_share_set((uint32_t)w->n_conns, on);
    for (size_t i = 0; i < w->ls->n; i++) {
        if (on) {
            event_add(w->lev[i], NULL);
            /* Edge-triggered: a connection that arrived while accepting
             * was off may have spent its edge already. */
            event_active(w->lev[i], EV_READ, 1);
        } else {
            event_del(w->lev[i]);
        }
    }
}

void sp__worker_maybe_done(sp__worker *w)
{
    if (atomic_load(&w->stopping) && w->n_conns == 0) {
        w->loop.finished = 1;
        event_base_loopbreak(w->base);
    }
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    size_t busy = 0;
    for (sp__conn *c = w->conns; c != NULL; c = c->next)
        busy += !sp__conn_is_idle(c);
    /* Handler threads may still be inside a request; joining them could
     * wait forever, and the deadline is what the operator asked for. */
    if (busy > 0)
        sp_log(SP_LOG_WARN, "graceful-timeout passed with %zu request(s) unfinished; exiting",
               busy);
    else
        sp_log(SP_LOG_INFO, "graceful-timeout passed; closing %zu idle connection(s)", w->n_conns);
    _exit(0);
}

/* Stopping: close connections with nothing to serve.  A connection counts
 * as idle only if no byte of a next request has arrived (peeked, not
 * read), and, on the first pass, only if it has been served before: a
 * fresh connection's first request may still be on its way.  The second
 * pass, a moment later, closes fresh connections that still sent nothing.
 * (A request already on its way to an idle connection is lost: that is
 * why retiring, below, does not do this.) */
static void close_idle(sp__worker *w, int fresh_too)
{
    char b;
    for (sp__conn *c = w->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (sp__conn_is_idle(c) && (fresh_too || c->served > 0) &&
            recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
            (errno == EAGAIN || errno == EWOULDBLOCK))
            sp__conn_close(c);
    }
    sp__worker_maybe_done(w);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    sp__conn_sweep(arg);
    sp__sb_share_beat();
}

static void on_idle_pass(evutil_socket_t fd, short what, void *arg)
{
    close_idle(arg, 1);
}

/* Stop accepting and let what runs finish, within graceful-timeout. */
static void stop_accepting(sp__worker *w)
{
    sp__worker_accept(w, 0);
    sp__sb_share_key(0); /* siblings stop counting on this worker */
    evtimer_del(w->ev_look);
    for (size_t i = 0; i < w->ls->n; i++)
        close(w->ls->v[i].fd), w->ls->v[i].fd = -1;
    struct timeval tv = {w->cfg->graceful_timeout_ms / 1000,
                         (w->cfg->graceful_timeout_ms % 1000) * 1000};
    evtimer_add(w->ev_grace, &tv);
}

/* TERM: the server stops.  In-flight requests finish; idle connections
 * are closed now, as nothing will serve them after. */
static void graceful_stop(sp__worker *w)
{
    struct timeval idle = {FRESH_GRACE_MS / 1000, (FRESH_GRACE_MS % 1000) * 1000};
    if (!atomic_exchange(&w->stopping, 1))
        stop_accepting(w);
    if (w->closing_idle)
        return;
    w->closing_idle = 1;
    event_base_once(w->base, -1, EV_TIMEOUT, on_idle_pass, w, &idle);
    close_idle(w, 0);
}

/* Harakiri: the master retires this worker (USR2) because a thread ran past
 * its deadline.  The modules are told which thread and request on a thread
 * of their own (ABI 1.7: the wsgi module logs the thread's Python
 * traceback), so that neither the IO loop nor the stuck thread waits.  The
 * same rule as the master's, read from the worker's own scoreboard slot;
 * once per worker. */
static void *harakiri_main(void *arg)
{
    sp__worker *w = arg;
    char req[SP__SB_TEXT];
    sp__crash_thread();
    for (int t = 1; t <= w->ht_cap + 1; t++)
        if (sp__sb_thread_overdue(t, (uint64_t)w->cfg->harakiri_ms, req, sizeof(req)))
            sp__app_harakiri(w->app, t, req);
    return NULL;
}

static void harakiri_report(sp__worker *w)
{
    char req[SP__SB_TEXT];
    bool overdue = false;
    if (w->cfg->harakiri_ms == 0 || w->harakiri_reported)
        return;
    for (int t = 1; t <= w->ht_cap + 1 && !overdue; t++)
        overdue = sp__sb_thread_overdue(t, (uint64_t)w->cfg->harakiri_ms, req, sizeof(req));
    if (overdue && pthread_create(&w->harakiri_thread, NULL, harakiri_main, w) == 0)
        w->harakiri_reported = 1;
}

/* USR2: the master retires this worker (reload, recycle, TTOU, harakiri)
 * while others serve on.  No connection is closed under a request that
 * may be on its way: each one's next request is answered, with
 * Connection: close, and then it closes; one that stays idle closes when
 * the client closes it, at timeout-keepalive, or at graceful-timeout. */
static void retire(sp__worker *w)
{
    harakiri_report(w);
    if (!atomic_exchange(&w->stopping, 1))
        stop_accepting(w);
    sp__worker_maybe_done(w);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    const sp__config *cfg = w->cfg;
    char why[96];

    sp__sb_set_queue((uint32_t)sp__queue_len(&w->queue));
    if (w->ht_min < w->ht_cap)
        grow(w, true); /* join the threads that stopped; start any a push missed */
    if (cfg->max_worker_lifetime_ms && sp__now_ms() - w->started_ms >= cfg->max_worker_lifetime_ms)
        ask_replacement(w, "max-worker-lifetime reached");
    if (cfg->reload_on_rss_mib && ++w->ticks % RSS_EVERY_TICKS == 0) {
        long mib = sp__rss_kib(0) / 1024;
        snprintf(why, sizeof(why), "reload-on-rss: %ld MiB resident", mib);
        if (mib > cfg->reload_on_rss_mib)
            ask_replacement(w, why);
    }
}

static void reopen_logs(sp__worker *w)
{
    if (sp__log_open(w->cfg->log_file, w->cfg->log_level) != 0)
        sp_log(SP_LOG_ERROR, "cannot reopen %s: %m", w->cfg->log_file);
    sp__app_reopen_logs(w->app);
}

/* The process's signals, read as data (sigs.h): no handler runs, so no
 * thread's system call is ever cut short by one. */
static void on_signals(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM)
            graceful_stop(w);
        else if (si.ssi_signo == SIGUSR2)
            retire(w);
        else if (si.ssi_signo == SIGUSR1)
            reopen_logs(w);
        else
            _exit(0); /* INT, QUIT: fast stop, the master asked for it */
    }
}

static int setup_events(sp__worker *w, int sig_fd)
{
    w->lev = calloc(w->ls->n ? w->ls->n : 1, sizeof(*w->lev));
    if (w->lev == NULL)
        return -1;
    for (size_t i = 0; i < w->ls->n; i++)
        w->lev[i] = event_new(w->base, w->ls->v[i].fd, EV_READ | EV_PERSIST | EV_ET, on_accept, w);
    w->ev_signals = event_new(w->base, sig_fd, EV_READ | EV_PERSIST, on_signals, w);
    if (w->ev_signals == NULL || event_add(w->ev_signals, NULL) != 0)
        return SP_ENOMEM;
    if (sp__worker_done_init(w) != 0)
        return -1;
    w->ev_resume = evtimer_new(w->base, on_resume, w);
    w->ev_look = evtimer_new(w->base, on_look, w);
    w->ev_grace = evtimer_new(w->base, on_grace, w);
    w->ev_sweep = event_new(w->base, -1, EV_PERSIST, on_sweep, w);
    struct timeval sweep = {0, SP__SWEEP_MS * 1000};
    if (w->ev_sweep != NULL)
        event_add(w->ev_sweep, &sweep);
    w->ev_tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    struct timeval tick = {0, TICK_MS * 1000};
    if (!w->ev_tick || event_add(w->ev_tick, &tick))
        return -1;
    return w->ev_done && w->ev_resume && w->ev_look && w->ev_grace && w->ev_sweep ? 0 : -1;
}

static void init_worker_struct(sp__worker *w, const sp__config *cfg, sp__listeners *ls, int id)
{
    memset(w, 0, sizeof(*w));
    w->cfg = cfg;
    w->id = id;
    w->ls = ls;
    w->started_ms = sp__now_ms();
    w->lim = (sp__h1_limits){
        cfg->limit_uri,          cfg->limit_headers,
        cfg->limit_header_count, (uint64_t)cfg->limit_body,
        cfg->body_buffer_size,   cfg->body_temp_path ? cfg->body_temp_path : "/tmp"};
    w->queue_limit =
        cfg->request_queue ? (size_t)cfg->request_queue : 4 * (size_t)sp__threads_cap(cfg);
    pthread_mutex_init(&w->done_lock, NULL);
}

/* glibc hands freed memory back on its own terms: it trims a thread's
 * arena whenever a free leaves more than M_TRIM_THRESHOLD at its top.  A
 * 1 MiB request body, freed after each request by whichever thread holds
 * the IO loop, was handed back every time and faulted in page by page on
 * the next: three to four times the CPU per POST.  The worker gives memory
 * back itself, once freeing has stopped (sp__conn_sweep), so glibc's
 * thresholds are fixed high.  Fixing one turns off glibc's dynamic
 * adjustment of both, so both are set: buffers up to 8 MiB come from the
 * arenas, and only a free of 64 MiB at the top trims on its own. */
static void malloc_setup(void)
{
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

/* Which listening sockets this worker accepts on, the same number for every
 * worker forked on the same ones (a reload may open others): their inodes,
 * mixed and summed so that order does not matter.  0 for none. */
static uint64_t listen_key(const sp__listeners *ls)
{
    uint64_t key = 0;
    struct stat st;
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->v[i].fd < 0 || fstat(ls->v[i].fd, &st) != 0)
            continue;
        uint64_t x = ((uint64_t)st.st_dev << 32 ^ (uint64_t)st.st_ino) + 0x9e3779b97f4a7c15u;
        x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9u;
        x = (x ^ x >> 27) * 0x94d049bb133111ebu;
        key += x ^ x >> 31;
    }
    return ls->n > 0 && key == 0 ? 1 : key;
}

/* max-requests plus this worker's share of the jitter. */
static uint64_t request_limit(const sp__config *cfg)
{
    if (cfg->max_requests == 0)
        return 0;
    unsigned seed = (unsigned)getpid() ^ (unsigned)sp__now_ms();
    return (uint64_t)cfg->max_requests +
           (cfg->max_requests_jitter
                ? (uint64_t)rand_r(&seed) % ((uint64_t)cfg->max_requests_jitter + 1)
                : 0);
}

_Noreturn void sp__worker_run(const sp__worker_start *st)
{
    static sp__worker worker; /* one per process; static so signal paths need no lookup */
    sp__worker *w = &worker;
    const sp__config *cfg = st->cfg;
    int id = st->id;
    char role[32], err[1024];

    snprintf(role, sizeof(role), "worker %d", id);
    sp__log_role(role);
    sp__crash_install(role);
    sp__proctitle_set("spindle: worker %d", id);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t held; /* before any thread starts: every one inherits the mask */
    int sig_fd = sp__sigs_hold(&held) == 0 ? signalfd(-1, &held, SFD_NONBLOCK | SFD_CLOEXEC) : -1;
    malloc_setup();
    init_worker_struct(w, cfg, st->ls, id);
    w->master_fd = st->master_fd;
    self = w;
    sp__sb_attach(st->sb, (size_t)st->sb_slot, id,
                  sp__threads_cap(cfg) + 1); /* + the main thread */
    sp__sb_on_request_limit(request_limit(cfg), on_request_limit);
    /* No evthread: the base is touched by the IO loop alone (handler
     * threads reach it through the done eventfd). */
    w->base = event_base_new();
    if (w->base == NULL || sig_fd < 0 || sp__queue_init(&w->queue) != 0 ||
        sp__loop_init(&w->loop) != 0 || setup_events(w, sig_fd) != 0) {
        sp_log(SP_LOG_ERROR, "cannot set up the event loop");
        _exit(1);
    }
    if (sp__app_load(&w->app, cfg, err, sizeof(err)) != 0 ||
        sp__cron_check_jobs(w->app, cfg, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "%s", err);
        _exit(SP__EX_CONFIG);
    }
    if (start_threads(w) != 0 || sp__loop_watch_start(w) != 0 || sp__tasks_start(w->app) != 0) {
        sp_log(SP_LOG_ERROR, "cannot start %d handler threads and %d task threads: %m",
               sp__threads_min(cfg), cfg->task_threads);
        _exit(1);
    }
    thread_init(w, w->ht_cap + 1);
    sp__sb_share_key(listen_key(w->ls));
    sp__worker_accept(w, 1);
    atomic_store(&w->serving, 1);
    if (write(w->master_fd, "R", 1) != 1)
        _exit(1);
    serve(w, true, false, NULL);
    sp__app_thread_exit(w->app);

    join_threads(w);
    if (w->harakiri_reported)
        pthread_join(w->harakiri_thread, NULL); /* before the modules are torn down */
    sp__loop_watch_stop(w);
    sp__queue_destroy(&w->queue);
    sp__loop_destroy(&w->loop);
    sp__tasks_stop(w->app); /* running tasks finish; queued ones are marked failed */
    sp__app_free(w->app);
    exit(0);
}
