/*
 * proctitle.h - process titles for ps: "spindle: master", "spindle: worker 1".
 *
 * Linux shows /proc/PID/cmdline from the original argv memory, so the title
 * is written over argv (and the environment strings after it, which are
 * copied away first).  The name in /proc/PID/comm is set too.
 */
#ifndef SPINDLE_SERVER_LIB_PROCTITLE_H
#define SPINDLE_SERVER_LIB_PROCTITLE_H

/* Call once, early in main, before anything reads environ. */
void sp__proctitle_init(int argc, char **argv);
void sp__proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
