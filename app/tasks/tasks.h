/*
 * tasks.h - background tasks: the registry, a worker's task thread pool,
 * and running one task (shared by task threads and spooler processes).
 *
 * The pool is separate from the handler threads on purpose: a burst of
 * slow jobs must never take the threads that answer requests, and the two
 * are sized differently (docs/tasks.md).  Its queue is bounded
 * (task-queue) so a flood of submissions fails fast with SP_EFULL instead
 * of growing memory; the caller answers 503 and the client retries.
 */
#ifndef SPINDLE_APP_TASKS_TASKS_H
#define SPINDLE_APP_TASKS_TASKS_H

#include "app/tasks/record.h"
#include "spindle/spindle.h"

typedef struct sp__tasks sp__tasks;

/* Worker, after sp__app_load: start task-threads threads (none when no
 * task is defined or task-threads is 0).  0, or -1 (errno) if a thread
 * cannot start. */
int sp__tasks_start(sp_app *app);
/* Worker, at exit: tasks still queued are marked failed ("the worker
 * stopped before it ran"); running ones finish; the threads are joined. */
void sp__tasks_stop(sp_app *app);
/* sp__app_free: stop if running, then free the registry. */
void sp__tasks_free(sp_app *app);

/* Run rec (a task defined by name, or a [cron] "module:function") in the
 * calling thread, writing its running and final states.  Returns the
 * task's own result code. */
int sp__tasks_run(sp_app *app, sp__taskrec *rec);
/* The function a task name runs: one sp_task_define'd, or a module's
 * exported "module:symbol".  NULL with the reason in what. */
sp_task_fn sp__tasks_find(const sp_app *app, const char *name, char *what, size_t len);

#endif
