/*
 * crontab.c - [cron] lines (see crontab.h).
 *
 * A field becomes a bitmask, so "does this minute match" is one AND and the
 * parser is the only place that knows about names, ranges and steps.
 *
 * sp__crontab_next walks forward field by field, coarsest first (month, day,
 * hour, minute, second), letting timegm/mktime normalise each step: a month
 * that does not match skips to the next month's first second, and so on.
 * That visits a few dozen candidates per year, so even "Feb 29 that is a
 * Monday" (28 years apart) is found at once, and the calendar's own rules
 * (leap years, month lengths, DST in a local zone) come from libc instead
 * of being re-implemented here.
 */
#include "conf/crontab.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define YEARS_AHEAD 28 /* the calendar repeats every 28 years (within a century) */
#define MAX_STEPS   200000

typedef struct field {
    const char *what;
    int lo, hi;
    const char *const *names; /* 3-letter names for lo, lo+1, ... */
} field;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field fields[6] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},       {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL}, {"month", 1, 12, month_names}, {"day-of-week", 0, 7, day_names},
};

/* A number or a name at *s (advanced past it); -1 if neither. */
static int value(const char **s, const field *f)
{
    const char *p = *s;
    if (isdigit((unsigned char)*p)) {
        long v = 0;
        while (isdigit((unsigned char)*p) && v < 1000)
            v = v * 10 + (*p++ - '0');
        *s = p;
        return (int)v;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (strncasecmp(p, f->names[i], 3) == 0 && !isalpha((unsigned char)p[3])) {
            *s = p + 3;
            return f->lo + i;
        }
    return -1;
}

/* One list item: "*", "a", "a-b", each optionally "/step". */
static const char *item(const char *s, const char *end, const field *f, uint64_t *mask, char *buf,
                        size_t len)
{
    int a = f->lo, b = f->hi, step = 1;
    const char *p = s;
    if (*p == '*') {
        p++;
    } else {
        if ((a = value(&p, f)) < 0)
            goto bad;
        b = a;
        if (*p == '-' && (p++, (b = value(&p, f)) < 0))
            goto bad;
    }
    if (*p == '/') {
        p++;
        if (!isdigit((unsigned char)*p) || (step = atoi(p)) <= 0 || step > f->hi)
            return snprintf(buf, len, "%s: bad step in '%.*s'", f->what, (int)(end - s), s), buf;
        while (isdigit((unsigned char)*p))
            p++;
        if (*s != '*' && a == b)
            b = f->hi; /* "5/15": from 5 to the end */
    }
    if (p != end)
        goto bad;
    if (a < f->lo || b > f->hi || a > b)
        return snprintf(buf, len, "%s: '%.*s' is out of range (%d-%d)", f->what, (int)(end - s), s,
                        f->lo, f->hi),
               buf;
    for (int v = a; v <= b; v += step)
        *mask |= 1ULL << v;
    return NULL;
bad:
    snprintf(buf, len, "%s: '%.*s' is not a number, range, list or step%s", f->what, (int)(end - s),
             s, f->names ? " (names: jan or mon style)" : "");
    return buf;
}

static const char *parse_field(const char *text, const field *f, uint64_t *mask, int *star,
                               char *buf, size_t len)
{
    *mask = 0;
    *star = text[0] == '*';
    for (const char *s = text; *s;) {
        const char *end = strchr(s, ',');
        end = end ? end : s + strlen(s);
        if (end == s)
            return snprintf(buf, len, "%s: empty list item in '%s'", f->what, text), buf;
        const char *why = item(s, end, f, mask, buf, len);
        if (why)
            return why;
        s = *end ? end + 1 : end;
    }
    return NULL;
}

static const char *parse_job(const char *job, sp__crontab *out, char *buf, size_t len)
{
    const char *colon = strchr(job, ':');
    if (colon == NULL || colon == job || colon[1] == '\0' || strlen(job) >= sizeof(out->job))
        return snprintf(buf, len, "'%.80s' is not module:function", job), buf;
    for (const char *c = job; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_.-:", *c))
            return snprintf(buf, len, "'%.80s' is not module:function", job), buf;
    strcpy(out->job, job);
    return NULL;
}

/* A restricted day-of-month must fall in one of the months (not Feb 30). */
static int dom_possible(const sp__crontab *c)
{
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (c->dom_star || !c->dow_star)
        return 1;
    for (int m = 1; m <= 12; m++)
        if (c->mon & (1u << m))
            for (int d = 1; d <= days[m - 1]; d++)
                if (c->dom & (1u << d))
                    return 1;
    return 0;
}

static int split(char *copy, char **tok, int max)
{
    int n = 0;
    for (char *s = strtok(copy, " \t"); s; s = strtok(NULL, " \t"))
        if (n++ < max)
            tok[n - 1] = s;
    return n;
}

const char *sp__crontab_parse(const char *line, sp__crontab *out, char *buf, size_t len)
{
    char copy[512], *tok[7];
    uint64_t mask[6];
    int star[6];
    if (strlen(line) >= sizeof(copy))
        return "line too long";
    strcpy(copy, line);
    int n = split(copy, tok, 7);
    if (n != 6 && n != 7)
        return "expected MIN HOUR DOM MON DOW module:function, or a seconds field first";
    memset(out, 0, sizeof(*out));
    int first = n == 7 ? 0 : 1;
    mask[0] = 1, star[0] = 0; /* five fields: at second 0 */
    for (int i = first; i < 6; i++) {
        const char *why = parse_field(tok[i - first], &fields[i], &mask[i], &star[i], buf, len);
        if (why)
            return why;
    }
    if (mask[5] & (1u << 7))
        mask[5] = (mask[5] | 1) & 0x7f; /* 7 is Sunday too */
    *out = (sp__crontab){mask[0],           mask[1],           (uint32_t)mask[2],
                         (uint32_t)mask[3], (uint16_t)mask[4], (uint8_t)mask[5],
                         star[3],           star[5],           ""};
    if (!dom_possible(out))
        return "day-of-month: never falls in the given months";
    return parse_job(tok[n - 1], out, buf, len);
}

static int day_matches(const sp__crontab *c, const struct tm *tm)
{
    int dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;
    if (!c->dom_star && !c->dow_star)
        return dom || dow;
    return dom && dow;
}

static time_t settle(struct tm *tm, int utc)
{
    time_t t;
    if (utc) {
        t = timegm(tm);
        gmtime_r(&t, tm);
    } else {
        tm->tm_isdst = -1;
        t = mktime(tm);
        localtime_r(&t, tm);
    }
    return t;
}

int64_t sp__crontab_next(const sp__crontab *c, int64_t after, int utc)
{
    time_t t = (time_t)after + 1;
    struct tm tm;
    if (utc)
        gmtime_r(&t, &tm);
    else
        localtime_r(&t, &tm);
    int last_year = tm.tm_year + YEARS_AHEAD + 1;
    for (int i = 0; i < MAX_STEPS && tm.tm_year <= last_year; i++) {
        if (!((c->mon >> (tm.tm_mon + 1)) & 1))
            tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        else if (!day_matches(c, &tm))
            tm.tm_mday++, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        else if (!((c->hour >> tm.tm_hour) & 1))
            tm.tm_hour++, tm.tm_min = tm.tm_sec = 0;
        else if (!((c->min >> tm.tm_min) & 1))
            tm.tm_min++, tm.tm_sec = 0;
        else if (!((c->sec >> tm.tm_sec) & 1))
            tm.tm_sec++;
        else if (t > after)
            return (int64_t)t;
        else
            tm.tm_sec++; /* a local clock that went back: look later */
        t = settle(&tm, utc);
    }
    return -1;
}
