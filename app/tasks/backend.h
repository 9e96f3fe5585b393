/*
 * backend.h - what a task store backend implements: one table of
 * functions (sp__store_ops) per backend, one backend per file.
 *
 * Tasks, the spooler, cron and the master never ask where tasks live;
 * they call store.h, and store.c alone picks the table from the config.
 * A backend holds task states (any worker reads any task) and the spool
 * (durable tasks, claimed by one spooler at a time, put back when that
 * spooler dies).  Both hold sp__taskrec records (record.h), so every
 * backend carries the same bytes.
 *
 * The contract each member keeps is written here once; store.h repeats
 * it for callers.  cfg is always the running config; ids reaching a
 * backend have passed sp__task_id_ok.
 */
#ifndef SPINDLE_APP_TASKS_BACKEND_H
#define SPINDLE_APP_TASKS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/tasks/record.h"
#include "conf/config.h"

/* A spooler's own place in the spool: where the task it claimed waits
 * while it runs (a folder, a list), and which entry that task is. */
typedef struct sp__spool_slot {
    char where[4096];
    char held[256];
} sp__spool_slot;

/* Settles a task whose spooler died (spooler.c: re-queue or fail it).
 * SP_OK when settled; otherwise the backend keeps the task for the next
 * try. */
typedef int sp__orphan_fn(const sp__config *cfg, sp__taskrec *r, const char *why);

typedef struct sp__store_ops {
    /* Master, before forking (on reload with the previous config): make
     * what the backend needs and settle cfg->task_dir and cfg->spool_dir.
     * 0, or -1 with a line in err. */
    int (*prepare)(sp__config *cfg, const sp__config *prev, char *err, size_t errlen);
    /* Master, at exit: remove what prepare made for this run only. */
    void (*cleanup)(const sp__config *cfg);

    /* A task's state record; durable when r->spooled. */
    int (*state_write)(const sp__config *cfg, const sp__taskrec *r);
    /* SP_ENOENT when there is none, SP_EIO, SP_EINVAL (not a whole record). */
    int (*state_read)(const sp__config *cfg, const char *id, sp__taskrec *r);
    void (*state_remove)(const sp__config *cfg, const char *id);
    /* Master, once a minute: drop states finished 2 x task-result-ttl ago. */
    void (*state_sweep)(const sp__config *cfg);

    /* May sp_task_submit spool a task (SP_TASK_SPOOL)? */
    bool (*spool_accepts)(const sp__config *cfg);
    /* Is there a spool for spooler processes to run? */
    bool (*spool_runs)(const sp__config *cfg);
    /* Enqueue r (payload in the body), runnable from not_before_ms (unix
     * ms), durably before it returns.  SP_ENOSPC, SP_EIO: nothing queued. */
    int (*spool_put)(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms);
    /* Spooler, at start and exit: its slot.  0, or -1 with a line in err. */
    int (*spool_open)(const sp__config *cfg, sp__spool_slot *slot, char *err, size_t errlen);
    void (*spool_close)(const sp__config *cfg, const sp__spool_slot *slot);
    /* Move the oldest due task into slot, waiting up to wait_ms for one;
     * one spooler wins each task.  SP_OK with *r; SP_ENOENT when none was
     * claimed (ask again at once: any waiting is done); other codes when
     * the store fails (the spooler pauses). */
    int (*spool_claim)(const sp__config *cfg, sp__spool_slot *slot, int wait_ms, sp__taskrec *r);
    /* The task in slot ran (done or failed): it leaves the spool. */
    void (*spool_ack)(const sp__config *cfg, sp__spool_slot *slot);
    /* Master: hand each task that spooler pid held to settle, and forget
     * the ones it settles.  pid 0: every spooler of a server that is gone. */
    void (*spool_orphans)(const sp__config *cfg, int pid, const char *why, sp__orphan_fn *settle);
    /* Master, for the stats: tasks waiting in the spool, if the backend
     * can count them without blocking.  SP_OK with *queued, else an error
     * code (no count to show). */
    int (*spool_depth)(const sp__config *cfg, long *queued);

    /* Master, every tick: keep this instance's claim on the tasks its
     * spoolers hold alive, and hand each task held by an instance that let
     * its own claim lapse (a host that died whole) to settle.  A backend
     * of one server has nothing to renew and does nothing. */
    void (*spool_lease)(const sp__config *cfg, sp__orphan_fn *settle);

    /* [cron]: claim line's due time `due` (unix s) for this instance, so
     * instances sharing a store fire it once between them.  SP_OK: fire
     * it; SP_EEXIST: another instance did; SP_EIO: cannot say (skipped). */
    int (*cron_claim)(const sp__config *cfg, const char *line, int64_t due);
} sp__store_ops;

/* The backends; store.c picks one of them. */
extern const sp__store_ops sp__store_files; /* store_files.c: folders, one server */
extern const sp__store_ops sp__store_redis; /* store_redis.c: tasks-backend = redis:// */

#endif
