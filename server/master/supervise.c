/*
 * supervise.c - the master's workers: fork, reap, replace (see master_int.h).
 *
 * Every replacement is make-before-break except for a worker that is
 * already dead: a recycled worker (max-requests, lifetime, RSS) keeps
 * serving until its successor reports ready on the pipe, and only then is
 * told to stop; a harakiri'd worker stops accepting at once (it is stuck)
 * while its successor starts, and is killed after harakiri-mercy.
 *
 * Crash loops are bounded: a worker that dies before it is ready is
 * respawned after an exponential backoff, and after respawn-limit such
 * deaths in a row the master gives up and exits non-zero.  No fork storm.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/lib/log.h"
#include "server/master/master_int.h"
#include "server/master/notify.h"
#include "server/master/ops.h"
#include "app/tasks/spooler.h"
#include "server/worker/worker.h"

#define MAX_BACKOFF_MS  5000
#define RETIRE_SLACK_MS 2000

const sp__config *sp__m_cfg_of(const sp__master *m, int gen)
{
    return m->pending != NULL && gen == m->gen ? m->pending : m->cfg;
}

static sp__listeners *ls_of(sp__master *m, int gen)
{
    return m->pending != NULL && gen == m->gen ? &m->ls_pending : &m->ls;
}

static sp__mslot *add_slot(sp__master *m, sp__mslot s)
{
    if (m->n_slots == m->cap_slots) {
        size_t cap = m->cap_slots ? m->cap_slots * 2 : 8;
        sp__mslot *v = realloc(m->slots, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        m->slots = v;
        m->cap_slots = cap;
    }
    m->slots[m->n_slots] = s;
    return &m->slots[m->n_slots++];
}

static void drop_slot(sp__master *m, size_t i)
{
    if (m->slots[i].fd >= 0)
        close(m->slots[i].fd);
    if (m->slots[i].sb >= 0)
        sp__sb_slot_free(m->sb, (size_t)m->slots[i].sb);
    m->slots[i] = m->slots[--m->n_slots];
}

static sp__mslot *by_pid(sp__master *m, pid_t pid)
{
    for (size_t i = 0; pid > 0 && i < m->n_slots; i++)
        if (m->slots[i].pid == pid)
            return &m->slots[i];
    return NULL;
}

/* In the child: let go of everything that belongs to the master. */
static void close_master_fds(sp__master *m, sp__listeners *keep)
{
    close(m->sfd);
    if (m->control_fd >= 0)
        close(m->control_fd);
    if (m->stats_fd >= 0)
        close(m->stats_fd);
    sp__ops_forget(m); /* else a client waits for our EOF as long as we live */
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].fd >= 0)
            close(m->slots[i].fd);
    sp__listeners *other = keep == &m->ls ? &m->ls_pending : &m->ls;
    for (size_t i = 0; i < other->n; i++) {
        int shared = 0;
        for (size_t j = 0; j < keep->n; j++)
            shared |= keep->v[j].fd == other->v[i].fd;
        if (!shared && other->v[i].fd >= 0)
            close(other->v[i].fd);
    }
}

int sp__m_spawn(sp__master *m, int id, int gen, pid_t succeeds, int respawns)
{
    int p[2], sb = sp__sb_slot_take(m->sb, id);
    if (sb < 0) {
        sp_log(SP_LOG_ERROR, "no free scoreboard slot for worker %d", id);
        return -1;
    }
    if (pipe2(p, O_CLOEXEC) != 0) {
        sp__sb_slot_free(m->sb, (size_t)sb);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        sp__worker_start st = {sp__m_cfg_of(m, gen), ls_of(m, gen), id, p[1], m->sb, sb};
        close(p[0]);
        close_master_fds(m, st.ls);
        sp__worker_run(&st);
    }
    close(p[1]);
    sp__mslot s = {pid, id,       gen,      p[0],         sb, 0, 0, 0,
                   0,   succeeds, respawns, sp__now_ms(), 0,  0, 0, 0};
    if (pid < 0 || add_slot(m, s) == NULL) {
        sp_log(SP_LOG_ERROR, "cannot start worker %d: %s", id,
               pid < 0 ? strerror(errno) : "ENOMEM");
        if (pid > 0)
            kill(pid, SIGKILL);
        close(p[0]);
        sp__sb_slot_free(m->sb, (size_t)sb);
        return -1;
    }
    atomic_store(&sp__sb_slot_at(m->sb, (size_t)sb)->pid, pid);
    return 0;
}

int sp__m_spawn_spooler(sp__master *m, int n, int respawns)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        sp__spooler_start st = {m->cfg, n, p[1]};
        close(p[0]);
        close_master_fds(m, &m->ls);
        for (size_t i = 0; i < m->ls.n; i++) /* spoolers serve no requests */
            if (m->ls.v[i].fd >= 0)
                close(m->ls.v[i].fd);
        sp__spooler_run(&st);
    }
    close(p[1]);
    sp__mslot s = {pid, n, 0, p[0], -1, 0, 0, 0, 0, 0, respawns, sp__now_ms(), 0, n, 0, 0};
    if (pid < 0 || add_slot(m, s) == NULL) {
        sp_log(SP_LOG_ERROR, "cannot start spooler %d: %s", n,
               pid < 0 ? strerror(errno) : "ENOMEM");
        if (pid > 0)
            kill(pid, SIGKILL);
        close(p[0]);
        return -1;
    }
    return 0;
}

/* 100 ms, doubling with each early death in a row, up to 5 s. */
static long long backoff_ms(int fails)
{
    long long delay = 100LL << (fails < 6 ? fails : 6);
    return delay > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay;
}

/* One more early death: push respawns back, or give up (-1). */
static int count_failure(sp__master *m)
{
    long long delay = backoff_ms(m->fails);
    if (++m->fails >= m->cfg->respawn_limit) {
        sp_log(SP_LOG_ERROR,
               "giving up: %d workers in a row died before they were ready "
               "(respawn-limit %d); see the messages above",
               m->fails, m->cfg->respawn_limit);
        m->exit_code = 1;
        sp__m_begin_stop(m, 2);
        return -1;
    }
    m->respawn_at = sp__now_ms() + delay;
    return 0;
}

void sp__m_schedule(sp__master *m, int id, int gen, int died_early, pid_t succeeds, int respawns)
{
    if (died_early && count_failure(m) != 0)
        return;
    /* Forked from the loop once respawn_at passes. */
    sp__mslot s = {0, id, gen, -1, -1, 0, 0, 0, 0, succeeds, respawns, 0, 0, 0, 0, 0};
    add_slot(m, s);
}

static void schedule_spooler(sp__master *m, int n, int died_early, int respawns)
{
    if (died_early && count_failure(m) != 0)
        return;
    sp__mslot s = {0, n, 0, -1, -1, 0, 0, 0, 0, 0, respawns, 0, 0, n, 0, 0};
    add_slot(m, s);
}

/* Fork the workers sp__m_schedule() queued, once the backoff allows. */
void sp__m_fork_scheduled(sp__master *m)
{
    if (m->stopping || sp__now_ms() < m->respawn_at)
        return;
    for (size_t i = 0; i < m->n_slots; i++) {
        sp__mslot s = m->slots[i];
        if (s.pid != 0)
            continue;
        drop_slot(m, i);
        if (s.spooler && sp__m_spawn_spooler(m, s.spooler, s.respawns) != 0)
            schedule_spooler(m, s.spooler, 1, s.respawns);
        else if (!s.spooler && sp__m_spawn(m, s.id, s.gen, s.succeeds, s.respawns) != 0)
            sp__m_schedule(m, s.id, s.gen, 1, s.succeeds, s.respawns);
        else if (m->fails > 0) /* while crashing, one fork per backoff step */
            m->respawn_at = sp__now_ms() + backoff_ms(m->fails - 1);
        return; /* one per pass: the slot array moved */
    }
}

void sp__m_retire(sp__master *m, sp__mslot *s, long long grace_ms)
{
    if (s->pid <= 0)
        return;
    /* USR2 tells a worker that others serve on: it keeps its idle
     * keep-alive connections for their next request (worker.c, retire). */
    if (!s->retiring)
        kill(s->pid, s->spooler ? SIGTERM : SIGUSR2);
    s->retiring = 1;
    long long at = sp__now_ms() + grace_ms;
    if (s->kill_at == 0 || at < s->kill_at)
        s->kill_at = at;
}

/* What the dead worker's threads were running, from the scoreboard. */
static void running_text(sp__master *m, const sp__mslot *s, char *buf, size_t len)
{
    sp__sb_slot *sl = s->sb >= 0 ? sp__sb_slot_at(m->sb, (size_t)s->sb) : NULL;
    size_t n = 0;
    uint64_t now = (uint64_t)sp__now_ms();

    buf[0] = '\0';
    for (int t = 0; sl && t < atomic_load(&sl->n_threads) && n + 8 < len; t++) {
        uint64_t start = atomic_load(&sl->threads[t].start_ns);
        if (start == 0)
            continue;
        int w =
            snprintf(buf + n, len - n, "%s%.96s (thread %d, %llu ms)", n ? ", " : " while running ",
                     sl->threads[t].request, t + 1, (unsigned long long)(now - start / 1000000));
        n += w > 0 ? (size_t)w : 0;
    }
}

static bool has_successor(sp__master *m, pid_t pid)
{
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].succeeds == pid && !m->slots[i].retiring) {
            m->slots[i].succeeds = 0;
            return true;
        }
    return false;
}

static void log_death(sp__master *m, const sp__mslot *s, int status, const char *then)
{
    char running[512];
    running_text(m, s, running, sizeof(running));
    if (WIFSIGNALED(status))
        sp_log(SP_LOG_ERROR, "worker %d (pid %d) killed by signal %d (%s)%s; %s", s->id,
               (int)s->pid, WTERMSIG(status), strsignal(WTERMSIG(status)), running, then);
    else
        sp_log(SP_LOG_ERROR, "worker %d (pid %d) exited with code %d%s; %s", s->id, (int)s->pid,
               WEXITSTATUS(status), running, then);
}

/* A spooler is gone: the task it held goes back to the queue (or fails
 * after task-retries), then a replacement starts, with backoff if it died
 * before it was ready. */
static void spooler_reaped(sp__master *m, size_t i, int status)
{
    sp__mslot s = m->slots[i];
    char why[160];
    if (WIFSIGNALED(status))
        snprintf(why, sizeof(why),
                 "spooler %d (pid %d) was killed by signal %d (%s) while "
                 "running it",
                 s.id, (int)s.pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(why, sizeof(why), "spooler %d (pid %d) exited with code %d while running it", s.id,
                 (int)s.pid, WEXITSTATUS(status));
    sp__spool_recover(m->cfg, s.pid, why);
    drop_slot(m, i);
    if (s.retiring || m->stopping)
        return;
    if (!s.ready && WIFEXITED(status) && WEXITSTATUS(status) == SP__EX_CONFIG) {
        sp_log(SP_LOG_ERROR, "spooler %d could not start (configuration error); stopping", s.id);
        m->exit_code = SP__EX_CONFIG;
        sp__m_begin_stop(m, 2);
        return;
    }
    sp_log(SP_LOG_ERROR, "spooler %d (pid %d) %s %d; replacing it", s.id, (int)s.pid,
           WIFSIGNALED(status) ? "killed by signal" : "exited with code",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    schedule_spooler(m, s.id, !s.ready, s.respawns + 1);
}

static void reaped(sp__master *m, size_t i, int status)
{
    sp__mslot s = m->slots[i];
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

    if (s.spooler) {
        spooler_reaped(m, i, status);
        return;
    }
    if (s.retiring || m->stopping) {
        drop_slot(m, i);
        return;
    }
    if (!s.ready && m->pending != NULL && s.gen == m->gen) {
        log_death(m, &s, status, "abandoning the reload");
        drop_slot(m, i);
        sp__m_reload_abandon(m, "a new worker could not start (see above)");
        return;
    }
    if (!s.ready && code == SP__EX_CONFIG) {
        drop_slot(m, i);
        sp_log(SP_LOG_ERROR, "worker %d could not start (configuration error); stopping", s.id);
        m->exit_code = SP__EX_CONFIG;
        sp__m_begin_stop(m, 2);
        return;
    }
    log_death(m, &s, status, "replacing it");
    drop_slot(m, i);
    atomic_fetch_add(&m->sb->respawns_total, 1);
    int wanted = m->pending && m->pending_target > m->target ? m->pending_target : m->target;
    if (s.id > wanted || has_successor(m, s.pid))
        return; /* removed by TTOU, or its successor is on the way */
    sp__m_schedule(m, s.id, s.gen, !s.ready, s.ready ? 0 : s.succeeds, s.respawns + 1);
}

void sp__m_reap(sp__master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < m->n_slots; i++) {
            if (m->slots[i].pid == pid) {
                reaped(m, i, status);
                break;
            }
        }
    }
}

static void on_ready(sp__master *m, sp__mslot *s)
{
    s->ready = 1;
    m->fails = 0;
    sp__mslot *old = by_pid(m, s->succeeds);
    s->succeeds = 0;
    if (old != NULL)
        sp__m_retire(m, old, sp__m_cfg_of(m, old->gen)->graceful_timeout_ms + RETIRE_SLACK_MS);
    if (m->pending != NULL && s->gen == m->gen && !s->spooler)
        sp__m_reload_progress(m);
    if (!m->announced && m->pending == NULL && sp__m_live(m) >= m->target) {
        int all = 1;
        for (size_t i = 0; i < m->n_slots; i++)
            all &= m->slots[i].ready || m->slots[i].retiring;
        if (all) {
            m->announced = 1;
            sp__notify("READY=1\nSTATUS=serving: %d workers", m->target);
        }
    }
}

/* A worker asks to be recycled: start its successor; it stops once the
 * successor is ready. */
static void on_recycle(sp__master *m, sp__mslot *s)
{
    if (s->retiring || s->recycling || m->stopping || m->pending != NULL)
        return;
    s->recycling = 1;
    m->recycles++;
    sp_log(SP_LOG_INFO, "recycling worker %d (pid %d): starting its replacement", s->id,
           (int)s->pid);
    if (sp__m_spawn(m, s->id, s->gen, s->pid, s->respawns + 1) != 0)
        s->recycling = 0; /* try again on its next request */
}

void sp__m_on_message(sp__master *m, sp__mslot *s)
{
    char buf[16];
    pid_t pid = s->pid;
    ssize_t n = read(s->fd, buf, sizeof(buf));
    if (n <= 0) {
        close(s->fd);
        s->fd = -1;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        s = by_pid(m, pid); /* the slot array may move under spawn() */
        if (s == NULL)
            return;
        if (buf[i] == 'R')
            on_ready(m, s);
        else if (buf[i] == 'X')
            on_recycle(m, s);
    }
}

/* ---- deadlines ------------------------------------------------------------ */

/* The busy thread of s past its harakiri deadline, or -1. */
static int overdue_thread(sp__master *m, const sp__mslot *s, int harakiri_ms, uint64_t now_ns,
                          uint64_t *elapsed_ms)
{
    sp__sb_slot *sl = sp__sb_slot_at(m->sb, (size_t)s->sb);
    for (int t = 0; t < atomic_load(&sl->n_threads); t++) {
        uint64_t start = atomic_load(&sl->threads[t].start_ns);
        if (start != 0 && now_ns > start && (now_ns - start) / 1000000 > (uint64_t)harakiri_ms) {
            *elapsed_ms = (now_ns - start) / 1000000;
            return t;
        }
    }
    return -1;
}

static void harakiri(sp__master *m, sp__mslot *s, int t, uint64_t elapsed_ms)
{
    const sp__config *cfg = sp__m_cfg_of(m, s->gen);
    sp__sb_slot *sl = sp__sb_slot_at(m->sb, (size_t)s->sb);
    pid_t pid = s->pid;

    sp_log(SP_LOG_ERROR,
           "harakiri: worker %d (pid %d) thread %d has run %.96s for %llu ms "
           "(harakiri %d ms); replacing the worker, killing it in %d ms",
           s->id, (int)pid, t + 1, sl->threads[t].request, (unsigned long long)elapsed_ms,
           cfg->harakiri_ms, cfg->harakiri_mercy_ms);
    atomic_fetch_add(&m->sb->harakiri_total, 1);
    s->harakiri = 1;
    if (!s->retiring && !m->stopping && !has_successor(m, pid)) {
        int id = s->id, gen = s->gen, respawns = s->respawns + 1;
        sp__m_retire(m, s, cfg->harakiri_mercy_ms);
        sp__m_spawn(m, id, gen, 0, respawns); /* may move the slot array */
        return;
    }
    sp__m_retire(m, s, cfg->harakiri_mercy_ms);
}

static void check_harakiri(sp__master *m)
{
    uint64_t now_ns = sp__now_ns(), elapsed;

    for (size_t i = 0; i < m->n_slots; i++) {
        sp__mslot *s = &m->slots[i];
        int limit = sp__m_cfg_of(m, s->gen)->harakiri_ms;
        if (limit == 0 || s->pid <= 0 || s->harakiri || s->sb < 0)
            continue;
        int t = overdue_thread(m, s, limit, now_ns, &elapsed);
        if (t >= 0) {
            harakiri(m, s, t, elapsed);
            return; /* the slot array may have moved; the rest next pass */
        }
    }
}

void sp__m_check_deadlines(sp__master *m)
{
    long long now = sp__now_ms();
    check_harakiri(m);
    for (size_t i = 0; i < m->n_slots; i++) {
        sp__mslot *s = &m->slots[i];
        if (s->pid > 0 && s->kill_at && now >= s->kill_at) {
            sp_log(SP_LOG_WARN, "worker %d (pid %d) did not stop in time; killing it", s->id,
                   (int)s->pid);
            kill(s->pid, SIGKILL);
            s->kill_at = 0;
        }
    }
}

/* ---- worker count ---------------------------------------------------------- */

static bool has_worker(const sp__master *m, int id)
{
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].id == id && !m->slots[i].retiring && !m->slots[i].spooler)
            return true;
    return false;
}

void sp__m_top_up(sp__master *m)
{
    for (int id = 1; id <= m->target && !m->stopping; id++)
        if (!has_worker(m, id) && sp__m_spawn(m, id, m->gen, 0, 0) != 0)
            sp__m_schedule(m, id, m->gen, 1, 0, 0);
}

int sp__m_workers_delta(sp__master *m, int delta, char *err, size_t errlen)
{
    if (m->pending != NULL || m->stopping) {
        snprintf(err, errlen, "%s", m->stopping ? "stopping" : "a reload is running");
        return SP_ESTATE;
    }
    int want = m->target + delta;
    if (want < 1 || (size_t)want * 2 > m->sb->n_slots) {
        snprintf(err, errlen, "%s",
                 want < 1 ? "at least one worker stays" : "no room on the scoreboard for more");
        return SP_E2BIG;
    }
    for (int id = m->target; id > want; id--)
        for (size_t i = 0; i < m->n_slots; i++) {
            sp__mslot *s = &m->slots[i];
            if (s->spooler)
                continue;
            if (s->id == id && !s->retiring && s->pid > 0)
                sp__m_retire(m, s, m->cfg->graceful_timeout_ms + RETIRE_SLACK_MS);
            else if (s->id == id && s->pid == 0)
                drop_slot(m, i--);
        }
    m->target = want;
    sp__m_top_up(m);
    sp_log(SP_LOG_INFO, "workers: %d", want);
    sp__notify("STATUS=serving: %d workers", want);
    return 0;
}
