/*
 * stats.c - stats and metrics, served by the master (see stats.h).
 *
 * Everything comes from the shared scoreboard, never from asking the
 * workers: a stuck worker still shows up, with the request it is stuck
 * in, and counts survive worker deaths (the master folds a dead worker's
 * counts into "retired").  The responder is deliberately tiny and
 * synchronous (one request per connection, 1 s socket timeouts): it runs
 * in the master's loop, and a scraper every few seconds is its load.
 *
 * Listen queue depth: for TCP listeners the kernel's TCP_INFO on the
 * listening socket, where tcpi_unacked is the accept queue's current
 * length and tcpi_sacked its limit; unix sockets report null.
 */
#include "server/master/stats.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/tasks/store.h"
#include "server/lib/procfs.h"

/* ---- sockets, shared with control.c ----------------------------------------- */

/* mode >= 0: the socket file gets exactly that mode, whatever the umask.
 * It is made under a umask that leaves only the owner in (the master is
 * single-threaded, so the umask is its alone for the moment), then
 * chmod'ed: at no time can anyone else connect. */
static int open_unix(const char *path, int mode, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long");
        return -1;
    }
    strcpy(sa.sun_path, path);
    unlink(path); /* ours from an earlier run: the pidfile/service owns the name */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old = mode >= 0 ? umask(0177) : 0;
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (mode >= 0)
        umask(old);
    if (ok && (mode < 0 || chmod(path, (mode_t)mode) == 0) && listen(fd, 16) == 0)
        return fd;
    snprintf(err, errlen, "%s", strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int open_tcp(const char *spec, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
    int one = 1, fd = -1;

    if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
        snprintf(err, errlen, "'%s' is not host:port or unix:/path", spec);
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    if (host[0] == '[')
        memmove(host, host + 1, strlen(host)), host[strcspn(host, "]")] = '\0';
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        snprintf(err, errlen, "%s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int sp__ops_listen(const char *what, const char *spec, int mode, char **path, char *err,
                   size_t errlen)
{
    char why[300];
    int fd;
    *path = NULL;
    if (strncmp(spec, "unix:", 5) == 0) {
        fd = open_unix(spec + 5, mode, why, sizeof(why));
        if (fd >= 0 && (*path = strdup(spec + 5)) == NULL) {
            close(fd);
            fd = -1;
        }
    } else {
        fd = open_tcp(spec, why, sizeof(why));
    }
    if (fd < 0)
        snprintf(err, errlen, "%s: cannot listen on %s: %s", what, spec, why);
    return fd;
}

/* ---- facts --------------------------------------------------------------------- */

/* Accept-queue length and limit of a TCP listener; -1 when unknown. */
static int listen_queue(const sp__listener *l, long *len, long *limit)
{
    struct tcp_info ti;
    socklen_t n = sizeof(ti);
    *len = *limit = -1;
    if (l->is_unix || l->fd < 0 || getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &n) != 0)
        return -1;
    *len = (long)ti.tcpi_unacked;
    *limit = (long)ti.tcpi_sacked;
    return 0;
}

static const char *state_of(const sp__mslot *s)
{
    if (s->pid == 0)
        return "scheduled";
    if (s->harakiri)
        return "harakiri";
    if (s->retiring)
        return "retiring";
    if (!s->ready)
        return "starting";
    return s->recycling ? "recycling" : "serving";
}

/* A quoted JSON string, escaped by the SDK's rules (sp_json_escape), so
 * the document is valid JSON whatever bytes a request path holds.  Texts
 * here are short (a scoreboard entry, a listen address): a long one is
 * the rare case that allocates. */
static void put_json(FILE *out, const char *s)
{
    char small[6 * SP__SB_TEXT], *buf = small;
    size_t len = strlen(s), n = sp_json_escape(small, sizeof(small), s, len);

    if (n > sizeof(small) && (buf = malloc(n)) != NULL)
        sp_json_escape(buf, n, s, len);
    fputc('"', out);
    if (buf != NULL)
        fwrite(buf, 1, n, out);
    fputc('"', out);
    if (buf != small)
        free(buf);
}

/* A quoted Prometheus label value.  Not put_json: the text format knows
 * only three escapes (\\, \" and \n; any other is a parse error there)
 * and takes UTF-8 and other bytes as they are. */
static void put_label(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

/* ---- JSON ------------------------------------------------------------------------- */

static void json_threads(sp__master *m, const sp__mslot *s, FILE *out, uint64_t now_ns)
{
    sp__sb_slot *sl = s->sb >= 0 ? sp__sb_slot_at(m->sb, (size_t)s->sb) : NULL;
    int n = sl ? atomic_load(&sl->n_threads) : 0;
    char req[SP__SB_TEXT];

    fprintf(out,
            "\"threads_running\":%d,\"threads_max\":%d,\"threads_grown\":%llu,"
            "\"threads_shrunk\":%llu,\"threads\":[",
            sl ? sp__sb_threads_running(sl) : 0, sl ? atomic_load(&sl->threads_max) : 0,
            sl ? (unsigned long long)atomic_load(&sl->threads_grown) : 0ULL,
            sl ? (unsigned long long)atomic_load(&sl->threads_shrunk) : 0ULL);
    for (int t = 0, listed = 0; t < n; t++) {
        uint64_t start = atomic_load(&sl->threads[t].start_ns);
        if (!atomic_load(&sl->threads[t].running))
            continue; /* an entry no thread holds (threads = auto) */
        fprintf(out, "%s{\"index\":%d,\"state\":\"%s\",\"requests\":%llu", listed++ ? "," : "",
                t + 1, start ? "busy" : "idle",
                (unsigned long long)atomic_load(&sl->threads[t].requests));
        if (start) {
            memcpy(req, sl->threads[t].request, sizeof(req));
            req[sizeof(req) - 1] = '\0';
            fputs(",\"request\":", out);
            put_json(out, req);
            fprintf(out, ",\"elapsed_ms\":%llu",
                    (unsigned long long)(now_ns > start ? (now_ns - start) / 1000000 : 0));
        }
        fputc('}', out);
    }
    fputc(']', out);
}

/* A slot's process: resident KiB and seconds up (0 while none runs). */
static long slot_rss_kib(const sp__mslot *s)
{
    return s->pid > 0 ? sp__rss_kib(s->pid) : 0L;
}

static long long slot_uptime_s(const sp__mslot *s)
{
    return s->pid > 0 ? (sp__now_ms() - s->started_ms) / 1000 : 0LL;
}

static void json_worker(sp__master *m, const sp__mslot *s, FILE *out, uint64_t now_ns)
{
    sp__sb_slot *sl = s->sb >= 0 ? sp__sb_slot_at(m->sb, (size_t)s->sb) : NULL;
    fprintf(out,
            "{\"id\":%d,\"pid\":%d,\"generation\":%d,\"state\":\"%s\",\"requests\":%llu,"
            "\"connections\":%u,\"respawns\":%d,\"rss_kib\":%ld,\"queue\":%u,\"uptime_s\":%lld,",
            s->id, (int)s->pid, s->gen, state_of(s),
            sl ? (unsigned long long)atomic_load(&sl->requests) : 0ULL,
            sl ? (unsigned)atomic_load(&sl->share.conns) : 0u, s->respawns, slot_rss_kib(s),
            sl ? (unsigned)atomic_load(&sl->queue) : 0u, slot_uptime_s(s));
    json_threads(m, s, out, now_ns);
    fputc('}', out);
}

/* Spooled tasks waiting (-1: no count to show: no spool, or a store the
 * master does not ask from its loop). */
static long spool_queued(const sp__config *cfg)
{
    long n;
    return sp__spool_depth(cfg, &n) == SP_OK ? n : -1;
}

static void json_spoolers(sp__master *m, FILE *out)
{
    long queued = spool_queued(m->cfg);
    if (queued >= 0)
        fprintf(out, "\"spool_queue\":%ld,", queued);
    else
        fputs("\"spool_queue\":null,", out);
    fputs("\"spoolers\":[", out);
    for (size_t i = 0, n = 0; i < m->n_slots; i++) {
        const sp__mslot *s = &m->slots[i];
        if (!s->spooler)
            continue;
        fprintf(out,
                "%s{\"id\":%d,\"pid\":%d,\"state\":\"%s\",\"respawns\":%d,\"rss_kib\":%ld,"
                "\"uptime_s\":%lld}",
                n++ ? "," : "", s->spooler, (int)s->pid,
                s->ready && !s->retiring ? "running" : state_of(s), s->respawns, slot_rss_kib(s),
                slot_uptime_s(s));
    }
    fputc(']', out);
}

static void json_listeners(sp__master *m, FILE *out)
{
    long len, limit;
    fputs("\"listen\":[", out);
    for (size_t i = 0; i < m->ls.n; i++) {
        fprintf(out, "%s{\"address\":", i ? "," : "");
        put_json(out, m->ls.v[i].text);
        if (listen_queue(&m->ls.v[i], &len, &limit) == 0)
            fprintf(out, ",\"queue\":%ld,\"backlog\":%ld,\"method\":\"tcp_info\"}", len, limit);
        else
            fputs(",\"queue\":null,\"backlog\":null,\"method\":null}", out);
    }
    fputs("],", out);
}

static uint64_t total_requests(const sp__sb_counts *c)
{
    uint64_t n = 0;
    for (int b = 0; b < SP__SB_BUCKETS; b++)
        n += atomic_load(&c->hist[b]);
    return n;
}

void sp__stats_json(sp__master *m, FILE *out)
{
    static sp__sb_counts tot; /* large; the master is single-threaded */
    uint64_t now_ns = sp__now_ns();

    sp__sb_totals(m->sb, &tot);
    fprintf(out, "{\"version\":\"%s\",\"pid\":%d,\"uptime_s\":%lld,\"generation\":%d,",
            SP_VERSION_STRING, (int)getpid(), (sp__now_ms() - m->started_ms) / 1000, m->gen);
    fprintf(out, "\"target_workers\":%d,\"reloading\":%s,", m->target,
            m->pending ? "true" : "false");
    if (m->cfg->processes == 0) {
        fprintf(out,
                "\"autoscale\":{\"min\":%d,\"max\":%d,\"added\":%llu,\"retired\":%llu,\"last\":",
                sp__processes_min(m->cfg), sp__processes_cap(m->cfg), m->as.added, m->as.retired);
        put_json(out, m->as.last);
        fputs("},", out);
    }
    json_listeners(m, out);
    fprintf(out,
            "\"requests_total\":%llu,\"harakiri_total\":%llu,\"respawns_total\":%llu,"
            "\"recycles_total\":%llu,\"workers\":[",
            (unsigned long long)total_requests(&tot),
            (unsigned long long)atomic_load(&m->sb->harakiri_total),
            (unsigned long long)atomic_load(&m->sb->respawns_total), m->recycles);
    for (size_t i = 0, n = 0; i < m->n_slots; i++) {
        if (m->slots[i].spooler)
            continue; /* spoolers serve no requests */
        if (n++)
            fputc(',', out);
        json_worker(m, &m->slots[i], out, now_ns);
    }
    fputs("],", out);
    json_spoolers(m, out);
    fputs("}\n", out);
}

/* ---- Prometheus ------------------------------------------------------------------ */

static const char *route_name(sp__master *m, int r, char *buf, size_t len)
{
    if (r == SP__SB_ROUTE_OTHER)
        return "other";
    if (r == SP__SB_ROUTE_NONE)
        return "unmatched";
    if (atomic_load(&m->sb->routes[r].state) != 2)
        return NULL;
    snprintf(buf, len, "%s", m->sb->routes[r].pattern);
    return buf;
}

static void metric_head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_requests(sp__master *m, const sp__sb_counts *tot, FILE *out)
{
    char buf[SP__SB_TEXT];
    metric_head(out, "spindle_requests_total", "counter",
                "Requests answered, by route pattern and status class.");
    for (int r = 0; r < SP__SB_NROUTES; r++) {
        const char *name = route_name(m, r, buf, sizeof(buf));
        for (int c = 0; name && c < SP__SB_CLASSES; c++) {
            uint64_t n = atomic_load(&tot->by_route[r][c]);
            if (n == 0)
                continue;
            fputs("spindle_requests_total{route=", out);
            put_label(out, name);
            fprintf(out, ",status=\"%dxx\"} %llu\n", c + 1, (unsigned long long)n);
        }
    }
    metric_head(out, "spindle_request_duration_seconds", "histogram",
                "Time a handler thread spent on a request, middleware included.");
    uint64_t cum = 0;
    for (int b = 0; b < SP__SB_BUCKETS; b++) {
        cum += atomic_load(&tot->hist[b]);
        if (b < SP__SB_BUCKETS - 1)
            fprintf(out, "spindle_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    (double)sp__sb_bucket_us[b] / 1e6, (unsigned long long)cum);
        else
            fprintf(out, "spindle_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)cum);
    }
    fprintf(out, "spindle_request_duration_seconds_sum %.6f\n",
            (double)atomic_load(&tot->sum_us) / 1e6);
    fprintf(out, "spindle_request_duration_seconds_count %llu\n", (unsigned long long)cum);
}

static void metrics_workers(sp__master *m, FILE *out)
{
    long busy = 0, threads = 0, queue = 0, workers = 0, max = 0;
    unsigned long long grown = 0, shrunk = 0;
    for (size_t i = 0; i < m->n_slots; i++) {
        sp__sb_slot *sl =
            m->slots[i].sb >= 0 ? sp__sb_slot_at(m->sb, (size_t)m->slots[i].sb) : NULL;
        if (sl == NULL || m->slots[i].pid <= 0)
            continue;
        workers++;
        queue += atomic_load(&sl->queue);
        max += atomic_load(&sl->threads_max);
        grown += atomic_load(&sl->threads_grown);
        shrunk += atomic_load(&sl->threads_shrunk);
        for (int t = 0; t < atomic_load(&sl->n_threads); t++) {
            threads += atomic_load(&sl->threads[t].running) != 0;
            busy += atomic_load(&sl->threads[t].start_ns) != 0;
        }
    }
    metric_head(out, "spindle_workers", "gauge", "Worker processes running.");
    fprintf(out, "spindle_workers %ld\n", workers);
    metric_head(out, "spindle_workers_target", "gauge",
                "Workers wanted: processes, or where processes = auto has put it.");
    fprintf(out, "spindle_workers_target %d\n", m->target);
    metric_head(out, "spindle_workers_added_total", "counter",
                "Workers processes = auto added because every worker was saturated.");
    fprintf(out, "spindle_workers_added_total %llu\n", m->as.added);
    metric_head(out, "spindle_workers_retired_total", "counter",
                "Workers processes = auto retired because fewer were enough.");
    fprintf(out, "spindle_workers_retired_total %llu\n", m->as.retired);
    metric_head(out, "spindle_threads", "gauge",
                "Threads running requests in the running workers: handler threads and each "
                "worker's IO loop thread.");
    fprintf(out, "spindle_threads %ld\n", threads);
    metric_head(out, "spindle_threads_max", "gauge",
                "Handler threads the running workers may have: threads, or threads-max with auto.");
    fprintf(out, "spindle_threads_max %ld\n", max);
    metric_head(
        out, "spindle_threads_grown_total", "counter",
        "Handler threads threads = auto started because requests waited (running workers).");
    fprintf(out, "spindle_threads_grown_total %llu\n", grown);
    metric_head(out, "spindle_threads_shrunk_total", "counter",
                "Handler threads threads = auto stopped after threads-idle (running workers).");
    fprintf(out, "spindle_threads_shrunk_total %llu\n", shrunk);
    metric_head(out, "spindle_busy_threads", "gauge", "Handler threads inside a request.");
    fprintf(out, "spindle_busy_threads %ld\n", busy);
    metric_head(out, "spindle_request_queue", "gauge",
                "Complete requests waiting for a handler thread (sampled every 250 ms).");
    fprintf(out, "spindle_request_queue %ld\n", queue);
}

static void metrics_spoolers(sp__master *m, FILE *out)
{
    long running = 0, queued = spool_queued(m->cfg);
    for (size_t i = 0; i < m->n_slots; i++)
        running += m->slots[i].spooler && m->slots[i].pid > 0 && m->slots[i].ready;
    metric_head(out, "spindle_spoolers", "gauge", "Spooler processes running.");
    fprintf(out, "spindle_spoolers %ld\n", running);
    if (queued < 0)
        return;
    metric_head(out, "spindle_spool_queue", "gauge", "Spooled tasks waiting in the spool folder.");
    fprintf(out, "spindle_spool_queue %ld\n", queued);
}

void sp__stats_metrics(sp__master *m, FILE *out)
{
    static sp__sb_counts tot; /* large; the master is single-threaded */
    long len, limit;

    sp__sb_totals(m->sb, &tot);
    metrics_requests(m, &tot, out);
    metrics_workers(m, out);
    metrics_spoolers(m, out);
    metric_head(out, "spindle_listen_queue", "gauge",
                "Connections waiting in a TCP listener's accept queue (TCP_INFO).");
    for (size_t i = 0; i < m->ls.n; i++) {
        if (listen_queue(&m->ls.v[i], &len, &limit) != 0)
            continue;
        fputs("spindle_listen_queue{listen=", out);
        put_label(out, m->ls.v[i].text);
        fprintf(out, "} %ld\n", len);
    }
    metric_head(out, "spindle_worker_respawns_total", "counter",
                "Workers started again after one died (crash, kill, harakiri).");
    fprintf(out, "spindle_worker_respawns_total %llu\n",
            (unsigned long long)atomic_load(&m->sb->respawns_total));
    metric_head(out, "spindle_harakiri_total", "counter", "Requests that passed harakiri.");
    fprintf(out, "spindle_harakiri_total %llu\n",
            (unsigned long long)atomic_load(&m->sb->harakiri_total));
    metric_head(out, "spindle_worker_recycles_total", "counter",
                "Workers recycled (max-requests, max-worker-lifetime, reload-on-rss).");
    fprintf(out, "spindle_worker_recycles_total %llu\n", m->recycles);
}

/* ---- the responder ------------------------------------------------------------- */

static void reply(FILE *out, int status, const char *type, const char *body, size_t len)
{
    fprintf(out,
            "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n",
            status,
            status == 200   ? "OK"
            : status == 404 ? "Not Found"
                            : "Bad Request",
            type, len);
    fwrite(body, 1, len, out);
}

void sp__stats_answer(sp__master *m, const char *req, FILE *out)
{
    char *body = NULL;
    size_t len = 0;
    FILE *doc = open_memstream(&body, &len);
    int metrics = strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET /metrics?", 13) == 0;
    int root = strncmp(req, "GET / ", 6) == 0 || strncmp(req, "GET /?", 6) == 0;
    if (doc != NULL && (metrics || root)) {
        if (metrics)
            sp__stats_metrics(m, doc);
        else
            sp__stats_json(m, doc);
        fclose(doc);
        reply(out, 200, metrics ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
              body, len);
    } else {
        if (doc != NULL)
            fclose(doc);
        reply(out, strncmp(req, "GET ", 4) == 0 ? 404 : 400, "text/plain", "try / or /metrics\n",
              18);
    }
    free(body);
}
