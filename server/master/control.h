/*
 * control.h - the master's control socket (control = unix:/path), the
 * server side of "spindle ctl".
 *
 * Protocol: the client connects, sends one command line, and reads the
 * answer until the master closes: a first line "ok ..." or "error REASON",
 * then, for stats, the JSON document of the stats server.
 *
 *   reload          reload as reload-mode says (like HUP)
 *   chain-reload    reload one worker at a time
 *   stop            graceful stop (like TERM)
 *   workers +N      N workers more (like N x TTIN)
 *   workers -N      N workers fewer (like N x TTOU)
 *   stats           the stats JSON
 */
#ifndef SPINDLE_SERVER_MASTER_CONTROL_H
#define SPINDLE_SERVER_MASTER_CONTROL_H

#include <stdio.h>

#include "server/master/master_int.h"

/* Run one command line (its line end, if any, is cut) and write the
 * answer to out. */
void sp__control_answer(sp__master *m, char *line, FILE *out);

/* spindle ctl: argv after "ctl".  Returns the exit code. */
int sp__ctl_main(int argc, char **argv);

#endif
