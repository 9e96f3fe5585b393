/*
 * conn.h - one client connection.
 *
 * States, in order:  IDLE (keep-alive, no bytes yet) -> HEAD (reading the
 * request head, timeout-header running from its first byte) -> BODY
 * (timeout-body between reads) -> QUEUED -> HANDLING (a handler thread owns
 * it) -> WRITING (the IO loop finishes what the handler thread could not
 * write at once) -> IDLE again, or LINGER (shut for writing, draining the
 * client's unread bytes so it gets our answer, not a reset) -> closed.
 */
#ifndef SPINDLE_SERVER_CONN_H
#define SPINDLE_SERVER_CONN_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "app/arena.h"
#include "app/buf.h"
#include "app/request.h"
#include "app/response.h"
#include "server/front.h"
#include "server/http1.h"
#include "server/queue.h"
#include "server/worker.h"

enum sp__conn_state { C_IDLE, C_HEAD, C_BODY, C_QUEUED, C_HANDLING, C_WRITING, C_LINGER };

struct sp__conn {
    sp__qnode qnode; /* first: the queue hands back this pointer */
    sp__worker *w;
    sp__conn *prev, *next; /* w->conns */
    sp__conn *done_next;   /* w->done */
    int fd;
    enum sp__conn_state state;
    struct event ev_read;
    struct event ev_write;
    struct event ev_timer;
    sp__buf in;  /* bytes read; the current request's spans point here */
    size_t pos;  /* parsed up to here */
    sp__h1 h1;
    sp__front front; /* PROXY header, uwsgi, client address (server/front.h) */
    sp__buf body;     /* decoded request body */
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
    unsigned served;
    size_t drained;
    unsigned keep_alive : 1;
    unsigned chunked : 1;
    unsigned continue_sent : 1;
    unsigned broken : 1;
    int port;
    char addr[48];
};

/* IO loop side (conn.c) */
/* A connection accepted on listener lfd. */
void sp__conn_open(sp__worker *w, int lfd, int fd, const struct sockaddr *sa, socklen_t salen);
void sp__conn_completed(sp__conn *c);
void sp__conn_close(sp__conn *c);

/* Handler thread side (respond.c) */
void sp__conn_handle(sp__conn *c);
/* Write as much pending output as the socket takes: 1 done, 0 more to
 * write, -1 broken. */
int sp__conn_flush(sp__conn *c);
/* Render a bare error answer (IO loop, before any handler ran). */
void sp__conn_render_error(sp__conn *c, int status);

#endif
