/*
 * options.h - the option table and its generic setters (conf/ internals).
 *
 * Like nginx's directive table: each [server]/[app] key is one const
 * sp__option saying where in sp__config it lands (offsetof), its type,
 * bounds, default and help.  A value is stored by the setter of its type;
 * setters return NULL or a short phrase ("0 is out of range") and
 * sp__option_set() turns that into the one error line, adding file:line,
 * the key and what is accepted.  The ini reader, the command line, --help,
 * -T and the example server.ini all walk the same table.
 */
#ifndef SPINDLE_CONF_OPTIONS_H
#define SPINDLE_CONF_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "conf/config.h"

enum sp__opt_section { SP__SEC_SERVER, SP__SEC_APP, SP__SEC_TASKS };

enum sp__opt_type {
    SP__T_INT,        /* int, bounds min..max */
    SP__T_BOOL,       /* int 0/1: true/false, yes/no, on/off, 1/0 */
    SP__T_SIZE,       /* size_t bytes; k, m, g suffixes (1024-based) */
    SP__T_DURATION,   /* int ms; bare number = seconds, ms/s/m suffixes */
    SP__T_MODE,       /* int, octal file mode */
    SP__T_ENUM,       /* int: index of the value in choices */
    SP__T_STRING,     /* char *, malloc'd */
    SP__T_ZONE,       /* char *: UTC or a zone under /usr/share/zoneinfo */
    SP__T_PATH,       /* char *, made absolute against the ini's folder */
    SP__T_LISTEN,     /* appends to cfg->listen */
    SP__T_MODULE,     /* appends to cfg->modules (a path) */
    SP__T_MIDDLEWARE, /* appends to cfg->middleware */
    SP__T_ROUTE,      /* appends to cfg->routes */
    SP__T_CIDRS,      /* sp__cidr_list: addresses and networks (conf/cidr.c) */
    SP__T_NAME        /* char *: 1-63 of letters, digits, '.', '_', '-' (a name in keys) */
};

typedef struct sp__option {
    const char *key; /* as written in server.ini, and --key on the command line */
    enum sp__opt_section section;
    enum sp__opt_type type;
    size_t offset;       /* offsetof(sp__config, field); lists use their own fields */
    long long min, max;  /* int, size (bytes), duration (ms), mode */
    const char *dflt;    /* default as server.ini text, applied first; NULL = none */
    const char *choices; /* SP__T_ENUM: "error|warn|info|debug"; SP__T_INT: a word for 0 ("auto") */
    const char *example; /* live lines of the shipped server.ini, '\n' separated */
    const char *help;    /* one or two sentences */
} sp__option;

/* One value on its way into the config. */
typedef struct sp__arg {
    const char *value;
    sp__origin origin; /* borrowed; a setter that keeps it copies it */
    const char *base;  /* absolute folder relative paths start from */
    char *msg;         /* room for the setter's phrase */
    size_t msglen;
} sp__arg;

/* Store arg->value into cfg; NULL, or a phrase (in arg->msg or static). */
typedef const char *sp__setter(sp__config *cfg, const sp__option *opt, const sp__arg *arg);

/* Scalar setters (setters.c). */
const char *sp__set_int(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_bool(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_size(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_duration(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_mode(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_enum(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_string(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_zone(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_path(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_cidrs(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__set_name(sp__config *cfg, const sp__option *opt, const sp__arg *arg);

/* Repeatable setters (lists.c): each call appends one entry. */
const char *sp__add_listen(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__add_module(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__add_middleware(sp__config *cfg, const sp__option *opt, const sp__arg *arg);
const char *sp__add_route(sp__config *cfg, const sp__option *opt, const sp__arg *arg);

/* The table (options.c), in help and example order. */
const sp__option *sp__options(size_t *count);
const sp__option *sp__option_find(const char *key);
int sp__option_is_list(const sp__option *opt);
const char *sp__section_name(enum sp__opt_section section); /* "server" */

/* What opt accepts, for error lines and help: "an integer from 1 to 1024". */
const char *sp__option_accepted(const sp__option *opt, char *buf, size_t len);

/* Store value through opt's setter.  0, or -1 with the whole error line
 * ("file:line: key: problem (accepted: ...)") in err. */
int sp__option_set(sp__config *cfg, const sp__option *opt, const char *value,
                   const sp__origin *origin, const char *base, char *err, size_t errlen);

/* Zero cfg and apply every default.  -1 (with err) only on ENOMEM. */
int sp__config_init(sp__config *cfg, char *err, size_t errlen);
/* Read an ini file (and its includes) into an initialised cfg. */
int sp__config_read(sp__config *cfg, const char *path, char *err, size_t errlen);
/* Checks that need the whole config (at least one listen); where names
 * the source for the message. */
int sp__config_check(const sp__config *cfg, const char *where, char *err, size_t errlen);

/* Copy an origin (its file string is duplicated).  -1 on ENOMEM. */
int sp__origin_dup(sp__origin *dst, const sp__origin *src);

/* Format a setter's phrase into arg->msg and return it. */
const char *sp__phrase(const sp__arg *arg, const char *fmt, ...) SP_PRINTF(2, 3);

/* path made absolute against base (NULL: the working directory), with
 * leading "./" and "../" folded.  malloc'd; NULL on failure. */
char *sp__resolve(const char *base, const char *path);

/* "8K", "1M", "64G" or plain bytes; "30s", "2m", "1500ms". */
void sp__format_size(unsigned long long bytes, char *buf, size_t len);
void sp__format_duration(long long ms, char *buf, size_t len);

#endif /* SPINDLE_CONF_OPTIONS_H */
