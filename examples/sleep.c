/*
 * sleep - an IO-bound handler for benchmarks and drain tests.
 *
 *   GET /sleep?ms=N  -> waits N milliseconds (0-60000), then "slept N ms"
 *
 * It blocks its handler thread, as a handler waiting on a database would:
 * throughput is then bounded by processes x threads / latency.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <spindle/spindle.h>

static int sleep_ms(sp_request *req, sp_response *res)
{
    sp_str arg = sp_query(req, "ms");
    char *end = NULL;
    long ms = sp_str_is_set(arg) ? strtol(arg.ptr, &end, 10) : 0;

    if (sp_str_is_set(arg) && (end == arg.ptr || *end != '\0' || ms < 0 || ms > 60000))
        return sp_send_text(res, 400, "ms must be an integer from 0 to 60000\n");
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return sp_send_text(res, 200, "slept %ld ms", ms);
}

static int setup(sp_app *app, const sp_section *conf)
{
    return sp_route(app, "GET", "/sleep", sleep_ms);
}

SP_MODULE(sleep, .init_worker = setup);
