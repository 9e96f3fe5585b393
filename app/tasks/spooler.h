/*
 * spooler.h - spooler processes: run durable tasks from the spool folder.
 *
 * The master forks `spoolers` of them (when a spool or [cron] lines are
 * set) and supervises them with the workers' machinery: a ready byte on a
 * pipe, respawn with backoff, TERM to finish the current task and stop.
 * Each loads the modules like a worker (so every task function exists)
 * but serves no requests.
 *
 * Claiming is atomic in every store backend (a rename() into the
 * spooler's own running-PID/ folder, a BLMOVE into its own processing
 * list), so one spooler wins each task.  A spooler that dies leaves its
 * claimed task behind there; the master puts it back in the queue
 * (sp__spool_recover) with one more attempt and a backoff, or marks it
 * failed after task-retries.  So a task runs at least once, and exactly
 * once unless a spooler dies while running it.
 */
#ifndef SPINDLE_APP_TASKS_SPOOLER_H
#define SPINDLE_APP_TASKS_SPOOLER_H

#include <sys/types.h>

#include "conf/config.h"

typedef struct sp__spooler_start {
    const sp__config *cfg;
    int n;         /* spooler number, 1..spoolers */
    int master_fd; /* gets 'R' once the modules are loaded */
} sp__spooler_start;

/* Run a spooler until TERM; exits the process (0, 78 when the modules
 * cannot be loaded). */
_Noreturn void sp__spooler_run(const sp__spooler_start *st);

/* Master: put back the tasks spooler pid left in running-PID/ (pid 0:
 * every running-* folder, at start), why saying what happened to it. */
void sp__spool_recover(const sp__config *cfg, pid_t pid, const char *why);

/* Master, every task-lease / 3: renew this instance's lease, and settle
 * the tasks of instances whose lease lapsed as sp__spool_recover does. */
void sp__spool_keep_lease(const sp__config *cfg);

#endif
