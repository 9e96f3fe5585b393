/*
 * master.h - the master process: binds, forks, supervises, never serves.
 */
#ifndef SPINDLE_SERVER_MASTER_MASTER_H
#define SPINDLE_SERVER_MASTER_MASTER_H

#include "conf/config.h"

/* Run the server described by cfg (loaded from argc/argv, which a reload
 * reads again).  Takes ownership of cfg.  Returns the exit code. */
int sp__master_run(sp__config *cfg, int argc, char **argv);

#endif
