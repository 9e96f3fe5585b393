/*
 * master.c - the master process (see master.h and master_int.h).
 *
 * Signals arrive through a signalfd polled with the workers' pipes, the
 * control socket and the stats listener, so all supervision runs in one
 * plain loop with no async-signal-safety traps: a HUP, a dying worker, a
 * ready byte and a stats scrape are all just events.  The loop wakes at
 * least every 100 ms to read the scoreboard for harakiri deadlines.
 *
 * Start-up order: open the error log, adopt sockets systemd passed, bind
 * the rest, give unix sockets their owner, open the control and stats
 * sockets, write the pidfile, drop privileges, map the scoreboard, fork.
 * Everything that needs root happens before the drop; nothing after it.
 */
#include "server/master/master.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "server/master/control.h"
#include "server/lib/log.h"
#include "server/master/master_int.h"
#include "server/master/notify.h"
#include "server/master/ops.h"
#include "server/master/privs.h"
#include "server/lib/proctitle.h"
#include "server/master/stats.h"

#define TICK_MS        100
#define TOUCH_EVERY_MS 1000
#define MAX_POLL       512

void sp__m_signal_all(sp__master *m, int sig, int mark_retiring)
{
    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].pid <= 0)
            continue;
        if (mark_retiring)
            m->slots[i].retiring = 1;
        kill(m->slots[i].pid, sig);
    }
}

int sp__m_live(const sp__master *m)
{
    int n = 0;
    for (size_t i = 0; i < m->n_slots; i++)
        n += m->slots[i].pid > 0;
    return n;
}

void sp__m_begin_stop(sp__master *m, int how)
{
    if (m->stopping >= how)
        return;
    m->stopping = how;
    sp_log(SP_LOG_INFO, "%s stop requested", how == 1 ? "graceful" : "fast");
    sp__notify("STOPPING=1\nSTATUS=stopping");
    sp__m_signal_all(m, how == 1 ? SIGTERM : SIGINT, 1);
    m->stop_deadline = sp__now_ms() + (how == 1 ? m->cfg->graceful_timeout_ms + 1000 : 1000);
}

/* ---- signals --------------------------------------------------------------- */

static void reopen_logs(sp__master *m)
{
    if (sp__log_open(m->cfg->log_file, m->cfg->log_level) != 0)
        sp_log(SP_LOG_ERROR, "cannot reopen %s: %m", m->cfg->log_file);
    sp_log(SP_LOG_INFO, "log files reopened");
    sp__m_signal_all(m, SIGUSR1, 0);
}

static void on_signal(sp__master *m)
{
    struct signalfd_siginfo si;
    char why[128];
    while (read(m->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            sp__m_reap(m);
            break;
        case SIGTERM:
            sp__m_begin_stop(m, 1);
            break;
        case SIGINT:
        case SIGQUIT:
            sp__m_begin_stop(m, 2);
            break;
        case SIGHUP:
            sp__m_reload(m, -1, why, sizeof(why));
            break;
        case SIGUSR1:
            reopen_logs(m);
            break;
        case SIGTTIN:
        case SIGTTOU:
            if (sp__m_workers_delta(m, si.ssi_signo == SIGTTIN ? 1 : -1, why, sizeof(why)) != 0)
                sp_log(SP_LOG_WARN, "%s ignored: %s", si.ssi_signo == SIGTTIN ? "TTIN" : "TTOU",
                       why);
            break;
        default:
            break;
        }
    }
}

static int setup_signals(sp__master *m)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return SP_EINVAL;
    m->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return m->sfd < 0 ? -1 : 0;
}

/* ---- the loop ------------------------------------------------------------------ */

static void poll_once(sp__master *m)
{
    struct pollfd pfd[MAX_POLL];
    pid_t who[MAX_POLL];
    nfds_t n = 0, first_client = 3, first_worker;
    pfd[n++] = (struct pollfd){m->sfd, POLLIN, 0};
    pfd[n++] = (struct pollfd){m->control_fd, POLLIN, 0}; /* -1 is skipped by poll */
    pfd[n++] = (struct pollfd){m->stats_fd, POLLIN, 0};
    n = first_worker = sp__ops_poll_fds(m, pfd, n);
    for (size_t i = 0; i < m->n_slots && n < MAX_POLL; i++) {
        if (m->slots[i].fd >= 0) {
            who[n] = m->slots[i].pid;
            pfd[n++] = (struct pollfd){m->slots[i].fd, POLLIN, 0};
        }
    }
    if (poll(pfd, n, TICK_MS) <= 0)
        return;
    for (nfds_t i = first_worker; i < n; i++) {
        for (size_t j = 0; pfd[i].revents && j < m->n_slots; j++)
            if (m->slots[j].pid == who[i] && m->slots[j].fd == pfd[i].fd) {
                sp__m_on_message(m, &m->slots[j]);
                break;
            }
    }
    sp__ops_on_ready(m, pfd + first_client, first_worker - first_client);
    if (pfd[1].revents)
        sp__ops_accept(m, m->control_fd, SP__OPS_CONTROL);
    if (pfd[2].revents)
        sp__ops_accept(m, m->stats_fd, SP__OPS_STATS);
    if (pfd[0].revents)
        on_signal(m);
}

/* touch-reload: a changed modification time reloads, as HUP would. */
static void check_touch(sp__master *m)
{
    struct stat st;
    char why[128];
    long long now = sp__now_ms();
    if (m->cfg->touch_reload == NULL || now - m->touch_checked_ms < TOUCH_EVERY_MS)
        return;
    m->touch_checked_ms = now;
    if (stat(m->cfg->touch_reload, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == m->touch_mtime.tv_sec && st.st_mtim.tv_nsec == m->touch_mtime.tv_nsec)
        return;
    int first = m->touch_mtime.tv_sec == 0 && m->touch_mtime.tv_nsec == 0;
    m->touch_mtime = st.st_mtim;
    if (!first) {
        sp_log(SP_LOG_INFO, "%s changed: reloading", m->cfg->touch_reload);
        sp__m_reload(m, -1, why, sizeof(why));
    }
}

static void run_loop(sp__master *m)
{
    for (;;) {
        poll_once(m);
        sp__ops_sweep(m);
        sp__m_check_deadlines(m);
        sp__m_fork_scheduled(m);
        sp__m_tasks_tick(m);
        sp__m_autoscale(m);
        check_touch(m);
        if (m->stopping && sp__m_live(m) == 0)
            return;
        if (m->stopping && sp__now_ms() > m->stop_deadline) {
            sp_log(SP_LOG_WARN, "workers still running after the deadline; killing them");
            sp__m_signal_all(m, SIGKILL, 1);
            m->stop_deadline = sp__now_ms() + 60000;
        }
    }
}

/* ---- start-up and shut-down --------------------------------------------------- */

static void write_pidfile(const char *path)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f == NULL) {
        if (path)
            sp_log(SP_LOG_ERROR, "pidfile %s: %m", path);
        return;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
}

/* The stats show request paths and the server's inner state: on an
 * address others can reach, say so once (the operator may mean it, behind
 * a firewall, so it is a warning, not a refusal). */
static void warn_stats_reach(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    bool local = true;

    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        uint32_t a = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
        local = (a >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        local = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
    }
    if (!local)
        sp_log(SP_LOG_WARN,
               "stats: listening beyond loopback, so anyone who can reach it sees "
               "request paths and the server's state; keep it on 127.0.0.1 or a unix socket, "
               "or firewall it");
}

/* Sockets: adopted from systemd or bound, owned, plus control and stats. */
static int open_sockets(sp__master *m, char *err, size_t errlen)
{
    sp__listeners passed;
    const sp__config *cfg = m->cfg;

    sp__notify_adopt(cfg, &passed);
    int rc = sp__listen_open(&m->ls, &passed, cfg, err, errlen);
    sp__listen_close(&passed, 0); /* closes passed sockets no line took */
    if (rc != 0 || sp__privs_socket_owner(cfg, &m->ls, false, err, errlen) != 0)
        return SP_EINVAL;
    if (cfg->control && (strncmp(cfg->control, "unix:", 5) != 0 ||
                         (m->control_fd = sp__ops_listen("control", cfg->control, cfg->control_mode,
                                                         &m->control_path, err, errlen)) < 0)) {
        if (strncmp(cfg->control, "unix:", 5) != 0)
            snprintf(err, errlen, "control: '%s' is not unix:/path", cfg->control);
        return SP_EIO;
    }
    if (cfg->stats &&
        (m->stats_fd = sp__ops_listen("stats", cfg->stats, -1, &m->stats_path, err, errlen)) < 0)
        return SP_EIO;
    if (sp__privs_control_owner(cfg, m->control_path, err, errlen) != 0)
        return SP_EIO;
    sp__privs_give(cfg, m->stats_path);
    warn_stats_reach(m->stats_fd);
    sp__privs_warn(cfg);
    return 0;
}

static int start(sp__master *m, char *err, size_t errlen)
{
    const sp__config *cfg = m->cfg;
    if (open_sockets(m, err, errlen) != 0)
        return SP_EINVAL;
    if (setup_signals(m) != 0) {
        snprintf(err, errlen, "signals: %s", strerror(errno));
        return SP_EIO;
    }
    write_pidfile(cfg->pidfile);
    if (sp__privs_drop(cfg, err, errlen) != 0)
        return SP_EINVAL;
    if (cfg->preload) { /* as the user the workers run as, before any fork */
        long long t0 = sp__now_ms();
        if (sp__modules_preload(cfg, err, errlen) != 0) {
            m->exit_code = SP__EX_CONFIG;
            return SP_EINVAL;
        }
        sp_log(SP_LOG_INFO, "preload: %zu module(s) loaded in the master in %lld ms",
               cfg->n_modules, sp__now_ms() - t0);
    }
    /* + the IO loop's thread */
    m->sb = sp__sb_create(sp__processes_cap(cfg), sp__threads_cap(cfg) + 1);
    if (m->sb == NULL) {
        snprintf(err, errlen, "cannot map the scoreboard: %s", strerror(errno));
        return SP_EIO;
    }
    if (sp__m_tasks_start(m, err, errlen) != 0)
        return SP_EIO;
    m->target = sp__m_workers_for(m, cfg);
    char procs[48], threads[48];
    if (cfg->processes)
        snprintf(procs, sizeof(procs), "%d", m->target);
    else
        snprintf(procs, sizeof(procs), "auto (%d of %d-%d)", m->target, sp__processes_min(cfg),
                 sp__processes_cap(cfg));
    if (cfg->threads)
        snprintf(threads, sizeof(threads), "%d", cfg->threads);
    else
        snprintf(threads, sizeof(threads), "auto (%d-%d)", sp__threads_min(cfg),
                 sp__threads_cap(cfg));
    sp_log(SP_LOG_INFO, "spindle %s: %s workers x %s threads", SP_VERSION_STRING, procs, threads);
    for (int id = 1; id <= m->target; id++)
        if (sp__m_spawn(m, id, m->gen, 0, 0) != 0)
            sp__m_schedule(m, id, m->gen, 1, 0, 0);
    return 0;
}

static void teardown(sp__master *m)
{
    sp__listen_close(&m->ls, 1);
    if (m->pending)
        sp__listen_close(&m->ls_pending, 1);
    sp__ops_close_all(m);
    if (m->control_fd >= 0)
        close(m->control_fd);
    if (m->stats_fd >= 0)
        close(m->stats_fd);
    if (m->control_path)
        unlink(m->control_path);
    if (m->stats_path)
        unlink(m->stats_path);
    if (m->cfg->pidfile)
        unlink(m->cfg->pidfile);
    free(m->control_path);
    free(m->stats_path);
    sp__sb_destroy(m->sb);
    sp__m_tasks_stop(m);
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].fd >= 0)
            close(m->slots[i].fd);
    free(m->slots);
}

int sp__master_run(sp__config *cfg, int argc, char **argv)
{
    sp__master m = {.cfg = cfg,
                    .argc = argc,
                    .argv = argv,
                    .gen = 1,
                    .sfd = -1,
                    .control_fd = -1,
                    .stats_fd = -1,
                    .target = 0};
    char err[1024];

    sp__ops_init(&m);
    m.started_ms = sp__now_ms();
    sp__log_role("master");
    sp__proctitle_set("spindle: master");
    if (sp__log_open(cfg->log_file, cfg->log_level) != 0) {
        fprintf(stderr, "log-file %s: %s\n", cfg->log_file, strerror(errno));
        return 1;
    }
    if (start(&m, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "%s", err);
        m.exit_code = m.exit_code ? m.exit_code : 1;
    } else {
        run_loop(&m);
    }
    teardown(&m);
    sp_log(SP_LOG_INFO, "stopped");
    sp__config_free(m.cfg);
    free(m.cfg);
    if (m.pending) {
        sp__config_free(m.pending);
        free(m.pending);
    }
    return m.exit_code;
}
