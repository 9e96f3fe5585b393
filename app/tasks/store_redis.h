/*
 * store_redis.h - the task store and spool in Redis (tasks-backend).
 *
 * With tasks-backend = redis://host:port/db several spindle instances share
 * one queue and one state store: a task submitted on one is run by a
 * spooler on any, and its state is readable from all.  The records are the
 * same encoding as the files (sp__rec_encode), under these keys:
 *
 *   spindle:task:ID          the state record (result in the body)
 *   spindle:payload:ID       the spool record (payload in the body)
 *   spindle:queue            list of IDs, LPUSH in, BLMOVE out (FIFO)
 *   spindle:delayed          zset of IDs waiting out a retry backoff
 *   spindle:processing:HOST:MASTER:PID   IDs a spooler claimed (reliable queue)
 *   spindle:cron:DUE:LINE    which instance fired a [cron] line's due time
 *
 * Claiming moves the ID atomically into the spooler's processing list
 * (BLMOVE); it leaves only on ack (LREM), so a spooler that dies leaves its
 * task there for its master to put back: at least once, as with files.
 */
#ifndef SPINDLE_APP_TASKREDIS_H
#define SPINDLE_APP_TASKREDIS_H

#include "app/tasks/store.h"

int sp__redis_state_write(const sp__config *cfg, const sp__taskrec *r);
int sp__redis_state_read(const sp__config *cfg, const char *id, sp__taskrec *r);
void sp__redis_state_remove(const sp__config *cfg, const char *id);
int sp__redis_put(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms);

/* Spooler: wait up to timeout_ms for a task and move it to processing.
 * SP_OK with *r (payload in the body), SP_ENOENT when none came, SP_EIO. */
int sp__redis_claim(const sp__config *cfg, const char *processing, int timeout_ms,
                    sp__taskrec *r);
/* The task ran (done or failed): drop it from processing. */
void sp__redis_ack(const sp__config *cfg, const char *processing, const char *id);

/* [cron]: claim the due time `due` (unix seconds) of `line` for this
 * instance, so instances sharing the store fire it once between them.
 * 1: this instance fires it; 0: another one did; SP_EIO: Redis cannot say. */
int sp__redis_cron_claim(const sp__config *cfg, const char *line, int64_t due);

/* This spooler's processing list: HOST:MASTER:PID. */
void sp__redis_processing_key(char *buf, size_t len, int master_pid, int pid);
/* Master: hand each task in a processing list to fn (which re-queues or
 * fails it) and empty the list.  pid 0: every list of this host whose
 * master is gone (a killed server). */
typedef int sp__redis_orphan_fn(const sp__config *cfg, sp__taskrec *r, const char *why);
void sp__redis_recover(const sp__config *cfg, int pid, const char *why, sp__redis_orphan_fn *fn);

#endif
