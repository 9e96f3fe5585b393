/*
 * log_capture.h - the error log of a unit test goes to a temp file, so a
 * test can check that something was logged (a refused header, a closed
 * connection and why).  log_capture_start() in a suite's set-up at the
 * level to keep, log_capture_stop() in its tear-down, logged(needle) in
 * between.
 */
#ifndef SPINDLE_TESTS_LOG_CAPTURE_H
#define SPINDLE_TESTS_LOG_CAPTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/lib/log.h"

static char log_path[64];

static inline void log_capture_start(int level)
{
    strcpy(log_path, "/tmp/sp_test_log_XXXXXX");
    int fd = mkstemp(log_path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(sp__log_open(log_path, level), 0);
}

static inline void log_capture_stop(void)
{
    unlink(log_path);
}

/* True if the log so far holds needle. */
static inline int logged(const char *needle)
{
    static char text[64 * 1024];
    FILE *f = fopen(log_path, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

#endif /* SPINDLE_TESTS_LOG_CAPTURE_H */
