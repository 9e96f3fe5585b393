/*
 * check.c - spindle -t: everything a start does, short of serving.
 *
 * A config that passes -t must start, so -t does what a worker does before
 * it serves: in a child process it loads every module as a worker would
 * and runs their init_worker hooks, which resolves every middleware line,
 * route line and module setting; it then resolves each [cron] line's job
 * as a spooler would.  The parent checks the files and folders the config
 * names, as the master would open them, and the users and groups it names.
 * In a child because module code runs: a module that crashes while loading
 * takes only the child down, and nothing a hook leaves behind (threads,
 * descriptors) stays in the checker.
 */
#include "server/master/check.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/app.h"
#include "app/tasks/cron.h"
#include "server/lib/log.h"
#include "server/master/privs.h"

/* In the child: what a worker (and a spooler) does before it serves. */
static int check_app(const sp__config *cfg, char *err, size_t errlen)
{
    sp_app *app = NULL;
    int rc = cfg->preload ? sp__modules_preload(cfg, err, errlen) : 0; /* as the master would */
    if (rc == 0)
        rc = sp__app_load(&app, cfg, err, errlen);
    if (rc == 0)
        rc = sp__cron_check_jobs(app, cfg, err, errlen);
    sp__app_free(app);
    return rc;
}

static void child(const sp__config *cfg, int fd)
{
    char err[1024] = "";
    sp__log_role("check");
    int rc = check_app(cfg, err, sizeof(err));
    if (rc != 0 && write(fd, err, strlen(err)) < 0) {
        /* the parent then reports the exit code alone */
    }
    _exit(rc == 0 ? 0 : SP__EX_CONFIG);
}

static int run_child(const sp__config *cfg, char *err, size_t errlen)
{
    int p[2], status = 0;
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "-t: pipe: %s", strerror(errno));
        return SP_EIO;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(cfg, p[1]);
    }
    close(p[1]);
    ssize_t n = pid > 0 ? read(p[0], err, errlen - 1) : -1;
    err[n > 0 ? n : 0] = '\0';
    close(p[0]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        snprintf(err, errlen, "-t: cannot run the check: %s", strerror(errno));
        return SP_EIO;
    }
    if (WIFSIGNALED(status)) {
        snprintf(err, errlen, "a module crashed while loading (%s); the log above names it",
                 strsignal(WTERMSIG(status)));
        return SP_EINVAL;
    }
    if (WEXITSTATUS(status) != 0 && err[0] == '\0')
        snprintf(err, errlen, "loading the modules failed (exit %d)", WEXITSTATUS(status));
    return WEXITSTATUS(status) == 0 ? 0 : SP_EINVAL;
}

/* A folder the server will write into: there and writable (or, with
 * create, a writable parent to make it in). */
static int folder_ok(const char *key, const char *path, int create, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || access(path, W_OK | X_OK) != 0) {
            snprintf(err, errlen, "%s: %s is not a folder this user may write in", key, path);
            return SP_EINVAL;
        }
        return 0;
    }
    char *copy = strdup(path);
    int ok = create && copy && access(dirname(copy), W_OK | X_OK) == 0;
    free(copy);
    if (!ok)
        snprintf(err, errlen, "%s: %s: %s", key, path, strerror(errno ? errno : ENOENT));
    return ok ? 0 : SP_ENOENT;
}

/* The files and folders of [server] and [tasks], as the master uses them. */
static int check_files(const sp__config *cfg, char *err, size_t errlen)
{
    struct stat st;
    if (sp__privs_check(cfg, err, errlen) != 0)
        return SP_EINVAL;
    if (cfg->log_file) {
        int fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            snprintf(err, errlen, "log-file: cannot open %s: %s", cfg->log_file, strerror(errno));
            return SP_EIO;
        }
        close(fd);
    }
    if (cfg->pidfile) {
        char *copy = strdup(cfg->pidfile);
        int rc = copy ? folder_ok("pidfile", dirname(copy), 0, err, errlen) : SP_ENOMEM;
        free(copy);
        if (rc != 0)
            return rc;
    }
    if (cfg->body_temp_path && folder_ok("body-temp-path", cfg->body_temp_path, 0, err, errlen))
        return SP_EINVAL;
    if (cfg->touch_reload && stat(cfg->touch_reload, &st) != 0) {
        snprintf(err, errlen, "touch-reload: %s: %s (it must exist when the server starts)",
                 cfg->touch_reload, strerror(errno));
        return SP_ENOENT;
    }
    if (cfg->spool && folder_ok("spool", cfg->spool, 1, err, errlen))
        return SP_EINVAL;
    return 0;
}

int sp__check_config(const sp__config *cfg, char *err, size_t errlen)
{
    int rc = check_files(cfg, err, errlen);
    return rc != 0 ? rc : run_child(cfg, err, errlen);
}
