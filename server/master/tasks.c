/*
 * tasks.c - the master's share of background tasks (master_int.h).
 *
 * The master runs no task and loads no module; it owns what must be
 * decided once for the whole server: where the task store is (settled
 * before the first fork so every process agrees), putting back spooled
 * tasks that a killed server left half-run, keeping `spoolers` spooler
 * processes alive, firing [cron] lines, and deleting expired task states.
 */
#include <stdio.h>

#include "app/tasks/store.h"
#include "app/tasks/cron.h"
#include "server/lib/log.h"
#include "server/master/master_int.h"
#include "app/tasks/spooler.h"

#define SWEEP_EVERY_MS (60 * 1000)

int sp__m_tasks_start(sp__master *m, char *err, size_t errlen)
{
    if (sp__taskstore_prepare(m->cfg, NULL, err, errlen) != 0)
        return -1;
    sp__spool_recover(m->cfg, 0, "the server stopped while it ran");
    sp__spool_keep_lease(m->cfg); /* before the first spooler claims a task */
    m->lease_at = sp__now_ms() + m->cfg->task_lease_ms / 3;
    m->cron_cfg = m->cfg;
    return sp__cron_new(&m->cron, m->cfg, err, errlen);
}

static int has_spooler(const sp__master *m, int n)
{
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].spooler == n && !m->slots[i].retiring)
            return 1;
    return 0;
}

/* A crashing spooler is rescheduled with backoff by supervise.c (its slot
 * stays, with pid 0); this only fills numbers that have no slot at all:
 * at start, after a reload retired the old ones. */
static void top_up_spoolers(sp__master *m)
{
    int want = sp__spoolers_wanted(m->cfg);
    for (int n = 1; n <= want; n++)
        if (!has_spooler(m, n) && sp__m_spawn_spooler(m, n, 0) != 0)
            return; /* try again on the next pass */
}

static void rebuild_cron(sp__master *m)
{
    char err[512];
    sp__cron_free(m->cron);
    m->cron = NULL;
    m->cron_cfg = m->cfg;
    if (sp__cron_new(&m->cron, m->cfg, err, sizeof(err)) != 0)
        sp_log(SP_LOG_ERROR, "[cron] is off after the reload: %s", err);
}

void sp__m_tasks_tick(sp__master *m)
{
    long long now = sp__now_ms();
    /* renewed while stopping too: spoolers finishing their task still
     * hold it */
    if (now >= m->lease_at) {
        m->lease_at = now + m->cfg->task_lease_ms / 3;
        sp__spool_keep_lease(m->cfg);
    }
    if (m->stopping)
        return;
    top_up_spoolers(m);
    if (m->cron_cfg != m->cfg)
        rebuild_cron(m);
    sp__cron_tick(m->cron, m->cfg);
    if (now >= m->sweep_at) {
        m->sweep_at = now + SWEEP_EVERY_MS;
        sp__state_sweep(m->cfg);
    }
}

void sp__m_tasks_stop(sp__master *m)
{
    sp__cron_free(m->cron);
    m->cron = NULL;
    sp__taskstore_cleanup(m->cfg);
}
