/*
 * log.c - error log (see log.h).
 *
 * The state is process-wide on purpose: a log line can come from any
 * thread, from module code that has no context object to pass, and the
 * descriptor swap on reopen is one dup3() over the same number.
 */
#include "server/lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spindle/spindle.h"

static _Atomic int log_fd = STDERR_FILENO;
static _Atomic int log_level = SP_LOG_INFO;
static char log_role[32] = "master";

int sp__log_fd(void)
{
    return atomic_load(&log_fd);
}

void sp__log_role(const char *role)
{
    snprintf(log_role, sizeof(log_role), "%s", role);
}

int sp__log_open(const char *path, int level)
{
    atomic_store(&log_level, level);
    if (path == NULL)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return SP_EIO;
    int cur = atomic_load(&log_fd);
    if (cur > STDERR_FILENO) {
        /* Reopen (USR1): dup2 swaps the file under the same descriptor
         * number in one step, so a thread writing right now writes to the
         * old file or the new one, never to a closed or reused descriptor. */
        int rc = dup3(fd, cur, O_CLOEXEC);
        close(fd);
        return rc < 0 ? -1 : 0;
    }
    atomic_store(&log_fd, fd);
    return 0;
}

void sp__logv(int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    int saved = errno;

    if (level > atomic_load(&log_level))
        return;
    if (level < SP_LOG_ERROR || level > SP_LOG_DEBUG)
        level = SP_LOG_ERROR;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %s %d: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level], log_role, (int)getpid());
    errno = saved; /* for %m */
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    if (write(atomic_load(&log_fd), line, len) < 0) {
        /* the log is the last resort; nothing to tell */
    }
    errno = saved;
}
