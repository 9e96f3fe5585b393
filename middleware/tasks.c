/*
 * tasks.c - the built-in "tasks" module: GET /_tasks/{id} for polling.
 *
 * A handler that starts a background task answers 202 with
 * "Location: /_tasks/ID"; clients poll that URL until the state is done or
 * failed.  It reads the shared task store, so any worker answers for any
 * task.  Enabled by naming it: a [module:tasks] section (prefix = /path
 * moves it).  Written against the public API only.
 *
 * The result is written as it is when the task set it as JSON
 * (sp_task_set_result_json; checked again here, since the store is shared
 * with other processes), else as a JSON string when it is UTF-8 text,
 * else base64 in "result_base64", so the answer is always valid JSON
 * whatever bytes a task stored.
 */
#include <stdio.h>
#include <string.h>

#include "middleware/builtin.h"
#include "spindle/spindle.h"

#define PREFIX_MAX 64

/* A NUL-terminated string of the task record as a JSON string. */
static void json_cstr(sp_response *res, const char *s)
{
    sp_write_json_str(res, (sp_str){s, strlen(s)});
}

static int task_status(sp_request *req, sp_response *res)
{
    sp_str id = sp_param(req, "id");
    char idz[SP_TASK_ID_LEN];
    sp_task_info info;
    if (id.len != SP_TASK_ID_LEN - 1)
        return 404;
    memcpy(idz, id.ptr, id.len);
    idz[id.len] = '\0';
    unsigned flags;
    int rc = sp_task_status_flags(sp_request_app(req), idz, &info, &flags);
    if (rc == SP_ENOENT)
        return 404;
    if (rc != SP_OK)
        return 500;
    sp_set_status(res, 200);
    sp_set_header(res, "Content-Type", "application/json");
    sp_set_header(res, "Cache-Control", "no-store");
    sp_printf(res, "{\"id\":\"%s\",\"name\":", idz);
    json_cstr(res, info.name);
    sp_printf(res, ",\"state\":\"%s\",\"attempts\":%d,\"created_ms\":%lld,\"updated_ms\":%lld",
              sp_task_state_name(info.state), info.attempts, (long long)info.created_ms,
              (long long)info.updated_ms);
    if (info.error[0]) {
        sp_write(res, ",\"error\":", 9);
        json_cstr(res, info.error);
    }
    if (info.result && (flags & SP_TASK_RESULT_JSON) &&
        sp_json_valid(info.result, info.result_len)) {
        sp_write(res, ",\"result\":", 10);
        sp_write(res, info.result, info.result_len);
    } else if (info.result && sp_utf8_valid(info.result, info.result_len)) {
        sp_write(res, ",\"result\":", 10);
        sp_write_json_str(res, (sp_str){info.result, info.result_len});
    } else if (info.result) {
        sp_write(res, ",\"result_base64\":\"", 18);
        sp_write_base64(res, info.result, info.result_len);
        sp_write(res, "\"", 1);
    }
    sp_write(res, "}\n", 2);
    sp_task_info_free(&info);
    return SP_OK;
}

static int setup(sp_app *app, const sp_section *conf)
{
    const char *prefix = sp_conf_get(conf, "prefix");
    char pattern[PREFIX_MAX + 8];
    if (prefix == NULL)
        prefix = "/_tasks";
    if (prefix[0] != '/' || strlen(prefix) > PREFIX_MAX || strchr(prefix, '{')) {
        sp_log(SP_LOG_ERROR, "[module:tasks] prefix: '%s' is not an absolute path", prefix);
        return SP_EINVAL;
    }
    snprintf(pattern, sizeof(pattern), "%s/{id}", strcmp(prefix, "/") == 0 ? "" : prefix);
    return sp_route(app, "GET", pattern, task_status);
}

static const sp_conf_key keys[] = {
    {"prefix", SP_CONF_STRING, "where task states are served (default /_tasks/)"}, {NULL, 0, NULL}};

const sp_module sp__builtin_tasks =
    SP_MODULE_DESCRIPTOR("tasks", .init_worker = setup, .conf_keys = keys);
