/*
 * conn_fixture.h - a client talking to the real connection code, for the
 * worker room's tests of conn.c, serve.c and front.c.
 *
 * The server side is tests/common/inproc_worker.h: one worker in this
 * process with its IO loop, request queue and a handler thread, no fork
 * and no listener.  A client is the other end of a socketpair handed to
 * sp__conn_open as if accepted; what it sends goes out in pieces of any
 * size, one piece per turn of the loop, so the server reads them as
 * separate edges; what comes back is kept whole and cut into replies by a
 * small HTTP/1.1 response reader (Content-Length, chunked, or until close;
 * interim 100 replies count as replies of their own).
 *
 * This thread runs the IO loop while a test waits; a wait gives up with a
 * failed assertion after WAIT_LIMIT_S seconds of no progress, so a server
 * that never answers fails the test instead of hanging it.
 *
 * A test file declares its handlers, then
 *   static void setup(void) { conn_setup(...); route(...); conn_start(); }
 *   TestSuite(name, .init = setup, .fini = conn_teardown);
 */
#ifndef SPINDLE_TESTS_CONN_FIXTURE_H
#define SPINDLE_TESTS_CONN_FIXTURE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/worker/conn.h"
#include "tests/common/inproc_worker.h"
#include "tests/common/log_capture.h"

#define WAIT_LIMIT_S 10
#define MAX_REPLIES  16

static sp__inproc ip;

/* Before the routes: every timeout timeout_ms; max_keepalive 0 = no cap. */
static inline void conn_setup(int timeout_ms, int max_keepalive)
{
    log_capture_start(SP_LOG_INFO);
    sp__inproc_init(&ip, timeout_ms, max_keepalive);
}

static inline void route(const char *method, const char *pattern, sp_handler_fn fn)
{
    cr_assert_eq(sp_route(&ip.app, method, pattern, fn), SP_OK);
}

/* After the routes: the handler thread starts taking requests. */
static inline void conn_start(void)
{
    cr_assert_eq(sp__inproc_start(&ip), 0);
}

static inline void conn_teardown(void)
{
    while (ip.w.conns != NULL)
        sp__conn_close(ip.w.conns);
    sp__queue_close(&ip.w.queue);
    pthread_join(ip.thread, NULL);
    event_free(ip.w.ev_done);
    close(ip.w.done_fd);
    event_base_free(ip.w.base);
    sp__queue_destroy(&ip.w.queue);
    pthread_mutex_destroy(&ip.w.done_lock);
    sp__router_free(ip.app.router);
    sp__cidr_free(&ip.cfg.trusted_proxies);
    log_capture_stop();
}

/* ---- the client ------------------------------------------------------------- */

typedef struct client {
    int fd;      /* the client's end of the socketpair */
    sp__buf got; /* every byte the server sent, in order */
    int eof;     /* the server closed the connection */
    struct event *rd, *feed;
    sp__buf out; /* what is still to send, from out_pos */
    size_t out_pos, piece;
    int shut_after; /* half-close once it is all sent */
} client;

static inline void on_client_readable(evutil_socket_t fd, short what, void *arg)
{
    client *c = arg;
    for (;;) {
        cr_assert_eq(sp__buf_reserve(&c->got, 16384), SP_OK);
        ssize_t n = recv(fd, c->got.data + c->got.len, c->got.cap - c->got.len, 0);
        if (n > 0) {
            c->got.len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        c->eof = 1; /* 0: closed; anything else: reset */
        event_del(c->rd);
        return;
    }
}

/* One piece per turn of the loop, so the server reads each on its own. */
static inline void on_client_feed(evutil_socket_t fd, short what, void *arg)
{
    client *c = arg;
    size_t left = c->out.len - c->out_pos;
    size_t n = left < c->piece ? left : c->piece;
    if (n > 0) {
        ssize_t sent = send(c->fd, c->out.data + c->out_pos, n, MSG_NOSIGNAL);
        if (sent > 0)
            c->out_pos += (size_t)sent;
        else if (sent < 0 && errno != EAGAIN)
            c->out_pos = c->out.len; /* the server closed: nothing more goes */
    }
    if (c->out_pos < c->out.len) {
        event_add(c->feed, &(struct timeval){0, 0});
        return;
    }
    if (c->shut_after)
        shutdown(c->fd, SHUT_WR);
}

/* A connection from a unix peer, as if accepted on listener lfd (-1: on
 * none; a uwsgi listener's fd makes it a uwsgi connection). */
static inline void client_open_on(client *c, int lfd)
{
    int sv[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memset(c, 0, sizeof *c);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    c->fd = sv[1];
    c->rd = event_new(ip.w.base, c->fd, EV_READ | EV_PERSIST, on_client_readable, c);
    c->feed = evtimer_new(ip.w.base, on_client_feed, c);
    cr_assert(c->rd && c->feed);
    cr_assert_eq(event_add(c->rd, NULL), 0);
    sp__conn_open(&ip.w, lfd, sv[0], (struct sockaddr *)&sa, sizeof sa);
}

static inline void client_open(client *c)
{
    client_open_on(c, -1);
}

/* Queue n bytes to send in pieces of `piece` bytes (0: all at once). */
static inline void client_send(client *c, const void *data, size_t n, size_t piece)
{
    cr_assert_eq(sp__buf_append(&c->out, data, n), SP_OK);
    c->piece = piece ? piece : (size_t)-1;
    on_client_feed(-1, 0, c);
}

static inline void client_say(client *c, const char *text)
{
    client_send(c, text, strlen(text), 0);
}

/* Stop sending: the server reads end of stream after what was sent. */
static inline void client_shut(client *c)
{
    c->shut_after = 1;
    if (c->out_pos == c->out.len)
        shutdown(c->fd, SHUT_WR);
}

static inline void client_close(client *c)
{
    event_free(c->rd);
    event_free(c->feed);
    close(c->fd);
    sp__buf_free(&c->got);
    sp__buf_free(&c->out);
}

/* ---- waiting ---------------------------------------------------------------- */

static inline void on_wait_tick(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the IO loop until done(c, arg) holds.  A tick keeps the loop's turns
 * short, so the condition is looked at even when nothing happens. */
static inline void wait_for(client *c, int (*done)(client *, size_t), size_t arg, const char *what)
{
    struct event *tick = event_new(ip.w.base, -1, EV_PERSIST, on_wait_tick, NULL);
    struct timespec start, now;
    size_t seen = (size_t)-1;

    cr_assert_not_null(tick);
    event_add(tick, &(struct timeval){0, 20 * 1000});
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!done(c, arg)) {
        if (c->got.len != seen) {
            seen = c->got.len;
            clock_gettime(CLOCK_MONOTONIC, &start);
        }
        sp__loop_turn(&ip.w);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > WAIT_LIMIT_S) {
            event_free(tick);
            cr_assert_fail("waited %d s for %s; the server sent %zu bytes: %.*s", WAIT_LIMIT_S,
                           what, c->got.len, (int)(c->got.len < 600 ? c->got.len : 600),
                           c->got.data ? c->got.data : "");
        }
    }
    event_free(tick);
}

static inline int is_closed(client *c, size_t unused)
{
    return c->eof;
}

/* Until the server has closed the connection (and let go of it). */
static inline void wait_closed(client *c)
{
    wait_for(c, is_closed, 0, "the server to close");
}

static inline int got_text(client *c, size_t needle)
{
    const char *s = (const char *)needle;
    size_t n = strlen(s);
    if (c->got.len < n)
        return 0;
    return memmem(c->got.data, c->got.len, s, n) != NULL;
}

/* Until the bytes so far hold text. */
static inline void wait_text(client *c, const char *text)
{
    wait_for(c, got_text, (size_t)text, text);
}

/* ---- reading the replies ---------------------------------------------------- */

typedef struct reply {
    int minor; /* HTTP/1.minor */
    int status;
    const char *head; /* the header lines, into client.got */
    size_t head_len;
    sp__buf body; /* decoded */
    int chunked;  /* Transfer-Encoding: chunked */
    int length;   /* Content-Length, or -1 */
    size_t end;   /* offset in client.got just past it */
} reply;

static reply R[MAX_REPLIES];

/* The value of header name in r (first of them), NUL terminated, or NULL. */
static inline const char *header(const reply *r, const char *name)
{
    static char v[4][512];
    static int next;
    size_t n = strlen(name);
    const char *p = r->head, *end = r->head + r->head_len;

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            const char *s = p + n + 1;
            while (s < eol && *s == ' ')
                s++;
            char *out = v[next++ % 4];
            snprintf(out, 512, "%.*s", (int)(eol - s), s);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

/* How many header lines called name r has. */
static inline int header_count(const reply *r, const char *name)
{
    int count = 0;
    size_t n = strlen(name);
    const char *p = r->head, *end = r->head + r->head_len;

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > n && p[n] == ':' && strncasecmp(p, name, n) == 0)
            count++;
        p = eol + 2;
    }
    return count;
}

static inline int body_is(const reply *r, const char *text)
{
    size_t n = strlen(text);
    return r->body.len == n && (n == 0 || memcmp(r->body.data, text, n) == 0);
}

#define ASSERT_BODY(r, text)                                                                       \
    cr_assert(body_is((r), (text)), "body '%.*s', wanted '%s'", (int)(r)->body.len,                \
              (r)->body.data ? (r)->body.data : "", (text))

/* Decode a chunked body from p; the offset past it, or 0 if incomplete. */
static inline size_t read_chunked(const char *p, const char *end, sp__buf *body, const char *base)
{
    const char *s = p;
    for (;;) {
        const char *eol = memmem(s, (size_t)(end - s), "\r\n", 2);
        if (eol == NULL)
            return 0;
        char *stop;
        unsigned long size = strtoul(s, &stop, 16);
        cr_assert(stop > s && stop <= eol, "bad chunk size line '%.*s'", (int)(eol - s), s);
        s = eol + 2;
        if (size == 0) {
            /* No trailers from spindle: the last chunk ends with a blank line. */
            if (end - s < 2)
                return 0;
            cr_assert_eq(memcmp(s, "\r\n", 2), 0, "no blank line after the last chunk");
            return (size_t)(s + 2 - base);
        }
        if ((size_t)(end - s) < size + 2)
            return 0;
        cr_assert_eq(sp__buf_append(body, s, size), SP_OK);
        cr_assert_eq(memcmp(s + size, "\r\n", 2), 0, "chunk data not followed by CRLF");
        s += size + 2;
    }
}

/* Cut what the client got into replies (into R); how many are complete.
 * Bit i of head_mask: reply i answers a HEAD request (no body follows). */
static inline size_t replies(client *c, unsigned head_mask)
{
    const char *base = c->got.data, *end = c->got.data + c->got.len;
    size_t pos = 0, n = 0;

    for (size_t i = 0; i < MAX_REPLIES; i++)
        sp__buf_free(&R[i].body);
    memset(R, 0, sizeof R);
    while (base != NULL && pos < c->got.len && n < MAX_REPLIES) {
        reply *r = &R[n];
        const char *p = base + pos;
        const char *blank = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (blank == NULL)
            break;
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        char line[128];
        snprintf(line, sizeof line, "%.*s", (int)(eol - p), p);
        cr_assert(sscanf(line, "HTTP/1.%d %d ", &r->minor, &r->status) == 2,
                  "not a status line at %zu: '%s'", pos, line);
        r->head = eol + 2;
        r->head_len = (size_t)(blank + 2 - r->head);
        const char *te = header(r, "Transfer-Encoding"), *cl = header(r, "Content-Length");
        r->chunked = te && strcasecmp(te, "chunked") == 0;
        r->length = cl ? atoi(cl) : -1;
        const char *b = blank + 4;
        if (r->status / 100 == 1 || r->status == 204 || r->status == 304 || (head_mask >> n & 1)) {
            r->end = (size_t)(b - base);
        } else if (r->chunked) {
            r->end = read_chunked(b, end, &r->body, base);
            if (r->end == 0)
                break;
        } else if (r->length >= 0) {
            if ((size_t)(end - b) < (size_t)r->length)
                break;
            cr_assert_eq(sp__buf_append(&r->body, b, (size_t)r->length), SP_OK);
            r->end = (size_t)(b - base) + (size_t)r->length;
        } else {
            /* Close-delimited: complete once the server closed. */
            if (!c->eof)
                break;
            cr_assert_eq(sp__buf_append(&r->body, b, (size_t)(end - b)), SP_OK);
            r->end = c->got.len;
        }
        pos = r->end;
        n++;
    }
    return n;
}

static unsigned wait_head_mask;

static inline int has_replies(client *c, size_t n)
{
    return replies(c, wait_head_mask) >= n || c->eof;
}

/* Until n replies are complete (or the server closed), and how many are. */
static inline size_t wait_replies(client *c, size_t n, unsigned head_mask)
{
    wait_head_mask = head_mask;
    wait_for(c, has_replies, n, "replies");
    return replies(c, head_mask);
}

/* The exact text the server sends for a refusal it answers itself. */
static inline void assert_refusal(const reply *r, int status)
{
    char want[96];
    snprintf(want, sizeof want, "%d %s\n", status, sp_status_reason(status));
    cr_assert_eq(r->status, status, "status %d, wanted %d", r->status, status);
    ASSERT_BODY(r, want);
    cr_assert_str_eq(header(r, "Connection"), "close");
}

#endif /* SPINDLE_TESTS_CONN_FIXTURE_H */
