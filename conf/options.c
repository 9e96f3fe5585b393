/*
 * options.c - the option table, and reading server.ini into sp__config.
 *
 * The table below is the single declaration of every [server] and [app]
 * key.  Adding a key means adding a field to sp__config and one entry here;
 * the ini reader, the command line, --help, -T and the example server.ini
 * pick it up from the table.  The table is the only global in conf/, and it
 * is const.
 *
 * Reading goes through the syntax-only reader in ini.c; on_line() below
 * gives each line its meaning: which sections exist, which keys belong
 * where, and [module:NAME] lines kept verbatim for the module to read.
 */
#include "conf/options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/crontab.h"
#include "conf/ini.h"

#define KIB    1024LL
#define MIB    (1024LL * KIB)
#define GIB    (1024LL * MIB)
#define DAY_MS (24LL * 3600 * 1000)

#define AT(field) offsetof(sp__config, field)

/* Shorthands keep the table one entry per few lines. */
#define INT_OPT(k, sec, field, lo, hi, def, ex, h)                                                 \
    {                                                                                              \
        k, sec, SP__T_INT, AT(field), lo, hi, def, NULL, ex, h                                     \
    }
#define SIZE_OPT(k, field, lo, hi, def, h)                                                         \
    {                                                                                              \
        k, SP__SEC_SERVER, SP__T_SIZE, AT(field), lo, hi, def, NULL, NULL, h                       \
    }
#define TIME_OPT(k, field, def, h)                                                                 \
    {                                                                                              \
        k, SP__SEC_SERVER, SP__T_DURATION, AT(field), 1, DAY_MS, def, NULL, NULL, h                \
    }
/* A duration where 0 means "off". */
#define OFF_OPT(k, field, def, h)                                                                  \
    {                                                                                              \
        k, SP__SEC_SERVER, SP__T_DURATION, AT(field), 0, DAY_MS, def, NULL, NULL, h                \
    }

static const sp__option options[] = {
    /* [server]: process model and sockets */
    {"listen", SP__SEC_SERVER, SP__T_LISTEN, AT(listen), 0, 0, NULL, NULL, "127.0.0.1:8000",
     "Where to accept connections.  A host name is resolved when the config is read; *:port "
     "or :port means every IPv4 address.  Prefix uwsgi:// to speak the uwsgi protocol (nginx "
     "uwsgi_pass) instead of HTTP.  At least one is required."},
    {"processes", SP__SEC_SERVER, SP__T_INT, AT(processes), 1, 1024, "2", "auto", "2",
     "Worker processes the master forks; each serves requests on its own.  auto: the master "
     "adds a worker while all are saturated and retires one that idles, between "
     "processes-min and processes-max (docs/operations.md, \"processes = auto\")."},
    INT_OPT("processes-min", SP__SEC_SERVER, processes_min, 0, 1024, "0", NULL,
            "With processes = auto: the fewest workers, started at once; 0 means 1."),
    INT_OPT("processes-max", SP__SEC_SERVER, processes_max, 0, 1024, "0", NULL,
            "With processes = auto: the most workers; 0 means one per CPU (at least 2)."),
    TIME_OPT("processes-busy", processes_busy_ms, "1s",
             "With processes = auto: how long every worker must be saturated before one is "
             "added; also the pause after each change."),
    TIME_OPT("processes-idle", processes_idle_ms, "60s",
             "With processes = auto: how long one worker fewer must have been enough before an "
             "idle one is retired (gracefully, like a reload)."),
    {"threads", SP__SEC_SERVER, SP__T_INT, AT(threads), 1, 1024, "8", "auto", "8",
     "Handler threads per worker: processes x threads requests run at once.  Short requests "
     "run on the thread holding the IO loop instead, while a handler thread is free "
     "(docs/operations.md, \"Where requests run\").  auto: a worker starts a thread while "
     "requests wait and every thread is busy, and stops one that idles, between threads-min "
     "and threads-max."},
    INT_OPT("threads-min", SP__SEC_SERVER, threads_min, 0, 1024, "0", NULL,
            "With threads = auto: handler threads a worker keeps however idle; 0 means 2."),
    INT_OPT("threads-max", SP__SEC_SERVER, threads_max, 0, 1024, "0", NULL,
            "With threads = auto: the most handler threads per worker; 0 means 64."),
    TIME_OPT("threads-idle", threads_idle_ms, "30s",
             "With threads = auto: a handler thread that took no request for this long stops "
             "(never below threads-min)."),
    INT_OPT("backlog", SP__SEC_SERVER, backlog, 1, 65535, "1024", NULL,
            "Pending-connection queue of each listen socket (listen(2)); the kernel caps it at "
            "net.core.somaxconn."),
    INT_OPT("request-queue", SP__SEC_SERVER, request_queue, 0, 65536, "0", NULL,
            "Complete requests a worker holds for busy threads before it stops accepting and "
            "leaves new connections to its siblings; 0 means 4 x threads (x threads-max with "
            "threads = auto)."),
    /* [server]: limits */
    SIZE_OPT("limit-uri", limit_uri, 64, MIB, "8K",
             "Longest request target (path and query); longer is answered 414."),
    SIZE_OPT("limit-headers", limit_headers, KIB, MIB, "16K",
             "Most bytes of request line and headers together; more is answered 431."),
    INT_OPT("limit-header-count", SP__SEC_SERVER, limit_header_count, 1, 10000, "100", NULL,
            "Most header lines in one request; more is answered 431."),
    SIZE_OPT("limit-body", limit_body, 0, 64 * GIB, "1M",
             "Largest request body; larger is answered 413."),
    SIZE_OPT("body-buffer-size", body_buffer_size, 0, GIB, "256K",
             "Request bodies up to this size are kept in memory; larger ones are written to "
             "an unlinked temp file in body-temp-path, so memory stays bounded."),
    {"body-temp-path", SP__SEC_SERVER, SP__T_PATH, AT(body_temp_path), 0, 0, "/tmp", NULL, NULL,
     "Folder for request bodies above body-buffer-size; the files have no name and vanish "
     "when the request ends."},
    INT_OPT("max-connections", SP__SEC_SERVER, max_connections, 0, 1000000, "10000", NULL,
            "Open connections one worker holds at most; at the limit it stops accepting and "
            "leaves new connections to its siblings.  0 means only the descriptor limit."),
    /* [server]: timeouts */
    TIME_OPT("timeout-header", timeout_header_ms, "30s",
             "From a request's first byte to the end of its headers; a slower client is "
             "answered 408 and closed."),
    TIME_OPT("timeout-body", timeout_body_ms, "60s",
             "Longest wait between two reads of a request body; then 408 and close."),
    SIZE_OPT("min-body-rate", min_body_rate, 0, GIB, "1K",
             "Bytes per second a request body must keep up: each read buys the time its bytes "
             "are worth at this rate (never more than timeout-body), so a body trickled a byte "
             "at a time is answered 408 however often it arrives.  0 turns it off: every read "
             "then restarts timeout-body."),
    TIME_OPT("timeout-keepalive", timeout_keepalive_ms, "75s",
             "How long an idle keep-alive connection is kept between requests.  Keep it above "
             "the keepalive timeout of the proxy in front (nginx upstream: 60s)."),
    TIME_OPT("timeout-write", timeout_write_ms, "60s",
             "Longest a response write may make no progress before the connection is dropped."),
    TIME_OPT("graceful-timeout", graceful_timeout_ms, "30s",
             "On TERM or HUP, how long in-flight requests get to finish before their worker is "
             "killed."),
    INT_OPT("max-keepalive-requests", SP__SEC_SERVER, max_keepalive_requests, 0, 1000000000, "1000",
            NULL, "Requests served on one connection before it is closed; 0 means no limit."),
    /* [server]: files and logging */
    {"socket-mode", SP__SEC_SERVER, SP__T_MODE, AT(socket_mode), 0, 0777, NULL, NULL, NULL,
     "File mode of unix listen sockets, in octal (660); unset leaves it to the umask."},
    /* [server]: behind a proxy (docs/deploy.md) */
    {"trusted-proxies", SP__SEC_SERVER, SP__T_CIDRS, AT(trusted_proxies), 0, 0, NULL, NULL, NULL,
     "Peers whose PROXY protocol header and forwarded headers are believed; \"unix\" trusts "
     "unix-socket peers.  From any other peer forwarded headers are ignored and a PROXY "
     "header closes the connection.  Unset trusts nobody."},
    {"proxy-protocol", SP__SEC_SERVER, SP__T_ENUM, AT(proxy_protocol), 0, 0, "off",
     "off|v1|v2|auto", NULL,
     "PROXY protocol header a trusted peer must send before its first request (auto: v1 or "
     "v2); the client address and port then come from it.  Applies to every listener."},
    {"forwarded-headers", SP__SEC_SERVER, SP__T_ENUM, AT(forwarded_headers), 0, 0, "x-forwarded",
     "x-forwarded|forwarded|off", NULL,
     "Which headers from a trusted peer give the client's address and scheme: "
     "X-Forwarded-For and X-Forwarded-Proto, or RFC 7239 Forwarded.  The client is the "
     "right-most address that is not itself trusted."},
    {"pidfile", SP__SEC_SERVER, SP__T_PATH, AT(pidfile), 0, 0, NULL, NULL, NULL,
     "Write the master's process id to this file."},
    {"log-file", SP__SEC_SERVER, SP__T_PATH, AT(log_file), 0, 0, NULL, NULL, NULL,
     "Error log file; unset logs to stderr.  Reopened on USR1."},
    {"log-level", SP__SEC_SERVER, SP__T_ENUM, AT(log_level), 0, 0, "info", "error|warn|info|debug",
     NULL, "Least severe error log messages that are written."},
    /* [server]: supervision, recycling, reloads (docs/operations.md) */
    INT_OPT("respawn-limit", SP__SEC_SERVER, respawn_limit, 1, 1000000, "10", NULL,
            "Workers in a row that may die before they are ready (each respawn backed off "
            "exponentially, up to 5s) before the master gives up and exits non-zero."),
    OFF_OPT("harakiri", harakiri_ms, "0",
            "Longest one request may hold its handler thread; then the request is logged, its "
            "worker stops accepting and is replaced at once, and killed after harakiri-mercy.  "
            "0 turns it off."),
    TIME_OPT("harakiri-mercy", harakiri_mercy_ms, "5s",
             "After a harakiri, how long the old worker gets to finish its other requests "
             "before it is killed."),
    INT_OPT("max-requests", SP__SEC_SERVER, max_requests, 0, 2000000000, "0", NULL,
            "Recycle a worker after it served this many requests: its replacement starts "
            "accepting first, then it finishes what it has and exits.  0 turns it off."),
    INT_OPT("max-requests-jitter", SP__SEC_SERVER, max_requests_jitter, 0, 2000000000, "0", NULL,
            "Add 0 to this many requests to max-requests, differently per worker, so "
            "workers do not all recycle at once."),
    OFF_OPT("max-worker-lifetime", max_worker_lifetime_ms, "0",
            "Recycle a worker (gracefully, as max-requests) once it has run this long.  0 "
            "turns it off."),
    INT_OPT("reload-on-rss", SP__SEC_SERVER, reload_on_rss_mib, 0, 1048576, "0", NULL,
            "Recycle a worker (gracefully, as max-requests) once its resident memory passes "
            "this many MiB.  0 turns it off."),
    {"reload-mode", SP__SEC_SERVER, SP__T_ENUM, AT(reload_mode), 0, 0, "all", "all|chain", NULL,
     "How HUP replaces workers: all starts every new worker at once and retires the old ones "
     "when all are ready; chain replaces them one at a time, each only after its replacement "
     "accepts."},
    {"touch-reload", SP__SEC_SERVER, SP__T_PATH, AT(touch_reload), 0, 0, NULL, NULL, NULL,
     "Reload (as on HUP) whenever this file's modification time changes."},
    /* [server]: control, stats, privileges */
    {"control", SP__SEC_SERVER, SP__T_STRING, AT(control), 0, 0, NULL, NULL, NULL,
     "unix:/path of a control socket in the master, for spindle ctl (reload, chain-reload, "
     "stop, workers +N/-N, stats)."},
    {"control-mode", SP__SEC_SERVER, SP__T_MODE, AT(control_mode), 0, 0777, "600", NULL, NULL,
     "File mode of the control socket, in octal, whatever the umask: whoever can write to it "
     "can reload and stop the server."},
    {"control-owner", SP__SEC_SERVER, SP__T_STRING, AT(control_owner), 0, 0, NULL, NULL, NULL,
     "Owner of the control socket, user or user:group (names or numbers); default: the uid "
     "and gid the server runs as."},
    {"stats", SP__SEC_SERVER, SP__T_STRING, AT(stats), 0, 0, NULL, NULL, NULL,
     "host:port or unix:/path where the master serves GET / (JSON stats) and GET /metrics "
     "(Prometheus text).  Keep it on loopback or a private socket: it shows request paths, "
     "and an address anyone can reach is warned about at start."},
    {"uid", SP__SEC_SERVER, SP__T_STRING, AT(uid), 0, 0, NULL, NULL, NULL,
     "User (name or number) the master and workers run as, switched to after binding the "
     "sockets; needs root."},
    {"gid", SP__SEC_SERVER, SP__T_STRING, AT(gid), 0, 0, NULL, NULL, NULL,
     "Group (name or number) to run as, switched to after binding; default with uid: that "
     "user's group."},
    {"socket-owner", SP__SEC_SERVER, SP__T_STRING, AT(socket_owner), 0, 0, NULL, NULL, NULL,
     "Owner of unix listen sockets, user or user:group (names or numbers)."},

    /* [app] */
    {"module", SP__SEC_APP, SP__T_MODULE, AT(modules), 0, 0, NULL, NULL,
     "../build/examples/hello.so\n../build/examples/echo.so\n../build/examples/sleep.so",
     "A handler module every worker loads, in this order."},
    {"middleware", SP__SEC_APP, SP__T_MIDDLEWARE, AT(middleware), 0, 0, NULL, NULL,
     "request_id\naccess_log",
     "A middleware of the chain, outermost first: one a module defined, by name, or a "
     "function a module exports."},
    {"route", SP__SEC_APP, SP__T_ROUTE, AT(routes), 0, 0, NULL, NULL, NULL,
     "Send requests to a handler function a module exports; {name} matches one path "
     "segment, METHOD * any method.  Modules may also add routes themselves."},
    {"preload", SP__SEC_APP, SP__T_BOOL, AT(preload), 0, 0, "false", NULL, NULL,
     "Load the modules once in the master and run their preload hooks (the wsgi module "
     "imports the application there) before forking: workers start at once and share "
     "those pages.  A reload (HUP) keeps the loaded code; new module files need a restart."},

    /* [tasks] (docs/tasks.md) */
    INT_OPT("task-threads", SP__SEC_TASKS, task_threads, 0, 1024, "4", NULL,
            "Threads per worker that run background tasks (sp_task_submit), apart from the "
            "handler threads.  0 turns in-process tasks off."),
    INT_OPT("task-queue", SP__SEC_TASKS, task_queue, 1, 1000000, "1000", NULL,
            "Tasks a worker holds waiting for a task thread; when full, sp_task_submit fails "
            "with SP_EFULL (answer 503 with Retry-After)."),
    {"task-result-ttl", SP__SEC_TASKS, SP__T_DURATION, AT(task_result_ttl_ms), 1000, DAY_MS, "60m",
     NULL, NULL,
     "How long a finished task's state and result stay readable (GET /_tasks/ID); then "
     "it reads as expired and is deleted."},
    {"spool", SP__SEC_TASKS, SP__T_PATH, AT(spool), 0, 0, NULL, NULL, NULL,
     "Folder of the durable spool: a task submitted with SP_TASK_SPOOL is written here "
     "(fsync'd) before submit returns, survives restarts and crashes, and is run by a "
     "spooler process.  Task states and results live here too.  Unset: no spool."},
    INT_OPT("spoolers", SP__SEC_TASKS, spoolers, 0, 256, "1", NULL,
            "Spooler processes the master forks and supervises when a spool or [cron] lines "
            "are set; each runs one spooled task at a time."),
    INT_OPT("task-retries", SP__SEC_TASKS, task_retries, 0, 100, "3", NULL,
            "Times a spooled task is run again after its spooler died running it (with "
            "backoff: 1s, 2s, 4s ...) before it is marked failed with the reason."),
    {"cron-catchup", SP__SEC_TASKS, SP__T_BOOL, AT(cron_catchup), 0, 0, "false", NULL, NULL,
     "At start, run once each [cron] line whose time passed while the server was down (for "
     "the first time it missed); off, missed runs are skipped."},
    {"cron-timezone", SP__SEC_TASKS, SP__T_ZONE, AT(cron_timezone), 0, 0, "UTC", NULL, NULL,
     "Time zone [cron] lines are read in: UTC or a zoneinfo name such as Europe/Paris."},
    {"tasks-backend", SP__SEC_TASKS, SP__T_STRING, AT(tasks_backend), 0, 0, NULL, NULL, NULL,
     "redis://host:port/db: keep spooled tasks and every task's state in Redis instead of "
     "files, so several spindle instances share one queue (a task submitted on one runs on a "
     "spooler of any) and read each other's results; [cron] lines fire once per due time "
     "across them.  Unset: files."},
    {"task-lease", SP__SEC_TASKS, SP__T_DURATION, AT(task_lease_ms), 1000, DAY_MS, "30s", NULL,
     NULL,
     "With tasks-backend: each master renews a lease in Redis every third of this; when an "
     "instance stops renewing (the whole host died), another instance puts the tasks its "
     "spoolers had claimed back in the queue (one more attempt) after this long."},
    {"instance", SP__SEC_TASKS, SP__T_NAME, AT(instance), 0, 0, NULL, NULL, NULL,
     "This instance's name in the keys it shares through tasks-backend (claimed tasks, its "
     "lease, [cron] claims).  Default: the host name.  Give each instance its own when "
     "several run on one host or share a host name (containers, network namespaces)."},
};

const sp__option *sp__options(size_t *count)
{
    *count = sizeof options / sizeof options[0];
    return options;
}

const sp__option *sp__option_find(const char *key)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(options[i].key, key) == 0)
            return &options[i];
    return NULL;
}

int sp__option_is_list(const sp__option *opt)
{
    return opt->type == SP__T_LISTEN || opt->type == SP__T_MODULE ||
           opt->type == SP__T_MIDDLEWARE || opt->type == SP__T_ROUTE;
}

const char *sp__section_name(enum sp__opt_section section)
{
    return section == SP__SEC_SERVER ? "server" : section == SP__SEC_APP ? "app" : "tasks";
}

/* "error|warn|info|debug" -> "one of error, warn, info, debug" */
static const char *accepted_choices(const char *choices, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "one of ");

    for (const char *c = choices; *c && n + 3 < len; c++) {
        if (*c == '|') {
            buf[n++] = ',';
            buf[n++] = ' ';
        } else {
            buf[n++] = *c;
        }
    }
    buf[n < len ? n : len - 1] = '\0';
    return buf;
}

static const char *accepted_range(const sp__option *o, char *buf, size_t len)
{
    char lo[32], hi[32];

    if (o->type == SP__T_INT) {
        snprintf(buf, len, "an integer from %lld to %lld%s%s", o->min, o->max,
                 o->choices ? ", or " : "", o->choices ? o->choices : "");
    } else if (o->type == SP__T_SIZE) {
        sp__format_size((unsigned long long)o->min, lo, sizeof lo);
        sp__format_size((unsigned long long)o->max, hi, sizeof hi);
        snprintf(buf, len, "a size in bytes from %s to %s, with suffix k, m or g", lo, hi);
    } else if (o->type == SP__T_DURATION) {
        sp__format_duration(o->min, lo, sizeof lo);
        sp__format_duration(o->max, hi, sizeof hi);
        snprintf(buf, len, "a duration from %s to %s: seconds, or with suffix ms, s or m", lo, hi);
    } else {
        snprintf(buf, len, "an octal file mode from %llo to 0%llo, like 660 or 0660",
                 (unsigned long long)o->min, (unsigned long long)o->max);
    }
    return buf;
}

const char *sp__option_accepted(const sp__option *opt, char *buf, size_t len)
{
    switch (opt->type) {
    case SP__T_INT:
    case SP__T_SIZE:
    case SP__T_DURATION:
    case SP__T_MODE:
        return accepted_range(opt, buf, len);
    case SP__T_ENUM:
        return accepted_choices(opt->choices, buf, len);
    case SP__T_BOOL:
        return SP__ACCEPT_BOOL;
    case SP__T_STRING:
        return "any text";
    case SP__T_ZONE:
        return "UTC or a zone name under /usr/share/zoneinfo, like Europe/Paris";
    case SP__T_PATH:
        return "a file path, relative to the ini file's folder";
    case SP__T_LISTEN:
        return "host:port, [v6]:port or unix:/path, port 1-65535";
    case SP__T_MODULE:
        return "a path to a module .so, relative to the ini file's folder";
    case SP__T_MIDDLEWARE:
        return "a name like access_log, or module:symbol";
    case SP__T_ROUTE:
        return "METHOD /path module:symbol, like GET /hello hello:hello";
    case SP__T_CIDRS:
        return "IPv4/IPv6 addresses or networks and the word unix, comma-separated, like "
               "127.0.0.1/32, ::1/128, 10.0.0.0/8";
    case SP__T_NAME:
        return "1 to 63 letters, digits, '.', '_' or '-'";
    }
    return "?";
}

static sp__setter *setter_of(enum sp__opt_type type)
{
    switch (type) {
    case SP__T_INT:
        return sp__set_int;
    case SP__T_BOOL:
        return sp__set_bool;
    case SP__T_SIZE:
        return sp__set_size;
    case SP__T_DURATION:
        return sp__set_duration;
    case SP__T_MODE:
        return sp__set_mode;
    case SP__T_ENUM:
        return sp__set_enum;
    case SP__T_STRING:
        return sp__set_string;
    case SP__T_ZONE:
        return sp__set_zone;
    case SP__T_PATH:
        return sp__set_path;
    case SP__T_LISTEN:
        return sp__add_listen;
    case SP__T_MODULE:
        return sp__add_module;
    case SP__T_MIDDLEWARE:
        return sp__add_middleware;
    case SP__T_ROUTE:
        return sp__add_route;
    case SP__T_CIDRS:
        return sp__set_cidrs;
    case SP__T_NAME:
        return sp__set_name;
    }
    return NULL;
}

int sp__option_set(sp__config *cfg, const sp__option *opt, const char *value,
                   const sp__origin *origin, const char *base, char *err, size_t errlen)
{
    char msg[512], acc[160];
    sp__arg arg = {value, *origin, base, msg, sizeof msg};
    const char *problem = setter_of(opt->type)(cfg, opt, &arg);

    if (!problem)
        return 0;
    sp__ini_error(err, errlen, origin->file, origin->line, opt->key, "%s (accepted: %s)", problem,
                  sp__option_accepted(opt, acc, sizeof acc));
    return SP_EINVAL;
}

int sp__origin_dup(sp__origin *dst, const sp__origin *src)
{
    dst->file = strdup(src->file);
    dst->line = src->line;
    return dst->file ? 0 : -1;
}

/* ---- reading an ini file -------------------------------------------------- */

/* Levenshtein distance, for "did you mean"; keys are short. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];

    if (la >= 64 || lb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The table key closest to key, if it is close enough to be a typo. */
void sp__nearest_try(sp__nearest *n, const char *candidate)
{
    size_t d = edit_distance(n->word, candidate);
    if (n->best == NULL || d < n->d)
        n->best = candidate, n->d = d;
}

const char *sp__nearest_pick(const sp__nearest *n)
{
    return n->best && n->d <= 2 && n->d <= strlen(n->word) / 2 ? n->best : NULL;
}

static const sp__option *suggest(const char *key)
{
    sp__nearest near = {.word = key};

    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        sp__nearest_try(&near, options[i].key);
    const char *pick = sp__nearest_pick(&near);
    for (size_t i = 0; pick && i < sizeof options / sizeof options[0]; i++)
        if (options[i].key == pick)
            return &options[i];
    return NULL;
}

static int key_error(const sp__ini_line *l, const sp__option *o, enum sp__opt_section sec,
                     char *err, size_t errlen)
{
    const char *here = sp__section_name(sec);

    if (o) {
        sp__ini_error(err, errlen, l->file, l->line, l->key, "belongs in [%s], not [%s]",
                      sp__section_name(o->section), here);
        return SP_EINVAL;
    }
    o = suggest(l->key);
    if (o && o->section == sec)
        sp__ini_error(err, errlen, l->file, l->line, l->key,
                      "unknown key in [%s] (did you mean '%s'?)", here, o->key);
    else if (o)
        sp__ini_error(err, errlen, l->file, l->line, l->key,
                      "unknown key in [%s] (did you mean '%s' in [%s]?)", here, o->key,
                      sp__section_name(o->section));
    else
        sp__ini_error(err, errlen, l->file, l->line, l->key,
                      "unknown key in [%s] (accepted: the keys spindle --help lists)", here);
    return SP_EINVAL;
}

static struct sp_section *find_section(sp__config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (strcmp(cfg->sections[i].name, name) == 0)
            return &cfg->sections[i];
    return NULL;
}

static int valid_module_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *s))
            return 0;
    return 1;
}

static int on_section(sp__config *cfg, const sp__ini_line *l, char *err, size_t errlen)
{
    const char *name = l->section, *problem = "unknown section";
    struct sp_section *s;
    char what[96];

    if (strcmp(name, "server") == 0 || strcmp(name, "app") == 0 || strcmp(name, "tasks") == 0 ||
        strcmp(name, "cron") == 0)
        return 0;
    if (strncmp(name, "module:", 7) == 0 && valid_module_name(name + 7)) {
        if (find_section(cfg, name + 7))
            return 0; /* a second [module:x] adds to the first */
        s = realloc(cfg->sections, (cfg->n_sections + 1) * sizeof *s);
        if (!s)
            goto nomem;
        cfg->sections = s;
        s = &cfg->sections[cfg->n_sections];
        sp__origin at = {(char *)l->file, l->line};
        *s = (struct sp_section){.name = strdup(name + 7)};
        if (!s->name || sp__origin_dup(&s->origin, &at)) {
            free(s->name);
            goto nomem;
        }
        cfg->n_sections++;
        return 0;
    }
    if (strncmp(name, "module:", 7) == 0)
        problem = "a module section needs a name of letters, digits, '_', '.' or '-'";
    snprintf(what, sizeof what, "[%.80s]", name);
    sp__ini_error(err, errlen, l->file, l->line, what,
                  "%s (accepted: [server], [app], [tasks], [cron], [module:NAME])", problem);
    return SP_EINVAL;
nomem:
    sp__ini_error(err, errlen, l->file, l->line, name, "out of memory");
    return SP_ENOMEM;
}

/* A [module:NAME] line: kept as written, for the module to interpret. */
static int add_kv(sp__config *cfg, const sp__ini_line *l, char *err, size_t errlen)
{
    struct sp_section *s = find_section(cfg, l->section + 7);
    sp__origin at = {(char *)l->file, l->line};
    sp__kv *items = realloc(s->items, (s->n_items + 1) * sizeof *items);
    sp__kv *kv;

    if (!items)
        goto nomem;
    s->items = items;
    kv = &items[s->n_items];
    kv->key = strdup(l->key);
    kv->value = strdup(l->value);
    if (!kv->key || !kv->value || sp__origin_dup(&kv->origin, &at)) {
        free(kv->key);
        free(kv->value);
        goto nomem;
    }
    s->n_items++;
    return 0;
nomem:
    sp__ini_error(err, errlen, l->file, l->line, l->key, "out of memory");
    return SP_ENOMEM;
}

/* A [cron] line (the reader hands it over whole as the value): checked
 * now, so a bad schedule stops the server at start with file:line. */
static int add_cron(sp__config *cfg, const sp__ini_line *l, char *err, size_t errlen)
{
    sp__crontab spec;
    char why[160];
    const char *problem = sp__crontab_parse(l->value, &spec, why, sizeof why);
    sp__item *v;

    if (problem) {
        sp__ini_error(err, errlen, l->file, l->line, "cron",
                      "%s in '%.120s' (accepted: [SEC] "
                      "MIN HOUR DOM MON DOW module:function)",
                      problem, l->value);
        return SP_EINVAL;
    }
    v = realloc(cfg->cron, (cfg->n_cron + 1) * sizeof *v);
    if (!v)
        goto nomem;
    cfg->cron = v;
    v[cfg->n_cron].value = strdup(l->value);
    if (!v[cfg->n_cron].value ||
        sp__origin_dup(&v[cfg->n_cron].origin, &(sp__origin){(char *)l->file, l->line})) {
        free(v[cfg->n_cron].value);
        goto nomem;
    }
    cfg->n_cron++;
    return 0;
nomem:
    sp__ini_error(err, errlen, l->file, l->line, "cron", "out of memory");
    return SP_ENOMEM;
}

static int on_line(void *ctx, const sp__ini_line *l, char *err, size_t errlen)
{
    sp__config *cfg = ctx;
    sp__origin at = {(char *)l->file, l->line}; /* borrowed for the call */
    enum sp__opt_section sec;
    const sp__option *o;

    if (!l->key)
        return on_section(cfg, l, err, errlen);
    if (strncmp(l->section, "module:", 7) == 0)
        return add_kv(cfg, l, err, errlen);
    if (strcmp(l->section, "cron") == 0)
        return add_cron(cfg, l, err, errlen);
    sec = strcmp(l->section, "server") == 0 ? SP__SEC_SERVER
          : strcmp(l->section, "app") == 0  ? SP__SEC_APP
                                            : SP__SEC_TASKS;
    o = sp__option_find(l->key);
    if (!o || o->section != sec)
        return key_error(l, o, sec, err, errlen);
    return sp__option_set(cfg, o, l->value, &at, l->dir, err, errlen);
}

int sp__config_init(sp__config *cfg, char *err, size_t errlen)
{
    const sp__origin dflt = {"<default>", 0};

    memset(cfg, 0, sizeof *cfg);
    /* The defaults that are not a value written in the table: "unset", and
     * this machine's name. */
    cfg->socket_mode = -1;
    cfg->instance = sp__host_instance();
    if (cfg->instance == NULL) {
        sp__ini_error(err, errlen, dflt.file, 0, "instance", "out of memory");
        return SP_ENOMEM;
    }
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        if (options[i].dflt &&
            sp__option_set(cfg, &options[i], options[i].dflt, &dflt, NULL, err, errlen)) {
            sp__config_free(cfg);
            return SP_EINVAL;
        }
    }
    return 0;
}

int sp__config_read(sp__config *cfg, const char *path, char *err, size_t errlen)
{
    free(cfg->ini_path);
    cfg->ini_path = strdup(path);
    if (!cfg->ini_path) {
        sp__ini_error(err, errlen, path, 0, "cannot read", "out of memory");
        return SP_ENOMEM;
    }
    return sp__ini_read(path, on_line, cfg, err, errlen);
}

/* "redis://host:port" or "redis://host:port/db". */
static int redis_url_ok(const char *url)
{
    char host[256];
    int port = 0, db = 0, n = 0, m = 0;
    if (sscanf(url, "redis://%255[^:/]:%d%n", host, &port, &n) != 2 || port < 1 || port > 65535)
        return 0;
    if (url[n] == '/' && (sscanf(url + n + 1, "%d%n", &db, &m) != 1 || db < 0 || db > 1000))
        return 0;
    return url[n] == '\0' || (url[n] == '/' && url[n + 1 + m] == '\0');
}

/* A bound of threads or processes given without auto, or bounds that
 * cross: refused by name, since the line is not where the fault is. */
static int check_auto(const char *where, char *err, size_t errlen, const char *key, int value,
                      int lo, int hi, int dflt_lo)
{
    char min_key[32], max_key[32];
    snprintf(min_key, sizeof min_key, "%s-min", key);
    snprintf(max_key, sizeof max_key, "%s-max", key);
    if (value != 0 && (lo != 0 || hi != 0)) {
        sp__ini_error(err, errlen, where, 0, lo ? min_key : max_key,
                      "applies only with %s = auto (%s is %d)", key, key, value);
        return SP_EINVAL;
    }
    if (hi != 0 && (lo ? lo : dflt_lo) > hi) {
        sp__ini_error(err, errlen, where, 0, max_key, "%d is below %s (%d)", hi, min_key,
                      lo ? lo : dflt_lo);
        return SP_EINVAL;
    }
    return 0;
}

int sp__processes_cap(const sp__config *cfg)
{
    if (cfg->processes != 0)
        return cfg->processes;
    if (cfg->processes_max != 0)
        return cfg->processes_max;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cpus < 2 ? 2 : cpus > 1024 ? 1024 : (int)cpus;
    return n < sp__processes_min(cfg) ? sp__processes_min(cfg) : n;
}

int sp__config_check(const sp__config *cfg, const char *where, char *err, size_t errlen)
{
    if (check_auto(where, err, errlen, "threads", cfg->threads, cfg->threads_min, cfg->threads_max,
                   SP__THREADS_MIN) ||
        check_auto(where, err, errlen, "processes", cfg->processes, cfg->processes_min,
                   cfg->processes_max, SP__PROCESSES_MIN))
        return SP_EINVAL;
    if (cfg->tasks_backend && !redis_url_ok(cfg->tasks_backend)) {
        sp__ini_error(err, errlen, where, 0, "tasks-backend",
                      "'%.80s' is not a Redis URL "
                      "(accepted: redis://host:port or redis://host:port/db, db 0-1000)",
                      cfg->tasks_backend);
        return SP_EINVAL;
    }
    if (cfg->n_listen == 0) {
        sp__ini_error(err, errlen, where, 0, "listen",
                      "at least one listen is required (accepted: host:port, [v6]:port or "
                      "unix:/path, port 1-65535)");
        return SP_EINVAL;
    }
    return 0;
}

int sp__config_load_file(sp__config *cfg, const char *path, char *err, size_t errlen)
{
    if (sp__config_init(cfg, err, errlen))
        return SP_EINVAL;
    if (sp__config_read(cfg, path, err, errlen) || sp__config_check(cfg, path, err, errlen)) {
        sp__config_free(cfg);
        return SP_EINVAL;
    }
    return 0;
}

static void free_sections(sp__config *cfg)
{
    for (size_t i = 0; i < cfg->n_sections; i++) {
        struct sp_section *s = &cfg->sections[i];

        for (size_t j = 0; j < s->n_items; j++) {
            free(s->items[j].key);
            free(s->items[j].value);
            free(s->items[j].origin.file);
        }
        free(s->items);
        free(s->name);
        free(s->origin.file);
    }
    free(cfg->sections);
}

const struct sp_section *sp__config_section(const sp__config *cfg, const char *name)
{
    /* Modules without a section get an empty one rather than NULL, so their
     * code never checks; const and stateless, so shared safely. */
    static const struct sp_section empty = {.name = NULL};

    for (size_t i = 0; cfg && i < cfg->n_sections; i++)
        if (strcmp(cfg->sections[i].name, name) == 0)
            return &cfg->sections[i];
    return &empty;
}

void sp__config_free(sp__config *cfg)
{
    for (size_t i = 0; i < cfg->n_listen; i++) {
        free(cfg->listen[i].text);
        free(cfg->listen[i].path);
        free(cfg->listen[i].origin.file);
    }
    for (size_t i = 0; i < cfg->n_modules; i++) {
        free(cfg->modules[i].value);
        free(cfg->modules[i].origin.file);
    }
    for (size_t i = 0; i < cfg->n_middleware; i++) {
        free(cfg->middleware[i].value);
        free(cfg->middleware[i].origin.file);
    }
    for (size_t i = 0; i < cfg->n_cron; i++) {
        free(cfg->cron[i].value);
        free(cfg->cron[i].origin.file);
    }
    free(cfg->cron);
    free(cfg->spool);
    free(cfg->cron_timezone);
    free(cfg->tasks_backend);
    free(cfg->instance);
    free(cfg->task_dir);
    free(cfg->spool_dir);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        sp__route_spec *r = &cfg->routes[i];

        free(r->method);
        free(r->pattern);
        free(r->module);
        free(r->symbol);
        free(r->origin.file);
    }
    free(cfg->listen);
    free(cfg->modules);
    free(cfg->middleware);
    free(cfg->routes);
    free_sections(cfg);
    free(cfg->pidfile);
    free(cfg->log_file);
    free(cfg->body_temp_path);
    free(cfg->touch_reload);
    free(cfg->control);
    free(cfg->control_owner);
    free(cfg->stats);
    free(cfg->uid);
    free(cfg->gid);
    free(cfg->socket_owner);
    free(cfg->ini_path);
    sp__cidr_free(&cfg->trusted_proxies);
    memset(cfg, 0, sizeof *cfg);
    cfg->socket_mode = -1;
}
