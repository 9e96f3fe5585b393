/*
 * sigs.h - the signals meant for a whole process, kept away from the code
 * it runs.
 *
 * A signal with a handler interrupts whatever system call the thread it
 * lands on is in: a handler's sleep() returns early, its read() or poll()
 * fails with EINTR.  In a worker every thread may be running module code
 * (the IO loop's thread too, for quick requests), and a spooler's one
 * thread runs tasks.  So those processes install no handler at all: the
 * signals below are blocked in every thread from before the first one
 * starts, and read as data, from a signalfd in the worker's IO loop or by
 * a timed wait between tasks in a spooler.  Signals nobody asked for are
 * ignored, which interrupts nothing either.
 */
#ifndef SPINDLE_SERVER_LIB_SIGS_H
#define SPINDLE_SERVER_LIB_SIGS_H

#include <signal.h>

/* In a process's only thread, before it starts any other: ignore PIPE,
 * HUP, TTIN and TTOU; block TERM (graceful stop), INT and QUIT (fast
 * stop), USR1 (reopen logs) and USR2 (retire: a successor takes over),
 * and unblock the rest, so that every thread
 * started later inherits the mask.  *held is the blocked set, for a
 * signalfd or sigtimedwait.  0, or SP_EIO with errno set. */
int sp__sigs_hold(sigset_t *held);

#endif
