/*
 * tasks.c - background tasks: sp_task_* and a worker's task threads.
 *
 * Each state change is written to the store (app/tasks/store.h) before it
 * becomes true for anyone else: "queued" before the job is on the queue
 * (or in the spool), "running" before the function is called, the result
 * before the state says done.  So a poll on any worker never sees a state
 * that is ahead of the work.
 *
 * An in-process task belongs to one worker; if that worker dies, the task
 * is gone, and its state (which names the worker's pid and machine) reads
 * as failed once the pid is gone rather than "running" forever.  Polled on
 * another machine (instances sharing a Redis store), where that pid means
 * nothing, the state reads as written.  Durable work goes through the
 * spool (SP_TASK_SPOOL).
 */
#include "app/tasks/tasks.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "server/lib/crash.h"
#include "app/tasks/store.h"

typedef struct job {
    struct job *next;
    sp__taskrec rec; /* body: the payload */
} job;

typedef struct def {
    char *name;
    sp_task_fn fn;
} def;

struct sp__tasks {
    sp_app *app;
    def *defs;
    size_t n_defs;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    size_t n_queued; /* on the queue, plus slots reserved by submitters */
    pthread_t *threads;
    int n_threads;
    int stopping;
};

struct sp_task {
    sp_app *app;
    const char *id;
    unsigned char *result;
    size_t result_len;
    unsigned result_flags; /* SP__REC_RESULT_JSON */
    char error[256];
};

static sp__tasks *registry(sp_app *app)
{
    if (app->tasks == NULL && (app->tasks = calloc(1, sizeof(*app->tasks))) != NULL) {
        app->tasks->app = app;
        app->tasks_free = sp__tasks_free;
        pthread_mutex_init(&app->tasks->lock, NULL);
        pthread_cond_init(&app->tasks->cond, NULL);
    }
    return app->tasks;
}

static sp_task_fn find_def(const sp__tasks *ts, const char *name)
{
    for (size_t i = 0; ts && i < ts->n_defs; i++)
        if (strcmp(ts->defs[i].name, name) == 0)
            return ts->defs[i].fn;
    return NULL;
}

SP_EXPORT int sp_task_define(sp_app *app, const char *name, sp_task_fn fn)
{
    if (app == NULL || fn == NULL || !sp__task_name_ok(name))
        return SP_EINVAL;
    sp__tasks *ts = registry(app);
    if (ts == NULL)
        return SP_ENOMEM;
    if (find_def(ts, name) != NULL)
        return SP_EEXIST;
    def *v = realloc(ts->defs, (ts->n_defs + 1) * sizeof(*v));
    if (v == NULL)
        return SP_ENOMEM;
    ts->defs = v;
    if ((v[ts->n_defs].name = strdup(name)) == NULL)
        return SP_ENOMEM;
    v[ts->n_defs++].fn = fn;
    return SP_OK;
}

/* ---- running ------------------------------------------------------------- */

/* rec's state, with body as its result and rec's flags saying what the
 * result is. */
static int write_result(sp_app *app, const sp__taskrec *rec, int state, const void *body,
                        size_t len, const char *error)
{
    sp__taskrec st = *rec;
    st.state = state;
    st.updated_ms = sp__unix_ms();
    st.body = (unsigned char *)body;
    st.len = len;
    snprintf(st.error, sizeof(st.error), "%s", error ? error : "");
    return sp__state_write(app->cfg, &st);
}

/* rec's state without its payload (a state record carries the result). */
static int write_state(sp_app *app, const sp__taskrec *rec, int state, const void *body, size_t len,
                       const char *error)
{
    sp__taskrec st = *rec;
    st.flags = 0;
    return write_result(app, &st, state, body, len, error);
}

sp_task_fn sp__tasks_find(const sp_app *app, const char *name, char *what, size_t len)
{
    sp_task_fn fn = find_def(app->tasks, name);
    what[0] = '\0';
    if (fn == NULL && strchr(name, ':') != NULL)
        fn = (sp_task_fn)sp__app_symbol(app, name, what, len);
    if (fn == NULL && what[0] == '\0')
        snprintf(what, len, "no task named '%s' in this server's modules", name);
    return fn;
}

int sp__tasks_run(sp_app *app, sp__taskrec *rec)
{
    sp_task t = {app, rec->id, NULL, 0, 0, ""};
    char what[256];
    sp_task_fn fn = sp__tasks_find(app, rec->name, what, sizeof(what));
    rec->pid = (int)getpid();
    snprintf(rec->machine, sizeof(rec->machine), "%s", sp__machine_id());
    if (fn == NULL) {
        sp_log(SP_LOG_ERROR, "task %s: %s", rec->id, what);
        write_state(app, rec, SP_TASK_FAILED, NULL, 0, what);
        return SP_ENOENT;
    }
    write_state(app, rec, SP_TASK_RUNNING, NULL, 0, rec->error);
    int rc = fn(&t, rec->body, rec->len);
    if (rc != SP_OK && t.error[0] == '\0')
        snprintf(t.error, sizeof(t.error), "the task returned %d (%s)", rc, sp_strerror(rc));
    sp__taskrec done = *rec;
    done.flags = t.result_flags;
    if (write_result(app, &done, rc == SP_OK ? SP_TASK_DONE : SP_TASK_FAILED, t.result,
                     t.result_len, rc == SP_OK ? "" : t.error) != SP_OK)
        sp_log(SP_LOG_ERROR, "task %s (%s): cannot record its result", rec->id, rec->name);
    free(t.result);
    return rc;
}

static void *task_main(void *arg)
{
    sp__tasks *ts = arg;
    sp__crash_thread();
    for (;;) {
        pthread_mutex_lock(&ts->lock);
        while (ts->head == NULL && !ts->stopping)
            pthread_cond_wait(&ts->cond, &ts->lock);
        job *j = ts->head;
        if (j != NULL) {
            ts->head = j->next;
            if (ts->head == NULL)
                ts->tail = NULL;
            ts->n_queued--;
        }
        pthread_mutex_unlock(&ts->lock);
        if (j == NULL)
            return NULL;
        sp__tasks_run(ts->app, &j->rec);
        sp__rec_free(&j->rec);
        free(j);
    }
}

int sp__tasks_start(sp_app *app)
{
    sp__tasks *ts = app->tasks;
    int n = app->cfg->task_threads;
    if (ts == NULL || ts->n_defs == 0 || n == 0)
        return 0;
    if ((ts->threads = calloc((size_t)n, sizeof(*ts->threads))) == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&ts->threads[i], NULL, task_main, ts) != 0)
            return -1;
        char name[16];
        snprintf(name, sizeof(name), "task %d", (i + 1) % 1000);
        pthread_setname_np(ts->threads[i], name);
        ts->n_threads++;
    }
    return 0;
}

void sp__tasks_stop(sp_app *app)
{
    sp__tasks *ts = app ? app->tasks : NULL;
    if (ts == NULL || ts->threads == NULL)
        return;
    pthread_mutex_lock(&ts->lock);
    job *j = ts->head;
    ts->head = ts->tail = NULL;
    ts->stopping = 1;
    pthread_cond_broadcast(&ts->cond);
    pthread_mutex_unlock(&ts->lock);
    while (j != NULL) {
        job *next = j->next;
        write_state(app, &j->rec, SP_TASK_FAILED, NULL, 0, "the worker stopped before it ran");
        sp__rec_free(&j->rec);
        free(j);
        j = next;
    }
    for (int i = 0; i < ts->n_threads; i++)
        pthread_join(ts->threads[i], NULL);
    free(ts->threads);
    ts->threads = NULL;
    ts->n_threads = 0;
}

void sp__tasks_free(sp_app *app)
{
    sp__tasks *ts = app->tasks;
    if (ts == NULL)
        return;
    sp__tasks_stop(app);
    for (size_t i = 0; i < ts->n_defs; i++)
        free(ts->defs[i].name);
    free(ts->defs);
    pthread_mutex_destroy(&ts->lock);
    pthread_cond_destroy(&ts->cond);
    free(ts);
    app->tasks = NULL;
}

/* ---- submitting ---------------------------------------------------------- */

/* Reserve a queue slot: SP_EFULL when task-queue tasks already wait. */
static int reserve(sp__tasks *ts, int take)
{
    int rc = SP_OK;
    pthread_mutex_lock(&ts->lock);
    if (!take)
        ts->n_queued--;
    else if (ts->stopping)
        rc = SP_ESTATE;
    else if (ts->n_queued >= (size_t)ts->app->cfg->task_queue)
        rc = SP_EFULL;
    else
        ts->n_queued++;
    pthread_mutex_unlock(&ts->lock);
    return rc;
}

static int submit_local(sp__tasks *ts, job *j)
{
    int rc = reserve(ts, 1);
    if (rc == SP_OK && (rc = write_state(ts->app, &j->rec, SP_TASK_QUEUED, NULL, 0, "")) != SP_OK)
        reserve(ts, 0);
    if (rc != SP_OK)
        return rc;
    pthread_mutex_lock(&ts->lock);
    if (ts->tail)
        ts->tail->next = j;
    else
        ts->head = j;
    ts->tail = j;
    pthread_cond_signal(&ts->cond);
    pthread_mutex_unlock(&ts->lock);
    return SP_OK;
}

static int submit_spool(sp_app *app, sp__taskrec *rec)
{
    const sp__config *cfg = app->cfg;
    int rc = write_state(app, rec, SP_TASK_QUEUED, NULL, 0, "");
    if (rc == SP_OK && (rc = sp__spool_put(cfg, rec, rec->created_ms)) != SP_OK)
        sp__state_remove(cfg, rec->id); /* nothing was queued: leave no trace */
    return rc;
}

SP_EXPORT int sp_task_submit(sp_app *app, const char *name, const void *payload, size_t len,
                             int flags, char id_out[SP_TASK_ID_LEN])
{
    if (app == NULL || id_out == NULL || (payload == NULL && len > 0))
        return SP_EINVAL;
    sp__tasks *ts = app->tasks;
    int spool = (flags & SP_TASK_SPOOL) != 0;
    if (!sp__task_name_ok(name) || find_def(ts, name) == NULL)
        return SP_ENOENT;
    if (spool ? !sp__spool_accepts(app->cfg) : ts->threads == NULL)
        return SP_ESTATE;
    job *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->rec.body = malloc(len ? len : 1)) == NULL) {
        free(j);
        return SP_ENOMEM;
    }
    sp__taskrec *r = &j->rec;
    sp__task_new_id(r->id);
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->spooled = spool;
    r->pid = spool ? 0 : (int)getpid();
    snprintf(r->machine, sizeof(r->machine), "%s", spool ? "" : sp__machine_id());
    r->created_ms = r->updated_ms = sp__unix_ms();
    if (len)
        memcpy(r->body, payload, len);
    r->len = len;
    memcpy(id_out, r->id, SP_TASK_ID_LEN);
    int rc = spool ? submit_spool(app, r) : submit_local(ts, j);
    if (spool || rc != SP_OK) {
        sp__rec_free(r);
        free(j);
    }
    return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* Does r's pid belong to this machine (and pid namespace)?  Only then can
 * its liveness be checked here; a record of an older version names none. */
static bool here(const sp__taskrec *r)
{
    return r->machine[0] == '\0' || strcmp(r->machine, sp__machine_id()) == 0;
}

SP_EXPORT int sp_task_status(sp_app *app, const char *id, sp_task_info *out)
{
    return sp_task_status_flags(app, id, out, NULL);
}

SP_EXPORT int sp_task_status_flags(sp_app *app, const char *id, sp_task_info *out, unsigned *flags)
{
    sp__taskrec r;
    if (flags != NULL)
        *flags = 0;
    if (app == NULL || id == NULL || out == NULL)
        return SP_EINVAL;
    memset(out, 0, sizeof(*out));
    int rc = sp__state_read(app->cfg, id, &r);
    if (rc != SP_OK)
        return rc == SP_EINVAL ? SP_EIO : rc;
    out->state = r.state;
    snprintf(out->error, sizeof(out->error), "%s", r.error);
    if (r.state >= SP_TASK_DONE && r.updated_ms + app->cfg->task_result_ttl_ms < sp__unix_ms()) {
        out->state = SP_TASK_EXPIRED;
        sp__rec_free(&r);
    } else if (r.state < SP_TASK_DONE && !r.spooled && r.pid > 0 && here(&r) &&
               kill(r.pid, 0) != 0 && errno == ESRCH) {
        out->state = SP_TASK_FAILED;
        snprintf(out->error, sizeof(out->error), "worker %d died before the task finished", r.pid);
    }
    out->attempts = r.attempts;
    out->created_ms = r.created_ms;
    out->updated_ms = r.updated_ms;
    snprintf(out->name, sizeof(out->name), "%s", r.name);
    if (r.len > 0 && out->state >= SP_TASK_DONE && out->state != SP_TASK_EXPIRED) {
        out->result = r.body; /* now the caller's */
        out->result_len = r.len;
        r.body = NULL;
        if (flags != NULL && (r.flags & SP__REC_RESULT_JSON))
            *flags |= SP_TASK_RESULT_JSON;
    }
    sp__rec_free(&r);
    return SP_OK;
}

SP_EXPORT void sp_task_info_free(sp_task_info *info)
{
    if (info == NULL)
        return;
    free(info->result);
    info->result = NULL;
    info->result_len = 0;
}

SP_EXPORT const char *sp_task_state_name(int state)
{
    static const char *const names[] = {"queued", "running", "done", "failed", "expired"};
    return state >= 0 && state <= SP_TASK_EXPIRED ? names[state] : "unknown";
}

/* ---- inside a task ------------------------------------------------------- */

SP_EXPORT int sp_task_set_result(sp_task *t, const void *data, size_t len)
{
    if (t == NULL || (data == NULL && len > 0))
        return SP_EINVAL;
    unsigned char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return SP_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    free(t->result);
    t->result = copy;
    t->result_len = len;
    t->result_flags = 0;
    return SP_OK;
}

SP_EXPORT int sp_task_set_result_json(sp_task *t, const char *json, size_t len)
{
    if (t == NULL || json == NULL || !sp_json_valid(json, len))
        return SP_EINVAL;
    int rc = sp_task_set_result(t, json, len);
    if (rc == SP_OK)
        t->result_flags = SP__REC_RESULT_JSON;
    return rc;
}

SP_EXPORT int sp_task_set_error(sp_task *t, const char *reason)
{
    if (t == NULL || reason == NULL)
        return SP_EINVAL;
    snprintf(t->error, sizeof(t->error), "%s", reason);
    return SP_OK;
}

SP_EXPORT const char *sp_task_id(const sp_task *t)
{
    return t ? t->id : NULL;
}

SP_EXPORT sp_app *sp_task_app(sp_task *t)
{
    return t ? t->app : NULL;
}
