/* inproc_worker.c - see inproc_worker.h. */
#include "tests/common/inproc_worker.h"

#include <event2/event.h>
#include <string.h>

#include "server/worker/conn.h"

static void *handler_thread(void *arg)
{
    sp__inproc *ip = arg;
    sp__qnode *n;
    while ((n = sp__queue_pop(&ip->w.queue)) != NULL)
        sp__conn_handle((sp__conn *)n);
    return NULL;
}

void sp__inproc_init(sp__inproc *ip, int timeout_ms, int max_keepalive)
{
    memset(ip, 0, sizeof(*ip));
    sp__config *cfg = &ip->cfg;
    cfg->threads = 1;
    cfg->timeout_header_ms = cfg->timeout_body_ms = cfg->timeout_keepalive_ms = timeout_ms;
    cfg->timeout_write_ms = cfg->graceful_timeout_ms = timeout_ms;
    cfg->max_keepalive_requests = max_keepalive;
    sp__worker *w = &ip->w;
    w->cfg = cfg;
    w->ls = &ip->no_listeners;
    w->lim = (sp__h1_limits){2048, 8192, 64, 1 << 16, 1024, "/tmp"};
    w->queue_limit = 1 << 20;
    w->accepting = 1;
    w->base = event_base_new();
    pthread_mutex_init(&w->done_lock, NULL);
    sp__worker_done_init(w);
    sp__queue_init(&w->queue);
    sp__loop_init(&w->loop);
    ip->app.cfg = cfg;
    ip->app.router = sp__router_new();
    w->app = &ip->app;
}

int sp__inproc_start(sp__inproc *ip)
{
    return pthread_create(&ip->thread, NULL, handler_thread, ip) == 0 ? 0 : -1;
}

void sp__inproc_run(sp__inproc *ip)
{
    /* The completion event stays registered, so the loop never runs out
     * of events: stop when the connections are gone.  There is no watch
     * here: the loop never changes threads. */
    while (ip->w.n_conns > 0)
        sp__loop_turn(&ip->w);
}
