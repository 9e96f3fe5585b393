/*
 * task_jobs.c - test module for background tasks (tests/integration/test_tasks*.py).
 *
 * Tasks: sleep (payload: milliseconds), echo (result = payload), fail
 * (fails with a reason), crash (SIGSEGV: kills whoever runs it), append
 * (appends "ID PID UNIX_MS\n" to [module:task_jobs] file = PATH), wait (waits
 * until the file the payload names exists, then appends as append does:
 * the test decides when it may finish).  cron_append is the same as append,
 * exported for [cron] lines.  GET /whoami answers [module:task_jobs] name
 * (the test's name for the instance).  POST /submit/NAME
 * (?spool=1 for SP_TASK_SPOOL) submits the body as payload: 202 with the
 * id, 503 + Retry-After when the queue is full, 409 + the code otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spindle/spindle.h>

/* Set in init_worker from [module:task_jobs]; read-only afterwards. */
static char out_file[1024];
static char name[64];

static int sleep_task(sp_task *t, const void *payload, size_t len)
{
    char buf[32] = "";
    memcpy(buf, payload, len < sizeof(buf) - 1 ? len : sizeof(buf) - 1);
    long ms = atol(buf);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    snprintf(buf, sizeof(buf), "slept %ld", ms);
    return sp_task_set_result(t, buf, strlen(buf));
}

static int echo_task(sp_task *t, const void *payload, size_t len)
{
    return sp_task_set_result(t, payload, len);
}

static int fail_task(sp_task *t, const void *payload, size_t len)
{
    sp_task_set_error(t, "failed on purpose");
    return SP_EIO;
}

static int crash_task(sp_task *t, const void *payload, size_t len)
{
    raise(SIGSEGV);
    return SP_OK;
}

SP_EXPORT int cron_append(sp_task *t, const void *payload, size_t len);
SP_EXPORT int cron_append(sp_task *t, const void *payload, size_t len)
{
    FILE *f = fopen(out_file, "a");
    if (f == NULL)
        return SP_EIO;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fprintf(f, "%s %d %lld\n", sp_task_id(t), (int)getpid(),
            (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    fclose(f);
    return sp_task_set_result(t, "ok", 2);
}

static int wait_task(sp_task *t, const void *payload, size_t len)
{
    char path[1024] = "";
    memcpy(path, payload, len < sizeof(path) - 1 ? len : sizeof(path) - 1);
    struct timespec tick = {0, 20 * 1000000L};
    for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++) /* at most 2 minutes */
        nanosleep(&tick, NULL);
    return cron_append(t, payload, len);
}

static int whoami(sp_request *req, sp_response *res)
{
    return sp_send_text(res, 200, "%s\n", name);
}

static int submit(sp_request *req, sp_response *res)
{
    sp_str name = sp_param(req, "name"), body = sp_body(req), spool = sp_query(req, "spool");
    char n[128], id[SP_TASK_ID_LEN];
    snprintf(n, sizeof(n), "%.*s", SP_STR_ARGS(name));
    int rc = sp_task_submit(sp_request_app(req), n, body.ptr ? body.ptr : "", body.len,
                            sp_str_is_set(spool) ? SP_TASK_SPOOL : 0, id);
    if (rc == SP_EFULL) {
        sp_set_header(res, "Retry-After", "1");
        return sp_send_text(res, 503, "full\n");
    }
    if (rc != SP_OK)
        return sp_send_text(res, 409, "%d %s\n", rc, sp_strerror(rc));
    return sp_send_text(res, 202, "%s", id);
}

static int setup(sp_app *app, const sp_section *conf)
{
    const char *f = sp_conf_get(conf, "file");
    const char *n = sp_conf_get(conf, "name");
    snprintf(out_file, sizeof(out_file), "%s", f ? f : "/dev/null");
    snprintf(name, sizeof(name), "%s", n ? n : "");
    if (sp_task_define(app, "sleep", sleep_task) || sp_task_define(app, "echo", echo_task) ||
        sp_task_define(app, "fail", fail_task) || sp_task_define(app, "crash", crash_task) ||
        sp_task_define(app, "append", cron_append) || sp_task_define(app, "wait", wait_task))
        return SP_EINVAL;
    int rc = sp_route(app, "POST", "/submit/{name}", submit);
    return rc ? rc : sp_route(app, "GET", "/whoami", whoami);
}

SP_MODULE(task_jobs, .init_worker = setup);
