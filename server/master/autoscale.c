/*
 * autoscale.c - processes = auto: the master sizes the worker pool.
 *
 * Every SAMPLE_MS the master reads each serving worker off the
 * scoreboard, and its CPU time off /proc.  A worker is saturated when
 * requests wait in its queue, when every handler thread it may have is
 * inside a request, or when it used at least BUSY_CPU of one CPU (a
 * worker whose requests run on the IO loop's thread fills a CPU long
 * before its threads).
 *
 * The rule, in docs/operations.md: a worker is added when every worker
 * has been saturated for processes-busy, up to processes-max; one is
 * retired, gracefully, when one worker fewer would have carried the load
 * at half its capacity (threads and CPU) for processes-idle, down to
 * processes-min.  After either change the pool holds still for
 * processes-busy, so the next decision sees the new size.  Retiring goes
 * the way of a reload (USR2): the worker answers what is on its way and
 * closes, so no request fails.
 */
#include <stdio.h>

#include "server/lib/log.h"
#include "server/lib/procfs.h"
#include "server/master/master_int.h"
#include "server/master/notify.h"

#define SAMPLE_MS 250
#define BUSY_CPU  0.9 /* of one CPU: a worker this busy is saturated */
#define SPARE_CPU 0.5 /* per worker: at most this much left, one is retired */

/* One sample of the pool. */
typedef struct load {
    int workers, saturated;
    long busy, queue, threads; /* threads: what the workers may run at once */
    double cpu;                /* CPUs' worth used since the last sample */
} load;

static bool serving(const sp__master *m, const sp__mslot *s)
{
    return s->pid > 0 && s->ready && !s->retiring && !s->spooler && s->sb >= 0 && s->gen == m->gen;
}

static void sample(sp__master *m, long long now, load *l)
{
    *l = (load){0};
    for (size_t i = 0; i < m->n_slots; i++) {
        sp__mslot *s = &m->slots[i];
        if (!serving(m, s))
            continue;
        sp__sb_slot *sl = sp__sb_slot_at(m->sb, (size_t)s->sb);
        int cap = atomic_load(&sl->threads_max);
        long busy = 0;
        for (int t = 0; t < atomic_load(&sl->n_threads); t++)
            busy += atomic_load(&sl->threads[t].start_ns) != 0;
        long queue = (long)atomic_load(&sl->queue);
        long long cpu = sp__cpu_ms(s->pid);
        double used = 0;
        if (cpu >= 0 && s->cpu_at > 0 && now > s->cpu_at)
            used = (double)(cpu - s->cpu_ms) / (double)(now - s->cpu_at);
        s->cpu_ms = cpu;
        s->cpu_at = now;
        l->workers++;
        l->busy += busy;
        l->queue += queue;
        l->threads += cap;
        l->cpu += used;
        l->saturated += queue > 0 || busy >= cap || used >= BUSY_CPU;
    }
}

static void change(sp__master *m, int delta, long long now, const char *why)
{
    char err[128];
    if (sp__m_workers_delta(m, delta, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_DEBUG, "processes = auto: no change (%s)", err);
        return;
    }
    sp_log(SP_LOG_INFO, "processes = auto: %s worker %d: %s", delta > 0 ? "added" : "retired",
           delta > 0 ? m->target : m->target + 1, why);
    snprintf(m->as.last, sizeof(m->as.last), "%s", why);
    if (delta > 0)
        m->as.added++;
    else
        m->as.retired++;
    m->as.hold_until = now + m->cfg->processes_busy_ms;
    m->as.saturated_since = m->as.spare_since = 0;
}

void sp__m_autoscale(sp__master *m)
{
    const sp__config *cfg = m->cfg;
    long long now = sp__now_ms();
    load l;
    char why[sizeof(m->as.last)];

    if (cfg->processes != 0 || m->pending != NULL || m->stopping || now < m->as.next_ms)
        return;
    m->as.next_ms = now + SAMPLE_MS;
    sample(m, now, &l);
    if (l.workers == 0 || l.workers < m->target || now < m->as.hold_until) {
        m->as.saturated_since = m->as.spare_since = 0; /* still starting, or just changed */
        return;
    }
    /* Saturated: every worker, continuously. */
    if (l.saturated < l.workers)
        m->as.saturated_since = 0;
    else if (m->as.saturated_since == 0)
        m->as.saturated_since = now;
    /* Spare: one worker fewer would be at most half busy, continuously. */
    int fewer = l.workers - 1;
    bool spare = fewer >= 1 && l.saturated == 0 && l.queue == 0 &&
                 l.busy * l.workers * 2 <= l.threads * fewer && l.cpu <= SPARE_CPU * fewer;
    if (!spare)
        m->as.spare_since = 0;
    else if (m->as.spare_since == 0)
        m->as.spare_since = now;

    if (m->as.saturated_since && now - m->as.saturated_since >= cfg->processes_busy_ms &&
        m->target < sp__processes_cap(cfg)) {
        snprintf(why, sizeof(why),
                 "all %d saturated for %lld ms (%ld waiting, %ld of %ld threads busy, %.1f CPUs)",
                 l.workers, now - m->as.saturated_since, l.queue, l.busy, l.threads, l.cpu);
        change(m, +1, now, why);
    } else if (m->as.spare_since && now - m->as.spare_since >= cfg->processes_idle_ms &&
               m->target > sp__processes_min(cfg)) {
        snprintf(why, sizeof(why),
                 "%d would have been enough for %lld ms (%ld of %ld threads busy, %.1f CPUs)",
                 fewer, now - m->as.spare_since, l.busy, l.threads, l.cpu);
        change(m, -1, now, why);
    }
}

int sp__m_workers_for(const sp__master *m, const sp__config *cfg)
{
    if (cfg->processes != 0)
        return cfg->processes;
    int n = m->target, lo = sp__processes_min(cfg), hi = sp__processes_cap(cfg);
    return n < lo ? lo : n > hi ? hi : n;
}
