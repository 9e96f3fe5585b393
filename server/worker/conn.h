/*
 * conn.h - one client connection.
 *
 * Ownership: a connection belongs to the IO loop unless its sync word has
 * SP__CONN_BUSY set, from the moment a complete request is queued until a
 * handler thread is done with it.  A handler thread that finishes a plain
 * keep-alive request resets the connection itself and clears BUSY, so the
 * common request costs the IO loop no wake-up at all; a read event that
 * arrives meanwhile sets SP__CONN_PENDING, and whoever sees it (one
 * compare-and-swap decides) lets the IO loop pick the connection up.
 *
 * States, in order:  IDLE (keep-alive, no bytes yet) -> HEAD (reading the
 * request head, timeout-header running from its first byte) -> BODY
 * (timeout-body between reads) -> QUEUED -> HANDLING (a handler thread owns
 * it) -> WRITING (the IO loop finishes what the handler thread could not
 * write at once) -> IDLE again, or LINGER (shut for writing, draining the
 * client's unread bytes so it gets our answer, not a reset) -> closed.
 */
#ifndef SPINDLE_SERVER_WORKER_CONN_H
#define SPINDLE_SERVER_WORKER_CONN_H

#include <event2/event.h>
#include <stdatomic.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "server/lib/arena.h"
#include "server/lib/buf.h"
#include "app/request.h"
#include "app/response.h"
#include "server/lib/clock.h"
#include "server/worker/front.h"
#include "server/proto/http1.h"
#include "server/worker/queue.h"
#include "server/worker/worker.h"

enum sp__conn_state { C_IDLE, C_HEAD, C_BODY, C_QUEUED, C_HANDLING, C_WRITING, C_LINGER };

#define SP__CONN_BUSY    1u /* a handler thread owns the connection */
#define SP__CONN_PENDING 2u /* the socket became readable meanwhile */
#define SP__CONN_CLOSED  4u /* ...and the peer had closed its side */

/* What a connection needs only while a request is on it: the read buffer,
 * the parser, the request and the response with their buffers (about a
 * kilobyte, plus buffers).  Attached when a read begins on an idle
 * connection, given back to a per-worker pool that keeps its buffers: when
 * an answer leaves nothing unread if the worker holds many connections (so
 * its busy exchanges stay few and warm in the CPU's caches), else after
 * IDLE_DETACH_MS idle.  An idle keep-alive connection costs only its
 * sp__conn. */
typedef struct sp__exchange {
    struct sp__exchange *next_free; /* w->ex_free */
    sp__buf in;                     /* bytes read; the current request's spans point here */
    size_t pos;                     /* parsed up to here */
    sp__h1 h1;
    sp__buf body;     /* decoded request body */
    size_t direct;    /* body bytes read into body's tail, not parsed yet */
    sp__buf head;     /* rendered response head */
    sp__buf res_body; /* response body */
    sp__arena arena;
    sp_request req;
    sp_response res;
    struct iovec iov[2]; /* output still to write */
    int iovcnt;
    int file_fd;
    off_t file_off;
    uint64_t file_left;
    unsigned char cost_slot; /* the route's slot in the loop's cost table */
    bool serial;             /* its handler is serial (sp_handler_serial) */
} sp__exchange;

/* An open connection.  Kept small (it is all an idle keep-alive connection
 * costs) and allocated in chunks of SP__CONN_CHUNK (conn.c), so 10,000 of
 * them are 10,000 packed structs rather than structs scattered between
 * freed buffers. */
struct sp__conn {
    union {
        sp__qnode qnode;     /* first: the queue hands back this pointer */
        sp__conn *done_next; /* w->done, once a handler thread is done */
    };
    sp__worker *w;
    sp__conn *prev, *next; /* w->conns, or w->conn_free */
    sp__exchange *x;       /* NULL while idle and detached */
    long long deadline;    /* CLOCK_MONOTONIC ms when the current state times out */
    long long idle_since;  /* when the current state began */
    struct event ev;       /* read and write, edge-triggered, for the connection's life */
    int fd;
    atomic_uint sync; /* SP__CONN_BUSY | SP__CONN_PENDING | SP__CONN_CLOSED */
    unsigned drained; /* bytes read while lingering */
    unsigned served;  /* requests answered */
    sp__front front;  /* PROXY header, uwsgi, client address (server/worker/front.h) */
    unsigned short port;
    unsigned char state; /* enum sp__conn_state */
    unsigned char keep_alive : 1;
    unsigned char chunked : 1;
    unsigned char continue_sent : 1;
    unsigned char broken : 1;
    unsigned char read_ready : 1;  /* unread input may wait in the socket */
    unsigned char eof : 1;         /* read returned end of stream */
    unsigned char peer_closed : 1; /* epoll saw the FIN: read until eof */
    unsigned char unix_peer : 1;   /* AF_UNIX: EV_WRITE only while C_WRITING */
    char addr[46];                 /* INET6_ADDRSTRLEN */
};

/* IO loop side (conn.c) */
/* A connection accepted on listener lfd. */
void sp__conn_open(sp__worker *w, int lfd, int fd, const struct sockaddr *sa, socklen_t salen);
/* A handler thread posted c back (w->done). */
void sp__conn_completed(sp__conn *c);
void sp__conn_close(sp__conn *c);
/* Between requests with nothing buffered (a graceful stop may close it). */
bool sp__conn_is_idle(const sp__conn *c);
/* Time out what is overdue, detach idle exchanges (the worker calls this
 * every SP__SWEEP_MS). */
void sp__conn_sweep(sp__worker *w);

#define SP__SWEEP_MS 100

/* The side of the thread that runs the request (serve.c) */
/* Run the request through the application and write what the socket
 * takes at once. */
void sp__conn_run(sp__conn *c);
/* After sp__conn_run on a handler thread: keep the connection for its next
 * request without the IO loop if nothing else is to do, else post it to
 * the IO loop.  (The loop's own thread calls sp__conn_completed instead.) */
void sp__conn_finish(sp__conn *c);
/* Both, on a handler thread. */
void sp__conn_handle(sp__conn *c);
/* Forget the finished request; keep what was read after it. */
void sp__conn_reset(sp__conn *c);
/* Write as much pending output as the socket takes: 1 done, 0 more to
 * write, -1 broken. */
int sp__conn_flush(sp__conn *c);
/* Render a bare error answer (IO loop, before any handler ran). */
void sp__conn_render_error(sp__conn *c, int status);

#endif
