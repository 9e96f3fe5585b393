/*
 * sdk_helpers.c - test module for the ABI 1.6 helpers, driven by
 * tests/integration/test_sdk.py through the real binary: the JSON writer,
 * query and form pairs, cookies, typed settings and a JSON task result.
 *
 *   GET  /sdk/info      settings, threads, processes and the query, as JSON
 *   POST /sdk/form      the urlencoded form's fields, as JSON
 *   GET  /sdk/cookie    the "sid" cookie back; sets "seen", clears "old"
 *   GET  /sdk/typed     the handler's own Content-Type through sp_send_json
 *   GET  /sdk/misuse    a writer misused: the handler returns its error
 *   POST /sdk/job       a task whose result is set as JSON (202 + Location)
 *   POST /sdk/badjob    a task that tries to set invalid JSON as its result
 */
#include <stdio.h>
#include <string.h>

#include <spindle/spindle.h>

/* Set in init_worker, read-only afterwards. */
static bool loud;
static uint64_t max_body, pause_ms;

/* Every pair of the query string or the form, as [[k, v], ...]. */
static void pairs(sp_json *j, sp_request *req, bool form)
{
    sp_str k, v;
    sp_json_array(j);
    for (size_t i = 0; (form ? sp_form_at(req, i, &k, &v) : sp_query_at(req, i, &k, &v)) == SP_OK;
         i++) {
        sp_json_array(j);
        sp_json_str(j, k);
        sp_json_str(j, v);
        sp_json_end(j);
    }
    sp_json_end(j);
}

static void all(sp_json *j, sp_request *req, const char *name, bool form)
{
    sp_str v[4];
    size_t n = form ? sp_form_all(req, name, v, 4) : sp_query_all(req, name, v, 4);
    sp_json_array(j);
    for (size_t i = 0; i < n && i < 4; i++)
        sp_json_str(j, v[i]);
    sp_json_end(j);
}

static int info(sp_request *req, sp_response *res)
{
    sp_json *j = sp_json_response(res, 200);
    sp_app *app = sp_request_app(req);
    sp_json_object(j);
    sp_json_key(j, "loud");
    sp_json_bool(j, loud);
    sp_json_key(j, "max_body");
    sp_json_uint(j, max_body);
    sp_json_key(j, "pause_ms");
    sp_json_uint(j, pause_ms);
    sp_json_key(j, "threads");
    sp_json_int(j, sp_app_threads(app));
    sp_json_key(j, "processes");
    sp_json_int(j, sp_app_processes(app));
    sp_json_key(j, "q");
    sp_json_str(j, sp_query(req, "q")); /* null when absent */
    sp_json_key(j, "tags");
    all(j, req, "tag", false);
    sp_json_key(j, "pairs");
    pairs(j, req, false);
    sp_json_key(j, "ratio");
    sp_json_double(j, 0.1);
    sp_json_end(j);
    return j ? sp_json_finish(j) : SP_ENOMEM;
}

static int form(sp_request *req, sp_response *res)
{
    sp_json *j = sp_json_response(res, 200);
    sp_json_object(j);
    sp_json_key(j, "name");
    sp_json_str(j, sp_form(req, "name"));
    sp_json_key(j, "colors");
    all(j, req, "color", true);
    sp_json_key(j, "pairs");
    pairs(j, req, true);
    sp_json_key(j, "query");
    sp_json_str(j, sp_query(req, "name"));
    sp_json_end(j);
    return j ? sp_json_finish(j) : SP_ENOMEM;
}

static int cookie(sp_request *req, sp_response *res)
{
    struct sp_cookie seen = {.path = "/", .max_age = 60, .http_only = true, .same_site = "Lax"};
    int rc = sp_set_cookie(res, "seen", "1", &seen);
    if (rc == SP_OK)
        rc = sp_clear_cookie(res, "old", &(struct sp_cookie){.path = "/sdk"});
    if (rc != SP_OK)
        return rc;
    /* A value a browser could misread is refused, not sent. */
    if (sp_set_cookie(res, "bad", "a;Domain=evil", NULL) != SP_EHEADER)
        return 500;
    sp_json *j = sp_json_response(res, 200);
    sp_json_object(j);
    sp_json_key(j, "sid");
    sp_json_str(j, sp_cookie(req, "sid"));
    sp_json_key(j, "theme");
    sp_json_str(j, sp_cookie(req, "theme"));
    sp_json_end(j);
    return j ? sp_json_finish(j) : SP_ENOMEM;
}

static int typed(sp_request *req, sp_response *res)
{
    sp_set_header(res, "Content-Type", "application/problem+json");
    return sp_send_json(res, 409, "{\"title\":\"conflict\"}", 20);
}

static int misuse(sp_request *req, sp_response *res)
{
    sp_json *j = sp_json_response(res, 200);
    sp_json_object(j);
    sp_json_int(j, 1); /* a value without a key: SP_ESTATE, answered 500 */
    sp_json_end(j);
    return sp_json_finish(j);
}

static int json_job(sp_task *t, const void *payload, size_t len)
{
    sp_json *j = sp_json_buffer();
    sp_json_object(j);
    sp_json_key(j, "processed");
    sp_json_uint(j, len);
    sp_json_key(j, "payload");
    sp_json_str(j, (sp_str){payload, len});
    sp_json_key(j, "nested");
    sp_json_array(j);
    sp_json_null(j);
    sp_json_bool(j, false);
    sp_json_end(j);
    sp_json_end(j);
    int rc = sp_json_finish(j);
    size_t n;
    const char *text = sp_json_data(j, &n);
    if (rc == SP_OK)
        rc = sp_task_set_result_json(t, text, n);
    sp_json_free(j);
    return rc;
}

static int bad_json_job(sp_task *t, const void *payload, size_t len)
{
    int rc = sp_task_set_result_json(t, "{\"a\":", 5);
    if (rc != SP_OK)
        sp_task_set_error(t, "sp_task_set_result_json refused invalid JSON");
    return rc;
}

static int submit(sp_request *req, sp_response *res, const char *task)
{
    char id[SP_TASK_ID_LEN], where[64];
    sp_str body = sp_body(req);
    int rc = sp_task_submit(sp_request_app(req), task, body.ptr, body.len, 0, id);
    if (rc != SP_OK)
        return rc == SP_EFULL ? 503 : 500;
    snprintf(where, sizeof(where), "/_tasks/%s", id);
    sp_set_header(res, "Location", where);
    sp_json *j = sp_json_response(res, 202);
    sp_json_object(j);
    sp_json_key(j, "id");
    sp_json_cstr(j, id);
    sp_json_end(j);
    return j ? sp_json_finish(j) : SP_ENOMEM;
}

static int job(sp_request *req, sp_response *res)
{
    return submit(req, res, "sdk_json");
}

static int badjob(sp_request *req, sp_response *res)
{
    return submit(req, res, "sdk_bad_json");
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc = sp_conf_bool(conf, "loud", false, &loud);
    if (rc == SP_OK)
        rc = sp_conf_size(conf, "max-body", 1024, &max_body);
    if (rc == SP_OK)
        rc = sp_conf_duration_ms(conf, "pause", 1000, &pause_ms);
    if (rc == SP_OK)
        rc = sp_task_define(app, "sdk_json", json_job);
    if (rc == SP_OK)
        rc = sp_task_define(app, "sdk_bad_json", bad_json_job);
    struct {
        const char *method, *path;
        sp_handler_fn fn;
    } routes[] = {{"GET", "/sdk/info", info},     {"POST", "/sdk/form", form},
                  {"GET", "/sdk/cookie", cookie}, {"GET", "/sdk/typed", typed},
                  {"GET", "/sdk/misuse", misuse}, {"POST", "/sdk/job", job},
                  {"POST", "/sdk/badjob", badjob}};
    for (size_t i = 0; rc == SP_OK && i < sizeof(routes) / sizeof(routes[0]); i++)
        rc = sp_route(app, routes[i].method, routes[i].path, routes[i].fn);
    return rc;
}

static const sp_conf_key keys[] = {{"loud", SP_CONF_BOOL, "shout"},
                                   {"max-body", SP_CONF_SIZE, "largest body"},
                                   {"pause", SP_CONF_DURATION, "how long to wait"},
                                   {"retries", SP_CONF_INT, "how often to retry"},
                                   {NULL, 0, NULL}};

SP_MODULE(sdk_helpers, .init_worker = setup, .conf_keys = keys);
