/*
 * procfs.h - facts about a process from /proc.
 */
#ifndef SPINDLE_SERVER_LIB_PROCFS_H
#define SPINDLE_SERVER_LIB_PROCFS_H

#include <sys/types.h>

/* Resident set size of pid (0: this process) in KiB; 0 when unknown. */
long sp__rss_kib(pid_t pid);
/* CPU time pid has used, user and system, in ms; -1 when unknown. */
long long sp__cpu_ms(pid_t pid);

#endif
