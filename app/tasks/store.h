/*
 * store.h - the task store: task states and the spool, whatever holds them.
 *
 * Every process reaches the same store, so a task submitted on worker 1
 * can be polled on worker 2, run by a spooler (of any instance sharing a
 * Redis store), and recovered by the master after a crash.  Callers (task
 * threads, spoolers, cron, the master) use only these functions; which
 * backend answers is decided in store.c, from tasks-backend: the files
 * backend (store_files.c, folders of one server) or Redis (store_redis.c).
 * A backend implements backend.h; both hold records of record.h.
 */
#ifndef SPINDLE_APP_TASKS_STORE_H
#define SPINDLE_APP_TASKS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/tasks/backend.h"
#include "app/tasks/record.h"
#include "conf/config.h"

/* Master, before forking: settle cfg->task_dir and cfg->spool_dir (copied
 * from prev on reload, so every generation shares one store) and make the
 * folders.  0, or -1 with a line in err. */
int sp__taskstore_prepare(sp__config *cfg, const sp__config *prev, char *err, size_t errlen);
/* Master, at exit: remove the private folder made when no spool was set. */
void sp__taskstore_cleanup(const sp__config *cfg);

/* r's state (durable for spooled tasks). */
int sp__state_write(const sp__config *cfg, const sp__taskrec *r);
/* SP_ENOENT for an unknown or malformed id, SP_EIO, SP_EINVAL. */
int sp__state_read(const sp__config *cfg, const char *id, sp__taskrec *r);
void sp__state_remove(const sp__config *cfg, const char *id);
/* Delete states finished more than twice task-result-ttl ago, and stale
 * temps. */
void sp__state_sweep(const sp__config *cfg);

/* May sp_task_submit spool a task (SP_TASK_SPOOL)? */
bool sp__spool_accepts(const sp__config *cfg);
/* Spooler processes the master keeps: `spoolers` when there is a spool to
 * run, else 0. */
int sp__spoolers_wanted(const sp__config *cfg);
/* Enqueue r, runnable from not_before_ms (unix ms), durably before it
 * returns.  SP_ENOSPC, SP_EIO, SP_ESTATE (no spool): nothing was queued. */
int sp__spool_put(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms);

/* Spooler, at start: its slot in the spool.  0, or -1 with a line in err. */
int sp__spool_open(const sp__config *cfg, sp__spool_slot *slot, char *err, size_t errlen);
/* Spooler, at exit. */
void sp__spool_close(const sp__config *cfg, const sp__spool_slot *slot);
/* Claim the oldest due task into slot, waiting up to wait_ms for one.
 * SP_OK with *r (payload in the body; sp__rec_free it); SP_ENOENT when
 * none was claimed (ask again at once); other codes when the store fails
 * (pause before asking again). */
int sp__spool_claim(const sp__config *cfg, sp__spool_slot *slot, int wait_ms, sp__taskrec *r);
/* The claimed task ran, done or failed: it leaves the spool. */
void sp__spool_ack(const sp__config *cfg, sp__spool_slot *slot);
/* Master: hand each task spooler pid held when it died to settle (pid 0:
 * every spooler of a server that is gone); a task settle refuses stays
 * for the next try. */
void sp__spool_orphans(const sp__config *cfg, int pid, const char *why, sp__orphan_fn *settle);
/* Master, for the stats: how many tasks wait in the spool.  SP_OK with
 * *queued; an error code when there is no count to show (no spool, or a
 * backend the master does not ask from its loop). */
int sp__spool_depth(const sp__config *cfg, long *queued);

/* Master, every tick: renew this instance's lease on the tasks its
 * spoolers claimed, and hand the tasks of instances whose lease lapsed to
 * settle (tasks-backend; nothing with files). */
void sp__spool_lease(const sp__config *cfg, sp__orphan_fn *settle);

/* Master, [cron]: claim line's due time (unix s) for this instance, so
 * instances sharing a store fire it once between them.  SP_OK: fire it;
 * SP_EEXIST: another instance did; SP_EIO: nobody can say (skip it). */
int sp__spool_claim_due(const sp__config *cfg, const char *line, int64_t due);

#endif
