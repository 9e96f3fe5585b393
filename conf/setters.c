/*
 * setters.c - the generic setters for single-valued options.
 *
 * Each setter parses one value and stores it at opt->offset in sp__config,
 * nginx style, so the option table never needs a function per key.  A
 * setter never writes the error line itself: it returns a short phrase
 * about the value ("'abc' is not a number") and sp__option_set() adds
 * file:line, the key and the accepted range, so every error reads alike.
 * A value that fails leaves the field as it was.
 *
 * Numbers are parsed by hand rather than with strtoull, which would accept
 * a sign, leading blanks and hex for sizes and modes.
 */
#include "conf/options.h"

#include <ctype.h>
#include <stdbool.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/ini.h"

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)

const char *sp__phrase(const sp__arg *arg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(arg->msg, arg->msglen, fmt, ap);
    va_end(ap);
    return arg->msg;
}

static void *field(sp__config *cfg, const sp__option *opt)
{
    return (char *)cfg + opt->offset;
}

/* Leading decimal digits of *s into *v, advancing *s: 0, -1 when there is
 * no digit, 1 when the number overflows. */
static int parse_digits(const char **s, unsigned long long *v)
{
    const char *p = *s;
    int over = 0;

    *v = 0;
    if (!isdigit((unsigned char)*p))
        return SP_EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');

        if (*v > (ULLONG_MAX - d) / 10)
            over = 1;
        else
            *v = *v * 10 + d;
    }
    *s = p;
    return over;
}

const char *sp__set_int(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    const char *s = arg->value, *p = s + (*s == '-' || *s == '+');
    unsigned long long mag;
    int rc = parse_digits(&p, &mag);
    long long v;

    if (opt->choices != NULL && strcasecmp(s, opt->choices) == 0) {
        *(int *)field(cfg, opt) = 0; /* the one word an integer key may take: "auto" */
        return NULL;
    }
    if (rc < 0 || *p)
        return sp__phrase(arg, "'%.80s' is not a number", s);
    if (rc > 0 || mag > LLONG_MAX)
        return sp__phrase(arg, "%.80s is out of range", s);
    v = *s == '-' ? -(long long)mag : (long long)mag;
    if (v < opt->min || v > opt->max)
        return sp__phrase(arg, "%.80s is out of range", s);
    *(int *)field(cfg, opt) = (int)v;
    return NULL;
}

/* Index of value (any case) in "a|b|c", or -1. */
static int choice(const char *choices, const char *value)
{
    size_t n = strlen(value);

    for (int i = 0; *choices; i++) {
        size_t len = strcspn(choices, "|");

        if (len == n && n && strncasecmp(choices, value, n) == 0)
            return i;
        choices += len + (choices[len] == '|');
    }
    return -1;
}

int sp__parse_bool(const char *s, bool *out)
{
    /* Pairs, false first: an odd index means true. */
    int i = choice("false|true|no|yes|off|on|0|1", s);

    if (i < 0)
        return SP_EINVAL;
    *out = i % 2;
    return SP_OK;
}

const char *sp__set_bool(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    bool v;

    if (sp__parse_bool(arg->value, &v) != SP_OK)
        return sp__phrase(arg, "'%.80s' is not a boolean", arg->value);
    *(int *)field(cfg, opt) = v;
    return NULL;
}

int sp__parse_size(const char *s, unsigned long long *out)
{
    const char *p = s;
    unsigned long long v, unit = 1;
    int rc = parse_digits(&p, &v);

    if (rc >= 0 && *p && !p[1]) {
        switch (*p++) {
        case 'k':
        case 'K':
            unit = KIB;
            break;
        case 'm':
        case 'M':
            unit = MIB;
            break;
        case 'g':
        case 'G':
            unit = GIB;
            break;
        default:
            rc = -1;
        }
    }
    if (rc < 0 || *p)
        return SP_EINVAL;
    if (rc > 0 || v > ULLONG_MAX / unit)
        return SP_E2BIG;
    *out = v * unit;
    return SP_OK;
}

const char *sp__set_size(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    unsigned long long v;
    int rc = sp__parse_size(arg->value, &v);

    if (rc == SP_EINVAL)
        return sp__phrase(arg, "'%.80s' is not a size", arg->value);
    if (rc != SP_OK || v < (unsigned long long)opt->min || v > (unsigned long long)opt->max ||
        v > SIZE_MAX)
        return sp__phrase(arg, "%.80s is out of range", arg->value);
    *(size_t *)field(cfg, opt) = (size_t)v;
    return NULL;
}

int sp__parse_duration_ms(const char *s, unsigned long long *out)
{
    const char *p = s;
    unsigned long long v, unit = 1000; /* a bare number is seconds */
    int rc = parse_digits(&p, &v);

    if (rc >= 0 && strcmp(p, "ms") == 0)
        unit = 1;
    else if (rc >= 0 && strcmp(p, "m") == 0)
        unit = 60000;
    else if (rc >= 0 && *p && strcmp(p, "s") != 0)
        rc = -1;
    if (rc < 0)
        return SP_EINVAL;
    if (rc > 0 || v > ULLONG_MAX / unit)
        return SP_E2BIG;
    *out = v * unit;
    return SP_OK;
}

const char *sp__set_duration(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    unsigned long long v;
    int rc = sp__parse_duration_ms(arg->value, &v);

    if (rc == SP_EINVAL)
        return sp__phrase(arg, "'%.80s' is not a duration", arg->value);
    if (rc != SP_OK || v < (unsigned long long)opt->min || v > (unsigned long long)opt->max)
        return sp__phrase(arg, "%.80s is out of range", arg->value);
    *(int *)field(cfg, opt) = (int)v;
    return NULL;
}

const char *sp__set_mode(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    const char *p = arg->value;
    unsigned long long v = 0;

    if (!*p)
        return sp__phrase(arg, "'' is not an octal mode");
    for (; *p; p++) {
        if (*p < '0' || *p > '7')
            return sp__phrase(arg, "'%.80s' is not an octal mode", arg->value);
        if (v <= 07777)
            v = v * 8 + (unsigned)(*p - '0');
    }
    if (v < (unsigned long long)opt->min || v > (unsigned long long)opt->max)
        return sp__phrase(arg, "%.80s is out of range", arg->value);
    *(int *)field(cfg, opt) = (int)v;
    return NULL;
}

const char *sp__set_enum(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    int i = choice(opt->choices, arg->value);

    if (i < 0)
        return sp__phrase(arg, "'%.80s' is not a known value", arg->value);
    *(int *)field(cfg, opt) = i;
    return NULL;
}

static const char *store_string(sp__config *cfg, const sp__option *opt, char *copy)
{
    char **slot = field(cfg, opt);

    if (!copy)
        return "out of memory";
    free(*slot);
    *slot = copy;
    return NULL;
}

const char *sp__set_string(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    return store_string(cfg, opt, strdup(arg->value));
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

const char *sp__set_name(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    size_t n = strlen(arg->value);
    if (n == 0)
        return "the name is empty";
    if (n > 63)
        return sp__phrase(arg, "'%.80s' is longer than 63 characters", arg->value);
    for (size_t i = 0; i < n; i++)
        if (!name_char(arg->value[i]))
            return sp__phrase(arg, "'%.80s' has '%c', which a name may not hold", arg->value,
                              arg->value[i]);
    return sp__set_string(cfg, opt, arg);
}

char *sp__host_instance(void)
{
    char host[64];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    for (char *c = host; *c; c++)
        if (!name_char(*c))
            *c = '-';
    return strdup(host);
}

int sp__zone_ok(const char *tz)
{
    char path[4096];
    if (strcasecmp(tz, "UTC") == 0)
        return 1;
    if (tz[0] == '\0' || tz[0] == '/' || strstr(tz, "..") != NULL)
        return 0;
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    return access(path, R_OK) == 0;
}

const char *sp__set_zone(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    if (!sp__zone_ok(arg->value))
        return sp__phrase(arg, "'%.80s' is not a time zone", arg->value);
    return sp__set_string(cfg, opt, arg);
}

char *sp__resolve(const char *base, const char *path)
{
    char *cwd, *out;

    if (base || path[0] == '/')
        return sp__path_join(base ? base : "/", path);
    cwd = getcwd(NULL, 0);
    if (!cwd)
        return NULL;
    out = sp__path_join(cwd, path);
    free(cwd);
    return out;
}

const char *sp__set_path(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    if (!*arg->value)
        return "the path is empty";
    return store_string(cfg, opt, sp__resolve(arg->base, arg->value));
}

void sp__format_size(unsigned long long bytes, char *buf, size_t len)
{
    if (bytes && bytes % GIB == 0)
        snprintf(buf, len, "%lluG", bytes / GIB);
    else if (bytes && bytes % MIB == 0)
        snprintf(buf, len, "%lluM", bytes / MIB);
    else if (bytes && bytes % KIB == 0)
        snprintf(buf, len, "%lluK", bytes / KIB);
    else
        snprintf(buf, len, "%llu", bytes);
}

void sp__format_duration(long long ms, char *buf, size_t len)
{
    /* Minutes only from an hour up: "60s" reads better than "1m". */
    if (ms >= 3600000 && ms % 60000 == 0)
        snprintf(buf, len, "%lldm", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%llds", ms / 1000);
    else
        snprintf(buf, len, "%lldms", ms);
}
