/*
 * section.c - the public view of a [module:NAME] section (sp_conf_*).
 *
 * A module reads its own settings through these few calls instead of the
 * struct, so sp_section stays opaque to modules and conf/ may change how
 * it keeps them.  Lines are kept in file order with repeats, so a module
 * can treat a key as a list (sp_conf_at) or as a setting where the last
 * line wins (sp_conf_get), as server.ini does for its own keys.
 *
 * The typed getters parse with conf/'s own parsers (sp__parse_bool and
 * friends), so a module's "on" means what server.ini's does, and report a
 * bad value as the core reports its own: file:line, key, what is accepted.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "conf/config.h"

SP_EXPORT const char *sp_conf_get(const sp_section *conf, const char *key)
{
    if (!conf || !key)
        return NULL;
    for (size_t i = conf->n_items; i > 0; i--)
        if (strcmp(conf->items[i - 1].key, key) == 0)
            return conf->items[i - 1].value;
    return NULL;
}

SP_EXPORT size_t sp_conf_count(const sp_section *conf)
{
    return conf ? conf->n_items : 0;
}

SP_EXPORT int sp_conf_at(const sp_section *conf, size_t i, const char **key, const char **value)
{
    if (!conf || i >= conf->n_items)
        return SP_EINVAL;
    if (key)
        *key = conf->items[i].key;
    if (value)
        *value = conf->items[i].value;
    return SP_OK;
}

/* The last line with key (what sp_conf_get reads), or NULL. */
static const sp__kv *last(const sp_section *conf, const char *key)
{
    for (size_t i = conf && key ? conf->n_items : 0; i > 0; i--)
        if (strcmp(conf->items[i - 1].key, key) == 0)
            return &conf->items[i - 1];
    return NULL;
}

/* A whole decimal number into *v; false if it is not one, or overflows. */
static bool whole(const char *s, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return end != s && *end == '\0' && errno != ERANGE;
}

int sp__conf_value_check(int type, const char *value, char *msg, size_t len)
{
    unsigned long long u;
    bool b;
    long l;
    int rc;

    switch (type) {
    case SP_CONF_BOOL:
        if (sp__parse_bool(value, &b) == SP_OK)
            return SP_OK;
        snprintf(msg, len, "'%.80s' is not a boolean (accepted: %s)", value, SP__ACCEPT_BOOL);
        return SP_EINVAL;
    case SP_CONF_INT:
        if (whole(value, &l))
            return SP_OK;
        snprintf(msg, len, "'%.80s' is not a whole number (accepted: an integer from %ld to %ld)",
                 value, LONG_MIN, LONG_MAX);
        return SP_EINVAL;
    case SP_CONF_SIZE:
        if ((rc = sp__parse_size(value, &u)) == SP_OK)
            return SP_OK;
        snprintf(msg, len, "%s%.80s%s (accepted: %s)", rc == SP_EINVAL ? "'" : "", value,
                 rc == SP_EINVAL ? "' is not a size" : " is out of range", SP__ACCEPT_SIZE);
        return SP_EINVAL;
    case SP_CONF_DURATION:
        if ((rc = sp__parse_duration_ms(value, &u)) == SP_OK)
            return SP_OK;
        snprintf(msg, len, "%s%.80s%s (accepted: %s)", rc == SP_EINVAL ? "'" : "", value,
                 rc == SP_EINVAL ? "' is not a duration" : " is out of range", SP__ACCEPT_DURATION);
        return SP_EINVAL;
    default:
        return SP_OK;
    }
}

/* One line for a bad value, where it was written. */
static void report(const sp_section *conf, const sp__kv *kv, const char *msg)
{
    sp_log(SP_LOG_ERROR, "%s:%d: [module:%s]: %s: %s", kv->origin.file ? kv->origin.file : "?",
           kv->origin.line, conf->name ? conf->name : "?", kv->key, msg);
}

/* An absent key gives dflt; a present one must be a whole decimal number
 * within [min, max].  On SP_EINVAL *out is dflt, so a caller that only logs
 * the error still runs with a sane value. */
SP_EXPORT int sp_conf_int(const sp_section *conf, const char *key, long dflt, long min, long max,
                          long *out)
{
    const sp__kv *kv = last(conf, key);
    char msg[256];
    long v;

    *out = dflt;
    if (!kv)
        return SP_OK;
    if (!whole(kv->value, &v) || v < min || v > max) {
        snprintf(msg, sizeof(msg), "'%.80s' is out of range (accepted: an integer from %ld to %ld)",
                 kv->value, min, max);
        if (!whole(kv->value, &v))
            snprintf(msg, sizeof(msg),
                     "'%.80s' is not a whole number (accepted: an integer from %ld to %ld)",
                     kv->value, min, max);
        report(conf, kv, msg);
        return SP_EINVAL;
    }
    *out = v;
    return SP_OK;
}

SP_EXPORT int sp_conf_bool(const sp_section *conf, const char *key, bool dflt, bool *out)
{
    const sp__kv *kv = last(conf, key);
    char msg[256];

    *out = dflt;
    if (!kv)
        return SP_OK;
    if (sp__conf_value_check(SP_CONF_BOOL, kv->value, msg, sizeof(msg)) != SP_OK) {
        report(conf, kv, msg);
        return SP_EINVAL;
    }
    return sp__parse_bool(kv->value, out);
}

/* Sizes and durations: the same parse, a different type word. */
static int unsigned_value(const sp_section *conf, const char *key, int type, uint64_t dflt,
                          uint64_t *out)
{
    const sp__kv *kv = last(conf, key);
    unsigned long long v;
    char msg[256];

    *out = dflt;
    if (!kv)
        return SP_OK;
    if (sp__conf_value_check(type, kv->value, msg, sizeof(msg)) != SP_OK) {
        report(conf, kv, msg);
        return SP_EINVAL;
    }
    if (type == SP_CONF_SIZE)
        sp__parse_size(kv->value, &v);
    else
        sp__parse_duration_ms(kv->value, &v);
    *out = v;
    return SP_OK;
}

SP_EXPORT int sp_conf_size(const sp_section *conf, const char *key, uint64_t dflt, uint64_t *out)
{
    return unsigned_value(conf, key, SP_CONF_SIZE, dflt, out);
}

SP_EXPORT int sp_conf_duration_ms(const sp_section *conf, const char *key, uint64_t dflt,
                                  uint64_t *out)
{
    return unsigned_value(conf, key, SP_CONF_DURATION, dflt, out);
}

SP_EXPORT int sp_app_threads(const sp_app *app)
{
    return app && app->cfg ? sp__threads_cap(app->cfg) : 0;
}

SP_EXPORT int sp_app_processes(const sp_app *app)
{
    return app && app->cfg ? sp__processes_cap(app->cfg) : 0;
}
