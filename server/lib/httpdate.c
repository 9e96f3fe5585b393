/* httpdate.c - cached IMF-fixdate (see httpdate.h). */
#include "server/lib/httpdate.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void sp__httpdate_format(time_t t, char buf[SP__HTTPDATE_LEN + 1])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char tmp[64]; /* room for any int the compiler cannot bound */
    struct tm tm;
    gmtime_r(&t, &tm);
    /* Years past 9999 would not fit the fixed width: clamp (a cookie's
     * Expires is the only caller that can reach them). */
    if (tm.tm_year > 9999 - 1900)
        snprintf(tmp, sizeof(tmp), "Fri, 31 Dec 9999 23:59:59 GMT");
    else
        snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
    memcpy(buf, tmp, SP__HTTPDATE_LEN);
    buf[SP__HTTPDATE_LEN] = '\0';
}

const char *sp__httpdate(void)
{
    static _Thread_local char buf[SP__HTTPDATE_LEN + 1];
    static _Thread_local time_t cached;
    time_t now = time(NULL);

    if (now != cached) {
        sp__httpdate_format(now, buf);
        cached = now;
    }
    return buf;
}
