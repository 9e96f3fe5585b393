/*
 * privs.h - running as another user: socket ownership and the drop of
 * root after binding (uid, gid, socket-owner).
 */
#ifndef SPINDLE_SERVER_MASTER_PRIVS_H
#define SPINDLE_SERVER_MASTER_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "server/worker/listen.h"

/* chown the unix listen sockets to socket-owner: every one, or (on a
 * reload) only those the last sp__listen_open bound.  0, or a negative
 * SP_E* code with one line in err. */
int sp__privs_socket_owner(const sp__config *cfg, const sp__listeners *ls, bool fresh_only,
                           char *err, size_t errlen);
/* chown the control socket to control-owner, or else as sp__privs_give. */
int sp__privs_control_owner(const sp__config *cfg, const char *path, char *err, size_t errlen);
/* The users and groups uid, gid, socket-owner and control-owner name
 * exist (for -t).  0, or SP_EINVAL with one line in err. */
int sp__privs_check(const sp__config *cfg, char *err, size_t errlen);
/* Log a warning when the server would run as root. */
void sp__privs_warn(const sp__config *cfg);
/* chown path to the uid/gid the server will run as (control and stats
 * sockets the dropped master must still remove).  No-op without uid. */
void sp__privs_give(const sp__config *cfg, const char *path);
/* Switch to gid then uid (supplementary groups reset).  0, or -1 with one
 * line in err.  No-op when neither is set. */
int sp__privs_drop(const sp__config *cfg, char *err, size_t errlen);

#endif
