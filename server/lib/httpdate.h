/*
 * httpdate.h - the Date header value, rendered once per second per thread
 * instead of once per response.
 */
#ifndef SPINDLE_SERVER_LIB_HTTPDATE_H
#define SPINDLE_SERVER_LIB_HTTPDATE_H

#include <time.h>

#define SP__HTTPDATE_LEN 29 /* "Tue, 25 Nov 2026 19:41:58 GMT" */

/* Thread-local, NUL terminated, valid until this thread's next call. */
const char *sp__httpdate(void);

/* t as an IMF-fixdate into buf (NUL terminated), for Expires and friends. */
void sp__httpdate_format(time_t t, char buf[SP__HTTPDATE_LEN + 1]);

#endif
