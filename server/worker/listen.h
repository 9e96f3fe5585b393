/*
 * listen.h - the listening sockets: bound by the master, accepted on by
 * the workers.  Both use this table, so it lives in the lower of the two
 * rooms.
 *
 * The master binds every socket before forking, so workers inherit them and
 * a reload never closes one: a listener whose `listen` line survives a HUP
 * is kept open, only new lines are bound and dropped lines closed.
 */
#ifndef SPINDLE_SERVER_WORKER_LISTEN_H
#define SPINDLE_SERVER_WORKER_LISTEN_H

#include <stdbool.h>

#include "conf/config.h"

typedef struct sp__listener {
    int fd;
    char *text; /* the listen line, the key for reuse across reloads */
    enum sp__listen_proto proto;
    int is_unix;
    char *path;
    bool fresh; /* bound by the last sp__listen_open, not taken over */
} sp__listener;

typedef struct sp__listeners {
    sp__listener *v;
    size_t n;
} sp__listeners;

/* Bind what cfg asks for, reusing sockets of *old with the same text
 * (moved out of *old).  On failure: -1, one line in err, nothing leaked. */
int sp__listen_open(sp__listeners *out, sp__listeners *old, const sp__config *cfg, char *err,
                    size_t errlen);
/* Close every socket; unlink unix socket files when unlink_paths. */
void sp__listen_close(sp__listeners *ls, int unlink_paths);

#endif
