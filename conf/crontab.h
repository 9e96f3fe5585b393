/*
 * crontab.h - one [cron] line: parse it, and find when it next fires.
 *
 * Lives in conf/ because a bad line is a configuration error (file:line,
 * exit 78) found while server.ini is read; the master's scheduler
 * (app/tasks/cron.c) only asks "when next?".  Pure code: no clock, no I/O,
 * so every edge case is a unit test (tests/unit/test_crontab.c).
 *
 * Syntax, as Vixie cron: MIN HOUR DOM MON DOW JOB, or SEC MIN HOUR DOM MON
 * DOW JOB.  Each field is "*", a number, a range a-b, a list a,b-c, and any
 * of those with a step "/n"; months take jan..dec, weekdays sun..sat (0 and
 * 7 are Sunday).  When both day-of-month and day-of-week are restricted
 * (neither starts with "*") a day matching either fires, as in cron(8).
 */
#ifndef SPINDLE_CONF_CRONTAB_H
#define SPINDLE_CONF_CRONTAB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct sp__crontab {
    uint64_t sec, min;      /* bit n: second / minute n matches */
    uint32_t hour, dom;     /* hours 0-23, days of the month 1-31 */
    uint16_t mon;           /* months 1-12 */
    uint8_t dow;            /* weekdays 0-6, Sunday 0 */
    int dom_star, dow_star; /* the field started with '*' (the or-rule) */
    char job[128];          /* "module:function" */
} sp__crontab;

/* Parse one line.  NULL, or a short phrase about what is wrong (in buf or
 * static): "hour: 24 is out of range (0-23)". */
const char *sp__crontab_parse(const char *line, sp__crontab *out, char *buf, size_t len);

/* The first time strictly after `after` (seconds since the epoch) the
 * line fires, read in UTC (utc) or in the process's local zone (TZ), or
 * -1 when it never does within the next 28 years (Feb 30). */
int64_t sp__crontab_next(const sp__crontab *c, int64_t after, int utc);

#endif
