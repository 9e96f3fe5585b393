/*
 * ops.c - the clients of the operator sockets (control and stats), served
 * without ever waiting on one (see ops.h).
 *
 * The master's loop is what reaps and respawns workers, forwards signals
 * and fires timers, so a client may never hold it: a client that sends one
 * byte a second, or sends half a request and stops, must not delay the
 * respawn of a killed worker by a moment.  So every client socket is
 * non-blocking and watched by the same poll as everything else; what it
 * has sent so far waits in its slot; the answer is written as the socket
 * takes it.  Clients are bounded twice: at most SP__OPS_MAX at once (a new
 * one pushes out the one that has been there longest, so a crowd of slow
 * clients cannot lock out a well-behaved scraper), and each gets
 * SP__OPS_CLIENT_MS for its whole exchange.  A scraper sends its request
 * as it connects, so a client is read as soon as it is accepted, and an
 * answer that fits the socket is written at once: it is done before the
 * next client of a crowd can push it out.  One whose answer is being
 * written is pushed out only when every slot is answering.
 */
#include "server/master/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/lib/clock.h"
#include "server/master/control.h"
#include "server/master/stats.h"

static void drop(sp__ops_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    *c = (sp__ops_client){.fd = -1};
}

/* A free slot, or the one whose client came first (pushed out): first
 * among those still sending their request, then among all. */
static sp__ops_client *slot_for_new(sp__master *m)
{
    sp__ops_client *oldest = NULL, *oldest_sending = NULL;
    for (size_t i = 0; i < SP__OPS_MAX; i++) {
        sp__ops_client *c = &m->ops[i];
        if (c->fd < 0)
            return c;
        if (oldest == NULL || c->deadline < oldest->deadline)
            oldest = c;
        if (!c->answering && (oldest_sending == NULL || c->deadline < oldest_sending->deadline))
            oldest_sending = c;
    }
    sp__ops_client *out = oldest_sending ? oldest_sending : oldest;
    drop(out);
    return out;
}

/* Whether what arrived is a whole request: a control line, or an HTTP
 * head (the stats server answers GETs only, with no body). */
static bool complete(const sp__ops_client *c)
{
    if (c->got == sizeof(c->req) - 1)
        return true; /* as much as is read: answer what it is */
    if (c->kind == SP__OPS_CONTROL)
        return memchr(c->req, '\n', c->got) != NULL;
    return memmem(c->req, c->got, "\r\n\r\n", 4) || memmem(c->req, c->got, "\n\n", 2);
}

static void answer(sp__master *m, sp__ops_client *c)
{
    FILE *out = open_memstream(&c->out, &c->out_len);
    c->req[c->got] = '\0';
    if (out == NULL) {
        drop(c);
        return;
    }
    if (c->kind == SP__OPS_CONTROL)
        sp__control_answer(m, c->req, out);
    else
        sp__stats_answer(m, c->req, out);
    fclose(out);
    c->answering = true;
}

static void on_readable(sp__master *m, sp__ops_client *c)
{
    ssize_t n = read(c->fd, c->req + c->got, sizeof(c->req) - 1 - c->got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->got == 0)
            drop(c); /* went away without a word */
        else
            answer(m, c); /* half-closed after a request without its end */
        return;
    }
    c->got += (size_t)n;
    if (complete(c))
        answer(m, c);
}

static void on_writable(sp__ops_client *c)
{
    ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0 || (c->out_off += (size_t)n) == c->out_len)
        drop(c); /* all said (or the client is gone): the close ends the answer */
}

void sp__ops_accept(sp__master *m, int listen_fd, enum sp__ops_kind kind)
{
    /* A bounded batch per turn: the loop has other work. */
    for (int i = 0; i < SP__OPS_MAX; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        sp__ops_client *c = slot_for_new(m);
        *c = (sp__ops_client){.fd = fd, .kind = kind, .deadline = sp__now_ms() + SP__OPS_CLIENT_MS};
        on_readable(m, c); /* the request is often here already */
        if (c->fd >= 0 && c->answering)
            on_writable(c);
    }
}

nfds_t sp__ops_poll_fds(const sp__master *m, struct pollfd *pfd, nfds_t n)
{
    for (size_t i = 0; i < SP__OPS_MAX; i++) {
        const sp__ops_client *c = &m->ops[i];
        if (c->fd >= 0)
            pfd[n++] = (struct pollfd){c->fd, c->answering ? POLLOUT : POLLIN, 0};
    }
    return n;
}

void sp__ops_on_ready(sp__master *m, const struct pollfd *pfd, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++) {
        if (pfd[i].revents == 0)
            continue;
        for (size_t j = 0; j < SP__OPS_MAX; j++) {
            sp__ops_client *c = &m->ops[j];
            if (c->fd != pfd[i].fd)
                continue;
            if (c->answering)
                on_writable(c);
            else
                on_readable(m, c);
            break;
        }
    }
}

void sp__ops_sweep(sp__master *m)
{
    long long now = sp__now_ms();
    for (size_t i = 0; i < SP__OPS_MAX; i++)
        if (m->ops[i].fd >= 0 && now >= m->ops[i].deadline)
            drop(&m->ops[i]);
}

void sp__ops_init(sp__master *m)
{
    for (size_t i = 0; i < SP__OPS_MAX; i++)
        m->ops[i] = (sp__ops_client){.fd = -1};
}

void sp__ops_close_all(sp__master *m)
{
    for (size_t i = 0; i < SP__OPS_MAX; i++)
        drop(&m->ops[i]);
}

void sp__ops_forget(sp__master *m)
{
    /* In a forked child: the client must see the master's close as the
     * end of its answer, so no child may keep its socket open. */
    for (size_t i = 0; i < SP__OPS_MAX; i++)
        if (m->ops[i].fd >= 0)
            close(m->ops[i].fd);
}
