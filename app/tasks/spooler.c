/*
 * spooler.c - a spooler process, and the master's recovery of the tasks a
 * dead spooler held (see spooler.h).
 *
 * One task at a time per spooler, in the process's main thread: a task
 * that crashes takes only its own spooler down, the master can tell which
 * task did it (the one file in running-PID/), and more parallelism is
 * simply more spoolers.  The queue folder is scanned every 100 ms; file
 * names start with the time a task may run from, so the smallest due name
 * is the oldest task, and a retried task waits out its backoff in place.
 */
#include "app/tasks/spooler.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "app/tasks/store_redis.h"
#include "app/tasks/tasks.h"
#include "server/lib/log.h"
#include "server/lib/proctitle.h"

#define SCAN_MS 100
#define MAX_BACKOFF_MS (60LL * 1000)

/* Set by signal handlers, read by the loop: the only way a handler may
 * talk to it.  One spooler per process, so file scope is that process's. */
static volatile sig_atomic_t stop_asked, reopen_asked;

static void on_term(int sig) { stop_asked = 1; }
static void on_usr1(int sig) { reopen_asked = 1; }
static void on_fast(int sig) { _exit(0); } /* the task left in running/ is recovered */

static void setup_signals(void)
{
    struct sigaction sa = {0};
    sigset_t none;
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_fast;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The due queue entry with the smallest name into best; 0 if none. */
static int pick(const char *queue, char *best, size_t len)
{
    char now[32];
    DIR *d = opendir(queue);
    snprintf(now, sizeof(now), "%013" PRId64, sp__unix_ms());
    best[0] = '\0';
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= len || strncmp(e->d_name, now, 13) > 0)
            continue;
        if (best[0] == '\0' || strcmp(e->d_name, best) < 0)
            snprintf(best, len, "%s", e->d_name);
    }
    if (d)
        closedir(d);
    return best[0] != '\0';
}

static void set_aside(const sp__config *cfg, const char *path, const char *name)
{
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s/bad/%s", cfg->spool_dir, name);
    sp_log(SP_LOG_ERROR, "spool: %s is not a whole task file; moved to %s", path, bad);
    rename(path, bad);
}

/* tasks-backend: claim into the processing list (waiting a moment), run,
 * ack; 0 if none came. */
static int run_one_redis(sp_app *app, const char *processing)
{
    sp__taskrec rec;
    int rc = sp__redis_claim(app->cfg, processing, SCAN_MS, &rec);
    if (rc != SP_OK)
        return rc == SP_ENOENT ? 1 : 0; /* it waited already; back off only on errors */
    sp_log(SP_LOG_DEBUG, "running task %s (%s)", rec.id, rec.name);
    sp__tasks_run(app, &rec);
    sp__redis_ack(app->cfg, processing, rec.id);
    sp__rec_free(&rec);
    return 1;
}

/* Claim and run one due task; 0 if there was none. */
static int run_one(sp_app *app, const char *running)
{
    const sp__config *cfg = app->cfg;
    if (cfg->tasks_backend)
        return run_one_redis(app, running);
    char queue[4096], name[256], from[4400], to[4400];
    sp__taskrec rec;
    snprintf(queue, sizeof(queue), "%s/queue", cfg->spool_dir);
    if (!pick(queue, name, sizeof(name)))
        return 0;
    snprintf(from, sizeof(from), "%s/%s", queue, name);
    snprintf(to, sizeof(to), "%s/%s", running, name);
    if (rename(from, to) != 0)
        return 1; /* another spooler took it: look again */
    int rc = sp__rec_read(to, &rec);
    if (rc == SP_EINVAL) {
        set_aside(cfg, to, name);
        return 1;
    }
    if (rc != SP_OK)
        return 1;
    sp_log(SP_LOG_DEBUG, "running task %s (%s)", rec.id, rec.name);
    sp__tasks_run(app, &rec);
    sp__rec_free(&rec);
    unlink(to);
    return 1;
}

static void loop(sp_app *app, const char *running)
{
    const sp__config *cfg = app->cfg;
    struct timespec pause = {0, SCAN_MS * 1000000L};
    while (!stop_asked) {
        if (reopen_asked) {
            reopen_asked = 0;
            if (sp__log_open(cfg->log_file, cfg->log_level) != 0)
                sp_log(SP_LOG_ERROR, "cannot reopen %s: %m", cfg->log_file);
            sp__app_reopen_logs(app);
        }
        if (!run_one(app, running))
            nanosleep(&pause, NULL);
    }
}

_Noreturn void sp__spooler_run(const sp__spooler_start *st)
{
    const sp__config *cfg = st->cfg;
    char role[32], err[1024], running[4096];
    sp_app *app = NULL;

    snprintf(role, sizeof(role), "spooler %d", st->n);
    sp__log_role(role);
    sp__proctitle_set("spindle: spooler %d", st->n);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    setup_signals();
    if (cfg->tasks_backend)
        sp__redis_processing_key(running, sizeof(running), (int)getppid(), (int)getpid());
    else
        snprintf(running, sizeof(running), "%s/running-%d", cfg->spool_dir, (int)getpid());
    if (!cfg->tasks_backend && mkdir(running, 0750) != 0 && errno != EEXIST) {
        sp_log(SP_LOG_ERROR, "cannot make %s: %m", running);
        _exit(1);
    }
    if (sp__app_load(&app, cfg, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "%s", err);
        _exit(SP__EX_CONFIG);
    }
    if (write(st->master_fd, "R", 1) != 1)
        _exit(1);
    loop(app, running);
    sp__app_free(app);
    if (!cfg->tasks_backend)
        rmdir(running);
    exit(0);
}

/* ---- master: recovery ---------------------------------------------------- */

/* A task whose spooler died: back in the queue with one more attempt and a
 * backoff, or failed with the reason after task-retries. */
static int settle_orphan(const sp__config *cfg, sp__taskrec *r, const char *why)
{
    sp__taskrec rec = *r;
    int rc;
    rec.attempts++;
    rec.updated_ms = sp__unix_ms();
    if (rec.attempts > cfg->task_retries) {
        sp__taskrec st = rec;
        st.state = SP_TASK_FAILED;
        st.body = NULL, st.len = 0;
        snprintf(st.error, sizeof(st.error), "%s; gave up after %d attempts", why, rec.attempts);
        sp_log(SP_LOG_ERROR, "task %s (%s): %s", rec.id, rec.name, st.error);
        rc = sp__state_write(cfg, &st);
    } else {
        int64_t delay = 1000LL << (rec.attempts - 1 < 6 ? rec.attempts - 1 : 6);
        delay = delay > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay;
        snprintf(rec.error, sizeof(rec.error), "%s; retry %d of %d", why, rec.attempts,
                 cfg->task_retries);
        sp_log(SP_LOG_WARN, "task %s (%s): %s in %" PRId64 " ms", rec.id, rec.name, rec.error,
               delay);
        rec.state = SP_TASK_QUEUED;
        sp__taskrec st = rec;
        st.body = NULL, st.len = 0;
        rc = sp__state_write(cfg, &st);
        if (rc == SP_OK)
            rc = sp__spool_put(cfg, &rec, rec.updated_ms + delay);
    }
    return rc;
}

static void requeue(const sp__config *cfg, const char *path, const char *name, const char *why)
{
    sp__taskrec rec;
    int rc = sp__rec_read(path, &rec);
    if (rc != SP_OK) {
        if (rc == SP_EINVAL)
            set_aside(cfg, path, name);
        return;
    }
    if (settle_orphan(cfg, &rec, why) == SP_OK)
        unlink(path); /* else it stays, and the next start tries again */
    sp__rec_free(&rec);
}

static void recover_dir(const sp__config *cfg, const char *dir, const char *why)
{
    char path[4096];
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        requeue(cfg, path, e->d_name, why);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

void sp__spool_recover(const sp__config *cfg, pid_t pid, const char *why)
{
    char dir[4096];
    if (cfg->tasks_backend)
        sp__redis_recover(cfg, (int)pid, why, settle_orphan);
    if (cfg->spool_dir == NULL)
        return;
    if (pid > 0) {
        snprintf(dir, sizeof(dir), "%s/running-%d", cfg->spool_dir, (int)pid);
        recover_dir(cfg, dir, why);
        return;
    }
    DIR *d = opendir(cfg->spool_dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "running-", 8) != 0)
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", cfg->spool_dir, e->d_name);
        recover_dir(cfg, dir, why);
    }
    if (d)
        closedir(d);
}
