/*
 * insn_per_request.c - one worker's request path, in process, for counting
 * instructions per request under callgrind.
 *
 *   insn_per_request N      serve N sequential keep-alive hello requests
 *
 * Modelled on tests/fuzz/fuzz_conn.c: a real connection (sp__conn on one
 * end of a socketpair), the real IO loop callbacks, one real handler thread
 * running the real request_id middleware (the built-in, set up as the
 * server sets it up), the router, a hello handler and the real response
 * writer.  A client thread sends one request, reads the whole answer, and
 * sends the next, as wrk does on one connection; then it closes, the IO loop
 * sees the end of stream, closes the connection and, with no events left,
 * returns.  No timers run, so the instruction count grows with N only.
 *
 * tests/perf/insn_per_request.sh runs this under callgrind for two values
 * of N and takes the difference, so start-up and tear-down cancel out.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/app.h"
#include "middleware/builtin.h"
#include "server/conn.h"
#include "server/worker.h"

static sp__worker w;
static sp__config cfg;
static sp__listeners no_listeners;
static struct sp_app app;
static sp_middleware_fn chain[1];

static const char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: insn\r\n"
                              "Accept: */*\r\n\r\n";

static int hello(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send(res, 200, "text/plain; charset=utf-8", "Hello, World!", 13);
}

static void *handler_thread(void *arg)
{
    (void)arg;
    sp__qnode *n;
    while ((n = sp__queue_pop(&w.queue)) != NULL)
        sp__conn_handle((sp__conn *)n);
    return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    pthread_mutex_lock(&w.done_lock);
    sp__conn *c = w.done;
    w.done = NULL;
    pthread_mutex_unlock(&w.done_lock);
    while (c != NULL) {
        sp__conn *next = c->done_next;
        sp__conn_completed(c);
        c = next;
    }
}

struct client {
    int fd;
    long n;
    long ok;
};

/* One answer: the head up to CRLFCRLF, then Content-Length bytes. */
static int read_answer(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strstr(buf, "Content-Length: ");
        size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
        if (len >= want)
            return strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && strstr(buf, "X-Request-Id: ") ? 0 : -1;
    }
}

static void *client_thread(void *arg)
{
    struct client *cl = arg;
    char buf[4096];
    for (long i = 0; i < cl->n; i++) {
        if (send(cl->fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != sizeof(request) - 1)
            break;
        if (read_answer(cl->fd, buf, sizeof(buf)) != 0)
            break;
        cl->ok++;
    }
    shutdown(cl->fd, SHUT_WR);
    while (recv(cl->fd, buf, sizeof(buf), 0) > 0)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    pthread_t handler, client;
    int sv[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    cfg.threads = 1;
    cfg.timeout_header_ms = cfg.timeout_body_ms = cfg.timeout_keepalive_ms = 60000;
    cfg.timeout_write_ms = cfg.graceful_timeout_ms = 60000;
    cfg.max_keepalive_requests = 0;
    w.cfg = &cfg;
    w.ls = &no_listeners;
    w.lim = (sp__h1_limits){2048, 8192, 64, 1 << 16, 1024, "/tmp"};
    w.queue_limit = 1 << 20;
    w.accepting = 1;
    evthread_use_pthreads();
    w.base = event_base_new();
    w.ev_done = event_new(w.base, -1, EV_PERSIST, on_done, NULL);
    pthread_mutex_init(&w.done_lock, NULL);
    sp__queue_init(&w.queue);

    app.cfg = &cfg;
    app.router = sp__router_new();
    sp_route(&app, "GET", "/", hello);
    /* The built-in request_id, defined as the server defines it. */
    if (sp__builtin_request_id.init_worker(&app, NULL) != SP_OK || app.n_defs != 1) {
        fprintf(stderr, "request_id middleware did not define itself\n");
        return 1;
    }
    chain[0] = app.defs[0].fn;
    app.chain = chain;
    app.n_chain = 1;
    w.app = &app;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 1;
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) & ~O_NONBLOCK); /* the client blocks */
    pthread_create(&handler, NULL, handler_thread, NULL);
    sp__conn_open(&w, -1, sv[0], (struct sockaddr *)&sa, sizeof(sa));
    struct client cl = {sv[1], n, 0};
    pthread_create(&client, NULL, client_thread, &cl);
    event_base_dispatch(w.base); /* returns once the connection is closed */
    pthread_join(client, NULL);
    close(sv[1]);
    printf("requests %ld answered %ld\n", n, cl.ok);
    return cl.ok == n ? 0 : 1;
}
