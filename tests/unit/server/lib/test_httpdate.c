/*
 * test_httpdate.c - unit tests for server/lib/httpdate.c, the Date header
 * value every response carries (rendered once per second per thread).
 *
 * What the file proves: the value is an IMF-fixdate (RFC 9110 5.6.7) of
 * the current time in GMT, exactly as strftime renders it in the C locale;
 * the once-a-second cache moves on when the second does, so a long-lived
 * thread never sends a stale date; each thread has its own buffer, so one
 * thread re-rendering never changes the string another is copying.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/lib/httpdate.h"

/* The same instant rendered independently of httpdate.c.  strftime's
 * %a and %b are English in the C locale, which a test process runs in. */
static void render(time_t t, char *out, size_t n)
{
    struct tm tm;
    cr_assert_not_null(gmtime_r(&t, &tm));
    cr_assert_eq(strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm), SP__HTTPDATE_LEN);
}

/* sp__httpdate() now, and that it renders a second in [t0, t1]. */
static void assert_is_now(void)
{
    char a[64], b[64];
    time_t t0 = time(NULL);
    const char *got = sp__httpdate();
    time_t t1 = time(NULL);

    render(t0, a, sizeof a);
    render(t1, b, sizeof b);
    cr_assert_eq(strlen(got), SP__HTTPDATE_LEN, "'%s'", got);
    cr_assert(strcmp(got, a) == 0 || strcmp(got, b) == 0, "got '%s', the clock says '%s'", got, a);
}

Test(httpdate, is_the_current_time_as_imf_fixdate)
{
    /* Seven hours off GMT (a POSIX TZ, no zone file needed): a date in
     * local time would be caught. */
    cr_assert_eq(setenv("TZ", "XYZ-7", 1), 0);
    tzset();
    assert_is_now();
    /* Asked again within the second: the cached value, still right. */
    assert_is_now();
}

/* Waits for the wall clock to tick (at most a second): the cache keyed on
 * the second must not outlive it. */
Test(httpdate, follows_the_clock_into_the_next_second)
{
    char before[64];
    time_t t0 = time(NULL);

    snprintf(before, sizeof before, "%s", sp__httpdate());
    while (time(NULL) == t0) {
        struct timespec ms = {0, 5 * 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    assert_is_now();
    cr_assert_str_neq(sp__httpdate(), before, "the date stayed at %s", before);
}

/* Where the other thread's value lives: kept as a number, since its
 * buffer ends with the thread. */
static void *other_thread(void *arg)
{
    uintptr_t *out = arg;
    *out = (uintptr_t)sp__httpdate();
    return NULL;
}

Test(httpdate, every_thread_renders_into_its_own_buffer)
{
    uintptr_t mine = (uintptr_t)sp__httpdate(), theirs = 0;
    pthread_t t;

    cr_assert_eq(pthread_create(&t, NULL, other_thread, &theirs), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_neq(theirs, 0);
    cr_assert_neq(mine, theirs, "two threads share one buffer");
    assert_is_now();
}
