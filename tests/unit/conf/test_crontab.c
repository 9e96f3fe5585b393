/*
 * test_crontab.c - [cron] line parsing and next-fire times (conf/crontab.c).
 *
 * Expected times are built with timegm from a calendar date, so each case
 * reads as "after this moment, the line next fires at that moment".
 */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "conf/crontab.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static sp__crontab parse_ok(const char *line)
{
    sp__crontab c;
    char buf[160];
    const char *why = sp__crontab_parse(line, &c, buf, sizeof(buf));
    cr_assert_null(why, "'%s': %s", line, why ? why : "");
    return c;
}

static int64_t next(const char *line, int64_t after)
{
    sp__crontab c = parse_ok(line);
    return sp__crontab_next(&c, after, 1);
}

#define NEXT(line, from, want) cr_assert_eq(next(line, from), want, "%s", line)

static void fails(const char *line, const char *want)
{
    sp__crontab c;
    char buf[160];
    const char *why = sp__crontab_parse(line, &c, buf, sizeof(buf));
    cr_assert_not_null(why, "'%s' was accepted", line);
    cr_assert_str_eq(why, want, "'%s'", line);
}

Test(crontab, every_minute_and_steps)
{
    int64_t t = utc(2024, 1, 1, 0, 0, 0);
    NEXT("* * * * * m:f", t, utc(2024, 1, 1, 0, 1, 0));
    NEXT("*/15 * * * * m:f", t, utc(2024, 1, 1, 0, 15, 0));
    NEXT("5/15 * * * * m:f", utc(2024, 1, 1, 0, 36, 0), utc(2024, 1, 1, 0, 50, 0));
    NEXT("0 9-17/2 * * * m:f", utc(2024, 1, 1, 11, 0, 0), utc(2024, 1, 1, 13, 0, 0));
    NEXT("0 9-17/2 * * * m:f", utc(2024, 1, 1, 17, 0, 0), utc(2024, 1, 2, 9, 0, 0));
}

Test(crontab, lists_ranges_and_names)
{
    NEXT("30 8 * * mon-fri m:f", utc(2024, 1, 5, 9, 0, 0),
         utc(2024, 1, 8, 8, 30, 0)); /* Fri -> Mon */
    NEXT("0 0 1 jan,JUL * m:f", utc(2024, 1, 1, 0, 0, 0), utc(2024, 7, 1, 0, 0, 0));
    NEXT("0 0 * * 7 m:f", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0)); /* 7 = Sunday */
    NEXT("0 0 * * sun m:f", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0));
    NEXT("0,30 1,2-3 * * * m:f", utc(2024, 1, 1, 2, 30, 0), utc(2024, 1, 1, 3, 0, 0));
}

Test(crontab, year_boundary_and_month_ends)
{
    NEXT("0 0 1 1 * m:f", utc(2024, 12, 31, 23, 59, 59), utc(2025, 1, 1, 0, 0, 0));
    NEXT("0 12 31 * * m:f", utc(2024, 4, 1, 0, 0, 0), utc(2024, 5, 31, 12, 0, 0)); /* skips April */
    NEXT("59 59 23 31 12 * m:f", utc(2024, 6, 1, 0, 0, 0), utc(2024, 12, 31, 23, 59, 59));
}

Test(crontab, feb_29_across_years)
{
    NEXT("0 0 29 2 * m:f", utc(2024, 3, 1, 0, 0, 0), utc(2028, 2, 29, 0, 0, 0));
    NEXT("0 0 29 2 * m:f", utc(2024, 2, 28, 23, 59, 0), utc(2024, 2, 29, 0, 0, 0));
    /* 2100 is not a leap year: after 2096 comes 2104 */
    NEXT("0 0 29 2 * m:f", utc(2096, 3, 1, 0, 0, 0), utc(2104, 2, 29, 0, 0, 0));
}

Test(crontab, dom_or_dow_when_both_restricted)
{
    /* Feb 29 OR any Monday of February: the first Monday of Feb 2025 */
    NEXT("0 0 29 2 mon m:f", utc(2025, 1, 1, 0, 0, 0), utc(2025, 2, 3, 0, 0, 0));
    /* the 13th or a Friday: Friday 2024-09-06 comes before the 13th */
    NEXT("0 0 13 * fri m:f", utc(2024, 9, 1, 0, 0, 0), utc(2024, 9, 6, 0, 0, 0));
    /* one of them '*': both must match -> Friday the 13th */
    NEXT("0 0 13 * * m:f", utc(2024, 9, 1, 0, 0, 0), utc(2024, 9, 13, 0, 0, 0));
    /* a field starting with '*' counts as unrestricted, even with a step (as cron(8)) */
    NEXT("0 0 */1 * fri m:f", utc(2024, 9, 1, 0, 0, 0), utc(2024, 9, 6, 0, 0, 0));
}

Test(crontab, seconds_field)
{
    NEXT("*/10 * * * * * m:f", utc(2024, 1, 1, 12, 0, 5), utc(2024, 1, 1, 12, 0, 10));
    NEXT("*/10 * * * * * m:f", utc(2024, 1, 1, 12, 0, 10), utc(2024, 1, 1, 12, 0, 20));
    NEXT("30 0 0 * * * m:f", utc(2024, 1, 1, 0, 0, 30), utc(2024, 1, 2, 0, 0, 30));
    NEXT("* * * * * * m:f", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 0, 0, 1));
}

Test(crontab, job_is_kept)
{
    sp__crontab c = parse_ok("  0 3 * * *\treports.v2:nightly_run ");
    cr_assert_str_eq(c.job, "reports.v2:nightly_run");
}

Test(crontab, invalid_lines)
{
    fails("* * * * m:f", "expected MIN HOUR DOM MON DOW module:function, or a seconds field first");
    fails("* * * * * * * * m:f",
          "expected MIN HOUR DOM MON DOW module:function, or a seconds field first");
    fails("60 * * * * m:f", "minute: '60' is out of range (0-59)");
    fails("* 24 * * * m:f", "hour: '24' is out of range (0-23)");
    fails("* * 0 * * m:f", "day-of-month: '0' is out of range (1-31)");
    fails("* * * 13 * m:f", "month: '13' is out of range (1-12)");
    fails("* * * * 8 m:f", "day-of-week: '8' is out of range (0-7)");
    fails("5-1 * * * * m:f", "minute: '5-1' is out of range (0-59)");
    fails("*/0 * * * * m:f", "minute: bad step in '*/0'");
    fails("1- * * * * m:f", "minute: '1-' is not a number, range, list or step");
    fails("1,,2 * * * * m:f", "minute: empty list item in '1,,2'");
    fails("* * * foo * m:f",
          "month: 'foo' is not a number, range, list or step (names: jan or mon style)");
    fails("* * * * * nocolon", "'nocolon' is not module:function");
    fails("* * * * * m:", "'m:' is not module:function");
    fails("* * * * * m:f;rm", "'m:f;rm' is not module:function");
    fails("0 0 30 feb * m:f", "day-of-month: never falls in the given months");
    fails("0 0 31 4,6 * m:f", "day-of-month: never falls in the given months");
    fails("61 * * * * * m:f", "second: '61' is out of range (0-59)");
}

Test(crontab, feb_30_with_a_weekday_still_fires)
{
    /* or-rule: the weekday makes it possible */
    NEXT("0 0 30 2 mon m:f", utc(2025, 1, 1, 0, 0, 0), utc(2025, 2, 3, 0, 0, 0));
}
