/*
 * spooler.c - a spooler process, and the master's recovery of the tasks a
 * dead spooler held (see spooler.h).
 *
 * One task at a time per spooler, in the process's main thread: a task
 * that crashes takes only its own spooler down, the master can tell which
 * task did it (the one its spool slot holds), and more parallelism is
 * simply more spoolers.  How a task is claimed and waited for is the
 * store's (store.h); the retry policy for a dead spooler's task is here,
 * the same whichever backend holds it.
 */
#include "app/tasks/spooler.h"

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "app/tasks/store.h"
#include "app/tasks/tasks.h"
#include "server/lib/crash.h"
#include "server/lib/log.h"
#include "server/lib/proctitle.h"
#include "server/lib/sigs.h"

#define SCAN_MS        100
#define MAX_BACKOFF_MS (60LL * 1000)

/* The process's signals are blocked and taken between tasks (sigs.h), so
 * none cuts a task's system call short. */
static sigset_t held;
static bool stop_asked;

/* Take the signals that arrived, waiting up to wait_ms for one: the
 * spooler's only sleep, so a stop never waits out a pause. */
static void take_signals(sp_app *app, long wait_ms)
{
    const sp__config *cfg = app->cfg;
    struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
    int sig;

    while ((sig = sigtimedwait(&held, NULL, &ts)) > 0) {
        if (sig == SIGTERM || sig == SIGUSR2) {
            stop_asked = true;
        } else if (sig == SIGUSR1) {
            if (sp__log_open(cfg->log_file, cfg->log_level) != 0)
                sp_log(SP_LOG_ERROR, "cannot reopen %s: %m", cfg->log_file);
            sp__app_reopen_logs(app);
        } else {
            _exit(0); /* INT, QUIT: the task its slot holds is recovered */
        }
        ts = (struct timespec){0, 0}; /* after one, only take what else is there */
    }
}

/* Claim and run one task; 0 after a store error (the loop pauses). */
static int run_one(sp_app *app, sp__spool_slot *slot)
{
    sp__taskrec rec;
    int rc = sp__spool_claim(app->cfg, slot, SCAN_MS, &rec);
    if (rc != SP_OK)
        return rc == SP_ENOENT; /* it waited already; back off only on errors */
    sp_log(SP_LOG_DEBUG, "running task %s (%s)", rec.id, rec.name);
    sp__tasks_run(app, &rec);
    sp__spool_ack(app->cfg, slot);
    sp__rec_free(&rec);
    return 1;
}

static void loop(sp_app *app, sp__spool_slot *slot)
{
    while (!stop_asked) {
        take_signals(app, 0);
        if (!stop_asked && !run_one(app, slot))
            take_signals(app, SCAN_MS); /* a store error: pause, awake to signals */
    }
}

_Noreturn void sp__spooler_run(const sp__spooler_start *st)
{
    const sp__config *cfg = st->cfg;
    char role[32], err[1024];
    sp__spool_slot slot;
    sp_app *app = NULL;

    snprintf(role, sizeof(role), "spooler %d", st->n);
    sp__log_role(role);
    sp__crash_install(role);
    sp__proctitle_set("spindle: spooler %d", st->n);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (sp__sigs_hold(&held) != 0) {
        sp_log(SP_LOG_ERROR, "cannot block signals: %m");
        _exit(1);
    }
    if (sp__spool_open(cfg, &slot, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "%s", err);
        _exit(1);
    }
    if (sp__app_load(&app, cfg, err, sizeof(err)) != 0) {
        sp_log(SP_LOG_ERROR, "%s", err);
        _exit(SP__EX_CONFIG);
    }
    if (write(st->master_fd, "R", 1) != 1)
        _exit(1);
    loop(app, &slot);
    sp__app_free(app);
    sp__spool_close(cfg, &slot);
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

void sp__spool_recover(const sp__config *cfg, pid_t pid, const char *why)
{
    sp__spool_orphans(cfg, (int)pid, why, settle_orphan);
}

void sp__spool_keep_lease(const sp__config *cfg)
{
    sp__spool_lease(cfg, settle_orphan);
}
