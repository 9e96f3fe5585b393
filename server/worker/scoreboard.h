/*
 * scoreboard.h - shared memory between the master and its workers.
 *
 * Why shared memory: the master must see, at any moment and without
 * asking, what every handler thread of every worker is doing (harakiri
 * deadlines, the route a crashed worker was running, stats), and it must
 * keep counting across worker deaths.  Asking workers over a pipe fails
 * exactly when it matters: a stuck or dead worker answers nothing.
 *
 * The master maps one MAP_SHARED|MAP_ANONYMOUS region before the first
 * fork; every worker inherits it.  It holds a fixed number of worker slots
 * (2 x processes + headroom for reloads and TTIN) and per slot a fixed
 * number of thread entries.  Each field has exactly one writer: a thread
 * writes its own entry, a worker its slot's counters, the master the
 * header; readers tolerate a torn "request" text (it is only logged).
 * Counters are per slot so workers never share a cache line; the master
 * folds a slot into the header's "retired" totals when it frees it.
 */
#ifndef SPINDLE_SERVER_WORKER_SCOREBOARD_H
#define SPINDLE_SERVER_WORKER_SCOREBOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/request.h"

#define SP__SB_ROUTES      128                 /* distinct route patterns tracked */
#define SP__SB_ROUTE_OTHER SP__SB_ROUTES       /* overflow: route="other" */
#define SP__SB_ROUTE_NONE  (SP__SB_ROUTES + 1) /* no route matched */
#define SP__SB_NROUTES     (SP__SB_ROUTES + 2)
#define SP__SB_CLASSES     5  /* 1xx .. 5xx */
#define SP__SB_BUCKETS     12 /* latency histogram, the last is +Inf */
#define SP__SB_TEXT        96

/* Upper bounds of the latency buckets, in microseconds. */
extern const uint64_t sp__sb_bucket_us[SP__SB_BUCKETS - 1];

typedef struct sp__sb_counts {
    _Atomic uint64_t by_route[SP__SB_NROUTES][SP__SB_CLASSES];
    _Atomic uint64_t hist[SP__SB_BUCKETS];
    _Atomic uint64_t sum_us;
} sp__sb_counts;

typedef struct sp__sb_thread {
    _Atomic uint64_t start_ns; /* CLOCK_MONOTONIC; 0 = idle */
    _Atomic int running;       /* a thread holds this entry (threads = auto stops some) */
    _Atomic uint64_t requests;
    char request[SP__SB_TEXT]; /* "GET /path" of the current request */
} __attribute__((aligned(64))) sp__sb_thread;

/* A worker's share of the connections, for its siblings to read (see
 * sp__sb_leave_to_sibling).  A cache line of its own, away from the
 * per-request counters: it changes on accepts and closes only, and every
 * sibling reads it on every accept. */
typedef struct sp__sb_share {
    _Atomic uint64_t key;    /* which listening sockets it accepts on; 0 = none, or stopping */
    _Atomic int64_t beat_ms; /* CLOCK_MONOTONIC ms, renewed by the IO loop's sweep */
    _Atomic uint32_t conns;  /* open client connections */
    _Atomic int accepting;   /* its accept events are registered right now */
} __attribute__((aligned(64))) sp__sb_share;

typedef struct sp__sb_slot {
    _Atomic int pid; /* 0 = free (master writes) */
    int id;          /* worker number (master writes before fork) */
    _Atomic int n_threads;
    _Atomic uint32_t queue;                         /* requests waiting for a thread (sampled) */
    _Atomic int threads_max;                        /* the worker's cap of handler threads */
    _Atomic uint64_t threads_grown, threads_shrunk; /* threads = auto: started, stopped */
    _Atomic uint64_t requests;
    sp__sb_counts counts;
    sp__sb_share share;
    sp__sb_thread threads[]; /* thread_cap of them */
} sp__sb_slot;

typedef struct sp__sb_route {
    _Atomic int state; /* 0 free, 1 being written, 2 ready */
    char pattern[SP__SB_TEXT];
} sp__sb_route;

typedef struct sp__scoreboard {
    size_t n_slots, thread_cap, slot_size, map_size;
    _Atomic uint64_t harakiri_total;
    _Atomic uint64_t respawns_total;
    sp__sb_route routes[SP__SB_ROUTES];
    sp__sb_counts retired; /* counts of workers that are gone */
} sp__scoreboard;

/* ---- master ---- */

/* Map the region for up to processes workers of threads threads each
 * (with headroom).  NULL on failure. */
sp__scoreboard *sp__sb_create(int processes, int threads);
void sp__sb_destroy(sp__scoreboard *sb);
sp__sb_slot *sp__sb_slot_at(sp__scoreboard *sb, size_t i);
/* A free slot, zeroed and reserved for worker id; -1 when all are taken. */
int sp__sb_slot_take(sp__scoreboard *sb, int id);
/* The worker of slot i is gone: fold its counts and free the slot. */
void sp__sb_slot_free(sp__scoreboard *sb, size_t i);
/* Sum the counts of every live slot and the retired ones into out. */
void sp__sb_totals(sp__scoreboard *sb, sp__sb_counts *out);

/* ---- worker ---- */

/* After fork: this process is worker id in slot i. */
void sp__sb_attach(sp__scoreboard *sb, size_t i, int id, int n_threads);
/* In a thread that runs requests, index 1-based (the handler threads, then
 * the IO loop's first thread): bind the thread to its entry. */
void sp__sb_thread_bind(int index);
/* Whether this worker's thread `index` (1-based) has been inside its
 * request for more than limit_ms; if so its request text goes to req. */
bool sp__sb_thread_overdue(int index, uint64_t limit_ms, char *req, size_t len);
/* The thread leaves its entry (threads = auto stopped it). */
void sp__sb_thread_unbind(void);
/* The worker's cap of handler threads, and one started or stopped by
 * threads = auto. */
void sp__sb_threads_max(int max);
void sp__sb_thread_grown(bool grown);
/* Entries a thread holds: the handler threads and the IO loop's first
 * thread running now (master). */
int sp__sb_threads_running(sp__sb_slot *s);
/* Call fn (once) when the worker has served limit requests; 0 = never. */
void sp__sb_on_request_limit(uint64_t limit, void (*fn)(void));
void sp__sb_set_queue(uint32_t len);

/* Accept balancing.  Every worker that accepts on the same sockets
 * publishes its open connections; one that holds clearly more than an
 * accepting sibling leaves new connections to it, so a burst of keep-alive
 * connections (which decides who serves them for their whole life) is
 * split evenly. */
#define SP__SB_BEAT_STALE_MS 300 /* a sibling whose sweep is older is not counted on */
/* Join the pool of workers accepting on the sockets identified by key
 * (nonzero), or leave it (0: graceful stop). */
void sp__sb_share_key(uint64_t key);
/* Open connections and whether accept events are registered; cheap when
 * nothing changed. */
void sp__sb_share_set(uint32_t conns, bool accepting);
/* The IO loop is alive (every sweep). */
void sp__sb_share_beat(void);
/* Should this worker leave the connection waiting on its sockets to a
 * sibling?  Reads the siblings' shares; false for a lone worker. */
bool sp__sb_leave_to_sibling(void);
/* The rule: does a worker holding mine hold clearly more than one holding
 * least, when n workers hold sum in all?  More than a sixteenth of the
 * mean and one more. */
bool sp__sb_clearly_more(uint64_t mine, uint64_t least, uint64_t sum, uint64_t n);

/* A thread starts and finishes req (server/worker/serve.c).  sp__sb_end
 * returns how long it ran, in microseconds (0 for a thread without an
 * entry). */
void sp__sb_begin(sp_request *req);
uint64_t sp__sb_end(const sp_request *req, int status);

#endif
