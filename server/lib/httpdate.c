/* httpdate.c - cached IMF-fixdate (see httpdate.h). */
#include "server/lib/httpdate.h"

#include <stdio.h>
#include <time.h>

const char *sp__httpdate(void)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static _Thread_local char buf[64];
    static _Thread_local time_t cached;
    time_t now = time(NULL);

    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        cached = now;
    }
    return buf;
}
