/*
 * test_log.c - unit tests for server/lib/log.c, the error log every
 * process and thread writes to.
 *
 * What the file proves: lines below log-level are dropped; a line carries
 * the UTC time, the level, the process's role and pid, and the message,
 * and is always exactly one line, however long the message; %m reports
 * the caller's errno, which the call leaves as it was; reopening (USR1
 * after logrotate renamed the file) sends the next lines to the new file
 * and none to the old; lines written by many threads at once never
 * interleave.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/lib/log.h"
#include "spindle/spindle.h"

static char dir[64], path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/sp_log_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/error.log", dir);
}

static void teardown(void)
{
    char p[160];
    snprintf(p, sizeof p, "%s.1", path);
    unlink(p);
    unlink(path);
    rmdir(dir);
}

TestSuite(log, .init = setup, .fini = teardown);

static void logf_(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp__logv(level, fmt, ap);
    va_end(ap);
}

/* The whole file; the caller frees it. */
static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap + 1);
    cr_assert_not_null(s);
    size_t got;
    while ((got = fread(s + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            s = realloc(s, cap + 1);
            cr_assert_not_null(s);
        }
    }
    fclose(f);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(log, lines_below_the_level_are_dropped)
{
    cr_assert_eq(sp__log_open(path, SP_LOG_WARN), 0);
    logf_(SP_LOG_DEBUG, "a debug line");
    logf_(SP_LOG_INFO, "an info line");
    logf_(SP_LOG_WARN, "a warn line");
    logf_(SP_LOG_ERROR, "an error line");
    char *s = slurp(path, NULL);
    cr_assert_eq(count_lines(s), 2, "%s", s);
    cr_assert_null(strstr(s, "debug line"));
    cr_assert_null(strstr(s, "info line"));
    cr_assert_not_null(strstr(s, "[warn]"));
    cr_assert_not_null(strstr(s, "[error]"));
    free(s);
}

/* "2026-12-04T16:47:13.123Z [warn] worker 3 4242: message" */
Test(log, a_line_says_when_what_and_who)
{
    char want_tail[128], stamp[32];
    struct tm tm;

    cr_assert_eq(sp__log_open(path, SP_LOG_INFO), 0);
    sp__log_role("worker 3");
    logf_(SP_LOG_WARN, "disk %s at %d%%", "full", 99);
    char *s = slurp(path, NULL);
    cr_assert_eq(count_lines(s), 1, "%s", s);

    snprintf(want_tail, sizeof want_tail, " [warn] worker 3 %d: disk full at 99%%\n",
             (int)getpid());
    size_t n = strlen(s), t = strlen(want_tail);
    cr_assert(n > t && strcmp(s + n - t, want_tail) == 0, "'%s' does not end in '%s'", s,
              want_tail);
    /* The stamp is UTC with milliseconds, and is now. */
    cr_assert_eq(n - t, 24, "stamp '%.*s'", (int)(n - t), s);
    snprintf(stamp, sizeof stamp, "%.*s", 19, s);
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    cr_assert(end && *end == '\0', "stamp '%s'", stamp);
    cr_assert(s[19] == '.' && s[23] == 'Z', "stamp '%.24s'", s);
    long long skew = (long long)timegm(&tm) - (long long)time(NULL);
    cr_assert(skew >= -5 && skew <= 1, "stamp '%.24s' is %lld s off", s, skew);
    free(s);
}

/* A message longer than the line buffer is cut, but stays one line. */
Test(log, a_long_message_is_still_one_line)
{
    size_t big = 10000;
    char *msg = malloc(big + 1);

    cr_assert_not_null(msg);
    memset(msg, 'x', big);
    msg[big] = '\0';
    cr_assert_eq(sp__log_open(path, SP_LOG_INFO), 0);
    logf_(SP_LOG_ERROR, "%s", msg);
    logf_(SP_LOG_ERROR, "after");
    size_t len;
    char *s = slurp(path, &len);
    cr_assert_eq(count_lines(s), 2);
    char *nl = strchr(s, '\n');
    cr_assert_lt((size_t)(nl - s), (size_t)2048, "the first line is %zu bytes", (size_t)(nl - s));
    cr_assert_not_null(strstr(nl + 1, "after\n"));
    free(s);
    free(msg);
}

Test(log, percent_m_is_the_callers_errno)
{
    cr_assert_eq(sp__log_open(path, SP_LOG_INFO), 0);
    errno = ENOENT;
    logf_(SP_LOG_ERROR, "open x: %m");
    cr_assert_eq(errno, ENOENT, "logging changed errno");
    char *s = slurp(path, NULL);
    cr_assert_not_null(strstr(s, "open x: No such file or directory\n"), "%s", s);
    free(s);
}

/* logrotate renames the file, then USR1 reopens the configured path. */
Test(log, reopen_goes_on_in_the_new_file)
{
    char rotated[160];

    cr_assert_eq(sp__log_open(path, SP_LOG_INFO), 0);
    logf_(SP_LOG_ERROR, "before rotation");
    snprintf(rotated, sizeof rotated, "%s.1", path);
    cr_assert_eq(rename(path, rotated), 0);
    logf_(SP_LOG_ERROR, "still the old file");
    cr_assert_eq(sp__log_open(path, SP_LOG_INFO), 0);
    logf_(SP_LOG_ERROR, "after rotation");

    char *old = slurp(rotated, NULL), *now = slurp(path, NULL);
    cr_assert_eq(count_lines(old), 2, "%s", old);
    cr_assert_not_null(strstr(old, "before rotation"));
    cr_assert_not_null(strstr(old, "still the old file"));
    cr_assert_eq(count_lines(now), 1, "%s", now);
    cr_assert_not_null(strstr(now, "after rotation"));
    free(old);
    free(now);
}

#define THREADS 4
#define LINES   500

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[300];
    memset(pad, 'a' + id, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < LINES; i++)
        logf_(SP_LOG_ERROR, "<%d:%d:%s>", id, i, pad);
    return NULL;
}

/* Each line is one write: whole lines only, each thread's in its order. */
Test(log, lines_from_threads_never_interleave)
{
    pthread_t t[THREADS];
    int next[THREADS] = {0};

    cr_assert_eq(sp__log_open(path, SP_LOG_INFO), 0);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);

    char *s = slurp(path, NULL);
    cr_assert_eq(count_lines(s), THREADS * LINES);
    for (char *line = s, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        char *msg = strchr(line, '<');
        int id, i, used = 0;
        cr_assert_not_null(msg, "line without its message: %s", line);
        cr_assert_eq(sscanf(msg, "<%d:%d:%n", &id, &i, &used), 2, "torn line: %s", line);
        cr_assert(id >= 0 && id < THREADS, "%s", line);
        cr_assert_eq(i, next[id]++, "thread %d's lines out of order", id);
        cr_assert_eq(strlen(msg + used), 300, "torn line: %s", line);
        for (const char *p = msg + used; p < msg + used + 299; p++)
            cr_assert_eq(*p, 'a' + id, "bytes of another line inside: %s", line);
    }
    free(s);
}
