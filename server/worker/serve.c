/*
 * serve.c - a handler thread's side of a connection: run the request
 * through the application, render the response head, and write.
 *
 * The thread writes directly while the socket takes it (most responses go
 * out in one writev here, with no hop back through the IO loop); whatever
 * is left is handed back to the IO loop, so a slow reader holds a buffer,
 * never a handler thread.  Streams are the exception: sp_stream_write
 * waits for the socket (up to timeout-write), as streaming handlers expect.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/worker/conn.h"
#include "server/lib/httpdate.h"
#include "server/worker/scoreboard.h"

/* Heads are written in one pass with a cursor: the size is bounded first
 * (HEAD_FIXED covers the status line, Server, Date, Connection and the
 * framing header), reserved once, then copied.  This runs once per
 * response. */
#define HEAD_FIXED 256

static char *put(char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, s) put((p), (s), sizeof(s) - 1)

static char *put_uint(char *p, unsigned long long v)
{
    char digits[24];
    size_t i = sizeof(digits);
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return put(p, digits + i, sizeof(digits) - i);
}

static char *put_status_line(char *p, int version, int status)
{
    const char *reason = sp_status_reason(status);
    p = PUT_LIT(p, "HTTP/1.");
    p = put(p, version == 10 ? "0 " : "1 ", 2);
    p = put_uint(p, (unsigned)status);
    *p++ = ' ';
    p = put(p, reason, strnlen(reason, 64));
    p = PUT_LIT(p, "\r\nServer: spindle\r\nDate: ");
    p = put(p, sp__httpdate(), SP__HTTPDATE_LEN);
    return PUT_LIT(p, "\r\n");
}

/* Status line, framing and the handler's headers into c's head buffer.
 * length < 0 means a stream: chunked on 1.1, close-delimited on 1.0.
 * SP_ENOMEM if the head does not fit in memory. */
static int render_head(sp__conn *c, sp_response *res, long long length)
{
    int version = c->x->req.version;
    sp__buf *b = &c->x->head;
    size_t bound = HEAD_FIXED;
    for (size_t i = 0; i < res->n_headers; i++)
        bound += res->headers[i].name.len + res->headers[i].value.len + 4;
    b->len = 0;
    if (sp__buf_reserve(b, bound + 2) != SP_OK)
        return SP_ENOMEM;

    char *p = put_status_line(b->data, version, res->status);
    int close_delimited = version == 10 || c->front.uwsgi; /* uwsgi: never chunked */
    if (length < 0 && close_delimited)
        c->keep_alive = 0;
    if (!c->keep_alive)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (version == 10)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    if (length < 0 && !close_delimited) {
        c->chunked = 1;
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    } else if (length >= 0 && !sp__status_bodyless(res->status)) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_uint(p, (unsigned long long)length);
        p = PUT_LIT(p, "\r\n");
    }
    for (size_t i = 0; i < res->n_headers; i++) {
        const sp__header *h = &res->headers[i];
        p = put(p, h->name.ptr, h->name.len);
        p = PUT_LIT(p, ": ");
        p = put(p, h->value.ptr, h->value.len);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "\r\n");
    b->len = (size_t)(p - b->data);
    return SP_OK;
}

void sp__conn_render_error(sp__conn *c, int status)
{
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, sp_status_reason(status));
    sp__buf *b = &c->x->head;
    b->len = 0;
    c->x->iovcnt = 0;
    if (sp__buf_reserve(b, HEAD_FIXED + sizeof(body)) != SP_OK) {
        c->broken = 1;
        return;
    }
    b->len = (size_t)(put_status_line(b->data, 11, status) - b->data);
    sp__buf_printf(b,
                   "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n\r\n%s",
                   n, body);
    c->x->iov[0] = (struct iovec){b->data, b->len};
    c->x->iovcnt = 1;
}

static void consume_iov(sp__conn *c, size_t n)
{
    int i = 0;
    while (i < c->x->iovcnt && n >= c->x->iov[i].iov_len)
        n -= c->x->iov[i++].iov_len;
    if (i < c->x->iovcnt) {
        c->x->iov[i].iov_base = (char *)c->x->iov[i].iov_base + n;
        c->x->iov[i].iov_len -= n;
    }
    memmove(c->x->iov, c->x->iov + i, (size_t)(c->x->iovcnt - i) * sizeof(c->x->iov[0]));
    c->x->iovcnt -= i;
}

int sp__conn_flush(sp__conn *c)
{
    sp__exchange *x = c->x;
    /* 0 only on EAGAIN: the socket is full, so a write edge will come.
     * EINTR retries, since no edge would follow it. */
    while (x->iovcnt > 0) {
        struct msghdr m = {.msg_iov = x->iov, .msg_iovlen = (size_t)x->iovcnt};
        /* A file follows the head: let the kernel send them together in
         * full segments, not the head in a small one of its own. */
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | (x->file_left > 0 ? MSG_MORE : 0));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        consume_iov(c, (size_t)n);
    }
    while (x->file_left > 0) {
        ssize_t n = sendfile(c->fd, x->file_fd, &x->file_off, x->file_left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        if (n == 0)
            return SP_EIO; /* the file shrank under us: the framing is broken */
        x->file_left -= (uint64_t)n;
    }
    if (x->file_fd >= 0) { /* all of it sent */
        close(x->file_fd);
        x->file_fd = -1;
    }
    return 1;
}

/* Blocking write for streams: wait for the socket up to timeout-write. */
static int write_all(sp__conn *c)
{
    for (;;) {
        int r = sp__conn_flush(c);
        if (r != 0)
            return r > 0 ? SP_OK : SP_ECLOSED;
        struct pollfd p = {c->fd, POLLOUT, 0};
        int pr = poll(&p, 1, c->w->cfg->timeout_write_ms);
        if (pr == 0) {
            sp_log(SP_LOG_INFO,
                   "%s:%d: connection closed: timeout-write (the client stopped "
                   "reading its response)",
                   c->addr, c->port);
            return SP_ETIMEDOUT;
        }
        if (pr < 0 && errno != EINTR)
            return SP_ECLOSED;
    }
}

static int stream_start(void *ctx, sp_response *res)
{
    sp__conn *c = ctx;
    if (render_head(c, res, -1) != SP_OK) {
        c->broken = 1;
        return SP_ENOMEM;
    }
    c->x->iov[0] = (struct iovec){c->x->head.data, c->x->head.len};
    c->x->iovcnt = 1;
    int rc = write_all(c);
    if (rc != SP_OK)
        c->broken = 1;
    return rc;
}

static int stream_write(void *ctx, const void *data, size_t len)
{
    sp__conn *c = ctx;
    char size[24];
    int rc;

    if (c->broken)
        return SP_ECLOSED;
    if (c->x->req.method.len == 4 && memcmp(c->x->req.method.ptr, "HEAD", 4) == 0)
        return SP_OK;
    if (c->chunked) {
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        struct iovec parts[2] = {{size, (size_t)n}, {(void *)data, len}};
        memcpy(c->x->iov, parts, sizeof(parts));
        c->x->iovcnt = 2;
        rc = write_all(c);
        if (rc == SP_OK) {
            c->x->iov[0] = (struct iovec){"\r\n", 2};
            c->x->iovcnt = 1;
            rc = write_all(c);
        }
    } else {
        c->x->iov[0] = (struct iovec){(void *)data, len};
        c->x->iovcnt = 1;
        rc = write_all(c);
    }
    if (rc != SP_OK)
        c->broken = 1;
    return rc;
}

static const sp__sink_ops sink = {stream_start, stream_write};

static bool is_head(const sp__conn *c)
{
    return c->x->req.method.len == 4 && memcmp(c->x->req.method.ptr, "HEAD", 4) == 0;
}

static void finish_stream(sp__conn *c)
{
    if (!c->broken && c->chunked && !is_head(c)) {
        c->x->iov[0] = (struct iovec){"0\r\n\r\n", 5};
        c->x->iovcnt = 1;
        if (write_all(c) != SP_OK)
            c->broken = 1;
    }
    c->x->iovcnt = 0;
}

static void queue_output(sp__conn *c, sp_response *res)
{
    int bodyless = is_head(c) || sp__status_bodyless(res->status);
    sp_str body = sp__response_body(res);
    long long length = res->file_fd >= 0 ? (long long)res->file_size : (long long)body.len;

    if (render_head(c, res, length) != SP_OK) {
        c->broken = 1; /* nothing was sent: the connection just closes */
        return;
    }
    c->x->iov[0] = (struct iovec){c->x->head.data, c->x->head.len};
    c->x->iovcnt = 1;
    if (!bodyless && res->file_fd < 0 && body.len > 0)
        c->x->iov[c->x->iovcnt++] = (struct iovec){(void *)body.ptr, body.len};
    if (!bodyless && res->file_fd >= 0) {
        c->x->file_fd = res->file_fd;
        res->file_fd = -1;
        c->x->file_off = 0;
        c->x->file_left = res->file_size;
    }
    if (sp__conn_flush(c) < 0)
        c->broken = 1;
}

/* Hand the connection back to the IO loop without waking it, if no read
 * edge came while we had it.  Pairs with on_event() in conn.c: one CAS on
 * the sync word decides who handles a pending edge. */
static int release_busy(sp__conn *c)
{
    unsigned v = atomic_load(&c->sync);
    for (;;) {
        if (v & SP__CONN_PENDING)
            return 0;
        if (atomic_compare_exchange_weak(&c->sync, &v, 0))
            return 1;
    }
}

/* The common case needs nothing from the IO loop: everything was written,
 * the connection stays open, and no pipelined bytes wait in its buffer. */
static int finish_here(sp__conn *c)
{
    if (c->broken || c->x->iovcnt > 0 || c->x->file_left > 0 || !c->keep_alive || c->eof ||
        c->peer_closed || c->read_ready || c->x->pos != c->x->in.len ||
        atomic_load(&c->w->stopping))
        return 0;
    sp__conn_reset(c);
    return release_busy(c);
}

void sp__conn_run(sp__conn *c)
{
    sp__worker *w = c->w;
    unsigned max = (unsigned)w->cfg->max_keepalive_requests;

    c->state = C_HANDLING;
    sp__sb_begin(&c->x->req);
    c->chunked = 0;
    c->keep_alive = c->x->h1.keep_alive && !c->x->h1.upgrade && (max == 0 || c->served + 1 < max);
    sp__response_init(&c->x->res, &c->x->req, &c->x->res_body, &sink, c);
    int rc = sp__app_handle(w->app, &c->x->req, &c->x->res);
    if (atomic_load(&w->stopping))
        c->keep_alive = 0;
    if (rc != SP_OK && c->x->res.headers_sent)
        c->broken = 1;
    /* Counted before the answer leaves: a client that has its response
     * must find it in the stats (latency is thus up to the response being
     * ready; the writes below are non-blocking, or the stream's last chunk). */
    uint64_t us = sp__sb_end(&c->x->req, c->x->res.status);
    if (!c->x->serial)
        sp__loop_note(w, c->x->cost_slot, us);
    if (c->x->res.streaming)
        finish_stream(c);
    else if (!c->broken)
        queue_output(c, &c->x->res);
}

void sp__conn_finish(sp__conn *c)
{
    if (!finish_here(c))
        sp__worker_post_done(c);
}

void sp__conn_handle(sp__conn *c)
{
    sp__conn_run(c);
    sp__conn_finish(c);
}
