/*
 * master.c - the master process (see master.h).
 *
 * Signals arrive through a signalfd polled with the workers' ready pipes,
 * so all supervision runs in one plain loop with no async-signal-safety
 * traps: a HUP, a dying worker and a ready byte are all just events.
 *
 * Reload (HUP) is make-before-break: the new generation of workers is
 * forked on the same listening sockets, and the old one is asked to finish
 * and exit only once every new worker reports ready.  If the new
 * generation cannot start (a bad config or module), it is abandoned and
 * the old one keeps serving.
 */
#include "server/master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/listen.h"
#include "server/log.h"
#include "server/proctitle.h"
#include "server/worker.h"

#define MAX_BACKOFF_MS 5000

typedef struct slot {
    pid_t pid;
    int id;
    int gen;
    int ready_fd; /* read end; -1 once ready */
    int ready;
    int retiring;
    long long started_ms;
} slot;

typedef struct master {
    sp__config *cfg;
    sp__config *pending; /* reload in progress: the new config */
    sp__listeners ls;
    sp__listeners ls_pending;
    int argc;
    char **argv;
    slot *slots;
    size_t n_slots, cap_slots;
    int gen;
    int sfd;
    int stopping; /* 0, 1 graceful, 2 fast */
    long long stop_deadline;
    int exit_code;
    int fails;              /* consecutive workers dying before ready */
    long long respawn_at;   /* backoff: no forks before this */
} master;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int add_slot(master *m, slot s)
{
    if (m->n_slots == m->cap_slots) {
        size_t cap = m->cap_slots ? m->cap_slots * 2 : 8;
        slot *v = realloc(m->slots, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        m->slots = v;
        m->cap_slots = cap;
    }
    m->slots[m->n_slots++] = s;
    return 0;
}

static void drop_slot(master *m, size_t i)
{
    if (m->slots[i].ready_fd >= 0)
        close(m->slots[i].ready_fd);
    m->slots[i] = m->slots[--m->n_slots];
}

/* In the child: let go of everything that belongs to the master. */
static void child_close_master_fds(master *m, sp__listeners *keep)
{
    close(m->sfd);
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].ready_fd >= 0)
            close(m->slots[i].ready_fd);
    sp__listeners *other = keep == &m->ls ? &m->ls_pending : &m->ls;
    for (size_t i = 0; i < other->n; i++) {
        int shared = 0;
        for (size_t j = 0; j < keep->n; j++)
            shared |= keep->v[j].fd == other->v[i].fd;
        if (!shared && other->v[i].fd >= 0)
            close(other->v[i].fd);
    }
}

static int spawn(master *m, const sp__config *cfg, sp__listeners *ls, int id, int gen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        sp_log(SP_LOG_ERROR, "fork: %m");
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        child_close_master_fds(m, ls);
        sp__worker_run(cfg, ls, id, p[1]);
    }
    close(p[1]);
    slot s = {pid, id, gen, p[0], 0, 0, now_ms()};
    if (add_slot(m, s) != 0) {
        kill(pid, SIGKILL);
        close(p[0]);
        return -1;
    }
    return 0;
}

static void signal_gen(master *m, int gen, int sig, int mark_retiring)
{
    for (size_t i = 0; i < m->n_slots; i++) {
        if (gen >= 0 && m->slots[i].gen != gen)
            continue;
        if (mark_retiring)
            m->slots[i].retiring = 1;
        kill(m->slots[i].pid, sig);
    }
}

static void begin_stop(master *m, int how)
{
    if (m->stopping >= how)
        return;
    m->stopping = how;
    sp_log(SP_LOG_INFO, "%s stop requested", how == 1 ? "graceful" : "fast");
    signal_gen(m, -1, how == 1 ? SIGTERM : SIGINT, 1);
    m->stop_deadline = now_ms() + (how == 1 ? m->cfg->graceful_timeout_ms + 1000 : 1000);
}

/* ---- reload -------------------------------------------------------------- */

static void abandon_reload(master *m, const char *why)
{
    sp_log(SP_LOG_ERROR, "reload abandoned: %s; the running workers keep serving", why);
    signal_gen(m, m->gen, SIGKILL, 1);
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
    m->gen--;
}

static void begin_reload(master *m)
{
    char err[1024];
    enum sp__action action;
    if (m->pending != NULL || m->stopping) {
        sp_log(SP_LOG_WARN, "reload ignored: %s", m->stopping ? "stopping" : "one is running");
        return;
    }
    sp__config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || sp__config_load(cfg, m->argc, m->argv, &action, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "reload refused: %s", cfg ? err : "out of memory");
        free(cfg);
        return;
    }
    if (sp__listen_open(&m->ls_pending, &m->ls, cfg, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "reload refused: %s", err);
        sp__config_free(cfg);
        free(cfg);
        return;
    }
    sp_log(SP_LOG_INFO, "reloading: starting %d new workers", cfg->processes);
    m->pending = cfg;
    m->gen++;
    for (int id = 1; id <= cfg->processes; id++)
        if (spawn(m, cfg, &m->ls_pending, id, m->gen) != 0) {
            abandon_reload(m, "cannot fork");
            return;
        }
}

/* Every new worker is ready: retire the old generation. */
static void finish_reload(master *m)
{
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].gen == m->gen && !m->slots[i].ready)
            return;
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].gen != m->gen && !m->slots[i].retiring) {
            m->slots[i].retiring = 1;
            kill(m->slots[i].pid, SIGTERM);
        }
    sp__listen_close(&m->ls, 1); /* only sockets the new config dropped are still open here */
    m->ls = m->ls_pending;
    memset(&m->ls_pending, 0, sizeof(m->ls_pending));
    sp__config_free(m->cfg);
    free(m->cfg);
    m->cfg = m->pending;
    m->pending = NULL;
    sp_log(SP_LOG_INFO, "reload done: generation %d serving", m->gen);
}

/* ---- supervision ----------------------------------------------------------- */

static void on_ready(master *m, slot *s)
{
    char b;
    ssize_t n = read(s->ready_fd, &b, 1);
    close(s->ready_fd);
    s->ready_fd = -1;
    if (n == 1) {
        s->ready = 1;
        m->fails = 0;
        if (m->pending != NULL && s->gen == m->gen)
            finish_reload(m);
    }
}

static void respawn(master *m, int id, int died_early)
{
    if (died_early) {
        long long delay = 100LL << (m->fails < 6 ? m->fails : 6);
        m->fails++;
        m->respawn_at = now_ms() + (delay > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay);
    }
    /* Forked from the loop once respawn_at passes; remember the id. */
    slot s = {0, id, m->gen, -1, 0, 0, 0};
    add_slot(m, s);
}

static void reaped(master *m, size_t i, int status)
{
    slot s = m->slots[i];
    drop_slot(m, i);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (s.retiring || m->stopping)
        return;
    if (!s.ready && code == SP__EX_CONFIG) {
        if (m->pending != NULL && s.gen == m->gen) {
            abandon_reload(m, "a new worker could not start (see above)");
            return;
        }
        sp_log(SP_LOG_ERROR, "worker %d could not start (configuration error); stopping", s.id);
        m->exit_code = SP__EX_CONFIG;
        begin_stop(m, 2);
        return;
    }
    if (WIFSIGNALED(status))
        sp_log(SP_LOG_ERROR, "worker %d (pid %d) killed by signal %d (%s); replacing it", s.id,
               (int)s.pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        sp_log(SP_LOG_ERROR, "worker %d (pid %d) exited with code %d; replacing it", s.id,
               (int)s.pid, code);
    respawn(m, s.id, !s.ready);
}

static void reap(master *m)
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

/* Fork the workers that respawn() scheduled, once the backoff allows. */
static void fork_scheduled(master *m)
{
    if (m->stopping || now_ms() < m->respawn_at)
        return;
    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].pid != 0)
            continue;
        int id = m->slots[i].id;
        drop_slot(m, i);
        /* During a reload m->cfg is still the running generation's. */
        if (spawn(m, m->cfg, &m->ls, id, m->pending ? m->gen - 1 : m->gen) != 0)
            respawn(m, id, 1);
        return; /* one per pass: the slot array moved */
    }
}

static void on_signal(master *m)
{
    struct signalfd_siginfo si;
    while (read(m->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(m);
            break;
        case SIGTERM:
            begin_stop(m, 1);
            break;
        case SIGINT:
        case SIGQUIT:
            begin_stop(m, 2);
            break;
        case SIGHUP:
            begin_reload(m);
            break;
        case SIGUSR1:
            sp__log_open(m->cfg->log_file, m->cfg->log_level);
            signal_gen(m, -1, SIGUSR1, 0);
            break;
        default:
            break;
        }
    }
}

static int live_workers(const master *m)
{
    int n = 0;
    for (size_t i = 0; i < m->n_slots; i++)
        n += m->slots[i].pid != 0;
    return n;
}

static void poll_once(master *m)
{
    struct pollfd pfd[1 + 256];
    slot *who[1 + 256];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){m->sfd, POLLIN, 0};
    for (size_t i = 0; i < m->n_slots && n < 257; i++) {
        if (m->slots[i].ready_fd >= 0) {
            who[n] = &m->slots[i];
            pfd[n++] = (struct pollfd){m->slots[i].ready_fd, POLLIN, 0};
        }
    }
    if (poll(pfd, n, 100) <= 0)
        return;
    for (nfds_t i = 1; i < n; i++)
        if (pfd[i].revents)
            on_ready(m, who[i]);
    if (pfd[0].revents)
        on_signal(m);
}

static int setup_signals(master *m)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    m->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return m->sfd < 0 ? -1 : 0;
}

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

static void run_loop(master *m)
{
    for (;;) {
        poll_once(m);
        fork_scheduled(m);
        if (m->stopping && live_workers(m) == 0)
            return;
        if (m->stopping && now_ms() > m->stop_deadline) {
            sp_log(SP_LOG_WARN, "workers still running after the deadline; killing them");
            signal_gen(m, -1, SIGKILL, 1);
            m->stop_deadline = now_ms() + 60000;
        }
    }
}

int sp__master_run(sp__config *cfg, int argc, char **argv)
{
    master m = {.cfg = cfg, .argc = argc, .argv = argv, .gen = 1, .sfd = -1};
    char err[1024];

    sp__log_role("master");
    sp__proctitle_set("spindle: master");
    if (sp__log_open(cfg->log_file, cfg->log_level) != 0) {
        fprintf(stderr, "log-file %s: %s\n", cfg->log_file, strerror(errno));
        return 1;
    }
    if (sp__listen_open(&m.ls, NULL, cfg, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "%s", err);
        return 1;
    }
    if (setup_signals(&m) != 0) {
        sp_log(SP_LOG_ERROR, "signals: %m");
        return 1;
    }
    write_pidfile(cfg->pidfile);
    sp_log(SP_LOG_INFO, "spindle %s: %d workers x %d threads", SP_VERSION_STRING, cfg->processes,
           cfg->threads);
    for (int id = 1; id <= cfg->processes; id++)
        if (spawn(&m, cfg, &m.ls, id, m.gen) != 0)
            respawn(&m, id, 1);
    run_loop(&m);
    sp__listen_close(&m.ls, 1);
    if (m.pending)
        sp__listen_close(&m.ls_pending, 1);
    if (m.cfg->pidfile)
        unlink(m.cfg->pidfile);
    sp_log(SP_LOG_INFO, "stopped");
    sp__config_free(m.cfg);
    free(m.cfg);
    free(m.slots);
    return m.exit_code;
}
