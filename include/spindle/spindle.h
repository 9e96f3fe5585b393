/*
 * spindle.h - the one public header for spindle handler and middleware modules.
 *
 * A module is a shared object exporting one const descriptor (SP_MODULE).
 * The server dlopen()s it in every worker after fork, checks the
 * descriptor's magic and ABI major, and calls its hooks:
 *
 *   init_worker(app, section)  once per worker, before any request:
 *                              register routes and middleware, read the
 *                              module's own [module:NAME] settings.
 *   init_thread(app)           once in each thread that runs requests
 *                              (threads + 1 per worker: the handler
 *                              threads and the worker's main thread).
 *   exit_thread(app)           once in each of them at stop.
 *   exit_worker(app)           once per worker at stop.
 *
 * Conventions:
 *   - Functions returning int: 0 (SP_OK) is success, a negative SP_E* code
 *     is a failure.  sp_strerror() names it.
 *   - A handler returns SP_OK after filling the response, or an HTTP status
 *     (404, 503, ...) and the core renders the error page.  A negative
 *     return is logged and answered with 500.
 *   - Strings off the wire are sp_str views: (pointer, length), not NUL
 *     terminated, valid until the request ends.  Anything the API allocates
 *     for a request lives in the request's arena and dies with it.
 *   - Handler and middleware functions run on the threads above; up to
 *     `threads` of them at once in a worker.  A request and its response
 *     belong to one thread at a time.  Which thread runs a request is the
 *     server's choice: a short one may run on the thread that holds the
 *     worker's IO loop (see docs/operations.md, "Where requests run").
 *
 * ABI: the descriptor only grows at the end (size tells which fields a
 * module knows).  See ABI.md beside this header for the change log.
 */
#ifndef SPINDLE_SPINDLE_H
#define SPINDLE_SPINDLE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SP_VERSION_STRING "0.1.0"

#define SP_MODULE_MAGIC 0x53504e44u /* "SPND" */
#define SP_ABI_MAJOR    1
#define SP_ABI_MINOR    9

#if defined(__GNUC__)
#define SP_EXPORT       __attribute__((visibility("default")))
#define SP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SP_EXPORT
#define SP_PRINTF(f, a)
#endif

/* ---- errors -------------------------------------------------------------- */

/* One table: name, value, message.  Values are stable ABI. */
#define SP_ERRNO_MAP(XX)                                                                           \
    XX(EINVAL, -1, "invalid argument")                                                             \
    XX(ENOMEM, -2, "out of memory")                                                                \
    XX(ENOENT, -3, "not found")                                                                    \
    XX(EEXIST, -4, "already exists")                                                               \
    XX(E2BIG, -5, "too large")                                                                     \
    XX(EIO, -6, "input/output error")                                                              \
    XX(ESTATE, -7, "not allowed in the current state")                                             \
    XX(EHEADER, -8, "header name or value holds a forbidden byte")                                 \
    XX(EABI, -9, "module ABI mismatch")                                                            \
    XX(ECLOSED, -10, "connection closed")                                                          \
    XX(ETIMEDOUT, -11, "timed out")                                                                \
    XX(EFULL, -12, "queue is full")                                                                \
    XX(ENOSPC, -13, "no space left on device")

enum sp_errno {
    SP_OK = 0,
#define SP__XX(name, val, msg) SP_##name = (val),
    SP_ERRNO_MAP(SP__XX)
#undef SP__XX
};

/* A static message for an SP_E* code (or "unknown error"). */
SP_EXPORT const char *sp_strerror(int err);

/* ---- strings ------------------------------------------------------------- */

typedef struct sp_str {
    const char *ptr;
    size_t len;
} sp_str;

#define SP_STR_ARGS(s) (int)(s).len, (s).ptr
#define SP_STR_NULL    ((sp_str){NULL, 0})

/* True if the view is set (a header or parameter that exists, even empty). */
static inline int sp_str_is_set(sp_str s)
{
    return s.ptr != NULL;
}

/* ---- opaque handles ------------------------------------------------------ */

typedef struct sp_request sp_request;   /* one parsed request */
typedef struct sp_response sp_response; /* its response */
typedef struct sp_app sp_app;           /* the worker's application */
typedef struct sp_section sp_section;   /* a [module:NAME] section */
typedef struct sp_next sp_next;         /* the rest of a middleware chain */

typedef int (*sp_handler_fn)(sp_request *req, sp_response *res);

/* A setting a module reads from its [module:NAME] section (ABI 1.5).  A
 * module that lists its settings (sp_module.conf_keys, ended by a NULL
 * name) has every other key of its section refused at start and by
 * `spindle -t`, with file:line and the closest name; and a relative
 * SP_CONF_PATH value reaches it resolved against the folder of the ini
 * file that set it, as every path of server.ini is.  Since 1.6 a value of a
 * key declared SP_CONF_BOOL, _INT, _SIZE or _DURATION is checked there too,
 * with the words server.ini's own keys accept (a bad one: file:line, the
 * key, what is accepted, exit 78); an INT is any whole number (bounds are
 * the module's, in sp_conf_int). */
enum sp_conf_type {
    SP_CONF_STRING = 0,  /* any text, as written */
    SP_CONF_PATH = 1,    /* a file or folder: made absolute */
    SP_CONF_BOOL = 2,    /* checked since 1.6 (1.5 only listed it): sp_conf_bool */
    SP_CONF_INT = 3,     /* a whole number: sp_conf_int */
    SP_CONF_SIZE = 4,    /* bytes, k/m/g: sp_conf_size */
    SP_CONF_DURATION = 5 /* s, or ms/s/m suffix: sp_conf_duration_ms */
};
typedef struct sp_conf_key {
    const char *name; /* NULL ends the list */
    int type;         /* enum sp_conf_type */
    const char *help; /* one line, for messages */
} sp_conf_key;
typedef int (*sp_middleware_fn)(sp_request *req, sp_response *res, sp_next *next);

/* ---- module descriptor --------------------------------------------------- */

typedef struct sp_module {
    uint32_t magic;     /* SP_MODULE_MAGIC */
    uint16_t abi_major; /* SP_ABI_MAJOR the module was built with */
    uint16_t abi_minor; /* SP_ABI_MINOR the module was built with */
    uint32_t size;      /* sizeof(sp_module) the module was built with */
    const char *name;   /* [module:NAME] section and log name */
    int (*init_worker)(sp_app *app, const sp_section *conf);
    int (*init_thread)(sp_app *app);
    void (*exit_thread)(sp_app *app);
    void (*exit_worker)(sp_app *app);
    /* ABI 1.0 ends here; later minors add fields below this line only. */
    /* 1.1: reopen the module's own log files (USR1, logrotate).  Called on
     * the thread holding the worker's IO loop while others keep running, so swap
     * descriptors atomically (open the new file, then dup2 it over the old
     * descriptor number).  The loader ignores it in modules built for 1.0. */
    void (*reopen_logs)(sp_app *app);
    /* 1.5: the settings the module reads, or NULL: then any key is passed
     * on as written (see sp_conf_key). */
    const sp_conf_key *conf_keys;
    /* 1.7: harakiri is retiring this worker because the thread with
     * sp_thread_index() `thread` has run `request` ("GET /path") past its
     * deadline.  Called once per such thread, on a thread of its own, while
     * the stuck thread runs on (it is not interrupted; the worker is killed
     * after harakiri-mercy): a module may log what that thread is doing (the
     * wsgi module logs its Python traceback).  It must not wait for the
     * stuck thread to finish. */
    void (*harakiri)(sp_app *app, int thread, const char *request);
    /* 1.8: with `preload = on` in [app], called once in the master, after
     * it dropped privileges and before it forks anything, with the module's
     * section; SP_OK or an error (the master then exits 78).  What it
     * builds is inherited by every worker and spooler, which run
     * init_worker as usual and share the code loaded here: a reload keeps
     * it.  The master runs no requests and, after this, no module code:
     * leave no threads behind (fork copies only the calling thread). */
    int (*preload)(const sp_section *conf);
} sp_module;

/* The symbol the loader looks up in every module. */
#define SP_MODULE_SYMBOL "spindle_module"

/* Declare a module:  SP_MODULE(hello, .init_worker = setup); */
#define SP_MODULE(mod_name, ...)                                                                   \
    SP_EXPORT const sp_module spindle_module = SP_MODULE_DESCRIPTOR(#mod_name, __VA_ARGS__)

/* The descriptor's value alone, for a module linked into a program under a
 * name of its own instead of loaded from a .so (spindle's built-ins):
 *   const sp_module my_mod = SP_MODULE_DESCRIPTOR("my_mod", .init_worker = setup); */
#define SP_MODULE_DESCRIPTOR(name_str, ...)                                                        \
    {                                                                                              \
        .magic = SP_MODULE_MAGIC, .abi_major = SP_ABI_MAJOR, .abi_minor = SP_ABI_MINOR,            \
        .size = sizeof(sp_module), .name = (name_str), __VA_ARGS__                                 \
    }

/* ---- application set-up (init_worker only) ------------------------------- */

/* Route METHOD PATTERN to fn.  method is "GET", "POST", ... or "*" for any.
 * pattern is an absolute path; "{name}" matches one segment (read it with
 * sp_param); a trailing slash-star mounts a prefix (like "/static/" then a star).  Strings are
 * copied.  SP_EEXIST if the same method and pattern are already routed. */
SP_EXPORT int sp_route(sp_app *app, const char *method, const char *pattern, sp_handler_fn fn);

/* (ABI 1.9) Declare fn serial: wherever it is routed, it computes under a
 * lock that every thread of the worker shares (Python's GIL, a library
 * that is not thread-safe), so two of its requests never compute at once
 * in one worker.  Several handler threads would then only wait for each
 * other, paying context switches.  spindle runs such requests one after
 * another on the thread that holds the IO loop, and hands them to handler
 * threads while they block (IO or a sleep with the lock let go):
 * docs/operations.md, "Where requests run".  Call in init_worker; up to 8
 * handlers (SP_EFULL after that). */
SP_EXPORT int sp_handler_serial(sp_app *app, sp_handler_fn fn);

/* Make middleware fn available under name; server.ini's "middleware = name"
 * lines put it in the chain, in their order.  Strings are copied. */
SP_EXPORT int sp_middleware_define(sp_app *app, const char *name, sp_middleware_fn fn);

/* This module's settings from [module:NAME]: the value of the last line
 * with key, or NULL.  Owned by the server, valid for the worker's life. */
SP_EXPORT const char *sp_conf_get(const sp_section *conf, const char *key);
/* Number of lines in the section and the i-th (key, value), in file order. */
SP_EXPORT size_t sp_conf_count(const sp_section *conf);
SP_EXPORT int sp_conf_at(const sp_section *conf, size_t i, const char **key, const char **value);
/* Integer setting with default and bounds; SP_EINVAL (and, since 1.6, one
 * error-log line with file:line) for a bad value. */
SP_EXPORT int sp_conf_int(const sp_section *conf, const char *key, long dflt, long min, long max,
                          long *out);

/* (ABI 1.6) Typed settings, read with the very parsers and words of
 * server.ini's own keys: a boolean is true/false, yes/no, on/off or 1/0 in
 * any case; a size is bytes with an optional k, m or g (1024-based); a
 * duration is seconds, or a number with ms, s or m.  An absent key gives
 * dflt.  A bad value gives SP_EINVAL, *out = dflt, and one error-log line
 * naming file:line, the key, the value and what is accepted (with
 * conf_keys declaring the key's type, such a value already stopped the
 * start). */
SP_EXPORT int sp_conf_bool(const sp_section *conf, const char *key, bool dflt, bool *out);
SP_EXPORT int sp_conf_size(const sp_section *conf, const char *key, uint64_t dflt, uint64_t *out);
SP_EXPORT int sp_conf_duration_ms(const sp_section *conf, const char *key, uint64_t dflt,
                                  uint64_t *out);
/* (ABI 1.6) This worker's handler threads and the server's worker
 * processes (threads and processes of server.ini); with threads = auto or
 * processes = auto, the most there may be (threads-max, processes-max), so
 * a pool sized from them is never short.  0 for a NULL app. */
SP_EXPORT int sp_app_threads(const sp_app *app);
SP_EXPORT int sp_app_processes(const sp_app *app);

/* Worker-wide pointer a module may keep (set in init_worker). */
SP_EXPORT void sp_app_set_data(sp_app *app, const char *module, void *data);
SP_EXPORT void *sp_app_data(const sp_app *app, const char *module);

/* ---- middleware ---------------------------------------------------------- */

/* Run the rest of the chain (the next middleware, or the router and the
 * handler).  On return the response is filled: an error status from an
 * inner layer has already been turned into an error page, so the caller can
 * read and edit the status, headers and body.  Returns SP_OK or a negative
 * code when the connection failed. */
SP_EXPORT int sp_next_call(sp_next *next, sp_request *req, sp_response *res);

/* ---- request ------------------------------------------------------------- */

SP_EXPORT sp_str sp_method(const sp_request *req);       /* "GET" */
SP_EXPORT sp_str sp_target(const sp_request *req);       /* "/a/b?x=1" as sent */
SP_EXPORT sp_str sp_path(const sp_request *req);         /* "/a/b", still encoded */
SP_EXPORT sp_str sp_query_string(const sp_request *req); /* "x=1" or empty */
/* 10 for HTTP/1.0, 11 for HTTP/1.1. */
SP_EXPORT int sp_http_version(const sp_request *req);
SP_EXPORT sp_str sp_scheme(const sp_request *req); /* "http" or "https" */

/* First query parameter called name, percent-decoded into the arena ('+'
 * is a space; since 1.6 the names are compared decoded too).  Unset (ptr
 * NULL) when absent; empty for "?name" or "?name=". */
SP_EXPORT sp_str sp_query(sp_request *req, const char *name);
/* (ABI 1.6) Every value of name in the query string, in order: fills up to
 * cap views, returns the count (which may exceed cap).  '+' is a space,
 * %XX decoded; a malformed escape is kept as written.  Names are compared
 * decoded, as sp_query does. */
SP_EXPORT size_t sp_query_all(sp_request *req, const char *name, sp_str *out, size_t cap);
/* (ABI 1.6) Fields of an application/x-www-form-urlencoded body (any
 * charset parameter), decoded as the query string is.  Unset when the body
 * is not a form or name is absent; the first value.  A form body over 1 MiB,
 * or of more than 10000 fields, is not decoded (every field reads unset, one
 * warning is logged): read such a body with sp_body_read. */
SP_EXPORT sp_str sp_form(sp_request *req, const char *name);
SP_EXPORT size_t sp_form_all(sp_request *req, const char *name, sp_str *out, size_t cap);
/* (ABI 1.6) Iterate every pair, decoded: the i-th of the query string / of
 * the form, in order (a field without '=' has an empty value).  SP_ENOENT
 * past the end. */
SP_EXPORT int sp_query_at(sp_request *req, size_t i, sp_str *key, sp_str *value);
SP_EXPORT int sp_form_at(sp_request *req, size_t i, sp_str *key, sp_str *value);

/* (ABI 1.6) The value of cookie name, from every Cookie header (the first
 * one wins), as sent: no percent-decoding, surrounding double quotes
 * removed.  Unset if absent. */
SP_EXPORT sp_str sp_cookie(sp_request *req, const char *name);

/* Route parameter "{name}" of the matched pattern, percent-decoded. */
SP_EXPORT sp_str sp_param(sp_request *req, const char *name);

/* First header called name (case-insensitive).  Unset when absent. */
SP_EXPORT sp_str sp_header(const sp_request *req, const char *name);
/* Headers in arrival order: count, and the i-th name and value. */
SP_EXPORT size_t sp_header_count(const sp_request *req);
SP_EXPORT int sp_header_at(const sp_request *req, size_t i, sp_str *name, sp_str *value);

/* The whole request body (empty when none), read in full before the
 * handler runs.  A body over body-buffer-size lives in an unlinked temp
 * file and is mapped into memory on the first call; prefer sp_body_read
 * for those.  Unset (ptr NULL) if the mapping fails. */
SP_EXPORT sp_str sp_body(sp_request *req);
/* Body size in bytes. */
SP_EXPORT uint64_t sp_body_length(const sp_request *req);
/* Read the body in pieces, from wherever it lives: copies up to cap bytes
 * into buf and returns how many, 0 at the end, SP_EIO on failure.  Memory
 * use stays at cap however large the body. */
SP_EXPORT long sp_body_read(sp_request *req, void *buf, size_t cap);

/* Client address as text ("127.0.0.1", "::1", "unix") and port (0 for unix). */
SP_EXPORT sp_str sp_remote_addr(const sp_request *req);
SP_EXPORT int sp_remote_port(const sp_request *req);

/* The request id: generated per request, or set by middleware. */
SP_EXPORT sp_str sp_request_id(const sp_request *req);
/* Replace the request id (copied into the arena). */
SP_EXPORT int sp_set_request_id(sp_request *req, sp_str id);

/* Per-request arena: memory freed in one go when the request ends. */
SP_EXPORT void *sp_alloc(sp_request *req, size_t size);
/* printf into the arena; NUL-terminated, also returned as a view. */
SP_EXPORT sp_str sp_sprintf(sp_request *req, const char *fmt, ...) SP_PRINTF(2, 3);

/* ---- response ------------------------------------------------------------ */

/* Status of the response so far (200 until set). */
SP_EXPORT int sp_status(const sp_response *res);
/* A final status, 200 to 599; SP_EINVAL otherwise (interim 1xx answers are
 * the server's: it sends 100 Continue itself and never switches
 * protocols), SP_ESTATE once the headers went out.  A handler returning a
 * number outside 200-599 is answered 500. */
SP_EXPORT int sp_set_status(sp_response *res, int status);

/* Set header name to value, replacing any earlier ones of that name.
 * SP_EHEADER if the name is not a token or the value holds a control byte
 * (0x00-0x1F but tab, or 0x7F; bytes 0x80-0xFF are allowed);
 * SP_ESTATE once the headers went out.  Strings are copied. */
SP_EXPORT int sp_set_header(sp_response *res, const char *name, const char *value);
/* Add one more header line (for Set-Cookie and friends). */
SP_EXPORT int sp_add_header(sp_response *res, const char *name, const char *value);
/* Remove every header called name; returns how many went. */
SP_EXPORT int sp_del_header(sp_response *res, const char *name);
/* Value of the first response header called name, or unset. */
SP_EXPORT sp_str sp_response_header(const sp_response *res, const char *name);

/* Append to the body (buffered until the handler returns). */
SP_EXPORT int sp_write(sp_response *res, const void *data, size_t len);
SP_EXPORT int sp_printf(sp_response *res, const char *fmt, ...) SP_PRINTF(2, 3);
SP_EXPORT int sp_vprintf(sp_response *res, const char *fmt, va_list ap) SP_PRINTF(2, 0);
/* Drop the body written so far (middleware replacing a response). */
SP_EXPORT int sp_clear_body(sp_response *res);
/* Bytes of body so far (or sent, for a stream or a file). */
SP_EXPORT size_t sp_body_size(const sp_response *res);

/* Content-Type: a handler's explicit choice wins, a default never replaces
 * it.  The calls below that take a content_type set it when it is not
 * NULL (the handler chose it) and keep the one set earlier when it is
 * NULL; sp_send_text and the JSON calls only add their default
 * (text/plain; charset=utf-8, application/json) when none is set.  Only the
 * core's error pages are text/plain whatever was set. */

/* Status, Content-Type and a whole body in one call. */
SP_EXPORT int sp_send(sp_response *res, int status, const char *content_type, const void *data,
                      size_t len);
/* sp_send without the copy (ABI 1.3): the body is data itself, read when
 * the response is written, which may be after the handler returns (to a
 * slow client, much later).  So data must stay valid and unchanged for as
 * long as the worker runs: a static array, or memory the module fills in
 * init_worker and frees in exit_worker.  Appending to the body afterwards
 * (sp_write, sp_printf) copies it into the response first. */
SP_EXPORT int sp_send_static(sp_response *res, int status, const char *content_type,
                             const void *data, size_t len);
/* Status and a printf body, as text/plain; charset=utf-8 unless the
 * handler already set a Content-Type (that one stays). */
SP_EXPORT int sp_send_text(sp_response *res, int status, const char *fmt, ...) SP_PRINTF(3, 4);
/* The core's error page for status (what a handler returning status gets). */
SP_EXPORT int sp_send_error(sp_response *res, int status);
/* Serve a file (sendfile); Content-Length from its size.  SP_ENOENT if it
 * cannot be opened.  The path is used as given: check it first. */
SP_EXPORT int sp_send_file(sp_response *res, int status, const char *content_type,
                           const char *path);

/* ---- cookies (ABI 1.6) ------------------------------------------------------ */

/* A cookie's attributes.  A struct tag, not a typedef: sp_cookie() is the
 * function that reads one.  Zero-initialised = a session cookie with no
 * attributes:  struct sp_cookie o = {.path = "/", .http_only = true}; */
struct sp_cookie {
    const char *path;   /* NULL: none */
    const char *domain; /* NULL: none */
    long max_age;       /* seconds; 0: session cookie (no Max-Age/Expires) */
    bool secure;
    bool http_only;
    const char *same_site; /* "Strict", "Lax", "None" or NULL */
};

/* Add a Set-Cookie line: name=value, then Path, Domain, Max-Age and
 * Expires (an IMF-fixdate max_age seconds from now, for clients that only
 * know Expires), Secure, HttpOnly, SameSite, as opts asks (NULL: none).
 * SP_EHEADER for a name that is not a token, a value outside RFC 6265
 * cookie-octets (letters, digits and !#$%&'()*+-./:<=>?@[]^_`{|}~; wrap it
 * in double quotes yourself or percent-encode it: spaces, commas,
 * semicolons, backslashes and quotes are refused), or a path or domain
 * holding ';' or a control byte; SP_EINVAL for a negative max_age, a
 * same_site other than the three, or "None" without secure; SP_ESTATE once
 * the headers went out. */
SP_EXPORT int sp_set_cookie(sp_response *res, const char *name, const char *value,
                            const struct sp_cookie *opts);
/* Tell the client to drop a cookie: an empty value, Max-Age=0 and an
 * Expires in the past, with the path and domain it was set with (a cookie
 * is only replaced by one of the same name, path and domain); opts's
 * max_age is ignored.  Same refusals as sp_set_cookie. */
SP_EXPORT int sp_clear_cookie(sp_response *res, const char *name, const struct sp_cookie *opts);

/* Streaming: send the status and headers now with chunked encoding (or
 * close-delimited for HTTP/1.0), then each sp_stream_write goes out at once.
 * Blocks the calling thread while the client is slow (up to
 * timeout-write).  The stream ends when the handler returns. */
SP_EXPORT int sp_stream_start(sp_response *res);
SP_EXPORT int sp_stream_write(sp_response *res, const void *data, size_t len);

/* True once the status line and headers have been sent. */
SP_EXPORT int sp_headers_sent(const sp_response *res);

/* Reason phrase for an HTTP status ("Not Found"), "Unknown" if none. */
SP_EXPORT const char *sp_status_reason(int status);

/* ---- logging ------------------------------------------------------------- */

enum sp_log_level { SP_LOG_ERROR = 0, SP_LOG_WARN = 1, SP_LOG_INFO = 2, SP_LOG_DEBUG = 3 };

/* One whole line to the error log, prefixed with time, level and process. */
SP_EXPORT void sp_log(int level, const char *fmt, ...) SP_PRINTF(2, 3);

/* ---- server facts (ABI 1.1) ---------------------------------------------- */

/* This worker's number (1..processes; a replacement keeps its predecessor's
 * number), or 0 outside a worker. */
SP_EXPORT int sp_worker_id(void);
/* The calling thread's index among those that run requests: 1..threads
 * for the handler threads, threads + 1 for the worker's main thread (it
 * runs short requests between turns of the IO loop); 0 on any other thread
 * (task threads, init_worker).  Stable for the thread's life, so it can
 * index per-thread state set up in init_thread: size it
 * sp_app_threads(app) + 1.  With threads = auto, threads start and stop
 * while the worker runs (each runs init_thread first and exit_thread
 * last), and a stopped thread's index is given to the next one started. */
SP_EXPORT int sp_thread_index(void);
/* When the calling thread took req (CLOCK_MONOTONIC, ns), so
 * (now - start) is the time spent handling it; 0 if unknown. */
SP_EXPORT uint64_t sp_request_start_ns(const sp_request *req);
/* (ABI 1.4) Nanoseconds since then, read from the same clock, so a module
 * need not read one itself; 0 if the start is unknown. */
SP_EXPORT uint64_t sp_request_elapsed_ns(const sp_request *req);

/* ---- background tasks (ABI 1.2; docs/tasks.md) ------------------------------ */

/* A request starts a long job and answers at once ("202 Accepted, poll
 * /_tasks/ID"); the job runs on the worker's task threads (task-threads,
 * apart from the handler threads), or, with SP_TASK_SPOOL, is written to
 * the durable spool and run by a spooler process, surviving restarts and
 * crashes (at least once: a task whose spooler died is run again).
 * States and results are kept in files every worker and spooler reads, so
 * a poll may land on any worker. */

#define SP_TASK_ID_LEN 33 /* 32 hex digits and the NUL */
#define SP_TASK_SPOOL  1  /* sp_task_submit flag: durable, run by a spooler */

typedef struct sp_task sp_task; /* a running task */

/* A task function: runs on a task thread or in a spooler, never on a
 * handler thread.  payload is the submitted copy, valid for the call.
 * Returns SP_OK (state "done") or a negative SP_E* code ("failed"). */
typedef int (*sp_task_fn)(sp_task *t, const void *payload, size_t len);

enum sp_task_state {
    SP_TASK_QUEUED = 0,
    SP_TASK_RUNNING = 1,
    SP_TASK_DONE = 2,
    SP_TASK_FAILED = 3,
    SP_TASK_EXPIRED = 4 /* finished longer than task-result-ttl ago; result gone */
};

typedef struct sp_task_info {
    int state;          /* enum sp_task_state */
    int attempts;       /* spooled tasks: runs that ended in a crash */
    int64_t created_ms; /* unix time of submission, ms */
    int64_t updated_ms; /* unix time of the last state change, ms */
    char name[128];     /* the task's name */
    char error[256];    /* why it failed (or is being retried); "" otherwise */
    void *result;       /* done or failed: what the task set; malloc'd, NULL if none */
    size_t result_len;
} sp_task_info;

/* Make fn runnable as name (letters, digits, '_', '.', '-', ':').  In
 * init_worker; every process (workers and spoolers) loads the modules, so
 * a task defined here can run anywhere.  Strings are copied. */
SP_EXPORT int sp_task_define(sp_app *app, const char *name, sp_task_fn fn);

/* Queue a copy of payload for the task called name; its id (NUL-terminated)
 * is written to id_out.  flags 0: run on this worker's task threads (lost
 * if the worker dies: its state then reads as failed).  SP_TASK_SPOOL:
 * written to the spool and fsync'd before this returns.
 * SP_ENOENT: no task of that name.  SP_EFULL: task-queue is full (answer
 * 503 with Retry-After).  SP_ESTATE: in-process tasks are off
 * (task-threads = 0), or SP_TASK_SPOOL without a spool.  SP_ENOSPC or
 * SP_EIO: the spool could not be written (nothing was queued). */
SP_EXPORT int sp_task_submit(sp_app *app, const char *name, const void *payload, size_t len,
                             int flags, char id_out[SP_TASK_ID_LEN]);

/* The state of task id, from any worker.  SP_ENOENT for an unknown (or
 * long expired) id.  On SP_OK out->result is the caller's: release it with
 * sp_task_info_free. */
SP_EXPORT int sp_task_status(sp_app *app, const char *id, sp_task_info *out);
/* (ABI 1.6) sp_task_status, and in *flags (when not NULL) what the record
 * says of its result: SP_TASK_RESULT_JSON if it was set by
 * sp_task_set_result_json.  sp_task_status is this with flags NULL. */
#define SP_TASK_RESULT_JSON 1u
SP_EXPORT int sp_task_status_flags(sp_app *app, const char *id, sp_task_info *out, unsigned *flags);
SP_EXPORT void sp_task_info_free(sp_task_info *info);
/* "queued", "running", "done", "failed", "expired". */
SP_EXPORT const char *sp_task_state_name(int state);

/* Inside a task: set its result (copied; a later call replaces it), or the
 * reason shown when it fails. */
SP_EXPORT int sp_task_set_result(sp_task *t, const void *data, size_t len);
/* (ABI 1.6) A result that is one JSON value: copied like
 * sp_task_set_result, and marked, so that /_tasks/ID shows it as JSON
 * ("result":{...}) rather than as a string holding it.  SP_EINVAL (and
 * the earlier result stays) unless sp_json_valid.  A later
 * sp_task_set_result replaces it and the mark. */
SP_EXPORT int sp_task_set_result_json(sp_task *t, const char *json, size_t len);
SP_EXPORT int sp_task_set_error(sp_task *t, const char *reason);
/* The task's id (valid for the call) and the app it runs in (to submit
 * follow-up tasks). */
SP_EXPORT const char *sp_task_id(const sp_task *t);
SP_EXPORT sp_app *sp_task_app(sp_task *t);

/* The app serving req (for sp_task_submit from a handler). */
SP_EXPORT sp_app *sp_request_app(const sp_request *req);

/* ---- JSON and base64 (ABI 1.4) --------------------------------------------- */

/* The escaping every JSON document of spindle's uses (stats, the access
 * log, the tasks module), so that a module's match.  Nothing here
 * allocates; buffers are the caller's.  The rules:
 *   - '"', '\', controls below 0x20 and 0x7F are escaped (\b \f \n \r
 *     \t, else \u00XX), so the text stays on one line;
 *   - well-formed UTF-8 passes through, but for the C1 controls
 *     U+0080..U+009F and U+2028/U+2029, which become \uXXXX;
 *   - any other byte >= 0x80 becomes \u00XX (its value as Latin-1): the
 *     output is valid JSON whatever the input, but it no longer reads back
 *     as the same bytes.  To return bytes exactly, check sp_utf8_valid and
 *     send base64 when it fails. */

/* True if len bytes at src are well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF).  Empty is valid. */
SP_EXPORT bool sp_utf8_valid(const void *src, size_t len);

/* Escape len bytes at src as the inside of a JSON string (no quotes).
 * Writes the first cap bytes of the escaped text to dst (dst may be NULL
 * when cap is 0) and no NUL; returns the whole text's length, like
 * snprintf, so a return above cap means dst holds only the start of it:
 * call with cap 0 to size a buffer. */
SP_EXPORT size_t sp_json_escape(char *dst, size_t cap, const void *src, size_t len);

/* Append s to the body as a quoted JSON string ("" when s is unset: test
 * sp_str_is_set first to write null instead).  SP_OK or sp_write's error. */
SP_EXPORT int sp_write_json_str(sp_response *res, sp_str s);

/* Base64 (RFC 4648, standard alphabet, '=' padding) of len bytes at src.
 * Same contract as sp_json_escape: the first cap bytes to dst, no NUL,
 * returns the whole length, 4 * ((len + 2) / 3). */
SP_EXPORT size_t sp_base64_encode(char *dst, size_t cap, const void *src, size_t len);

/* Append the base64 of len bytes at src to the body, without quotes,
 * encoded a piece at a time (no copy of the whole input).  SP_OK or
 * sp_write's error. */
SP_EXPORT int sp_write_base64(sp_response *res, const void *src, size_t len);

/* ---- JSON writer (ABI 1.6) -------------------------------------------------- */

/* Writes a JSON document value by value; commas, quotes and escaping (the
 * rules above) are its job.  Every call returns SP_OK or the writer's
 * first error, which is sticky: after an error later calls do nothing and
 * return it again, so a handler may check only sp_json_finish.  Misuse is
 * SP_ESTATE: a value without a key inside an object, a key outside one or
 * twice in a row, sp_json_end with nothing open (or after a key), nesting
 * deeper than 64, a second top-level value.
 *
 *   sp_json *j = sp_json_response(res, 200);
 *   sp_json_object(j);
 *   sp_json_key(j, "id");    sp_json_int(j, 42);
 *   sp_json_key(j, "tags");  sp_json_array(j); sp_json_cstr(j, "a"); sp_json_end(j);
 *   sp_json_end(j);
 *   return sp_json_finish(j);          -> {"id":42,"tags":["a"]} */
typedef struct sp_json sp_json; /* opaque */

/* Start a JSON document as the response body: drops any body written so
 * far, sets status, and Content-Type application/json unless the handler
 * set one.  Allocated in the request arena.  NULL on ENOMEM, a status
 * sp_set_status refuses, or once the headers went out. */
SP_EXPORT sp_json *sp_json_response(sp_response *res, int status);
/* A writer into a growing heap buffer (for task results); free with
 * sp_json_free.  NULL on ENOMEM. */
SP_EXPORT sp_json *sp_json_buffer(void);
/* Buffer writers only: the text so far (NUL-terminated) and its length in
 * *len (when not NULL); NULL for a response writer.  Valid until the next
 * call on j. */
SP_EXPORT const char *sp_json_data(const sp_json *j, size_t *len);
SP_EXPORT void sp_json_free(sp_json *j); /* buffer writers only; NULL ok */

SP_EXPORT int sp_json_object(sp_json *j); /* { */
SP_EXPORT int sp_json_array(sp_json *j);  /* [ */
SP_EXPORT int sp_json_end(sp_json *j);    /* closes the innermost } or ] */
/* Inside an object, before each value. */
SP_EXPORT int sp_json_key(sp_json *j, const char *key);
SP_EXPORT int sp_json_str(sp_json *j, sp_str s);       /* unset view -> null */
SP_EXPORT int sp_json_cstr(sp_json *j, const char *s); /* NULL -> null */
SP_EXPORT int sp_json_int(sp_json *j, int64_t v);
SP_EXPORT int sp_json_uint(sp_json *j, uint64_t v);
/* The shortest of 15 or 17 significant digits that reads back as v;
 * non-finite -> SP_EINVAL. */
SP_EXPORT int sp_json_double(sp_json *j, double v);
SP_EXPORT int sp_json_bool(sp_json *j, bool v);
SP_EXPORT int sp_json_null(sp_json *j);
/* A value already encoded, written as it is: SP_EINVAL unless
 * sp_json_valid (json NULL only with len 0, which is invalid too). */
SP_EXPORT int sp_json_raw(sp_json *j, const char *json, size_t len);
/* Done: SP_OK if one whole value was written, every container closed and
 * no call failed; else the first error (SP_ESTATE for an open container or
 * nothing written).  The writer stays valid (a buffer writer still needs
 * sp_json_free). */
SP_EXPORT int sp_json_finish(sp_json *j);

/* Status, Content-Type application/json (unless set) and an
 * already-encoded body (copied; not checked: see sp_json_valid). */
SP_EXPORT int sp_send_json(sp_response *res, int status, const char *json, size_t len);

/* True if len bytes are one valid JSON value (RFC 8259: UTF-8, no control
 * bytes in strings, well-formed escapes and numbers; nesting at most 64
 * deep), whitespace around it allowed. */
SP_EXPORT bool sp_json_valid(const void *json, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SPINDLE_SPINDLE_H */
