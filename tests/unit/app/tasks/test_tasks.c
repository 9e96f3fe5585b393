/*
 * test_tasks.c - the task queue and SDK (app/tasks/tasks.c): define, submit,
 * a bounded queue that fails fast with SP_EFULL, state transitions as
 * any worker reads them, results, failures, and stopping with work queued.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "app/tasks/store.h"
#include "app/tasks/tasks.h"

static sp__config cfg;
static sp_app *app;
static atomic_int release; /* the "block" task waits for this */

static void setup(void)
{
    char err[256];
    memset(&cfg, 0, sizeof(cfg));
    cfg.task_threads = 1;
    cfg.task_queue = 1;
    cfg.task_result_ttl_ms = 60000;
    cr_assert_eq(sp__taskstore_prepare(&cfg, NULL, err, sizeof(err)), 0, "%s", err);
    app = calloc(1, sizeof(*app));
    app->cfg = &cfg;
    atomic_store(&release, 0);
}

static void teardown(void)
{
    sp__tasks_free(app);
    free(app);
    sp__taskstore_cleanup(&cfg);
    free(cfg.task_dir);
    free(cfg.spool_dir);
}

TestSuite(tasks, .init = setup, .fini = teardown);

static int block(sp_task *t, const void *p, size_t len)
{
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&release))
        nanosleep(&ms, NULL);
    return sp_task_set_result(t, p, len);
}

static int fails(sp_task *t, const void *p, size_t len)
{
    sp_task_set_error(t, "no luck");
    return SP_EIO;
}

static int state_of(const char *id, sp_task_info *info)
{
    cr_assert_eq(sp_task_status(app, id, info), SP_OK);
    return info->state;
}

/* Wait (bounded) until task id reaches state. */
static void wait_state(const char *id, int state)
{
    sp_task_info info;
    for (int i = 0; i < 5000 && state_of(id, &info) != state; i++) {
        sp_task_info_free(&info);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    cr_assert_eq(info.state, state, "task %s is %s", id, sp_task_state_name(info.state));
    sp_task_info_free(&info);
}

Test(tasks, define_rules)
{
    cr_assert_eq(sp_task_define(app, "block", block), SP_OK);
    cr_assert_eq(sp_task_define(app, "block", block), SP_EEXIST);
    cr_assert_eq(sp_task_define(app, "bad name", block), SP_EINVAL);
    cr_assert_eq(sp_task_define(app, "x", NULL), SP_EINVAL);
}

Test(tasks, full_queue_fails_fast_then_drains)
{
    char a[SP_TASK_ID_LEN], b[SP_TASK_ID_LEN], c[SP_TASK_ID_LEN];
    sp_task_info info;
    sp_task_define(app, "block", block);
    cr_assert_eq(sp__tasks_start(app), 0);
    cr_assert_eq(sp_task_submit(app, "block", "A", 1, 0, a), SP_OK);
    wait_state(a, SP_TASK_RUNNING);                                  /* the one thread holds it */
    cr_assert_eq(sp_task_submit(app, "block", "B", 1, 0, b), SP_OK); /* the one queue slot */
    cr_assert_eq(state_of(b, &info), SP_TASK_QUEUED);
    cr_assert_eq(sp_task_submit(app, "block", "C", 1, 0, c), SP_EFULL);
    atomic_store(&release, 1);
    wait_state(a, SP_TASK_DONE);
    wait_state(b, SP_TASK_DONE);
    cr_assert_eq(state_of(b, &info), SP_TASK_DONE);
    cr_assert_eq(info.result_len, 1);
    cr_assert_eq(memcmp(info.result, "B", 1), 0);
    sp_task_info_free(&info);
    cr_assert_eq(sp_task_submit(app, "block", "C", 1, 0, c), SP_OK); /* room again */
    wait_state(c, SP_TASK_DONE);
}

Test(tasks, failure_reason_and_unknown_ids)
{
    char id[SP_TASK_ID_LEN];
    sp_task_info info;
    sp_task_define(app, "fails", fails);
    cr_assert_eq(sp__tasks_start(app), 0);
    cr_assert_eq(sp_task_submit(app, "nope", NULL, 0, 0, id), SP_ENOENT);
    cr_assert_eq(sp_task_submit(app, "fails", NULL, 0, SP_TASK_SPOOL, id), SP_ESTATE);
    cr_assert_eq(sp_task_submit(app, "fails", NULL, 0, 0, id), SP_OK);
    wait_state(id, SP_TASK_FAILED);
    state_of(id, &info);
    cr_assert_str_eq(info.error, "no luck");
    cr_assert_str_eq(info.name, "fails");
    sp_task_info_free(&info);
    cr_assert_eq(sp_task_status(app, "0123456789abcdef0123456789abcdef", &info), SP_ENOENT);
    cr_assert_eq(sp_task_status(app, "short", &info), SP_ENOENT);
}

/* A pid that no process has: a child that exited and was reaped. */
static int dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    cr_assert_gt(pid, 0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    return (int)pid;
}

/* An in-process task whose worker is gone reads as failed here; written on
 * another machine (a store shared through Redis), its pid says nothing
 * here, and the state reads as written. */
Test(tasks, a_dead_worker_is_judged_only_on_its_own_machine)
{
    sp__taskrec r = {.state = SP_TASK_RUNNING, .pid = dead_pid()};
    sp_task_info info;
    sp__task_new_id(r.id);
    strcpy(r.name, "block");
    r.created_ms = r.updated_ms = sp__unix_ms();
    strcpy(r.machine, sp__machine_id());
    cr_assert_eq(sp__state_write(&cfg, &r), SP_OK);
    cr_assert_eq(state_of(r.id, &info), SP_TASK_FAILED);
    cr_assert(strstr(info.error, "died before the task finished") != NULL, "%s", info.error);
    sp_task_info_free(&info);
    strcpy(r.machine, "0e3f7a52-1c6b-4d0e-9a57-2b8c1f6d4e90:4026531836");
    cr_assert_eq(sp__state_write(&cfg, &r), SP_OK);
    cr_assert_eq(state_of(r.id, &info), SP_TASK_RUNNING);
    sp_task_info_free(&info);
    r.machine[0] = '\0'; /* a record from before machines were written: judged here */
    cr_assert_eq(sp__state_write(&cfg, &r), SP_OK);
    cr_assert_eq(state_of(r.id, &info), SP_TASK_FAILED);
    sp_task_info_free(&info);
}

Test(tasks, results_expire)
{
    char id[SP_TASK_ID_LEN];
    sp_task_info info;
    cfg.task_result_ttl_ms = 1; /* anything finished is already old */
    sp_task_define(app, "block", block);
    atomic_store(&release, 1);
    cr_assert_eq(sp__tasks_start(app), 0);
    cr_assert_eq(sp_task_submit(app, "block", "x", 1, 0, id), SP_OK);
    wait_state(id, SP_TASK_EXPIRED);
    state_of(id, &info);
    cr_assert_null(info.result);
}

Test(tasks, stopping_fails_what_is_still_queued)
{
    char a[SP_TASK_ID_LEN], b[SP_TASK_ID_LEN];
    sp_task_info info;
    sp_task_define(app, "block", block);
    cr_assert_eq(sp__tasks_start(app), 0);
    cr_assert_eq(sp_task_submit(app, "block", "A", 1, 0, a), SP_OK);
    wait_state(a, SP_TASK_RUNNING);
    cr_assert_eq(sp_task_submit(app, "block", "B", 1, 0, b), SP_OK);
    atomic_store(&release, 1);
    sp__tasks_stop(app); /* A may finish; B either ran or is failed with a reason */
    state_of(b, &info);
    cr_assert(info.state == SP_TASK_DONE ||
              (info.state == SP_TASK_FAILED && strstr(info.error, "stopped")));
    sp_task_info_free(&info);
    cr_assert_eq(state_of(a, &info), SP_TASK_DONE);
    sp_task_info_free(&info);
}

Test(tasks, off_when_task_threads_is_zero)
{
    char id[SP_TASK_ID_LEN];
    cfg.task_threads = 0;
    sp_task_define(app, "block", block);
    cr_assert_eq(sp__tasks_start(app), 0);
    cr_assert_eq(sp_task_submit(app, "block", NULL, 0, 0, id), SP_ESTATE);
}
