/*
 * fuzz_conn.c - the whole request path of a worker, in process.
 *
 * A real connection (sp__conn on one end of a socketpair), the real IO
 * loop callbacks, a real handler thread running the middleware chain, the
 * router and handlers, and real response writing.  The input is what the
 * client sends before it half-closes, once all at once and once in pieces
 * (one per turn of the loop, their size picked by the input's last byte);
 * each time the loop runs until the server has closed the connection.  What the harness leaves out
 * is only the process model: no fork, no listener, no signals.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/worker/conn.h"
#include "server/worker/worker.h"
#include "tests/common/inproc_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sp__inproc ip;

static int hello(sp_request *req, sp_response *res)
{
    sp_str q = sp_query(req, "name");
    return sp_send_text(res, 200, "Hello, %.*s!", SP_STR_ARGS(q));
}

static int echo(sp_request *req, sp_response *res)
{
    char buf[512];
    long n;
    sp_set_header(res, "X-Id", sp_param(req, "id").ptr ? "param" : "none");
    while ((n = sp_body_read(req, buf, sizeof(buf))) > 0)
        sp_write(res, buf, (size_t)n);
    return SP_OK;
}

static int stream(sp_request *req, sp_response *res)
{
    if (sp_stream_start(res) != SP_OK)
        return SP_ECLOSED;
    for (int i = 0; i < 3; i++)
        sp_printf(res, "chunk %d\n", i);
    return SP_OK;
}

static int wrap(sp_request *req, sp_response *res, sp_next *next)
{
    int rc = sp_next_call(next, req, res);
    sp_set_header(res, "X-Wrapped", "1");
    return rc;
}

static sp_middleware_fn chain[] = {wrap};

static void on_client(evutil_socket_t fd, short what, void *arg)
{
    char junk[65536];
    while (recv(fd, junk, sizeof(junk), 0) > 0)
        ;
}

static void setup(void)
{
    sp__inproc_init(&ip, 300, 100);
    sp_route(&ip.app, "GET", "/", hello);
    sp_route(&ip.app, "*", "/echo/{id}", echo);
    sp_route(&ip.app, "GET", "/stream", stream);
    ip.app.chain = chain;
    ip.app.n_chain = 1;
    sp__inproc_start(&ip);
}

/* The client's bytes in pieces, one piece per turn of the loop, so the
 * server reads them as separate edges (a body read in place included). */
typedef struct feeder {
    int fd;
    const uint8_t *p;
    size_t left, piece;
    struct event *ev;
} feeder;

static void on_feed(evutil_socket_t fd, short what, void *arg)
{
    feeder *f = arg;
    size_t n = f->left < f->piece ? f->left : f->piece;
    ssize_t sent = send(f->fd, f->p, n, MSG_NOSIGNAL);
    if (sent > 0) {
        f->p += sent;
        f->left -= (size_t)sent;
    } else if (sent < 0 && errno != EAGAIN) {
        f->left = 0; /* the server end closed; it is done */
    }
    if (f->left == 0)
        shutdown(f->fd, SHUT_WR);
    else
        event_add(f->ev, &(struct timeval){0, 0}); /* after the server's next read */
}

/* One connection that sends data in pieces of `piece` bytes (all at once
 * for 0), half-closes, and reads whatever comes back until the server
 * closes. */
static void run(const uint8_t *data, size_t size, size_t piece)
{
    int sv[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return;
    sp__conn_open(&ip.w, -1, sv[0], (struct sockaddr *)&sa, sizeof(sa));
    feeder f = {sv[1], data, size, piece ? piece : size + 1, NULL};
    f.ev = evtimer_new(ip.w.base, on_feed, &f);
    on_feed(-1, 0, &f);
    struct event *client = event_new(ip.w.base, sv[1], EV_READ | EV_PERSIST, on_client, NULL);
    event_add(client, NULL);
    sp__inproc_run(&ip); /* until the server closed its end */
    event_free(client);
    event_free(f.ev);
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready)
        setup(), ready = 1;
    if (size > 60000)
        size = 60000; /* stays within the socket buffer: one write, no wait */
    run(data, size, 0);
    /* again in pieces; the last byte picks their size, 1 to 4081 */
    if (size > 1)
        run(data, size, 1 + (size_t)data[size - 1] * 16);
    return 0;
}
