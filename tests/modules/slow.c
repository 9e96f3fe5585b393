/*
 * slow.c - a handler that holds its thread: GET /slow?ms=N sleeps N
 * milliseconds (0..60000, default 1000), then answers "slow N ms".
 * Used to have requests in flight while signals arrive.
 */
/* nanosleep() is POSIX; modules build with -std=c11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <time.h>

#include <spindle/spindle.h>

static long query_ms(sp_request *req)
{
    sp_str v = sp_query(req, "ms");
    long ms = 0;
    size_t i;

    if (!sp_str_is_set(v) || v.len == 0 || v.len > 5)
        return 1000;
    for (i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return 1000;
        ms = ms * 10 + (v.ptr[i] - '0');
    }
    return ms > 60000 ? 60000 : ms;
}

static int slow(sp_request *req, sp_response *res)
{
    long ms = query_ms(req);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return sp_send_text(res, 200, "slow %ld ms", ms);
}

static int setup(sp_app *app, const sp_section *conf)
{
    (void)conf;
    return sp_route(app, "GET", "/slow", slow);
}

SP_MODULE(slow, .init_worker = setup);
