/*
 * cli.c - the command line: spindle [server.ini] [--key value ...] [-t|-T].
 *
 * Every table option is also a flag (--threads 4, --threads=4; a bool flag
 * alone means true), so nothing can be set in one place and not the other.
 * The arguments are read in two passes: first all of argv is checked and
 * collected, so a typo fails before any file is opened and --help works
 * even when the ini file is broken; then the ini file is read and the
 * collected values are applied after it, in argv order.  That ordering is
 * the whole override rule: a single-valued key on the command line wins,
 * a repeatable one appends.
 */
#include "conf/options.h"

#include <stdlib.h>
#include <string.h>

#include "conf/ini.h"

#define CMDLINE "<command line>"

struct cli_value {
    const sp__option *opt;
    const char *value;
    int index; /* of the flag in argv: the "line" of its origin */
};

struct cli {
    const char *ini;
    struct cli_value *values;
    size_t n_values;
    enum sp__action action;
};

static int unknown(const char *arg, size_t len, char *err, size_t errlen)
{
    snprintf(err, errlen, CMDLINE ": %.*s: unknown option (see --help)", (int)(len > 80 ? 80 : len),
             arg);
    return SP_EINVAL;
}

static int positional(struct cli *c, const char *arg, int index, char *err, size_t errlen)
{
    if (c->ini) {
        sp__ini_error(err, errlen, CMDLINE, index, arg,
                      "a second ini file (accepted: one ini file; %s came first)", c->ini);
        return SP_EINVAL;
    }
    c->ini = arg;
    return 0;
}

static int short_flag(struct cli *c, const char *arg, char *err, size_t errlen)
{
    if (strcmp(arg, "-t") == 0)
        c->action = SP__CHECK;
    else if (strcmp(arg, "-T") == 0)
        c->action = SP__PRINT;
    else if (strcmp(arg, "-h") == 0)
        c->action = SP__HELP;
    else if (strcmp(arg, "-v") == 0)
        c->action = SP__VERSION;
    else
        return unknown(arg, strlen(arg), err, errlen);
    return 0;
}

/* The flags that are not options; NULL when name is none of them. */
static const char *action_flag(struct cli *c, const char *name)
{
    if (strcmp(name, "help") == 0)
        c->action = SP__HELP;
    else if (strcmp(name, "version") == 0)
        c->action = SP__VERSION;
    else if (strcmp(name, "print-example-ini") == 0)
        c->action = SP__PRINT_EXAMPLE;
    else
        return NULL;
    return name;
}

/* The value of --name: after '=', or the next argument. */
static const char *flag_value(const char *eq, int argc, char **argv, int *i)
{
    if (eq)
        return eq + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int long_flag(struct cli *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '='), *value;
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    const sp__option *opt;
    char key[64], acc[160];
    int index = *i;

    if (n == 0 || n >= sizeof key)
        return unknown(arg, n + 2, err, errlen);
    memcpy(key, name, n);
    key[n] = '\0';
    if (!eq && action_flag(c, key))
        return 0;
    opt = sp__option_find(key);
    if (!opt && strcmp(key, "ini") != 0)
        return unknown(arg, n + 2, err, errlen);
    if (opt && opt->type == SP__T_BOOL && !eq)
        value = "true";
    else
        value = flag_value(eq, argc, argv, i);
    if (!value) {
        sp__ini_error(err, errlen, CMDLINE, index, key, "needs a value (accepted: %s)",
                      opt ? sp__option_accepted(opt, acc, sizeof acc) : "an ini file");
        return SP_EINVAL;
    }
    if (!opt)
        return positional(c, value, index, err, errlen);
    c->values[c->n_values++] = (struct cli_value){opt, value, index};
    return 0;
}

static int parse_args(struct cli *c, int argc, char **argv, char *err, size_t errlen)
{
    int only_files = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc;

        if (!only_files && strcmp(arg, "--") == 0) {
            only_files = 1; /* what follows are file names, even "-t" */
            continue;
        }
        if (only_files || arg[0] != '-' || arg[1] == '\0')
            rc = positional(c, arg, i, err, errlen);
        else if (arg[1] != '-')
            rc = short_flag(c, arg, err, errlen);
        else
            rc = long_flag(c, argc, argv, &i, err, errlen);
        if (rc)
            return SP_EINVAL;
    }
    return 0;
}

static int apply_values(sp__config *cfg, const struct cli *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->n_values; i++) {
        const struct cli_value *v = &c->values[i];
        sp__origin at = {CMDLINE, v->index};

        /* base NULL: relative paths start at the working directory. */
        if (sp__option_set(cfg, v->opt, v->value, &at, NULL, err, errlen))
            return SP_EINVAL;
    }
    return 0;
}

int sp__config_load(sp__config *cfg, int argc, char **argv, enum sp__action *action, char *err,
                    size_t errlen)
{
    struct cli c = {NULL, NULL, 0, SP__RUN};
    int rc = -1;

    *action = SP__RUN;
    if (sp__config_init(cfg, err, errlen))
        return SP_EINVAL;
    c.values = calloc(argc > 0 ? (size_t)argc : 1, sizeof *c.values);
    if (!c.values) {
        snprintf(err, errlen, CMDLINE ": out of memory");
        goto out;
    }
    if (parse_args(&c, argc, argv, err, errlen))
        goto out;
    *action = c.action;
    rc = 0;
    /* These print something that does not depend on the configuration. */
    if (c.action == SP__HELP || c.action == SP__VERSION || c.action == SP__PRINT_EXAMPLE)
        goto out;
    if ((c.ini && sp__config_read(cfg, c.ini, err, errlen)) || apply_values(cfg, &c, err, errlen) ||
        sp__config_check(cfg, c.ini ? c.ini : CMDLINE, err, errlen))
        rc = -1;
out:
    free(c.values);
    if (rc)
        sp__config_free(cfg);
    return rc;
}
