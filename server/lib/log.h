/*
 * log.h - the error log.
 *
 * One process-wide destination (stderr or log-file), each line written
 * whole with a single write() to an O_APPEND descriptor so lines from the
 * master, the workers and their threads never interleave mid-line.
 */
#ifndef SPINDLE_SERVER_LIB_LOG_H
#define SPINDLE_SERVER_LIB_LOG_H

#include <stdarg.h>

/* One line at level (enum sp_log_level) with time, level and process; the
 * body of the public sp_log (app/facts.c). */
void sp__logv(int level, const char *fmt, va_list ap);
/* The log's descriptor, for writers that cannot call sp__logv (a crash). */
int sp__log_fd(void);
/* Name this process in log lines: "master", "worker 2". */
void sp__log_role(const char *role);
/* Open (or reopen, for USR1) the log file; NULL = stderr.  0, or SP_EIO
 * with errno set. */
int sp__log_open(const char *path, int level);

#endif
