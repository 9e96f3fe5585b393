/*
 * store.c - the one place that picks the task store backend (store.h).
 *
 * The choice follows the config alone: tasks-backend set means Redis,
 * else files.  Every call asks backend() rather than caching a table, so
 * a config loaded by a reload (or a unit test's own config) gets its own
 * backend with no state to keep in step; the test is one pointer.
 *
 * Ids are checked here, once, before any backend sees them: an id from a
 * client (GET /_tasks/ID) must never become a path or a key of its choice.
 */
#include "app/tasks/store.h"

static const sp__store_ops *backend(const sp__config *cfg)
{
    return cfg->tasks_backend ? &sp__store_redis : &sp__store_files;
}

int sp__taskstore_prepare(sp__config *cfg, const sp__config *prev, char *err, size_t errlen)
{
    return backend(cfg)->prepare(cfg, prev, err, errlen);
}

void sp__taskstore_cleanup(const sp__config *cfg)
{
    backend(cfg)->cleanup(cfg);
}

int sp__state_write(const sp__config *cfg, const sp__taskrec *r)
{
    return backend(cfg)->state_write(cfg, r);
}

int sp__state_read(const sp__config *cfg, const char *id, sp__taskrec *r)
{
    if (id == NULL || !sp__task_id_ok(id))
        return SP_ENOENT;
    return backend(cfg)->state_read(cfg, id, r);
}

void sp__state_remove(const sp__config *cfg, const char *id)
{
    if (id != NULL && sp__task_id_ok(id))
        backend(cfg)->state_remove(cfg, id);
}

void sp__state_sweep(const sp__config *cfg)
{
    backend(cfg)->state_sweep(cfg);
}

bool sp__spool_accepts(const sp__config *cfg)
{
    return backend(cfg)->spool_accepts(cfg);
}

int sp__spoolers_wanted(const sp__config *cfg)
{
    return backend(cfg)->spool_runs(cfg) ? cfg->spoolers : 0;
}

int sp__spool_put(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms)
{
    return backend(cfg)->spool_put(cfg, r, not_before_ms);
}

int sp__spool_open(const sp__config *cfg, sp__spool_slot *slot, char *err, size_t errlen)
{
    return backend(cfg)->spool_open(cfg, slot, err, errlen);
}

void sp__spool_close(const sp__config *cfg, const sp__spool_slot *slot)
{
    backend(cfg)->spool_close(cfg, slot);
}

int sp__spool_claim(const sp__config *cfg, sp__spool_slot *slot, int wait_ms, sp__taskrec *r)
{
    return backend(cfg)->spool_claim(cfg, slot, wait_ms, r);
}

void sp__spool_ack(const sp__config *cfg, sp__spool_slot *slot)
{
    backend(cfg)->spool_ack(cfg, slot);
}

void sp__spool_orphans(const sp__config *cfg, int pid, const char *why, sp__orphan_fn *settle)
{
    backend(cfg)->spool_orphans(cfg, pid, why, settle);
}

int sp__spool_depth(const sp__config *cfg, long *queued)
{
    return backend(cfg)->spool_depth(cfg, queued);
}

void sp__spool_lease(const sp__config *cfg, sp__orphan_fn *settle)
{
    backend(cfg)->spool_lease(cfg, settle);
}

int sp__spool_claim_due(const sp__config *cfg, const char *line, int64_t due)
{
    return backend(cfg)->cron_claim(cfg, line, due);
}
