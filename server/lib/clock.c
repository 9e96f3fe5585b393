/* clock.c - see clock.h. */
#include "server/lib/clock.h"

#include <time.h>

uint64_t sp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long long sp__now_ms(void)
{
    return (long long)(sp__now_ns() / 1000000);
}
