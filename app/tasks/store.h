/*
 * store.h - task records in files: the spool and the state store.
 *
 * Every process reads the same folders, so a task submitted on worker 1
 * can be polled on worker 2, run by a spooler, and recovered by the master
 * after a crash, with no shared memory and nothing to lose on kill -9:
 *
 *   <task_dir>/state/ID        the task's state and result (any worker reads)
 *   <task_dir>/tmp/            half-written files, renamed into place
 *   <spool_dir>/queue/T-ID     spooled tasks, T = not-before time in ms (FIFO)
 *   <spool_dir>/running-PID/   tasks claimed (renamed) by spooler PID
 *   <spool_dir>/bad/           files that do not decode, kept for a human
 *
 * A spool entry and a state record are the same record (sp__taskrec, its
 * encoding in record.h).  Files appear only by rename() from tmp/, and with
 * `durable` after fsync of the file and of the folder, so a reader sees a
 * whole record or none; a record whose body is short is refused anyway.
 *
 * With tasks-backend set, the state and spool calls go to Redis instead
 * (app/tasks/store_redis.c), with the same records.
 */
#ifndef SPINDLE_APP_TASKSTORE_H
#define SPINDLE_APP_TASKSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "app/tasks/record.h"
#include "conf/config.h"

/* Write r as dir/name: a temp file in tmpdir, renamed into place; durable
 * adds fsync of the file and of dir.  SP_ENOSPC (disk or quota full),
 * SP_EIO; nothing is left behind on failure. */
int sp__rec_write(const char *tmpdir, const char *dir, const char *name, const sp__taskrec *r,
                  int durable);
/* Read and decode path.  SP_ENOENT, SP_EIO, SP_EINVAL. */
int sp__rec_read(const char *path, sp__taskrec *r);

/* Master, before forking: settle cfg->task_dir and cfg->spool_dir (copied
 * from prev on reload, so every generation shares one store) and make the
 * folders.  0, or -1 with a line in err. */
int sp__taskstore_prepare(sp__config *cfg, const sp__config *prev, char *err, size_t errlen);
/* Master, at exit: remove the private folder made when no spool was set. */
void sp__taskstore_cleanup(const sp__config *cfg);

/* state/ID of r (durable for spooled tasks). */
int sp__state_write(const sp__config *cfg, const sp__taskrec *r);
int sp__state_read(const sp__config *cfg, const char *id, sp__taskrec *r);
void sp__state_remove(const sp__config *cfg, const char *id);
/* Enqueue r in the spool (or tasks-backend), runnable from not_before_ms
 * (unix ms). */
int sp__spool_put(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms);
/* Delete states finished more than task-result-ttl ago, and stale temps. */
void sp__state_sweep(const sp__config *cfg);

#endif
