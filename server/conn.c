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
#include "server/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK 4096
#define READ_CAP (256 * 1024) /* read no further ahead than this */
#define LINGER_MS 2000
#define LINGER_BYTES (256 * 1024)
#define IDLE_TRIM_MS 250 /* idle this long: give the buffers back */
#define TRIM_RELEASE_BYTES (1024 * 1024)

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void pump(sp__conn *c);

static void expire_in(sp__conn *c, int ms)
{
    c->idle_since = sp__now_ms();
    c->deadline = c->idle_since + ms;
}

/* An idle keep-alive connection keeps only its struct.  A connection in
 * use keeps its buffers between requests (no malloc per request); one
 * that went quiet frees them, so 10,000 idle clients cost 10,000 structs,
 * not 10,000 sets of buffers. */
static size_t trim(sp__conn *c)
{
    size_t freed = c->in.cap + c->head.cap + c->res_body.cap + c->body.cap + 4096;
    sp__buf_free(&c->in);
    sp__buf_free(&c->head);
    sp__buf_free(&c->res_body);
    sp__buf_free(&c->body);
    sp__arena_free(&c->arena);
    sp__h1_trim(&c->h1);
    c->trimmed = 1;
    return freed;
}

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
    sp__conn *c = calloc(1, sizeof(*c));
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
    c->file_fd = -1;
    c->state = C_IDLE;
    c->req.body_fd = -1;
    c->res.file_fd = -1; /* released on close even if no response was made */
    peer_text(c, sa);
    sp__front_open(&c->front, w, lfd, sa);
    sp__h1_init(&c->h1, &w->lim, &c->body);
    sp__arena_init(&c->arena, 4096);
    event_assign(&c->ev_read, w->base, fd, EV_READ | EV_CLOSED | EV_PERSIST | EV_ET, on_read, c);
    event_assign(&c->ev_write, w->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    expire_in(c, w->cfg->timeout_keepalive_ms);
    event_add(&c->ev_read, NULL); /* reports data that is already there */
}

int sp__conn_is_idle(const sp__conn *c)
{
    return !(atomic_load(&c->sync) & SP__CONN_BUSY) && c->state == C_IDLE && c->in.len == 0;
}

void sp__conn_close(sp__conn *c)
{
    sp__worker *w = c->w;
    event_del(&c->ev_read);
    event_del(&c->ev_write);
    close(c->fd);
    if (c->file_fd >= 0)
        close(c->file_fd);
    sp__response_release(&c->res);
    sp__request_release(&c->req);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    sp__h1_free(&c->h1);
    sp__buf_free(&c->in);
    sp__buf_free(&c->body);
    sp__buf_free(&c->head);
    sp__buf_free(&c->res_body);
    sp__arena_free(&c->arena);
    free(c);
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
        if (n > 0 && (c->drained += (size_t)n) < LINGER_BYTES)
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
    event_del(&c->ev_write);
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
        c->state = C_WRITING;
        event_add(&c->ev_write, NULL);
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
    sp__h1 *h = &c->h1;
    sp_request *r = &c->req;
    const char *b = c->in.data;
    size_t n = h->n_hdr / 2;

    r->arena = &c->arena;
    r->method = (sp_str){b + h->method.off, h->method.len};
    r->target = (sp_str){b + h->url.off, h->url.len};
    r->version = h->version;
    r->scheme = (sp_str){"http", 4};
    r->headers = n ? sp__arena_alloc(&c->arena, n * sizeof(*r->headers)) : NULL;
    r->n_headers = r->headers ? n : 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        r->headers[i].name = (sp_str){b + h->hdr[2 * i].off, h->hdr[2 * i].len};
        r->headers[i].value = (sp_str){b + h->hdr[2 * i + 1].off, h->hdr[2 * i + 1].len};
    }
    r->body_fd = sp__h1_take_spill(h);
    r->body_len = h->body_len;
    r->body_off = 0;
    r->body_map = NULL;
    r->body = r->body_fd >= 0 ? SP_STR_NULL : (sp_str){c->body.data ? c->body.data : "", c->body.len};
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
    if (sp__queue_push(&w->queue, &c->qnode) >= w->queue_limit)
        sp__worker_accept(w, 0);
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
    size_t keep = c->h1.head_end;
    if (keep == 0 || keep >= c->pos)
        return;
    memmove(c->in.data + keep, c->in.data + c->pos, c->in.len - c->pos);
    c->in.len -= c->pos - keep;
    c->pos = keep;
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
    enum sp__h1_state st =
        front ? sp__h1_feed(&c->h1, c->in.data, &c->pos, c->in.len) : SP__H1_NEED_MORE;

    if (st == SP__H1_ERROR) {
        refuse(c, c->h1.status, c->h1.reason);
        return 0;
    }
    if (st == SP__H1_DONE) {
        if (c->eof)
            c->h1.keep_alive = 0; /* answer it, then we are done */
        dispatch(c);
        return 0;
    }
    if (c->state == C_IDLE && c->h1.begun) {
        c->state = C_HEAD;
        expire_in(c, c->w->cfg->timeout_header_ms);
    }
    if (c->state == C_HEAD && c->h1.headers_done) {
        c->state = C_BODY;
        if (c->h1.expect_continue && !c->continue_sent)
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

/* Read until the socket is drained, the client closed, or READ_CAP bytes
 * wait unparsed (then read_ready stays set: there may be more).  Returns
 * whether any byte arrived. */
static int read_some(sp__conn *c)
{
    int got = 0;
    c->read_ready = 0;
    while (!c->eof) {
        if (c->in.len - c->pos >= READ_CAP || sp__buf_reserve(&c->in, READ_CHUNK) != SP_OK) {
            c->read_ready = 1;
            break;
        }
        size_t room = c->in.cap - c->in.len;
        ssize_t n = recv(c->fd, c->in.data + c->in.len, room, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            got = 1;
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

/* Read and parse while the IO loop owns the connection in a reading state. */
static void pump(sp__conn *c)
{
    for (;;) {
        int got = c->read_ready ? read_some(c) : 0;
        if (!process(c))
            return;
        if (c->eof) {
            sp__conn_close(c); /* closed while idle or mid-request */
            return;
        }
        if (got && c->state == C_BODY)
            expire_in(c, c->w->cfg->timeout_body_ms);
        if (!c->read_ready)
            return; /* wait for the next edge */
    }
}

/* A read edge.  While a handler thread owns the connection, only note it
 * (PENDING); the compare-and-swap pairs with release_busy() in respond.c
 * so that exactly one side takes care of it. */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
    sp__conn *c = arg;
    unsigned v = atomic_load(&c->sync);
    while (v & SP__CONN_BUSY)
        if (atomic_compare_exchange_weak(&c->sync, &v,
                                         v | SP__CONN_PENDING |
                                             (what & EV_CLOSED ? SP__CONN_CLOSED : 0)))
            return;
    c->read_ready = 1;
    if (what & EV_CLOSED)
        c->peer_closed = 1; /* its FIN came with this edge: read on to it */
    sp__worker *w = c->w;
    if (c->state == C_LINGER)
        drain(c);
    else if (c->state != C_WRITING)
        pump(c);
    /* Accepting may have stopped for a full queue that handler threads have
     * drained since, without telling the loop; see it here (and in the sweep). */
    if (!atomic_load(&w->accepting))
        sp__worker_accept_if_room(w);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    sp__conn *c = arg;
    int r = sp__conn_flush(c);
    if (r < 0) {
        sp__conn_close(c);
    } else if (r > 0) {
        event_del(&c->ev_write);
        after_response(c);
    } else {
        expire_in(c, c->w->cfg->timeout_write_ms);
    }
}

static void time_out(sp__conn *c)
{
    if (c->state == C_HEAD || c->state == C_BODY)
        refuse(c, 408, c->state == C_HEAD ? "timeout-header" : "timeout-body");
    else
        sp__conn_close(c); /* idle keep-alive, stalled reader, or lingering */
}

void sp__conn_sweep(sp__worker *w)
{
    long long now = sp__now_ms();
    size_t freed = 0;
    for (sp__conn *c = w->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (atomic_load(&c->sync) & SP__CONN_BUSY)
            continue;
        if (c->deadline && now >= c->deadline)
            time_out(c);
        else if (c->state == C_IDLE && !c->trimmed && c->in.len == 0 &&
                 now - c->idle_since >= IDLE_TRIM_MS)
            freed += trim(c);
    }
    /* Freed chunks stay in malloc's arenas (the handler threads' too);
     * after a large batch, hand the pages back to the system. */
    if (freed >= TRIM_RELEASE_BYTES)
        malloc_trim(0);
    sp__worker_accept_if_room(w);
}

void sp__conn_reset(sp__conn *c)
{
    sp__response_release(&c->res);
    sp__request_release(&c->req);
    sp__arena_reset(&c->arena);
    memmove(c->in.data, c->in.data + c->pos, c->in.len - c->pos);
    c->in.len -= c->pos;
    c->pos = 0;
    sp__h1_next(&c->h1, 0);
    sp__front_next(&c->front);
    sp__buf_reset(&c->head);
    sp__buf_reset(&c->res_body);
    sp__buf_reset(&c->body);
    if (c->in.len == 0)
        sp__buf_reset(&c->in);
    c->continue_sent = 0;
    c->trimmed = 0;
    c->served++;
    c->state = C_IDLE;
    expire_in(c, c->w->cfg->timeout_keepalive_ms);
}

/* The response is out: keep the connection for the next request or end it. */
static void after_response(sp__conn *c)
{
    if (c->broken) {
        sp__conn_close(c);
        return;
    }
    if (c->iovcnt > 0 || c->file_left > 0) {
        c->state = C_WRITING;
        event_add(&c->ev_write, NULL);
        expire_in(c, c->w->cfg->timeout_write_ms);
        return;
    }
    if (!c->keep_alive || c->eof || atomic_load(&c->w->stopping)) {
        c->served++;
        linger(c);
        return;
    }
    sp__conn_reset(c);
    pump(c);
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
