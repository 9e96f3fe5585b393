/*
 * fuzz_conn.c - the whole request path of a worker, in process.
 *
 * A real connection (sp__conn on one end of a socketpair), the real IO
 * loop callbacks, a real handler thread running the middleware chain, the
 * router and handlers, and real response writing.  The input is what the
 * client sends before it half-closes; the loop runs until the server has
 * closed the connection.  What the harness leaves out is only the process
 * model: no fork, no listener, no signals.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/worker.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    int sv[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (!ready)
        setup(), ready = 1;
    if (size > 60000)
        size = 60000; /* stays within the socket buffer: one write, no wait */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    sp__conn_open(&ip.w, -1, sv[0], (struct sockaddr *)&sa, sizeof(sa));
    if (size > 0 && send(sv[1], data, size, MSG_NOSIGNAL) < 0) {
        /* the server end may refuse early; it closes on its own */
    }
    shutdown(sv[1], SHUT_WR);
    struct event *client = event_new(ip.w.base, sv[1], EV_READ | EV_PERSIST, on_client, NULL);
    event_add(client, NULL);
    sp__inproc_run(&ip); /* until the server closed its end */
    event_free(client);
    close(sv[1]);
    return 0;
}
