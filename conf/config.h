/*
 * config.h - spindle's configuration: the ini reader, the option table and
 * the command line, all feeding one sp__config.
 *
 * Every [server] and [app] key is declared once in the option table
 * (conf/options.c): name, section, type, bounds, default, help, and where in
 * sp__config it lands.  The ini reader, the CLI (--key value), --help, -T
 * and the example conf/server.ini are all generated from that table.
 *
 * Errors are one line, "file:line: key: what is wrong (what is accepted)",
 * and the caller exits with SP__EX_CONFIG (78, EX_CONFIG of sysexits.h).
 */
#ifndef SPINDLE_CONF_CONFIG_H
#define SPINDLE_CONF_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "conf/cidr.h"
#include "spindle/spindle.h"

#define SP__EX_CONFIG 78

/* Where a value came from, for error messages: "conf/server.ini:12" or
 * "<command line>:3" (argv index). */
typedef struct sp__origin {
    char *file;
    int line;
} sp__origin;

enum sp__listen_kind { SP__LISTEN_TCP, SP__LISTEN_UNIX };
enum sp__listen_proto { SP__PROTO_HTTP, SP__PROTO_UWSGI };
/* proxy-protocol: which PROXY header a trusted peer must send first. */
enum sp__proxy_mode { SP__PROXY_OFF, SP__PROXY_V1, SP__PROXY_V2, SP__PROXY_AUTO };
/* forwarded-headers: which request headers a trusted peer may set. */
enum sp__fwd_mode { SP__FWD_X_FORWARDED, SP__FWD_FORWARDED, SP__FWD_OFF };

typedef struct sp__listen {
    char *text; /* as written: "127.0.0.1:8000", "unix:/run/a.sock" */
    enum sp__listen_kind kind;
    enum sp__listen_proto proto; /* "uwsgi://" prefix selects uwsgi */
    /* TCP: resolved address (numeric hosts and names via getaddrinfo). */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *path; /* UNIX: socket path */
    sp__origin origin;
} sp__listen;

typedef struct sp__route_spec {
    char *method;  /* "GET", or "*" */
    char *pattern; /* "/hello/{name}" */
    char *module;  /* module name (descriptor name) or file stem */
    char *symbol;  /* exported handler function */
    sp__origin origin;
} sp__route_spec;

/* A repeatable plain value (module, middleware) with where it was written. */
typedef struct sp__item {
    char *value; /* modules: path resolved against the ini file's folder */
    sp__origin origin;
} sp__item;

typedef struct sp__kv {
    char *key;
    char *value;
    sp__origin origin;
} sp__kv;

/* [module:NAME]; also the public opaque sp_section. */
struct sp_section {
    char *name;
    sp__kv *items;
    size_t n_items;
    sp__origin origin; /* where [module:NAME] first appears */
};

enum sp__reload_mode { SP__RELOAD_ALL, SP__RELOAD_CHAIN };

typedef struct sp__config {
    /* [server] */
    sp__listen *listen;
    size_t n_listen;
    int processes;         /* 0 = auto: processes_min .. sp__processes_cap */
    int processes_min;     /* 0 = SP__PROCESSES_MIN */
    int processes_max;     /* 0 = one per CPU, at least 2 */
    int processes_busy_ms; /* saturated this long: one worker more */
    int processes_idle_ms; /* one fewer enough this long: one retired */
    int threads;           /* 0 = auto: sp__threads_min .. sp__threads_cap */
    int threads_min;       /* 0 = SP__THREADS_MIN */
    int threads_max;       /* 0 = SP__THREADS_MAX */
    int threads_idle_ms;   /* an auto thread idle this long stops */
    int backlog;
    int request_queue;        /* per-worker queue bound; 0 = 4 x threads */
    size_t limit_uri;         /* bytes of request target */
    size_t limit_headers;     /* bytes of request line + headers */
    int limit_header_count;   /* header lines */
    size_t limit_body;        /* bytes of request body */
    size_t body_buffer_size;  /* bodies above this spill to a temp file */
    char *body_temp_path;     /* folder for spilled bodies */
    int max_connections;      /* per worker; 0 = only the fd limit */
    int timeout_header_ms;    /* first byte to end of headers */
    int timeout_body_ms;      /* between body reads */
    size_t min_body_rate;     /* bytes/s a body must keep up on average; 0 = off */
    int timeout_keepalive_ms; /* idle between requests */
    int timeout_write_ms;     /* a write that makes no progress */
    int graceful_timeout_ms;  /* TERM/HUP: how long in-flight work may take */
    int max_keepalive_requests;
    int socket_mode; /* unix sockets, octal; -1 = leave umask's */
    /* behind a proxy (docs/deploy.md) */
    sp__cidr_list trusted_proxies; /* peers whose PROXY/forwarded headers count */
    int proxy_protocol;            /* enum sp__proxy_mode */
    int forwarded_headers;         /* enum sp__fwd_mode */
    char *pidfile;
    char *log_file; /* error log; NULL = stderr */
    int log_level;  /* enum sp_log_level */
    /* operations (server/master/master.c, docs/operations.md) */
    int respawn_limit;          /* early worker deaths in a row before giving up */
    int harakiri_ms;            /* per-thread request deadline; 0 = off */
    int harakiri_mercy_ms;      /* after harakiri: time before SIGKILL */
    int max_requests;           /* recycle a worker after this many; 0 = off */
    int max_requests_jitter;    /* plus 0..jitter, per worker */
    int max_worker_lifetime_ms; /* recycle after this long; 0 = off */
    int reload_on_rss_mib;      /* recycle above this RSS; 0 = off */
    int reload_mode;            /* enum sp__reload_mode */
    char *touch_reload;         /* reload when this file's mtime changes */
    char *control;              /* "unix:/path" control socket, or NULL */
    int control_mode;           /* its file mode (octal), whatever the umask */
    char *control_owner;        /* "user[:group]" of it, or NULL: the uid/gid run as */
    char *stats;                /* "host:port" or "unix:/path" stats server, or NULL */
    char *uid;                  /* user to run as (name or number), or NULL */
    char *gid;                  /* group to run as (name or number), or NULL */
    char *socket_owner;         /* "user[:group]" for unix listen sockets, or NULL */

    /* [app] */
    sp__item *modules;
    size_t n_modules;
    sp__item *middleware;
    size_t n_middleware;
    sp__route_spec *routes;
    size_t n_routes;
    int preload; /* load the modules in the master and run their preload hooks */

    /* [tasks] (app/tasks/tasks.c, app/tasks/spooler.c, app/tasks/cron.c; docs/tasks.md) */
    int task_threads;       /* per-worker task threads; 0 = no in-process tasks */
    int task_queue;         /* per-worker queued tasks before submit fails */
    int task_result_ttl_ms; /* finished task states kept this long */
    char *spool;            /* durable spool folder, or NULL */
    int spoolers;           /* spooler processes (with a spool or [cron]) */
    int task_retries;       /* spooled task: runs after a crash before failing */
    int cron_catchup;       /* fire a run missed while the server was down */
    char *cron_timezone;    /* zone [cron] lines are read in */
    char *tasks_backend;    /* "redis://host:port/db": shared queue and states, or NULL */
    int task_lease_ms;      /* redis: a silent instance's claimed tasks go back after this */
    char *instance;         /* this instance's name in shared keys (default: the host name) */

    /* [cron] lines as written (each checked by sp__crontab_parse when read) */
    sp__item *cron;
    size_t n_cron;

    /* Set by the master before it forks (not options): the folder holding
     * task states and the spool the spoolers read (spool, or a private
     * folder for [cron] when no spool is set).  NULL until then. */
    char *task_dir;
    char *spool_dir;

    /* [module:NAME] sections, in file order */
    struct sp_section *sections;
    size_t n_sections;

    /* the main ini file as given (NULL when none), for reloads */
    char *ini_path;
} sp__config;

/* What the command line asked for. */
enum sp__action {
    SP__RUN,          /* serve */
    SP__CHECK,        /* -t: check the config, print "ok", exit 0 */
    SP__PRINT,        /* -T: print the effective config as ini, exit 0 */
    SP__HELP,         /* --help */
    SP__VERSION,      /* --version */
    SP__PRINT_EXAMPLE /* --print-example-ini: the commented conf/server.ini */
};

/* Parse argv (ini file as first positional or --ini FILE; --key value and
 * --flag for every option; -t, -T, --help, --version) into cfg, reading the
 * ini file and its includes.  Command-line values come after the file's,
 * so a single-valued key on the command line wins.  On failure returns -1
 * with one line (no newline) in err and cfg freed; on success 0. */
int sp__config_load(sp__config *cfg, int argc, char **argv, enum sp__action *action, char *err,
                    size_t errlen);

/* Read only an ini file (no CLI): used by tests and by reload. */
/* threads = auto and processes = auto (docs/operations.md): the bounds a
 * worker and the master size themselves within.  For a fixed setting, min
 * and cap are that number. */
#define SP__THREADS_MIN   2
#define SP__THREADS_MAX   64
#define SP__PROCESSES_MIN 1
static inline int sp__threads_cap(const sp__config *cfg)
{
    return cfg->threads ? cfg->threads : cfg->threads_max ? cfg->threads_max : SP__THREADS_MAX;
}
static inline int sp__threads_min(const sp__config *cfg)
{
    return cfg->threads ? cfg->threads : cfg->threads_min ? cfg->threads_min : SP__THREADS_MIN;
}
static inline int sp__processes_min(const sp__config *cfg)
{
    return cfg->processes       ? cfg->processes
           : cfg->processes_min ? cfg->processes_min
                                : SP__PROCESSES_MIN;
}
/* processes-max, or one per CPU (at least 2, at least processes-min). */
int sp__processes_cap(const sp__config *cfg);

int sp__config_load_file(sp__config *cfg, const char *path, char *err, size_t errlen);

void sp__config_free(sp__config *cfg);

/* The [module:NAME] section, or an empty one (never NULL). */
const struct sp_section *sp__config_section(const sp__config *cfg, const char *name);

/* "Did you mean": the candidate closest to word in edits (insert, delete,
 * change a byte), kept as candidates are tried; sp__nearest_pick gives it
 * only when it is close enough to be a misspelling (at most 2 edits, and
 * at most half the word), else NULL. */
typedef struct sp__nearest {
    const char *word;
    const char *best;
    size_t d;
} sp__nearest;
void sp__nearest_try(sp__nearest *n, const char *candidate);
const char *sp__nearest_pick(const sp__nearest *n);

/* The scalar parsers behind the option table's setters (setters.c) and
 * the module getters sp_conf_bool/_size/_duration_ms (app/section.c), so
 * both accept the same words.  SP_OK, SP_EINVAL when s is not such a
 * value, SP_E2BIG when it overflows. */
int sp__parse_bool(const char *s, bool *out);
int sp__parse_size(const char *s, unsigned long long *out);
int sp__parse_duration_ms(const char *s, unsigned long long *out);
#define SP__ACCEPT_BOOL     "true, false, yes, no, on, off, 1 or 0"
#define SP__ACCEPT_SIZE     "a size in bytes, with suffix k, m or g"
#define SP__ACCEPT_DURATION "a duration: seconds, or with suffix ms, s or m"

/* cron-timezone values: UTC, or a readable zone under /usr/share/zoneinfo. */
int sp__zone_ok(const char *tz);
/* instance's default: the host name, any byte a name may not hold made
 * '-'; malloc'd, NULL when out of memory. */
char *sp__host_instance(void);

void sp__config_print(const sp__config *cfg, FILE *out); /* -T */
void sp__config_help(FILE *out, const char *argv0);      /* --help */
void sp__config_usage(FILE *out, const char *argv0);     /* its first lines */
void sp__config_example(FILE *out);                      /* example ini */

#endif /* SPINDLE_CONF_CONFIG_H */
