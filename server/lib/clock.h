/*
 * clock.h - monotonic milliseconds, for deadlines in the master (backoff,
 * harakiri) and the workers (connection timeouts).
 */
#ifndef SPINDLE_SERVER_CLOCK_H
#define SPINDLE_SERVER_CLOCK_H

long long sp__now_ms(void);

#endif
