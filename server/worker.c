/*
 * worker.c - a worker process (see worker.h).
 *
 * Start-up order matters: modules are loaded and their init_worker hooks
 * run before any handler thread exists and before the worker accepts a
 * single connection, and the master is told "ready" only after that, so
 * a reload never retires old workers in favour of ones that cannot serve.
 */
#include "server/worker.h"

#include <errno.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/log.h"
#include "server/proctitle.h"

#define ACCEPT_BATCH 64
#define EMFILE_PAUSE_MS 100

static void *handler_main(void *arg)
{
    sp__worker *w = arg;
    if (sp__app_thread_init(w->app) != SP_OK)
        _exit(SP__EX_CONFIG);
    for (;;) {
        sp__qnode *n = sp__queue_pop(&w->queue);
        if (n == NULL)
            break;
        sp__conn_handle((sp__conn *)n);
    }
    sp__app_thread_exit(w->app);
    return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    pthread_mutex_lock(&w->done_lock);
    sp__conn *c = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->done_lock);
    while (c != NULL) {
        sp__conn *next = c->done_next;
        sp__conn_completed(c);
        c = next;
    }
    if (!w->accepting && !atomic_load(&w->stopping) &&
        sp__queue_len(&w->queue) < w->queue_limit / 2 + 1)
        sp__worker_accept(w, 1);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    sp__worker *w = arg;
    for (int i = 0; i < ACCEPT_BATCH && w->accepting; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            sp__conn_open(w, (int)lfd, fd, (struct sockaddr *)&ss, len);
            if (w->cfg->max_connections && w->n_conns >= (size_t)w->cfg->max_connections)
                sp__worker_accept(w, 0); /* sp__conn_close turns it back on */
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: stop accepting for a moment instead of
             * spinning on a listener that stays readable. */
            struct timeval tv = {0, EMFILE_PAUSE_MS * 1000};
            sp_log(SP_LOG_WARN, "accept: %s; pausing accepts", strerror(errno));
            sp__worker_accept(w, 0);
            evtimer_add(w->ev_resume, &tv);
        }
        if (errno != EINTR && errno != ECONNABORTED)
            break;
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    if (!atomic_load(&w->stopping))
        sp__worker_accept(w, 1);
}

void sp__worker_accept(sp__worker *w, int on)
{
    if (on == w->accepting)
        return;
    w->accepting = on;
    for (size_t i = 0; i < w->ls->n; i++) {
        if (on)
            event_add(w->lev[i], NULL);
        else
            event_del(w->lev[i]);
    }
}

void sp__worker_maybe_done(sp__worker *w)
{
    if (atomic_load(&w->stopping) && w->n_conns == 0)
        event_base_loopbreak(w->base);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    sp__worker *w = arg;
    /* Handler threads may still be inside a request; joining them could
     * wait forever, and the deadline is what the operator asked for. */
    sp_log(SP_LOG_WARN, "graceful-timeout passed with %zu connection(s) open; exiting",
           w->n_conns);
    _exit(0);
}

static void graceful_stop(sp__worker *w)
{
    if (atomic_exchange(&w->stopping, 1))
        return;
    sp__worker_accept(w, 0);
    for (size_t i = 0; i < w->ls->n; i++)
        close(w->ls->v[i].fd), w->ls->v[i].fd = -1;
    sp__conn_close_idle(w);
    struct timeval tv = {w->cfg->graceful_timeout_ms / 1000,
                         (w->cfg->graceful_timeout_ms % 1000) * 1000};
    evtimer_add(w->ev_grace, &tv);
    sp__worker_maybe_done(w);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    sp__worker *w = arg;
    if (sig == SIGTERM)
        graceful_stop(w);
    else
        _exit(0); /* INT, QUIT: fast stop, the master asked for it */
}

static int setup_events(sp__worker *w)
{
    static const int sigs[3] = {SIGTERM, SIGINT, SIGQUIT};
    w->lev = calloc(w->ls->n ? w->ls->n : 1, sizeof(*w->lev));
    if (w->lev == NULL)
        return -1;
    for (size_t i = 0; i < w->ls->n; i++)
        w->lev[i] = event_new(w->base, w->ls->v[i].fd, EV_READ | EV_PERSIST, on_accept, w);
    for (int i = 0; i < 3; i++) {
        w->ev_sig[i] = evsignal_new(w->base, sigs[i], on_signal, w);
        evsignal_add(w->ev_sig[i], NULL);
    }
    w->ev_done = event_new(w->base, -1, EV_PERSIST, on_done, w);
    w->ev_resume = evtimer_new(w->base, on_resume, w);
    w->ev_grace = evtimer_new(w->base, on_grace, w);
    return w->ev_done && w->ev_resume && w->ev_grace ? 0 : -1;
}

static int start_threads(sp__worker *w)
{
    w->threads = calloc((size_t)w->cfg->threads, sizeof(*w->threads));
    if (w->threads == NULL)
        return -1;
    for (int i = 0; i < w->cfg->threads; i++) {
        if (pthread_create(&w->threads[i], NULL, handler_main, w) != 0)
            return -1;
        char name[32]; /* the kernel keeps 15 bytes */
        snprintf(name, sizeof(name), "handler %d", (i + 1) % 10000);
        name[15] = '\0';
        pthread_setname_np(w->threads[i], name);
        w->n_threads++;
    }
    return 0;
}

static void init_worker_struct(sp__worker *w, const sp__config *cfg, sp__listeners *ls, int id)
{
    memset(w, 0, sizeof(*w));
    w->cfg = cfg;
    w->id = id;
    w->ls = ls;
    w->lim = (sp__h1_limits){cfg->limit_uri, cfg->limit_headers, cfg->limit_header_count,
                             (uint64_t)cfg->limit_body, cfg->body_buffer_size,
                             cfg->body_temp_path ? cfg->body_temp_path : "/tmp"};
    w->queue_limit = cfg->request_queue ? (size_t)cfg->request_queue : 4 * (size_t)cfg->threads;
    pthread_mutex_init(&w->done_lock, NULL);
}

static void unblock_signals(void)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* reloads are the master's business */
}

_Noreturn void sp__worker_run(const sp__config *cfg, sp__listeners *ls, int id, int ready_fd)
{
    static sp__worker worker; /* one per process; static so signal paths need no lookup */
    sp__worker *w = &worker;
    char role[32], err[1024];

    snprintf(role, sizeof(role), "worker %d", id);
    sp__log_role(role);
    sp__proctitle_set("spindle: worker %d", id);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    unblock_signals();
    init_worker_struct(w, cfg, ls, id);
    evthread_use_pthreads();
    w->base = event_base_new();
    if (w->base == NULL || sp__queue_init(&w->queue) != 0 || setup_events(w) != 0) {
        sp_log(SP_LOG_ERROR, "cannot set up the event loop");
        _exit(1);
    }
    if (sp__app_load(&w->app, cfg, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "%s", err);
        _exit(SP__EX_CONFIG);
    }
    if (start_threads(w) != 0) {
        sp_log(SP_LOG_ERROR, "cannot start %d handler threads: %m", cfg->threads);
        _exit(1);
    }
    sp__worker_accept(w, 1);
    if (write(ready_fd, "R", 1) != 1)
        _exit(1);
    close(ready_fd);
    event_base_dispatch(w->base);

    sp__queue_close(&w->queue);
    for (int i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    sp__app_free(w->app);
    exit(0);
}
