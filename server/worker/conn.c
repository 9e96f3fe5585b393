/*
 * conn.c - the IO loop's side of a connection (see conn.h for the states
 * and who owns a connection when).
 *
 * Reads are edge-triggered and the read event stays registered for the
 * connection's life: no epoll_ctl per request.  The loop reads until the
 * socket is drained (or a buffer cap), parses, and hands a complete request
 * to the queue; it parses nothing past that request until its response is
 * done, so pipelined requests are answered strictly in order and a slow
 * handler never makes the server buffer an unbounded stream.  An edge that
 * arrives while the loop may not read is remembered in read_ready.
 *
 * Timeouts are deadlines swept every SP__SWEEP_MS rather than timers
 * re-armed per request, so a handler thread can set the keep-alive deadline
 * of the connection it finished without touching the loop.
 */
#include "server/worker/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK         4096
#define READ_CAP           (256 * 1024) /* read no further ahead than this */
#define LINGER_MS          2000
#define LINGER_BYTES       (256 * 1024)
#define IDLE_DETACH_MS     200           /* idle this long: its exchange goes back to the pool */
#define TRIM_RELEASE_BYTES (1024 * 1024) /* freed: trim at once */
#define TRIM_QUIET_BYTES   (64 * 1024)   /* freed, and no more since: trim */
#define TRIM_EVERY_MS      1000
#define SP__CONN_CHUNK     64 /* connections allocated at a time */

/* Pooled exchanges per worker.  Above EX_SHARE_ABOVE connections, a
 * keep-alive connection gives its exchange back after every answer that
 * leaves nothing unread, so the pool holds about as many as the worker has
 * requests in progress at once: up to EX_POOL_MAX.  Each sweep frees half
 * of what stayed unused since the last one, down to EX_POOL_KEEP.  Under
 * ASan nothing is pooled or packed, so that every use after release is
 * caught. */
#if defined(__SANITIZE_ADDRESS__)
#define SP__POOLS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SP__POOLS 0
#endif
#endif
#ifndef SP__POOLS
#define SP__POOLS 1
#endif
#define EX_POOL_MAX  256
#define EX_POOL_KEEP 16
/* With this many connections or fewer, each keeps its exchange between
 * requests (all of them fit in the caches, and the round trip through the
 * pool cost 3-5 % at 16 connections). */
#define EX_SHARE_ABOVE 64

static void on_event(evutil_socket_t fd, short what, void *arg);
static void pump(sp__conn *c);

static short conn_events(int writes)
{
    return (short)(EV_READ | EV_CLOSED | EV_PERSIST | EV_ET | (writes ? EV_WRITE : 0));
}

/* Unix sockets: watch for write space only while a response waits for it
 * (re-registering reports the socket's state as it is now, so no edge is
 * lost).  TCP connections watch it all along. */
static void watch_writes(sp__conn *c, int on)
{
    if (!c->unix_peer)
        return;
    event_del(&c->ev);
    event_assign(&c->ev, c->w->base, c->fd, conn_events(on), on_event, c);
    event_add(&c->ev, NULL);
}

static void expire_in(sp__conn *c, int ms)
{
    c->idle_since = sp__now_ms();
    c->deadline = c->idle_since + ms;
}

/* ---- the pools (IO loop only) ---------------------------------------- */

typedef struct conn_chunk {
    struct conn_chunk *next;
    sp__conn conns[SP__CONN_CHUNK];
} conn_chunk;

static sp__conn *conn_alloc(sp__worker *w)
{
    if (!SP__POOLS)
        return calloc(1, sizeof(sp__conn));
    if (w->conn_free == NULL) {
        conn_chunk *k = malloc(sizeof(*k));
        if (k == NULL)
            return NULL;
        k->next = w->conn_chunks;
        w->conn_chunks = k;
        for (int i = SP__CONN_CHUNK - 1; i >= 0; i--) {
            k->conns[i].next = w->conn_free;
            w->conn_free = &k->conns[i];
        }
    }
    sp__conn *c = w->conn_free;
    w->conn_free = c->next;
    memset(c, 0, sizeof(*c));
    return c;
}

static void conn_release(sp__worker *w, sp__conn *c)
{
    if (!SP__POOLS) {
        free(c);
        return;
    }
    c->next = w->conn_free;
    w->conn_free = c;
}

static void exchange_free(sp__exchange *x)
{
    sp__h1_free(&x->h1);
    sp__buf_free(&x->in);
    sp__buf_free(&x->body);
    sp__buf_free(&x->head);
    sp__buf_free(&x->res_body);
    sp__arena_free(&x->arena);
    free(x);
}

/* Give c an exchange: a pooled one (buffers and all), else a new one. */
static int attach(sp__conn *c)
{
    sp__worker *w = c->w;
    sp__exchange *x = w->ex_free;
    if (x != NULL) {
        w->ex_free = x->next_free;
        if (--w->ex_nfree < w->ex_low)
            w->ex_low = w->ex_nfree;
    } else {
        x = calloc(1, sizeof(*x));
        if (x == NULL)
            return SP_ENOMEM;
        x->file_fd = -1;
        x->req.body_fd = -1;
        x->res.file_fd = -1; /* released on close even if no response was made */
        sp__h1_init(&x->h1, &w->lim, &x->body);
        sp__arena_init(&x->arena, 4096);
        /* Allocated here, not by the handler thread that first writes them:
         * all of an exchange then lives in the IO loop's malloc arena, and
         * the handler threads' arenas do not fill with freed heads. */
        if (sp__buf_reserve(&x->head, 1024) != SP_OK ||
            sp__buf_reserve(&x->res_body, 1024) != SP_OK) {
            exchange_free(x);
            return SP_ENOMEM;
        }
    }
    c->x = x;
    return 0;
}

/* sp__buf_reset, counting what it frees for the sweep's trim (any thread). */
static void buf_reset(sp__worker *w, sp__buf *b)
{
    if (b->cap > SP__BUF_KEEP)
        atomic_fetch_add_explicit(&w->untrimmed, b->cap, memory_order_relaxed);
    sp__buf_reset(b);
}

/* As good as new for any connection, buffers kept (big ones are freed by
 * sp__buf_reset). */
static void exchange_clean(sp__worker *w, sp__exchange *x)
{
    sp__response_release(&x->res);
    sp__request_release(&x->req);
    if (x->file_fd >= 0)
        close(x->file_fd);
    x->file_fd = -1;
    x->file_left = 0;
    x->iovcnt = 0;
    x->pos = 0;
    x->direct = 0;
    sp__arena_reset(&x->arena);
    buf_reset(w, &x->in);
    buf_reset(w, &x->body);
    buf_reset(w, &x->head);
    buf_reset(w, &x->res_body);
    sp__h1_recycle(&x->h1);
}

/* Free a clean exchange, counting it in w->untrimmed for the sweep. */
static void exchange_drop(sp__worker *w, sp__exchange *x)
{
    atomic_fetch_add_explicit(
        &w->untrimmed, sizeof(*x) + x->in.cap + x->head.cap + x->res_body.cap + x->body.cap + 4096,
        memory_order_relaxed);
    exchange_free(x);
}

/* Take c's exchange back, whatever state it is in: into the pool, or
 * freed. */
static void detach(sp__conn *c)
{
    sp__worker *w = c->w;
    sp__exchange *x = c->x;
    c->x = NULL;
    exchange_clean(w, x);
    if (SP__POOLS && w->ex_nfree < EX_POOL_MAX) {
        x->next_free = w->ex_free;
        w->ex_free = x;
        w->ex_nfree++;
        return;
    }
    exchange_drop(w, x);
}

/* Free half of the exchanges that stayed in the pool since the last sweep,
 * keeping EX_POOL_KEEP: a burst's exchanges go within a second of it. */
static void pool_shrink(sp__worker *w)
{
    size_t spare = w->ex_low > EX_POOL_KEEP ? (w->ex_low - EX_POOL_KEEP + 1) / 2 : 0;
    while (spare-- > 0) {
        sp__exchange *x = w->ex_free;
        w->ex_free = x->next_free;
        w->ex_nfree--;
        exchange_drop(w, x);
    }
    w->ex_low = w->ex_nfree;
}

/* ---- open, close ------------------------------------------------------ */

static void peer_text(sp__conn *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(in6->sin6_port);
    } else {
        strcpy(c->addr, "unix");
        c->port = 0;
    }
}

void sp__conn_open(sp__worker *w, int lfd, int fd, const struct sockaddr *sa, socklen_t salen)
{
    sp__conn *c = conn_alloc(w);
    if (c == NULL) {
        close(fd);
        return;
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->w = w;
    c->fd = fd;
    c->state = C_IDLE;
    peer_text(c, sa);
    sp__front_open(&c->front, w, lfd, sa);
    /* One registration for the connection's life, reads and writes both
     * edge-triggered: on TCP a write edge only comes after a write that hit
     * a full socket buffer, and every other write was tried first.  Unix
     * sockets signal write space whenever the peer reads, so there EV_WRITE
     * is added only while a response waits for room (watch_writes). */
    c->unix_peer = sa->sa_family == AF_UNIX;
    event_assign(&c->ev, w->base, fd, conn_events(!c->unix_peer), on_event, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    expire_in(c, w->cfg->timeout_keepalive_ms);
    event_add(&c->ev, NULL); /* reports data that is already there */
}

bool sp__conn_is_idle(const sp__conn *c)
{
    return !(atomic_load(&c->sync) & SP__CONN_BUSY) && c->state == C_IDLE &&
           (c->x == NULL || c->x->in.len == 0);
}

void sp__conn_close(sp__conn *c)
{
    sp__worker *w = c->w;
    event_del(&c->ev);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    if (c->x != NULL)
        detach(c);
    conn_release(w, c);
    sp__worker_maybe_done(w);
    sp__worker_accept_if_room(w); /* it may have waited for max-connections */
}

/* Shut our side and read what the client still sends, so our last answer
 * is not destroyed by a reset when we close with unread input. */
static void drain(sp__conn *c)
{
    char junk[4096];
    for (;;) {
        ssize_t n = recv(c->fd, junk, sizeof(junk), 0);
        if (n > 0 && (c->drained += (unsigned)n) < LINGER_BYTES)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        sp__conn_close(c); /* the client closed too, or sent too much */
        return;
    }
}

static void linger(sp__conn *c)
{
    c->state = C_LINGER;
    c->drained = 0;
    detach(c); /* nothing more is read into it or written from it */
    shutdown(c->fd, SHUT_WR);
    expire_in(c, LINGER_MS);
    drain(c);
}

static void after_response(sp__conn *c);

static void start_writing(sp__conn *c)
{
    int r = sp__conn_flush(c);
    if (r < 0) {
        sp__conn_close(c);
        return;
    }
    if (r == 0) {
        c->state = C_WRITING; /* on_event goes on at the next write edge */
        watch_writes(c, 1);
        expire_in(c, c->w->cfg->timeout_write_ms);
        return;
    }
    after_response(c);
}

/* Refuse the request being read: answer status and close. */
static void refuse(sp__conn *c, int status, const char *reason)
{
    sp_log(SP_LOG_INFO, "%s:%d: %d %s (%s)", c->addr, c->port, status, sp_status_reason(status),
           reason ? reason : "");
    c->keep_alive = 0;
    sp__conn_render_error(c, status);
    c->state = C_WRITING;
    start_writing(c);
}

static void build_request(sp__conn *c)
{
    sp__h1 *h = &c->x->h1;
    sp_request *r = &c->x->req;
    const char *b = c->x->in.data;
    size_t n = h->n_hdr / 2;

    r->arena = &c->x->arena;
    r->method = (sp_str){b + h->method.off, h->method.len};
    r->target = (sp_str){b + h->url.off, h->url.len};
    r->version = h->version;
    r->scheme = (sp_str){"http", 4};
    r->headers = n ? sp__arena_alloc(&c->x->arena, n * sizeof(*r->headers)) : NULL;
    r->n_headers = r->headers ? n : 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        r->headers[i].name = (sp_str){b + h->hdr[2 * i].off, h->hdr[2 * i].len};
        r->headers[i].value = (sp_str){b + h->hdr[2 * i + 1].off, h->hdr[2 * i + 1].len};
    }
    r->body_fd = sp__h1_take_spill(h);
    r->body_len = h->body_len;
    r->body_off = 0;
    r->body_map = NULL;
    r->body = r->body_fd >= 0 ? SP_STR_NULL
                              : (sp_str){c->x->body.data ? c->x->body.data : "", c->x->body.len};
    r->remote_addr = (sp_str){c->addr, strlen(c->addr)};
    r->remote_port = c->port;
    sp__front_request(c, r);
    sp__request_prepare(r);
}

static void dispatch(sp__conn *c)
{
    sp__worker *w = c->w;
    build_request(c);
    c->state = C_QUEUED;
    atomic_store(&c->sync, SP__CONN_BUSY);
    if (sp__loop_offer(w, c))
        return; /* the loop's thread runs it at the end of this turn */
    sp__worker_enqueue(w, &c->qnode);
    sp__worker_queued(w);
}

static void send_continue(sp__conn *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    c->continue_sent = 1;
    if (send(c->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(msg) - 1)
        c->broken = 1;
}

/* Body bytes already copied out need not stay in the read buffer. */
static void drop_parsed_body(sp__conn *c)
{
    size_t keep = c->x->h1.head_end;
    if (keep == 0 || keep >= c->x->pos)
        return;
    memmove(c->x->in.data + keep, c->x->in.data + c->x->pos, c->x->in.len - c->x->pos);
    c->x->in.len -= c->x->pos - keep;
    c->x->pos = keep;
}

/* Empty lines before a request line are no request (RFC 9112, 2.2; llhttp
 * skips them too): pass over those after a request, and forget a buffer
 * that held nothing else, so the connection is idle again. */
static void skip_empty_lines(sp__conn *c)
{
    sp__exchange *x = c->x;
    if (c->front.uwsgi)
        return; /* a uwsgi packet may begin with any byte */
    while (x->pos < x->in.len && (x->in.data[x->pos] == '\r' || x->in.data[x->pos] == '\n'))
        x->pos++;
}

/* Parse what is buffered.  1: more input is wanted; 0: the connection
 * moved on (request queued, refused, or closed) and must not be touched. */
static int process(sp__conn *c)
{
    int front = sp__front_feed(c); /* PROXY header, uwsgi packet */
    if (front < 0) {
        sp__conn_close(c);
        return 0;
    }
    enum sp__h1_state st = SP__H1_NEED_MORE;
    if (c->x->direct > 0) { /* `in` holds nothing then (read_some) */
        st = sp__h1_feed_body(&c->x->h1, c->x->direct);
        c->x->direct = 0;
    } else if (front) {
        st = sp__h1_feed(&c->x->h1, c->x->in.data, &c->x->pos, c->x->in.len);
    }

    if (st == SP__H1_ERROR) {
        refuse(c, c->x->h1.status, c->x->h1.reason);
        return 0;
    }
    if (st == SP__H1_DONE) {
        skip_empty_lines(c);
        /* The client has said all it will: every request it sent is
         * answered, and the connection ends after the last one. */
        if (c->eof && c->x->pos == c->x->in.len)
            c->x->h1.keep_alive = 0;
        dispatch(c);
        return 0;
    }
    if (c->state == C_IDLE && !c->x->h1.begun && c->x->pos == c->x->in.len)
        c->x->in.len = c->x->pos = 0; /* empty lines only (or nothing) */
    if (c->state == C_IDLE && c->x->h1.begun) {
        c->state = C_HEAD;
        expire_in(c, c->w->cfg->timeout_header_ms);
    }
    if (c->state == C_HEAD && c->x->h1.headers_done) {
        c->state = C_BODY;
        expire_in(c, c->w->cfg->timeout_body_ms);
        if (c->x->h1.expect_continue && !c->continue_sent)
            send_continue(c);
    }
    if (c->broken) {
        sp__conn_close(c);
        return 0;
    }
    if (c->state == C_BODY)
        drop_parsed_body(c);
    return 1;
}

/* In C_BODY: where the rest of a Content-Length body that stays in memory
 * may be read, straight into the body buffer (saving a copy through `in`),
 * while nothing else waits unparsed.  NULL otherwise. */
static char *body_tail(sp__conn *c, size_t *room)
{
    sp__exchange *x = c->x;
    if (c->front.uwsgi || x->pos != x->in.len)
        return NULL;
    *room = sp__h1_body_room(&x->h1);
    if (*room <= x->direct)
        return NULL;
    *room -= x->direct;
    return x->body.data + x->body.len + x->direct;
}

/* Read until the socket is drained, the client closed, or READ_CAP bytes
 * wait unparsed (then read_ready stays set: there may be more).  Returns
 * how many bytes arrived. */
static size_t read_some(sp__conn *c)
{
    size_t got = 0;
    c->read_ready = 0;
    while (!c->eof) {
        size_t room;
        char *to = c->state == C_BODY ? body_tail(c, &room) : NULL;
        bool in_place = to != NULL;
        if (!in_place) {
            /* Past a body read in place, parse it before reading on. */
            if (c->x->direct > 0 || c->x->in.len - c->x->pos >= READ_CAP ||
                sp__buf_reserve(&c->x->in, READ_CHUNK) != SP_OK) {
                c->read_ready = 1;
                break;
            }
            to = c->x->in.data + c->x->in.len;
            room = c->x->in.cap - c->x->in.len;
        }
        ssize_t n = recv(c->fd, to, room, 0);
        if (n > 0) {
            if (in_place)
                c->x->direct += (size_t)n;
            else
                c->x->in.len += (size_t)n;
            got += (size_t)n;
            if ((size_t)n < room && !c->peer_closed)
                break; /* a short read drained it; new data brings a new edge */
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            c->eof = 1; /* closed, or reset */
        }
    }
    return got;
}

/* Body bytes arrived.  Each read earns the time those bytes are worth at
 * min-body-rate, never more than timeout-body from now: a client that
 * keeps the connection alive with a byte now and then runs out of time,
 * while one that is slow but steady, or sent much early and pauses, does
 * not.  With min-body-rate = 0 every read restarts timeout-body. */
static void body_progress(sp__conn *c, size_t got)
{
    const sp__config *cfg = c->w->cfg;
    long long now = sp__now_ms(), cap = now + cfg->timeout_body_ms;

    if (cfg->min_body_rate == 0) {
        expire_in(c, cfg->timeout_body_ms);
        return;
    }
    long long earned = (long long)(got * 1000 / cfg->min_body_rate);
    c->idle_since = now;
    c->deadline = c->deadline + earned < cap ? c->deadline + earned : cap;
}

/* Read and parse while the IO loop owns the connection in a reading state. */
static void pump(sp__conn *c)
{
    for (;;) {
        size_t got = c->read_ready ? read_some(c) : 0;
        if (!process(c))
            return;
        if (c->eof) {
            sp__conn_close(c); /* closed while idle or mid-request */
            return;
        }
        if (got && c->state == C_BODY)
            body_progress(c, got);
        if (!c->read_ready)
            return; /* wait for the next edge */
    }
}

/* The socket is writable again: go on with what a full buffer held up. */
static void on_writable(sp__conn *c)
{
    int r = sp__conn_flush(c);
    if (r < 0) {
        sp__conn_close(c);
    } else if (r > 0) {
        watch_writes(c, 0);
        after_response(c);
    } else {
        expire_in(c, c->w->cfg->timeout_write_ms);
    }
}

/* An edge.  While a handler thread owns the connection, only note a read
 * edge (PENDING); the compare-and-swap pairs with release_busy() in
 * serve.c so that exactly one side takes care of it.  A write edge then
 * needs no note: whoever writes next tries the socket first. */
static void on_event(evutil_socket_t fd, short what, void *arg)
{
    sp__conn *c = arg;
    sp__worker *w = c->w;
    int readable = (what & (EV_READ | EV_CLOSED)) != 0;
    unsigned v = atomic_load(&c->sync);
    while (v & SP__CONN_BUSY) {
        if (!readable)
            return;
        if (atomic_compare_exchange_weak(
                &c->sync, &v, v | SP__CONN_PENDING | (what & EV_CLOSED ? SP__CONN_CLOSED : 0)))
            return;
    }
    if (readable) {
        c->read_ready = 1;
        if (what & EV_CLOSED)
            c->peer_closed = 1; /* its FIN came with this edge: read on to it */
    }
    if (c->state == C_WRITING) {
        if (what & EV_WRITE)
            on_writable(c); /* reading waits for the response to be out */
    } else if (!readable) {
        return;
    } else if (c->state == C_LINGER) {
        drain(c);
    } else if (c->x == NULL && attach(c) != 0) {
        sp_log(SP_LOG_WARN, "%s:%d: out of memory for a request; closing", c->addr, c->port);
        sp__conn_close(c);
    } else {
        pump(c);
    }
    /* Accepting may have stopped for a full queue that handler threads have
     * drained since, without telling the loop; see it here (and in the sweep). */
    if (!atomic_load(&w->accepting))
        sp__worker_accept_if_room(w);
}

static void time_out(sp__conn *c)
{
    if (c->state == C_HEAD || c->state == C_BODY) {
        refuse(c, 408, c->state == C_HEAD ? "timeout-header" : "timeout-body");
        return;
    }
    if (c->state == C_WRITING)
        sp_log(SP_LOG_INFO,
               "%s:%d: connection closed: timeout-write (the client stopped "
               "reading its response)",
               c->addr, c->port);
    sp__conn_close(c); /* idle keep-alive, stalled reader, or lingering */
}

void sp__conn_sweep(sp__worker *w)
{
    long long now = sp__now_ms();
    for (sp__conn *c = w->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (atomic_load(&c->sync) & SP__CONN_BUSY)
            continue;
        if (c->deadline && now >= c->deadline)
            time_out(c);
        else if (c->x != NULL && c->state == C_IDLE && c->x->in.len == 0 &&
                 now - c->idle_since >= IDLE_DETACH_MS)
            detach(c);
    }
    pool_shrink(w);
    /* Freed exchanges and big buffers stay in malloc's arenas (the worker
     * turns glibc's own trimming off, see sp__worker_run): hand the pages
     * back to the system once freeing has stopped, and during steady churn
     * after each megabyte, but not more than once a second (malloc_trim
     * walks and locks every arena). */
    size_t untrimmed = atomic_load_explicit(&w->untrimmed, memory_order_relaxed);
    int quiet = untrimmed >= TRIM_QUIET_BYTES && untrimmed == w->untrimmed_seen;
    int churn = untrimmed >= TRIM_RELEASE_BYTES && now - w->trimmed_at >= TRIM_EVERY_MS;
    if (quiet || churn) {
        malloc_trim(0);
        atomic_fetch_sub_explicit(&w->untrimmed, untrimmed, memory_order_relaxed);
        w->trimmed_at = now;
        untrimmed = 0;
    }
    w->untrimmed_seen = untrimmed;
    sp__worker_accept_if_room(w);
}

/* The connection's side of being ready for its next request. */
static void conn_idle(sp__conn *c)
{
    sp__front_next(&c->front);
    c->continue_sent = 0;
    c->served++;
    c->state = C_IDLE;
    expire_in(c, c->w->cfg->timeout_keepalive_ms);
}

void sp__conn_reset(sp__conn *c)
{
    sp__response_release(&c->x->res);
    sp__request_release(&c->x->req);
    sp__arena_reset(&c->x->arena);
    memmove(c->x->in.data, c->x->in.data + c->x->pos, c->x->in.len - c->x->pos);
    c->x->in.len -= c->x->pos;
    c->x->pos = 0;
    sp__h1_next(&c->x->h1, 0);
    buf_reset(c->w, &c->x->head);
    buf_reset(c->w, &c->x->res_body);
    buf_reset(c->w, &c->x->body);
    if (c->x->in.len == 0)
        buf_reset(c->w, &c->x->in);
    conn_idle(c);
}

/* The response is out: keep the connection for the next request or end it. */
static void after_response(sp__conn *c)
{
    if (c->broken) {
        sp__conn_close(c);
        return;
    }
    if (c->x->iovcnt > 0 || c->x->file_left > 0) {
        /* What the handler thread could not write.  Try now: a write edge
         * that came while it had the connection was not kept. */
        start_writing(c);
        return;
    }
    if (!c->keep_alive || (c->eof && c->x->pos == c->x->in.len) || atomic_load(&c->w->stopping)) {
        c->served++;
        linger(c);
        return;
    }
    if (c->w->n_conns > EX_SHARE_ABOVE && !c->read_ready && c->x->pos == c->x->in.len) {
        /* Nothing waits: the exchange goes back to the pool while the
         * client thinks, and the next request, on whichever connection,
         * takes one whose memory is still in the CPU's caches.  (Kept
         * attached, 1,024 busy connections' exchanges missed the caches on
         * every request.) */
        conn_idle(c);
        detach(c);
        return;
    }
    sp__conn_reset(c);
    if (c->read_ready || c->x->in.len > 0)
        pump(c); /* pipelined bytes, or an edge that came meanwhile */
}

void sp__conn_completed(sp__conn *c)
{
    unsigned v = atomic_exchange(&c->sync, 0);
    if (v & SP__CONN_PENDING)
        c->read_ready = 1;
    if (v & SP__CONN_CLOSED)
        c->peer_closed = 1;
    if (c->state == C_IDLE)
        pump(c); /* the handler thread already reset it */
    else
        after_response(c);
}
