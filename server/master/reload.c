/*
 * reload.c - HUP, touch-reload and spindle ctl reload (see master_int.h).
 *
 * Make-before-break in both modes: the new generation is forked on the
 * same listening sockets, and an old worker is told to stop only once its
 * replacement reports ready.  "all" starts every new worker at once and
 * retires the old generation when all are ready (twice the workers for a
 * moment); "chain" replaces one worker at a time, each old one retired as
 * soon as its successor is ready (one extra worker at a time, slower).
 * A new generation that cannot start is abandoned and the old keeps
 * serving; in a chain, workers already replaced are put back.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/tasks/store.h"
#include "server/lib/log.h"
#include "server/master/master_int.h"
#include "server/master/notify.h"
#include "server/master/privs.h"

/* The live, not retiring, old-generation worker with number id, or 0. */
static pid_t old_worker(const sp__master *m, int id)
{
    for (size_t i = 0; i < m->n_slots; i++) {
        const sp__mslot *s = &m->slots[i];
        if (s->id == id && s->gen != m->gen && !s->retiring && s->pid > 0)
            return s->pid;
    }
    return 0;
}

static int spawn_next(sp__master *m)
{
    int id = m->chain_next;
    return sp__m_spawn(m, id, m->gen, old_worker(m, id), 0);
}

/* The scoreboard is mapped once, at start, before the first fork (every
 * process shares it), with a slot per worker for twice the most workers
 * the start's config may run, plus spare, and an entry per thread for the
 * most threads a worker may run.  A reload runs the new workers beside the
 * old ones: refuse one whose sizes do not fit, rather than start workers
 * that go unwatched (harakiri, stats) or fail for want of a slot. */
static bool fits(const sp__master *m, const sp__config *cfg, char *err, size_t errlen)
{
    size_t live = 0;
    for (size_t i = 0; i < m->n_slots; i++)
        live += m->slots[i].sb >= 0;
    size_t need = live + (size_t)sp__processes_cap(cfg);
    size_t threads = (size_t)sp__threads_cap(cfg) + 1; /* + the main thread */
    if (need > m->sb->n_slots) {
        snprintf(err, errlen,
                 "processes%s = %d: with the %zu running, that is %zu workers at once, and this "
                 "master has room for %zu; a restart sizes it for the new value",
                 cfg->processes ? "" : "-max", sp__processes_cap(cfg), live, need, m->sb->n_slots);
        return false;
    }
    if (threads > m->sb->thread_cap) {
        snprintf(err, errlen,
                 "threads%s = %d: this master watches at most %zu threads per worker; a restart "
                 "sizes it for the new value",
                 cfg->threads ? "" : "-max", sp__threads_cap(cfg), m->sb->thread_cap - 1);
        return false;
    }
    return true;
}

int sp__m_reload(sp__master *m, int chain, char *why, size_t whylen)
{
    char err[1024]; /* the details, for the log; why is the short reason */
    enum sp__action action;
    if (m->pending != NULL || m->stopping) {
        snprintf(why, whylen, "%s", m->stopping ? "stopping" : "a reload is already running");
        sp_log(SP_LOG_WARN, "reload ignored: %s", why);
        return SP_ESTATE;
    }
    sp__config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || sp__config_load(cfg, m->argc, m->argv, &action, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "reload refused: %s", cfg ? err : "out of memory");
        free(cfg);
        snprintf(why, whylen, "the configuration does not load (see the error log)");
        return SP_EINVAL;
    }
    if (!fits(m, cfg, err, sizeof(err))) {
        sp_log(SP_LOG_ERROR, "reload refused: %s", err);
        sp__config_free(cfg);
        free(cfg);
        snprintf(why, whylen, "the new sizes need a restart (see the error log)");
        return SP_EINVAL;
    }
    if (sp__taskstore_prepare(cfg, m->cfg, err, sizeof(err)) != 0 ||
        sp__listen_open(&m->ls_pending, &m->ls, cfg, err, sizeof(err)) != 0 ||
        sp__privs_socket_owner(cfg, &m->ls_pending, true, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "reload refused: %s", err);
        sp__config_free(cfg);
        free(cfg);
        snprintf(why, whylen, "cannot listen or open the task store (see the error log)");
        return SP_EIO;
    }
    m->chain_mode = chain < 0 ? cfg->reload_mode == SP__RELOAD_CHAIN : chain;
    m->pending_target = sp__m_workers_for(m, cfg);
    sp_log(SP_LOG_INFO, "reloading (%s): starting %d new workers", m->chain_mode ? "chain" : "all",
           m->pending_target);
    sp__notify("RELOADING=1\nSTATUS=reloading");
    m->pending = cfg;
    m->gen++;
    int first = m->chain_mode ? 1 : m->pending_target;
    for (m->chain_next = 1; m->chain_next <= first; m->chain_next++)
        if (spawn_next(m) != 0) {
            sp__m_reload_abandon(m, "cannot fork");
            snprintf(why, whylen, "cannot fork");
            return SP_ENOMEM;
        }
    m->chain_next = 1; /* chain: the worker number being replaced */
    return 0;
}

static void finish(sp__master *m)
{
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].gen != m->gen && !m->slots[i].retiring)
            sp__m_retire(m, &m->slots[i], m->cfg->graceful_timeout_ms + 2000);
    sp__listen_close(&m->ls, 1); /* only sockets the new config dropped are still open here */
    m->ls = m->ls_pending;
    memset(&m->ls_pending, 0, sizeof(m->ls_pending));
    sp__config_free(m->cfg);
    free(m->cfg);
    m->cfg = m->pending;
    m->pending = NULL;
    m->target = m->pending_target;
    m->chain_next = 0;
    sp_log(SP_LOG_INFO, "reload done: generation %d serving", m->gen);
    sp__notify("READY=1\nSTATUS=serving: %d workers", m->target);
}

void sp__m_reload_progress(sp__master *m)
{
    if (m->chain_mode) {
        if (m->chain_next < m->pending_target) {
            m->chain_next++;
            if (spawn_next(m) != 0)
                sp__m_reload_abandon(m, "cannot fork");
            return;
        }
    } else {
        for (size_t i = 0; i < m->n_slots; i++)
            if (m->slots[i].gen == m->gen && !m->slots[i].ready)
                return;
    }
    finish(m);
}

void sp__m_reload_abandon(sp__master *m, const char *why)
{
    sp_log(SP_LOG_ERROR, "reload abandoned: %s; the running workers keep serving", why);
    for (size_t i = 0; i < m->n_slots; i++) {
        sp__mslot *s = &m->slots[i];
        if (s->gen != m->gen)
            continue;
        if (s->ready) /* a chain already swapped it in: let it finish */
            sp__m_retire(m, s, m->pending->graceful_timeout_ms + 2000);
        else if (s->pid > 0)
            kill(s->pid, SIGKILL), s->retiring = 1;
    }
    for (size_t i = 0; i < m->ls_pending.n; i++) {
        /* hand back sockets that were shared with the running set */
        for (size_t j = 0; j < m->ls.n; j++)
            if (m->ls.v[j].fd < 0 && strcmp(m->ls.v[j].text, m->ls_pending.v[i].text) == 0) {
                m->ls.v[j].fd = m->ls_pending.v[i].fd;
                m->ls_pending.v[i].fd = -1;
            }
    }
    sp__listen_close(&m->ls_pending, 1);
    sp__config_free(m->pending);
    free(m->pending);
    m->pending = NULL;
    m->chain_next = 0; /* m->gen stays: generation numbers only grow */
    sp__m_top_up(m);   /* old workers a chain retired come back */
    sp__notify("READY=1\nSTATUS=serving: %d workers (reload abandoned)", m->target);
}
