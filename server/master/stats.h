/*
 * stats.h - the master's stats server: GET / (JSON) and GET /metrics
 * (Prometheus text exposition format 0.0.4), from the scoreboard.
 */
#ifndef SPINDLE_SERVER_MASTER_STATS_H
#define SPINDLE_SERVER_MASTER_STATS_H

#include <stddef.h>
#include <stdio.h>

#include "server/master/master_int.h"

/* A listening socket for "host:port" or "unix:/path" (what = the key, for
 * messages).  *path gets the unix socket file (malloc'd) or NULL; mode >= 0
 * gives that file exactly this mode, whatever the umask.  The fd, or -1
 * with one line in err. */
int sp__ops_listen(const char *what, const char *spec, int mode, char **path, char *err,
                   size_t errlen);
/* The whole HTTP/1.0 answer to the request head req (NUL-terminated). */
void sp__stats_answer(sp__master *m, const char *req, FILE *out);
/* The JSON document of GET /. */
void sp__stats_json(sp__master *m, FILE *out);
/* The Prometheus text of GET /metrics. */
void sp__stats_metrics(sp__master *m, FILE *out);

#endif
