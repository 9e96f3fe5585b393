/*
 * clock.h - the one reading of CLOCK_MONOTONIC: milliseconds for deadlines
 * in the master (backoff, harakiri) and the workers (connection timeouts),
 * nanoseconds for the scoreboard's request start times, which the master
 * compares with its own reading, and for sp_request_elapsed_ns.
 */
#ifndef SPINDLE_SERVER_LIB_CLOCK_H
#define SPINDLE_SERVER_LIB_CLOCK_H

#include <stdint.h>

long long sp__now_ms(void);
uint64_t sp__now_ns(void);

#endif
