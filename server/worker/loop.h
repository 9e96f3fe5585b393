/*
 * loop.h - the IO loop as a role that moves between a worker's threads,
 * and the quick requests its thread runs itself.
 *
 * Why: a request handed from the IO loop to a handler thread costs a
 * wake-up and a context switch on each side, several microseconds apiece
 * in a VM.  For a short handler that is more than the request itself: a
 * hello world spent about twice nginx's CPU per request on hand-offs alone
 * (bench/README.md).  So a request whose route has lately run in under
 * SP__LOOP_QUICK_US is run by the thread that holds the loop, between two
 * turns of it, as nginx would; every other request goes to the queue.
 *
 * The safety net: while the loop's thread runs a quick request, the loop
 * is up for grabs.  A watch thread looks every SP__LOOP_WATCH_MS; if the
 * same quick request is still running at its next look, the watch takes
 * the loop and hands it, ahead of everything in the queue, to an idle
 * handler thread, and marks the route slow so that its next requests are
 * queued.  The thread that lost the loop finishes its request as a handler
 * thread and then serves the queue.  So a handler that blocks where it
 * never did before stalls its worker's other connections for a few
 * milliseconds, once, not for as long as it blocks.  The watch takes the
 * loop only from a thread that is stuck: asleep (a lock, IO, a sleep), or
 * computing through a whole look.  A thread that merely waits for a CPU
 * keeps it, since any other thread would have to wait for one too; on a
 * busy machine such moves cost far more than they saved (at 1,024
 * connections on 2 CPUs they tripled hello's p99).
 *
 * A turn ends early once SP__LOOP_CHUNK quick requests wait (libevent keeps
 * the events it has not run for the next turn, and the budget starts
 * again).  So a connection read early in a large batch is answered before
 * the rest of the batch is read, and a large batch of cheap requests is not
 * sent to the handler threads for exceeding the budget: at 1,024
 * connections one turn gathered some 480 hello requests, and a budget per
 * whole turn handed most of them over, at 19 us of CPU per request against
 * 12 us with turns of 64.
 *
 * `threads` stays the cap on requests running at once: a quick request
 * starts only while a handler thread sleeps with nothing to take (which is
 * also the thread the loop would be handed to).  A worker has threads + 1
 * threads that run requests, each with its own scoreboard entry, and the
 * watch.  And one turn keeps at most SP__LOOP_BUDGET_US of predicted work
 * for the loop's thread; the rest is queued, so many requests of a
 * middling cost still spread over the handler threads (and cores).
 *
 * The thread that holds the loop asks the scheduler for a short slice
 * (SP__LOOP_SLICE_US; Linux 6.12 and later honour it, earlier kernels
 * ignore it): its work comes in short bursts, each the answer some client
 * waits for, and with the default slice a woken loop thread queued behind
 * whatever ran on its CPU for milliseconds.  A thread that loses the loop
 * goes back to the default.  Only a thread of the normal policy is
 * touched, and its nice value is kept.
 *
 * Serial requests (a handler declared with sp_handler_serial: the wsgi
 * module, whose requests all compute under Python's GIL) run on the loop's
 * thread whatever their cost, since a handler thread could not compute
 * beside another anyway; with eight threads each taking a request and
 * waiting its turn for the GIL, a Django view paid some seven context
 * switches a request, and about 8 % more CPU, against two on the loop.
 * Each turn runs up to SP__LOOP_SERIAL_BUDGET_US of them, then reads
 * again (polling, as serial work is left waiting) before running the
 * rest: their order stays first come, first served, and the worker's
 * other connections wait one budget at most.  One that blocks (asleep at
 * a look) or computes past SP__LOOP_SERIAL_RUN_MS is caught by the watch
 * as a quick one is; then the next SP__LOOP_BACKOFF_MIN requests of its
 * slot go to the handler threads, where blocking ones overlap, and each
 * further catch doubles that, up to SP__LOOP_BACKOFF_MAX; each serial
 * request that runs through on the loop halves it again.  A slot of
 * views that sleep therefore stays on the handler threads but for one
 * probe in 4096, and a mix settles at the share it blocks.
 *
 * Ownership: the run queue, the budget and `finished` belong to whichever
 * thread holds the loop, like everything else the IO loop owns.  The loop
 * changes hands only through `word` and the queue's lock, which order
 * everything the old holder did before everything the new one does.
 */
#ifndef SPINDLE_SERVER_WORKER_LOOP_H
#define SPINDLE_SERVER_WORKER_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "app/request.h"
#include "server/worker/queue.h"

#define SP__LOOP_QUICK_US  50   /* a route this fast runs on the loop's thread */
#define SP__LOOP_BUDGET_US 1000 /* quick work the loop's thread keeps per turn */
#define SP__LOOP_CHUNK     64   /* quick requests that end a turn early */
#define SP__LOOP_WATCH_MS  2    /* how often the watch looks */
#define SP__LOOP_SLOTS     64   /* routes told apart by the cost table */
#define SP__LOOP_SLICE_US  100  /* the scheduler slice of the loop's thread */
/* Serial handlers (sp_handler_serial; see below). */
#define SP__LOOP_SERIAL_BUDGET_US 10000 /* serial work per turn before the next read */
#define SP__LOOP_SERIAL_RUN_MS    10    /* a serial request computing this long loses the loop */
#define SP__LOOP_BACKOFF_MIN      64    /* a caught slot's requests sent to handler threads, */
#define SP__LOOP_BACKOFF_MAX      4096  /* doubling with each catch up to this */

struct sp__worker;
struct sp__conn;

typedef struct sp__loop {
    /* (sequence << 2) | state: the loop's thread sets RUNNING for each
     * quick request and clears it after, unless the watch swapped it for
     * TAKEN first (loop.c). */
    _Atomic uint64_t word;
    _Atomic unsigned run_slot;                /* the cost slot of the quick request running */
    _Atomic int holder_tid;                   /* the thread holding the loop */
    _Atomic unsigned cost_us[SP__LOOP_SLOTS]; /* recent run time per route, averaged */
    /* serial slots: requests still to go to the handler threads since the
     * watch caught one, and how many the next catch sends */
    _Atomic unsigned off_left[SP__LOOP_SLOTS];
    _Atomic unsigned backoff[SP__LOOP_SLOTS];
    atomic_bool run_serial; /* the quick request running is serial */
    sp__qnode node;         /* "take the loop": queued ahead of everything on a hand-over */
    /* the loop's holder only */
    sp__qnode *runq, *runq_tail; /* quick requests, for this turn's end */
    unsigned runq_len;
    unsigned budget;       /* microseconds of quick work left this turn */
    int64_t serial_budget; /* microseconds of serial work left this turn */
    int finished;          /* the worker is done: every thread goes */
    /* the watch */
    pthread_t watch;
    int watching;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_int parked;               /* the watch sleeps until the next quick request */
    uint64_t seen_word, seen_cpu_ns; /* the watch's last look at a runnable thread */
    unsigned seen_looks;             /* looks in a row that saw seen_word */
    int stop;                        /* under lock */
} sp__loop;

int sp__loop_init(sp__loop *l);
void sp__loop_destroy(sp__loop *l);
/* Start and stop the watch thread (the worker, around serving). */
int sp__loop_watch_start(struct sp__worker *w);
void sp__loop_watch_stop(struct sp__worker *w);

/* The IO loop has a complete request on c: true if it runs on the loop's
 * thread at the end of this turn (then it is queued nowhere). */
bool sp__loop_offer(struct sp__worker *w, struct sp__conn *c);
/* Remember that a request on the route of cost slot `slot` ran for us
 * microseconds (any thread).  Not for serial requests: they run on the
 * loop whatever their cost. */
void sp__loop_note(struct sp__worker *w, unsigned slot, uint64_t us);
/* The cost slot of a request's route (method and path). */
unsigned sp__loop_slot(const sp_request *req);
/* Whether the watch takes the loop from a thread it has seen running the
 * same quick request at two looks: `state` is the thread's scheduler state
 * ('R' running or waiting for a CPU, 'S' asleep, ...; 0 if unknown) and
 * cpu_ns the CPU time it has used.  A serial request (l->run_serial) may
 * compute for SP__LOOP_SERIAL_RUN_MS.  Remembers what it needs in l for
 * the next look. */
bool sp__loop_stalled(sp__loop *l, uint64_t word, char state, uint64_t cpu_ns);

/* One turn of the loop, then the quick requests it gathered.  false if
 * the loop was taken from this thread meanwhile. */
bool sp__loop_turn(struct sp__worker *w);
/* Turns until the worker is finished (true) or the loop is taken from
 * this thread (false: it carries on as a handler thread). */
bool sp__loop_run(struct sp__worker *w);
/* A handler thread popped n from the queue: if it is the loop's node, the
 * thread holds the loop from now on and true is returned. */
bool sp__loop_claim(struct sp__worker *w, sp__qnode *n);

#endif
