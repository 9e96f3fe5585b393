/*
 * check.h - spindle -t: everything a start does short of serving (check.c).
 */
#ifndef SPINDLE_SERVER_MASTER_CHECK_H
#define SPINDLE_SERVER_MASTER_CHECK_H

#include <stddef.h>

#include "conf/config.h"

/* Check cfg as a start would use it: its files and folders, and (in a
 * child process) every module loaded and initialised as a worker would,
 * every middleware, route and [cron] job resolved.  0, or a negative SP_E*
 * code with one line in err. */
int sp__check_config(const sp__config *cfg, char *err, size_t errlen);

#endif
