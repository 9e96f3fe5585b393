/*
 * app.h - a worker's application: loaded modules, routes, middleware chain.
 *
 * Built once per worker after fork (sp__app_load), read-only while handler
 * threads run, torn down at exit.  The master never builds one: module
 * code only ever runs in workers.
 */
#ifndef SPINDLE_APP_APP_H
#define SPINDLE_APP_APP_H

#include "app/request.h"
#include "app/response.h"
#include "app/router.h"
#include "conf/config.h"
#include "spindle/spindle.h"

typedef struct sp__loaded {
    void *handle; /* dlopen handle; NULL for built-ins */
    const sp_module *desc;
    char *path;  /* file, or "(built-in)" */
    int copy_fd; /* the private copy it was loaded from (module.c); -1 for built-ins */
    struct sp_section *section; /* its section with declared paths resolved, or NULL */
    int initialised;
    int shared; /* the master's preloaded copy (handle and copy_fd are not ours) */
} sp__loaded;

typedef struct sp__mw_def {
    char *name;
    sp_middleware_fn fn;
} sp__mw_def;

typedef struct sp__slot {
    char *module;
    void *data;
} sp__slot;

#define SP__APP_SERIAL_MAX 8 /* handlers an app may declare serial */

struct sp_app {
    const sp__config *cfg;
    sp__router *router;
    sp__loaded *mods;
    size_t n_mods;
    sp__mw_def *defs;
    size_t n_defs;
    sp_middleware_fn *chain; /* in server.ini order, outermost first */
    size_t n_chain;
    sp__slot *slots;
    size_t n_slots;
    /* Background tasks (app/tasks/tasks.c), NULL until one is defined.  The
     * tasks room sits above this one, so it leaves its own destructor here
     * rather than app.c calling up into it. */
    struct sp__tasks *tasks;
    void (*tasks_free)(sp_app *app);
    /* Handlers declared serial (sp_handler_serial), in init_worker only. */
    sp_handler_fn serial[SP__APP_SERIAL_MAX];
    size_t n_serial;
};

/* The modules linked into the binary (main() passes middleware/'s table);
 * each joins when server.ini names it.  Call before loading any app. */
void sp__modules_set_builtin(const sp_module *const *list, size_t n);
/* Their names, "a, b, c", for messages. */
const char *sp__modules_builtin_names(void);

/* dlopen every [app] module (and the built-ins server.ini names) and check
 * their descriptors; no hooks run.  On failure *out holds what was opened. */
int sp__modules_open(sp__loaded **out, size_t *n_out, const sp__config *cfg, char *err,
                     size_t errlen);
void sp__modules_close(sp__loaded *mods, size_t n);
/* preload = on, in the master before it forks (and in -t's check): open
 * every module, check its section and run its preload hook.  Processes
 * forked afterwards load a module of the same path from this copy.  On
 * failure: SP_EINVAL (a module or section) or SP_EIO (a hook), one line
 * naming the file in err. */
int sp__modules_preload(const sp__config *cfg, char *err, size_t errlen);
/* Every [module:NAME] section names a loaded module (SP_ENOENT with
 * file:line, the loaded names and a "did you mean" otherwise), and holds
 * only the keys its module declared, if it declared them (SP_EINVAL),
 * with values of their declared type (SP_EINVAL, file:line); such a
 * module gets its own copy of the section with paths resolved. */
int sp__modules_check_sections(sp__loaded *mods, size_t n, const sp__config *cfg, char *err,
                               size_t errlen);

/* Check a module setting's value against its declared enum sp_conf_type
 * (section.c): SP_OK, or SP_EINVAL with "'x' is not a boolean (accepted:
 * ...)" in msg.  Used at start (declared keys) and by the getters. */
int sp__conf_value_check(int type, const char *value, char *msg, size_t len);

/* Load modules, run init_worker hooks, resolve routes and middleware.
 * On failure: -1 and one line naming the file (and line) in err. */
int sp__app_load(sp_app **out, const sp__config *cfg, char *err, size_t errlen);
void sp__app_free(sp_app *app);

/* "module:symbol" looked up in that module's own namespace, or NULL with
 * the reason in what. */
void *sp__app_symbol(const sp_app *app, const char *spec, char *what, size_t whatlen);

/* USR1: every module's reopen_logs hook (ABI 1.1; absent in 1.0 modules). */
void sp__app_reopen_logs(sp_app *app);
/* Harakiri retires this worker for thread's request: every module's
 * harakiri hook (ABI 1.7), on the calling thread. */
void sp__app_harakiri(sp_app *app, int thread, const char *request);

int sp__app_thread_init(sp_app *app);
void sp__app_thread_exit(sp_app *app);

/* Route req, once (req->match, req->route); the chain's end does it if
 * nobody did before.  SP_ENOMEM when the arena is out of memory. */
int sp__app_route(sp_app *app, sp_request *req);
/* Whether a routed req goes to a handler declared serial. */
static inline bool sp__app_serial(const sp_app *app, const sp_request *req)
{
    if (req->match == NULL || req->route != SP__ROUTE_FOUND)
        return false;
    for (size_t i = 0; i < app->n_serial; i++)
        if (app->serial[i] == req->match->fn)
            return true;
    return false;
}

/* Run the chain, the router and the handler; the response is filled when
 * this returns (error statuses already rendered).  Negative only when the
 * connection broke mid-stream. */
int sp__app_handle(sp_app *app, sp_request *req, sp_response *res);

#endif
