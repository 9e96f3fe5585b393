/*
 * front.h - what comes before plain HTTP on a connection when spindle sits
 * behind a proxy, kept out of conn.c so the connection's state machine
 * stays about HTTP:
 *
 *   - a PROXY protocol header, once, before the first request
 *     (proxy-protocol, only from trusted-proxies; from anyone else a
 *     PROXY header closes the connection);
 *   - on uwsgi listeners, each request's uwsgi packet, rewritten into the
 *     HTTP head it describes (server/proto/uwsgi.h), after which the HTTP parser
 *     takes the bytes as usual;
 *   - when a request is built, the client address and scheme: from the
 *     PROXY header or uwsgi's REMOTE_ADDR, then from forwarded headers
 *     when the address they arrived from is trusted (server/proto/trust.h).
 *
 * A uwsgi connection serves one request and is closed, as nginx (which
 * never reuses uwsgi upstream connections) and uWSGI expect; its streamed
 * responses are close-delimited, never chunked.
 */
#ifndef SPINDLE_SERVER_WORKER_FRONT_H
#define SPINDLE_SERVER_WORKER_FRONT_H

#include <sys/socket.h>

#include "app/request.h"

typedef struct sp__conn sp__conn;
typedef struct sp__worker sp__worker;

typedef struct sp__front {
    unsigned proxy_pending : 1; /* a PROXY header stage is still to run */
    unsigned uwsgi : 1;         /* the listener speaks uwsgi */
    unsigned converted : 1;     /* this request's packet is an HTTP head now */
    unsigned peer_trusted : 1;  /* the socket peer is in trusted-proxies */
    unsigned trusted : 1;       /* the address we believe now is trusted */
    signed char https;          /* -1 unknown, else what uwsgi said */
} sp__front;

/* A new connection from peer sa on listener fd lfd. */
void sp__front_open(sp__front *f, const sp__worker *w, int lfd, const struct sockaddr *sa);

/* Run the pre-HTTP stages over the connection's read buffer: 1 when the
 * bytes from c->pos on are HTTP, 0 when more bytes are needed, -1 when the
 * connection must be closed (already logged). */
int sp__front_feed(sp__conn *c);

/* Fill in the client's address and scheme of a request being built. */
void sp__front_request(sp__conn *c, sp_request *r);

/* The connection goes on to its next request. */
void sp__front_next(sp__front *f);

#endif
