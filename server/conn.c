/*
 * conn.c - the IO loop's side of a connection (see conn.h for the states).
 *
 * The loop never reads past a complete request: once one is queued, the
 * read event stays off until its response is written, so pipelined
 * requests wait in the buffer and are answered strictly in order, and a
 * slow handler never makes the server buffer an unbounded stream.
 */
#include "server/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK 4096
#define LINGER_MS 2000
#define LINGER_BYTES (256 * 1024)

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void process(sp__conn *c);

static void arm_timer(sp__conn *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(&c->ev_timer, &tv);
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
    event_assign(&c->ev_read, w->base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->ev_write, w->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    evtimer_assign(&c->ev_timer, w->base, on_timer, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    event_add(&c->ev_read, NULL);
    arm_timer(c, w->cfg->timeout_keepalive_ms);
}

/* A closed connection may be what the worker was waiting for to accept
 * again (max-connections, or out of descriptors); a full queue is not. */
static void resume_accepting(sp__worker *w)
{
    size_t max = (size_t)w->cfg->max_connections;
    if (!w->accepting && !atomic_load(&w->stopping) && (max == 0 || w->n_conns < max) &&
        sp__queue_len(&w->queue) < w->queue_limit)
        sp__worker_accept(w, 1);
}

void sp__conn_close(sp__conn *c)
{
    sp__worker *w = c->w;
    event_del(&c->ev_read);
    event_del(&c->ev_write);
    event_del(&c->ev_timer);
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
    resume_accepting(w);
}

/* Shut our side and read what the client still sends, so our last answer
 * is not destroyed by a reset when we close with unread input. */
static void linger(sp__conn *c)
{
    c->state = C_LINGER;
    c->drained = 0;
    event_del(&c->ev_write);
    shutdown(c->fd, SHUT_WR);
    event_add(&c->ev_read, NULL);
    arm_timer(c, LINGER_MS);
}

static void start_writing(sp__conn *c)
{
    int r = sp__conn_flush(c);
    if (r < 0) {
        sp__conn_close(c);
        return;
    }
    if (r == 0) {
        c->state = C_WRITING;
        event_del(&c->ev_read);
        event_add(&c->ev_write, NULL);
        arm_timer(c, c->w->cfg->timeout_write_ms);
        return;
    }
    sp__conn_completed(c);
}

/* Refuse the request being read: answer status and close. */
static void refuse(sp__conn *c, int status, const char *reason)
{
    sp_log(SP_LOG_INFO, "%s:%d: %d %s (%s)", c->addr, c->port, status, sp_status_reason(status),
           reason ? reason : "");
    c->keep_alive = 0;
    event_del(&c->ev_read);
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
    event_del(&c->ev_read);
    event_del(&c->ev_timer);
    build_request(c);
    c->state = C_QUEUED;
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

static void process(sp__conn *c)
{
    int front = sp__front_feed(c); /* PROXY header, uwsgi packet */
    if (front < 0) {
        sp__conn_close(c);
        return;
    }
    enum sp__h1_state st =
        front ? sp__h1_feed(&c->h1, c->in.data, &c->pos, c->in.len) : SP__H1_NEED_MORE;

    if (st == SP__H1_ERROR) {
        refuse(c, c->h1.status, c->h1.reason);
        return;
    }
    if (st == SP__H1_DONE) {
        dispatch(c);
        return;
    }
    if (c->state == C_IDLE && c->in.len > c->h1.start) {
        c->state = C_HEAD;
        arm_timer(c, c->w->cfg->timeout_header_ms);
    }
    if (c->state == C_HEAD && c->h1.headers_done) {
        c->state = C_BODY;
        if (c->h1.expect_continue && !c->continue_sent)
            send_continue(c);
    }
    if (c->broken) {
        sp__conn_close(c);
        return;
    }
    if (c->state == C_BODY) {
        drop_parsed_body(c);
        arm_timer(c, c->w->cfg->timeout_body_ms);
    }
    event_add(&c->ev_read, NULL);
}

static void drain(sp__conn *c)
{
    char junk[4096];
    ssize_t n = recv(c->fd, junk, sizeof(junk), 0);
    if (n > 0 && (c->drained += (size_t)n) < LINGER_BYTES)
        return;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    sp__conn_close(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    sp__conn *c = arg;
    if (c->state == C_LINGER) {
        drain(c);
        return;
    }
    if (sp__buf_reserve(&c->in, READ_CHUNK) != SP_OK) {
        sp__conn_close(c);
        return;
    }
    ssize_t n = recv(fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* The client went away (or half-closed): nothing left to answer. */
        sp__conn_close(c);
        return;
    }
    c->in.len += (size_t)n;
    process(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    sp__conn *c = arg;
    int r = sp__conn_flush(c);
    if (r < 0) {
        sp__conn_close(c);
    } else if (r > 0) {
        event_del(&c->ev_write);
        event_del(&c->ev_timer);
        sp__conn_completed(c);
    } else {
        arm_timer(c, c->w->cfg->timeout_write_ms);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sp__conn *c = arg;
    if (c->state == C_HEAD || c->state == C_BODY)
        refuse(c, 408, c->state == C_HEAD ? "timeout-header" : "timeout-body");
    else
        sp__conn_close(c); /* idle keep-alive, stalled reader, or lingering */
}

/* The response is out: keep the connection for the next request or end it. */
static void next_request(sp__conn *c)
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
    c->state = C_IDLE;
    arm_timer(c, c->w->cfg->timeout_keepalive_ms);
    if (c->in.len > 0)
        process(c);
    else
        event_add(&c->ev_read, NULL);
}

void sp__conn_completed(sp__conn *c)
{
    if (c->broken) {
        sp__conn_close(c);
        return;
    }
    if (c->iovcnt > 0 || c->file_left > 0) {
        c->state = C_WRITING;
        event_add(&c->ev_write, NULL);
        arm_timer(c, c->w->cfg->timeout_write_ms);
        return;
    }
    c->served++;
    if (!c->keep_alive || atomic_load(&c->w->stopping))
        linger(c);
    else
        next_request(c);
}
