/*
 * app.c - building a worker's application and running requests through it.
 *
 * Order matters and is the operator's: modules initialise in server.ini
 * order (the built-ins server.ini names come first, before any module
 * line), and the middleware chain is the order of the middleware lines,
 * outermost first, never the order modules happened to load in.
 *
 * Every layer's return value is settled right where it returns
 * (settle()): a status becomes an error page before the enclosing
 * middleware resumes, so middleware always sees a complete response to
 * inspect or rewrite, whether the inner layer succeeded or not.
 */
#include "app/app.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sp_next {
    sp_app *app;
    size_t index;
};

/* ---- registration (init_worker) ---------------------------------------- */

/* "no middleware named X" with the names that are defined, so a typo is
 * one look away; the built-ins are modules like any other, named by the
 * table main() handed over. */
static void unknown_middleware(const sp_app *app, const char *name, char *what, size_t len)
{
    size_t n = (size_t)snprintf(what, len, "no middleware named '%s' (defined:", name);
    for (size_t i = 0; i < app->n_defs && n < len; i++)
        n += (size_t)snprintf(what + n, len - n, "%s %s", i ? "," : "", app->defs[i].name);
    if (n < len)
        snprintf(what + n, len - n, "%s; a built-in joins when a middleware line names it: %s)",
                 app->n_defs ? "" : " none", sp__modules_builtin_names());
}

SP_EXPORT int sp_route(sp_app *app, const char *method, const char *pattern, sp_handler_fn fn)
{
    if (app == NULL || fn == NULL)
        return SP_EINVAL;
    return sp__router_add(app->router, method, pattern, fn);
}

SP_EXPORT int sp_handler_serial(sp_app *app, sp_handler_fn fn)
{
    if (app == NULL || fn == NULL)
        return SP_EINVAL;
    for (size_t i = 0; i < app->n_serial; i++)
        if (app->serial[i] == fn)
            return SP_OK;
    if (app->n_serial == SP__APP_SERIAL_MAX)
        return SP_EFULL;
    app->serial[app->n_serial++] = fn;
    return SP_OK;
}

static sp__mw_def *find_def(sp_app *app, const char *name)
{
    for (size_t i = 0; i < app->n_defs; i++)
        if (strcmp(app->defs[i].name, name) == 0)
            return &app->defs[i];
    return NULL;
}

SP_EXPORT int sp_middleware_define(sp_app *app, const char *name, sp_middleware_fn fn)
{
    if (app == NULL || name == NULL || fn == NULL)
        return SP_EINVAL;
    if (find_def(app, name) != NULL)
        return SP_EEXIST;
    sp__mw_def *defs = realloc(app->defs, (app->n_defs + 1) * sizeof(*defs));
    if (defs == NULL)
        return SP_ENOMEM;
    app->defs = defs;
    defs[app->n_defs].name = strdup(name);
    defs[app->n_defs].fn = fn;
    if (defs[app->n_defs].name == NULL)
        return SP_ENOMEM;
    app->n_defs++;
    return SP_OK;
}

SP_EXPORT void sp_app_set_data(sp_app *app, const char *module, void *data)
{
    for (size_t i = 0; i < app->n_slots; i++) {
        if (strcmp(app->slots[i].module, module) == 0) {
            app->slots[i].data = data;
            return;
        }
    }
    sp__slot *s = realloc(app->slots, (app->n_slots + 1) * sizeof(*s));
    if (s == NULL)
        return;
    app->slots = s;
    s[app->n_slots].module = strdup(module);
    s[app->n_slots].data = data;
    if (s[app->n_slots].module != NULL)
        app->n_slots++;
}

SP_EXPORT sp_app *sp_request_app(const sp_request *req)
{
    return req ? req->app : NULL;
}

SP_EXPORT void *sp_app_data(const sp_app *app, const char *module)
{
    for (size_t i = 0; i < app->n_slots; i++)
        if (strcmp(app->slots[i].module, module) == 0)
            return app->slots[i].data;
    return NULL;
}

/* ---- building ------------------------------------------------------------ */

static const sp__loaded *find_module(const sp_app *app, const char *name)
{
    for (size_t i = 0; i < app->n_mods; i++)
        if (strcmp(app->mods[i].desc->name, name) == 0)
            return &app->mods[i];
    return NULL;
}

/* "module:symbol" looked up in that module's own namespace. */
static void *module_symbol(const sp_app *app, const char *spec, char *what, size_t whatlen)
{
    const char *colon = strchr(spec, ':');
    char name[128];
    if (colon == NULL || (size_t)(colon - spec) >= sizeof(name)) {
        snprintf(what, whatlen, "'%s' is not module:symbol", spec);
        return NULL;
    }
    memcpy(name, spec, (size_t)(colon - spec));
    name[colon - spec] = '\0';
    const sp__loaded *m = find_module(app, name);
    if (m == NULL || m->handle == NULL) {
        snprintf(what, whatlen, "no loaded module named '%s'", name);
        return NULL;
    }
    void *sym = dlsym(m->handle, colon + 1);
    if (sym == NULL)
        snprintf(what, whatlen,
                 "module '%s' (%s) exports no symbol '%s' (a function server.ini names "
                 "must be defined with SP_EXPORT; modules are built with hidden symbols)",
                 name, m->path, colon + 1);
    return sym;
}

void *sp__app_symbol(const sp_app *app, const char *spec, char *what, size_t whatlen)
{
    return module_symbol(app, spec, what, whatlen);
}

static int init_modules(sp_app *app, char *err, size_t errlen)
{
    for (size_t i = 0; i < app->n_mods; i++) {
        sp__loaded *m = &app->mods[i];
        const struct sp_section *sec =
            m->section ? m->section : sp__config_section(app->cfg, m->desc->name);
        int rc = m->desc->init_worker ? m->desc->init_worker(app, sec) : SP_OK;
        m->initialised = 1;
        if (rc != SP_OK) {
            snprintf(err, errlen, "%s: module '%s': init_worker failed: %s", m->path, m->desc->name,
                     sp_strerror(rc));
            return SP_EIO;
        }
    }
    return 0;
}

static int add_config_routes(sp_app *app, char *err, size_t errlen)
{
    for (size_t i = 0; i < app->cfg->n_routes; i++) {
        const sp__route_spec *r = &app->cfg->routes[i];
        char spec[256], what[256];
        snprintf(spec, sizeof(spec), "%s:%s", r->module, r->symbol);
        void *fn = module_symbol(app, spec, what, sizeof(what));
        int rc =
            fn ? sp__router_add(app->router, r->method, r->pattern, (sp_handler_fn)fn) : SP_ENOENT;
        if (rc != SP_OK) {
            snprintf(err, errlen, "%s:%d: route: %s", r->origin.file, r->origin.line,
                     fn ? sp_strerror(rc) : what);
            return SP_EIO;
        }
    }
    return 0;
}

static int build_chain(sp_app *app, char *err, size_t errlen)
{
    app->chain = calloc(app->cfg->n_middleware + 1, sizeof(*app->chain));
    if (app->chain == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < app->cfg->n_middleware; i++) {
        const sp__item *it = &app->cfg->middleware[i];
        sp__mw_def *d = find_def(app, it->value);
        char what[256] = "";
        void *fn = d ? (void *)d->fn : NULL;
        if (fn == NULL && strchr(it->value, ':') != NULL)
            fn = module_symbol(app, it->value, what, sizeof(what));
        if (fn == NULL) {
            if (what[0] == '\0')
                unknown_middleware(app, it->value, what, sizeof(what));
            snprintf(err, errlen, "%s:%d: middleware: %s", it->origin.file, it->origin.line, what);
            return SP_EINVAL;
        }
        app->chain[app->n_chain++] = (sp_middleware_fn)fn;
    }
    return 0;
}

int sp__app_load(sp_app **out, const sp__config *cfg, char *err, size_t errlen)
{
    sp_app *app = calloc(1, sizeof(*app));
    *out = app;
    if (app == NULL || (app->router = sp__router_new()) == NULL) {
        snprintf(err, errlen, "out of memory building the application");
        return SP_ENOMEM;
    }
    app->cfg = cfg;
    if (sp__modules_open(&app->mods, &app->n_mods, cfg, err, errlen) != 0 ||
        sp__modules_check_sections(app->mods, app->n_mods, cfg, err, errlen) != 0)
        return SP_EINVAL;
    if (init_modules(app, err, errlen) != 0 || add_config_routes(app, err, errlen) != 0 ||
        build_chain(app, err, errlen) != 0)
        return SP_EINVAL;
    return 0;
}

void sp__app_free(sp_app *app)
{
    if (app == NULL)
        return;
    if (app->tasks_free) /* before exit_worker: a running task may use module state */
        app->tasks_free(app);
    for (size_t i = app->n_mods; i-- > 0;)
        if (app->mods[i].initialised && app->mods[i].desc->exit_worker)
            app->mods[i].desc->exit_worker(app);
    sp__modules_close(app->mods, app->n_mods);
    for (size_t i = 0; i < app->n_defs; i++)
        free(app->defs[i].name);
    for (size_t i = 0; i < app->n_slots; i++)
        free(app->slots[i].module);
    free(app->defs);
    free(app->slots);
    free(app->chain);
    sp__router_free(app->router);
    free(app);
}

int sp__app_thread_init(sp_app *app)
{
    for (size_t i = 0; i < app->n_mods; i++) {
        const sp_module *d = app->mods[i].desc;
        int rc = d->init_thread ? d->init_thread(app) : SP_OK;
        if (rc != SP_OK) {
            sp_log(SP_LOG_ERROR, "%s: module '%s': init_thread failed: %s", app->mods[i].path,
                   d->name, sp_strerror(rc));
            return rc;
        }
    }
    return SP_OK;
}

void sp__app_thread_exit(sp_app *app)
{
    for (size_t i = app->n_mods; i-- > 0;)
        if (app->mods[i].desc->exit_thread)
            app->mods[i].desc->exit_thread(app);
}

/* ---- running --------------------------------------------------------------- */

static int settle(sp_request *req, sp_response *res, int rc)
{
    if (rc == SP_OK || rc == SP_ECLOSED || rc == SP_ETIMEDOUT)
        return rc;
    if (res->headers_sent) {
        if (rc < 0)
            sp_log(SP_LOG_ERROR, "%.*s %.*s: handler failed mid-stream: %s",
                   SP_STR_ARGS(req->method), SP_STR_ARGS(req->path), sp_strerror(rc));
        return rc < 0 ? SP_ECLOSED : SP_OK;
    }
    if (rc < 200 || rc > 599) {
        sp_log(SP_LOG_ERROR, "%.*s %.*s: handler returned %d (%s)", SP_STR_ARGS(req->method),
               SP_STR_ARGS(req->path), rc,
               rc < 0 ? sp_strerror(rc) : "not a final HTTP status: 200 to 599");
        rc = 500;
    }
    sp_send_error(res, rc);
    return SP_OK;
}

/* The match lives in the request arena: an idle connection should not
 * carry room for sixteen route parameters.  Method and path are read-only
 * to middleware, so routing early gives the answer the chain's end would. */
int sp__app_route(sp_app *app, sp_request *req)
{
    if (req->match != NULL)
        return SP_OK;
    sp__match *m = sp__arena_alloc(req->arena, sizeof(*m));
    if (m == NULL)
        return SP_ENOMEM;
    req->route = (unsigned char)sp__router_match(app->router, req->method, req->path, m);
    req->match = m;
    return SP_OK;
}

static int dispatch(sp_app *app, sp_request *req, sp_response *res)
{
    if (sp__app_route(app, req) != SP_OK)
        return SP_ENOMEM;
    req->reached = 1;
    switch (req->route) {
    case SP__ROUTE_FOUND:
        return req->match->fn(req, res);
    case SP__ROUTE_BAD_METHOD:
        sp_send_error(res, 405);
        sp_set_header(res, "Allow", req->match->allow);
        return SP_OK;
    default:
        return 404;
    }
}

SP_EXPORT int sp_next_call(sp_next *next, sp_request *req, sp_response *res)
{
    int rc;
    if (next->index < next->app->n_chain) {
        sp_next inner = {next->app, next->index + 1};
        rc = next->app->chain[next->index](req, res, &inner);
    } else {
        rc = dispatch(next->app, req, res);
    }
    return settle(req, res, rc);
}

int sp__app_handle(sp_app *app, sp_request *req, sp_response *res)
{
    sp_next first = {app, 0};
    req->app = app;
    return sp_next_call(&first, req, res);
}
