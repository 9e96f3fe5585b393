/*
 * ops.h - the clients of the master's operator sockets (control and
 * stats): accepted, read and answered without the master ever waiting on
 * one.  Bounded: SP__OPS_MAX at once, SP__OPS_CLIENT_MS each.
 */
#ifndef SPINDLE_SERVER_MASTER_OPS_H
#define SPINDLE_SERVER_MASTER_OPS_H

#include <poll.h>

#include "server/master/master_int.h"

void sp__ops_init(sp__master *m);
/* A listener is readable: accept what waits, as clients of kind. */
void sp__ops_accept(sp__master *m, int listen_fd, enum sp__ops_kind kind);
/* Append the clients' descriptors to pfd[n...] (room for SP__OPS_MAX);
 * returns the new count. */
nfds_t sp__ops_poll_fds(const sp__master *m, struct pollfd *pfd, nfds_t n);
/* After poll: read, answer and write for the clients among pfd[0, n). */
void sp__ops_on_ready(sp__master *m, const struct pollfd *pfd, nfds_t n);
/* Close the clients past their time. */
void sp__ops_sweep(sp__master *m);
void sp__ops_close_all(sp__master *m);
/* In a forked child: close the clients' sockets, free nothing. */
void sp__ops_forget(sp__master *m);

#endif
