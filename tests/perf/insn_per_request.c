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
#include "server/worker/conn.h"
#include "server/worker/worker.h"
#include "tests/common/inproc_worker.h"

static sp__inproc ip;
static sp_middleware_fn chain[1];

static const char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: insn\r\n"
                              "Accept: */*\r\n\r\n";

static int hello(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send(res, 200, "text/plain; charset=utf-8", "Hello, World!", 13);
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
    pthread_t client;
    int sv[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    sp__inproc_init(&ip, 60000, 0);
    sp_route(&ip.app, "GET", "/", hello);
    /* The built-in request_id, defined as the server defines it. */
    if (sp__builtin_request_id.init_worker(&ip.app, NULL) != SP_OK || ip.app.n_defs != 1) {
        fprintf(stderr, "request_id middleware did not define itself\n");
        return 1;
    }
    chain[0] = ip.app.defs[0].fn;
    ip.app.chain = chain;
    ip.app.n_chain = 1;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 1;
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) & ~O_NONBLOCK); /* the client blocks */
    sp__inproc_start(&ip);
    sp__conn_open(&ip.w, -1, sv[0], (struct sockaddr *)&sa, sizeof(sa));
    struct client cl = {sv[1], n, 0};
    pthread_create(&client, NULL, client_thread, &cl);
    sp__inproc_run(&ip); /* returns once the connection is closed */
    pthread_join(client, NULL);
    close(sv[1]);
    printf("requests %ld answered %ld\n", n, cl.ok);
    return cl.ok == n ? 0 : 1;
}
