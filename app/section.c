/*
 * section.c - the public view of a [module:NAME] section (sp_conf_*).
 *
 * A module reads its own settings through these few calls instead of the
 * struct, so sp_section stays opaque to modules and conf/ may change how
 * it keeps them.  Lines are kept in file order with repeats, so a module
 * can treat a key as a list (sp_conf_at) or as a setting where the last
 * line wins (sp_conf_get), as server.ini does for its own keys.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* An absent key gives dflt; a present one must be a whole decimal number
 * within [min, max].  On SP_EINVAL *out is dflt, so a caller that only logs
 * the error still runs with a sane value. */
SP_EXPORT int sp_conf_int(const sp_section *conf, const char *key, long dflt, long min, long max,
                          long *out)
{
    const char *s = sp_conf_get(conf, key);
    char *end;
    long v;

    *out = dflt;
    if (!s)
        return SP_OK;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < min || v > max)
        return SP_EINVAL;
    *out = v;
    return SP_OK;
}
