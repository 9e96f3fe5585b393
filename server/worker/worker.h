/*
 * worker.h - one worker process: threads + 1 threads around one IO loop
 * and a request queue.  One of them holds the loop at a time (the main
 * thread to begin with; server/worker/loop.h says when it moves); the others are
 * handler threads, waiting on the queue.
 *
 * The IO loop owns every connection while it reads or writes it; a
 * connection with a complete request is run by the loop's thread itself
 * (a quick request) or handed to the queue, and then belongs to exactly
 * one thread until that thread is done with it.  So a connection is never
 * touched by two threads at once and needs no lock.
 */
#ifndef SPINDLE_SERVER_WORKER_WORKER_H
#define SPINDLE_SERVER_WORKER_WORKER_H

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>

#include "app/app.h"
#include "conf/config.h"
#include "server/proto/http1.h"
#include "server/worker/listen.h"
#include "server/worker/loop.h"
#include "server/worker/queue.h"

typedef struct sp__conn sp__conn;

typedef struct sp__worker {
    const sp__config *cfg;
    int id;
    struct event_base *base;
    sp__listeners *ls;
    struct event **lev; /* one accept event per listener */
    struct event *ev_done;
    struct event *ev_resume; /* re-enable accepting after EMFILE */
    struct event *ev_look;   /* look at the listeners again (on_accept) */
    struct event *ev_grace;
    struct event *ev_sweep;   /* connection timeouts (sp__conn_sweep) */
    struct event *ev_signals; /* the process's signals, from a signalfd (sigs.h) */
    sp__queue queue;
    size_t queue_limit;
    sp__loop loop; /* which thread runs the IO loop; quick requests (loop.h) */
    /* handler threads (worker.c): a fixed number, or threads = auto */
    struct sp__hthread {
        pthread_t t;
        int state; /* ht_lock */
    } * ht;
    int ht_cap, ht_min;        /* threads-max and threads-min; both `threads` when fixed */
    pthread_mutex_t ht_lock;   /* starting and joining threads, the entries' states */
    int ht_done;               /* entries of threads that stopped, to join (ht_lock) */
    int ht_closed;             /* the worker is done: no more threads (ht_lock) */
    atomic_int ht_running;     /* threads started and not stopped */
    atomic_int ht_starting;    /* ...of which not yet serving */
    atomic_int serving;        /* started up: a thread's init_thread failing no longer ends it */
    pthread_t harakiri_thread; /* tells the modules of a harakiri (worker.c) */
    int harakiri_reported;
    sp_app *app;
    sp__h1_limits lim;
    pthread_mutex_t done_lock;
    sp__conn *done;  /* completed by handler threads, for the IO loop */
    int done_fd;     /* eventfd: the done list became non-empty */
    sp__conn *conns; /* every open connection */
    size_t n_conns;
    /* IO loop only (server/worker/conn.c): free connections and their chunks,
     * pooled exchanges */
    sp__conn *conn_free;
    void *conn_chunks;
    struct sp__exchange *ex_free;
    size_t ex_nfree;
    size_t ex_low;           /* the fewest pooled since the last sweep */
    atomic_size_t untrimmed; /* bytes freed since the last malloc_trim (any thread adds) */
    size_t untrimmed_seen;   /* ...as the previous sweep saw it */
    long long trimmed_at;    /* when (sp__now_ms) */
    atomic_int accepting;    /* the listeners are registered (IO loop) */
    int fd_pause;            /* accepts paused after EMFILE/ENFILE */
    atomic_int stopping;
    int closing_idle; /* TERM: idle connections are being closed (worker.c) */
    /* operations: the channel to the master and recycling */
    int master_fd; /* pipe to the master: 'R' ready, 'X' replace me */
    atomic_int replace_asked;
    struct event *ev_tick; /* queue sample, lifetime and RSS checks */
    long long started_ms;
    int ticks;
} sp__worker;

/* Where a worker starts: its config, sockets, number, its pipe to the
 * master and its scoreboard slot. */
typedef struct sp__worker_start {
    const sp__config *cfg;
    sp__listeners *ls;
    int id;
    int master_fd;
    struct sp__scoreboard *sb;
    int sb_slot;
} sp__worker_start;

/* Run a worker until it stops; exits the process (0, or 78 when the
 * application cannot be built).  master_fd gets 'R' once accepting, and
 * 'X' when the worker wants to be recycled (max-requests, lifetime, RSS). */
_Noreturn void sp__worker_run(const sp__worker_start *st);

/* Accepting on or off (backpressure, EMFILE, graceful stop). */
void sp__worker_accept(sp__worker *w, int on);
/* Take back the connections handler threads posted (IO loop only). */
void sp__worker_take_done(sp__worker *w);
/* The done list and its wake-up: an eventfd the IO loop watches, written
 * by the handler thread that finds the list empty, so libevent needs no
 * locking and the IO loop wakes once per batch. */
int sp__worker_done_init(sp__worker *w);
void sp__worker_post_done(sp__conn *c);
/* Accept again if nothing holds it back (IO loop only). */
void sp__worker_accept_if_room(sp__worker *w);
/* A request was queued: with threads = auto, start a handler thread if
 * it waits with every thread busy (any thread; cheap when none is due). */
void sp__worker_grow(sp__worker *w);
static inline void sp__worker_queued(sp__worker *w)
{
    if (w->ht_min < w->ht_cap)
        sp__worker_grow(w);
}
/* Hand a request to the handler threads (the IO loop's holder only):
 * queued, and accepting stops while the queue is at its limit.  The
 * caller then calls sp__worker_queued, once for a batch. */
static inline void sp__worker_enqueue(sp__worker *w, sp__qnode *n)
{
    if (sp__queue_push(&w->queue, n) >= w->queue_limit)
        sp__worker_accept(w, 0);
}
/* The last connection of a stopping worker went away. */
void sp__worker_maybe_done(sp__worker *w);

#endif
