/*
 * blocker.c - test module: handlers and a task that wait in one system
 * call and say whether a signal cut it short (tests/integration/
 * test_signals.py, "signals never reach handler code").
 *
 *   GET /block/sleep?ms=N   one nanosleep(N ms), no retry
 *   GET /block/poll?ms=N    one poll() with no descriptors and an N ms timeout
 *   GET /block/read?ms=N    one read() on a pipe that a helper thread writes
 *                           to after N ms
 *   POST /block/task        body "sleep:N" (or poll/read): submits task
 *                           "block" doing the same on a task thread; 202
 *                           with the id, the result reads as below
 *
 * Each answers "eintr=E left=L thread=T": E is 1 when the call failed with
 * EINTR, L the milliseconds it had left, T sp_thread_index().  A request
 * untouched by signals reads "eintr=0 left=0".
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spindle/spindle.h>

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

struct late_write {
    int fd;
    long ms;
};

static void *write_later(void *arg)
{
    struct late_write *lw = arg;
    struct timespec ts = {lw->ms / 1000, (lw->ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    if (write(lw->fd, "x", 1) != 1) {
        /* the reader sees the missing byte as a short wait */
    }
    return NULL;
}

/* One blocking call of the kind named, for ms; "eintr=E left=L". */
static void block(const char *how, long ms, char *out, size_t len)
{
    long start = now_ms(), left = 0;
    int eintr = 0;

    if (strcmp(how, "poll") == 0) {
        eintr = poll(NULL, 0, (int)ms) < 0 && errno == EINTR;
    } else if (strcmp(how, "read") == 0) {
        int p[2];
        char c;
        pthread_t t;
        struct late_write lw;
        if (pipe(p) != 0) {
            snprintf(out, len, "pipe failed");
            return;
        }
        lw = (struct late_write){p[1], ms};
        pthread_create(&t, NULL, write_later, &lw);
        eintr = read(p[0], &c, 1) < 0 && errno == EINTR;
        pthread_join(t, NULL);
        close(p[0]);
        close(p[1]);
    } else {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}, rem = {0, 0};
        eintr = nanosleep(&ts, &rem) != 0 && errno == EINTR;
        left = rem.tv_sec * 1000L + rem.tv_nsec / 1000000L;
    }
    if (eintr && left == 0)
        left = ms - (now_ms() - start); /* poll and read do not say */
    snprintf(out, len, "eintr=%d left=%ld thread=%d", eintr, left < 0 ? 0 : left,
             sp_thread_index());
}

static long query_ms(sp_request *req)
{
    sp_str v = sp_query(req, "ms");
    char buf[16] = "";
    if (sp_str_is_set(v) && v.len < sizeof(buf))
        memcpy(buf, v.ptr, v.len);
    long ms = atol(buf);
    return ms < 0 ? 0 : ms > 60000 ? 60000 : ms;
}

static int block_route(sp_request *req, sp_response *res)
{
    sp_str how = sp_param(req, "how");
    char name[8] = "", out[96];
    if (how.len >= sizeof(name))
        return 404;
    memcpy(name, how.ptr, how.len);
    block(name, query_ms(req), out, sizeof(out));
    return sp_send_text(res, 200, "%s", out);
}

/* Task payload "how:ms". */
static int block_task(sp_task *t, const void *payload, size_t len)
{
    char buf[32] = "", out[96];
    memcpy(buf, payload, len < sizeof(buf) - 1 ? len : sizeof(buf) - 1);
    char *colon = strchr(buf, ':');
    if (colon == NULL)
        return SP_EINVAL;
    *colon = '\0';
    block(buf, atol(colon + 1), out, sizeof(out));
    return sp_task_set_result(t, out, strlen(out));
}

static int submit_route(sp_request *req, sp_response *res)
{
    char id[SP_TASK_ID_LEN];
    sp_str body = sp_body(req);
    int rc = sp_task_submit(sp_request_app(req), "block", body.ptr, body.len, 0, id);
    if (rc != SP_OK)
        return sp_send_text(res, 409, "%s", sp_strerror(rc));
    return sp_send_text(res, 202, "%s", id);
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc = sp_route(app, "GET", "/block/{how}", block_route);
    if (rc == SP_OK)
        rc = sp_route(app, "POST", "/block/task", submit_route);
    return rc == SP_OK ? sp_task_define(app, "block", block_task) : rc;
}

SP_MODULE(blocker, .init_worker = setup);
