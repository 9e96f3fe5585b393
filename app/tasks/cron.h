/*
 * cron.h - the master's [cron] scheduler.
 *
 * The master decides when a line is due, so each due time fires once for
 * the whole server however many workers and spoolers run; firing is
 * writing a spooled task ("module:function", empty payload) that a
 * spooler runs.  With tasks-backend set, the instances sharing the Redis
 * database fire each due time once between them (store_redis.c).  The last fire time of each line
 * is kept in the spool (cron-state), so cron-catchup can run a line whose time passed while the
 * server was down; without it a missed run is skipped, as cron(8) does.
 */
#ifndef SPINDLE_APP_TASKS_CRON_H
#define SPINDLE_APP_TASKS_CRON_H

#include "conf/config.h"
#include "spindle/spindle.h"

typedef struct sp__cron sp__cron;

/* Build the schedule of cfg's [cron] lines (NULL *out when there are
 * none).  0, or -1 with a line in err (an unknown cron-timezone). */
int sp__cron_new(sp__cron **out, const sp__config *cfg, char *err, size_t errlen);
/* Fire the lines that are due (call often: every poll tick). */
void sp__cron_tick(sp__cron *c, const sp__config *cfg);
void sp__cron_free(sp__cron *c);

/* Every [cron] line's job names a task the loaded app can run (a defined
 * task or an exported module:symbol): checked by a worker at start and by
 * -t.  0, or SP_ENOENT with file:line and the reason in err. */
int sp__cron_check_jobs(const sp_app *app, const sp__config *cfg, char *err, size_t errlen);

#endif
