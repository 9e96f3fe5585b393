/*
 * scoreboard.c - the shared-memory scoreboard (see scoreboard.h).
 *
 * The worker side is on every request's path, so it is a handful of
 * relaxed atomic adds on memory only this worker writes, plus one lookup
 * of the route pattern in a small open-addressed table shared by all
 * workers.  A pattern is claimed with one compare-and-swap; a table that
 * is full, or a slot still being written by another worker, sends the
 * request to "other" rather than making anyone wait.
 */
#include "server/worker/scoreboard.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "app/facts.h"
#include "server/lib/clock.h"

#define SLOT_HEADROOM  16
#define MIN_THREAD_CAP 64
#define MAX_THREAD_CAP 1024

const uint64_t sp__sb_bucket_us[SP__SB_BUCKETS - 1] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

/* Per-process worker state: the region is inherited, so one pointer per
 * process says which slot is ours; per-thread, which entry.  Globals
 * because serve.c and the public getters have no context to pass. */
static sp__scoreboard *board;
static sp__sb_slot *me;
static uint64_t request_limit;
static void (*limit_fn)(void);
static atomic_int limit_fired;
static _Thread_local sp__sb_thread *my_thread;

/* ---- master ------------------------------------------------------------ */

sp__scoreboard *sp__sb_create(int processes, int threads)
{
    size_t cap = (size_t)threads * 2;
    cap = cap < MIN_THREAD_CAP ? MIN_THREAD_CAP : cap > MAX_THREAD_CAP ? MAX_THREAD_CAP : cap;
    size_t slot_size = sizeof(sp__sb_slot) + cap * sizeof(sp__sb_thread);
    slot_size = (slot_size + 63) & ~(size_t)63;
    size_t n = (size_t)processes * 2 + SLOT_HEADROOM;
    size_t head = (sizeof(sp__scoreboard) + 63) & ~(size_t)63;
    size_t size = head + n * slot_size;
    /* Untouched pages of an anonymous mapping cost nothing: headroom is free. */
    sp__scoreboard *sb =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sb == MAP_FAILED)
        return NULL;
    sb->n_slots = n;
    sb->thread_cap = cap;
    sb->slot_size = slot_size;
    sb->map_size = size;
    return sb;
}

void sp__sb_destroy(sp__scoreboard *sb)
{
    if (sb != NULL)
        munmap(sb, sb->map_size);
}

sp__sb_slot *sp__sb_slot_at(sp__scoreboard *sb, size_t i)
{
    size_t head = (sizeof(sp__scoreboard) + 63) & ~(size_t)63;
    return (sp__sb_slot *)((char *)sb + head + i * sb->slot_size);
}

int sp__sb_slot_take(sp__scoreboard *sb, int id)
{
    for (size_t i = 0; i < sb->n_slots; i++) {
        sp__sb_slot *s = sp__sb_slot_at(sb, i);
        if (atomic_load(&s->pid) != 0 || s->id != 0)
            continue;
        memset(s, 0, sb->slot_size);
        s->id = id;
        return (int)i;
    }
    return -1;
}

static void add_counts(sp__sb_counts *to, sp__sb_counts *from)
{
    for (int r = 0; r < SP__SB_NROUTES; r++)
        for (int c = 0; c < SP__SB_CLASSES; c++)
            atomic_fetch_add_explicit(
                &to->by_route[r][c],
                atomic_load_explicit(&from->by_route[r][c], memory_order_relaxed),
                memory_order_relaxed);
    for (int b = 0; b < SP__SB_BUCKETS; b++)
        atomic_fetch_add_explicit(&to->hist[b], atomic_load(&from->hist[b]), memory_order_relaxed);
    atomic_fetch_add_explicit(&to->sum_us, atomic_load(&from->sum_us), memory_order_relaxed);
}

void sp__sb_slot_free(sp__scoreboard *sb, size_t i)
{
    sp__sb_slot *s = sp__sb_slot_at(sb, i);
    add_counts(&sb->retired, &s->counts);
    memset(s, 0, sb->slot_size);
}

void sp__sb_totals(sp__scoreboard *sb, sp__sb_counts *out)
{
    memset(out, 0, sizeof(*out));
    add_counts(out, &sb->retired);
    for (size_t i = 0; i < sb->n_slots; i++) {
        sp__sb_slot *s = sp__sb_slot_at(sb, i);
        if (s->id != 0)
            add_counts(out, &s->counts);
    }
}

/* ---- worker ------------------------------------------------------------ */

void sp__sb_attach(sp__scoreboard *sb, size_t i, int id, int n_threads)
{
    board = sb;
    me = sp__sb_slot_at(sb, i);
    sp__facts_set_worker(id);
    if ((size_t)n_threads > sb->thread_cap)
        n_threads = (int)sb->thread_cap; /* threads past the cap go untracked */
    atomic_store(&me->n_threads, n_threads);
}

void sp__sb_thread_bind(int index)
{
    if (me != NULL && index >= 1 && index <= atomic_load(&me->n_threads))
        my_thread = &me->threads[index - 1];
    if (my_thread != NULL)
        atomic_store(&my_thread->running, 1);
    sp__facts_set_thread(index, my_thread ? &my_thread->start_ns : NULL);
}

bool sp__sb_thread_overdue(int index, uint64_t limit_ms, char *req, size_t len)
{
    if (me == NULL || index < 1 || index > atomic_load(&me->n_threads))
        return false;
    sp__sb_thread *t = &me->threads[index - 1];
    uint64_t start = atomic_load(&t->start_ns), now = sp__now_ns();
    if (start == 0 || now <= start || (now - start) / 1000000 <= limit_ms)
        return false;
    snprintf(req, len, "%.*s", (int)sizeof(t->request), t->request); /* may be torn: only logged */
    return true;
}

void sp__sb_thread_unbind(void)
{
    if (my_thread != NULL) {
        atomic_store(&my_thread->start_ns, 0);
        atomic_store(&my_thread->running, 0);
    }
    my_thread = NULL;
    sp__facts_set_thread(0, NULL);
}

void sp__sb_threads_max(int max)
{
    if (me != NULL)
        atomic_store(&me->threads_max, max);
}

void sp__sb_thread_grown(bool grown)
{
    if (me != NULL)
        atomic_fetch_add(grown ? &me->threads_grown : &me->threads_shrunk, 1);
}

int sp__sb_threads_running(sp__sb_slot *s)
{
    int n = 0;
    for (int t = 0; t < atomic_load(&s->n_threads); t++)
        n += atomic_load(&s->threads[t].running) != 0;
    return n;
}

void sp__sb_on_request_limit(uint64_t limit, void (*fn)(void))
{
    request_limit = limit;
    limit_fn = fn;
}

void sp__sb_set_queue(uint32_t len)
{
    if (me != NULL)
        atomic_store_explicit(&me->queue, len, memory_order_relaxed);
}

void sp__sb_begin(sp_request *req)
{
    if (my_thread == NULL)
        return;
    /* "METHOD path", the path cut at 80 bytes: copies, not snprintf, as this
     * runs for every request. */
    enum { METHOD_MAX = 14, PATH_MAX_ = 80 };
    _Static_assert(METHOD_MAX + 1 + PATH_MAX_ + 1 <= SP__SB_TEXT, "request text fits");
    char *t = my_thread->request;
    size_t m = req->method.len < METHOD_MAX ? req->method.len : METHOD_MAX;
    size_t p = req->path.len < PATH_MAX_ ? req->path.len : PATH_MAX_;
    memcpy(t, req->method.ptr, m);
    t[m] = ' ';
    memcpy(t + m + 1, req->path.ptr, p);
    t[m + 1 + p] = '\0';
    atomic_store_explicit(&my_thread->start_ns, sp__now_ns(), memory_order_release);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The table index of pattern, claiming a free entry if need be. */
static int route_index(const char *pattern)
{
    if (pattern == NULL)
        return SP__SB_ROUTE_NONE;
    if (strlen(pattern) >= SP__SB_TEXT)
        return SP__SB_ROUTE_OTHER;
    uint64_t h = hash(pattern);
    for (int probe = 0; probe < SP__SB_ROUTES; probe++) {
        sp__sb_route *r = &board->routes[(h + (uint64_t)probe) % SP__SB_ROUTES];
        int st = atomic_load_explicit(&r->state, memory_order_acquire);
        if (st == 0) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&r->state, &expect, 1)) {
                strcpy(r->pattern, pattern);
                atomic_store_explicit(&r->state, 2, memory_order_release);
                return (int)(r - board->routes);
            }
            st = expect;
        }
        if (st == 1)
            return SP__SB_ROUTE_OTHER; /* another worker is writing it */
        if (strcmp(r->pattern, pattern) == 0)
            return (int)(r - board->routes);
    }
    return SP__SB_ROUTE_OTHER;
}

static void count(sp__sb_counts *c, int route, int status, uint64_t us)
{
    int cls = status >= 100 && status <= 599 ? status / 100 - 1 : 4;
    int b = 0;
    while (b < SP__SB_BUCKETS - 1 && us > sp__sb_bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&c->by_route[route][cls], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->sum_us, us, memory_order_relaxed);
}

uint64_t sp__sb_end(const sp_request *req, int status)
{
    if (me == NULL)
        return 0;
    uint64_t start = my_thread ? atomic_load(&my_thread->start_ns) : 0;
    uint64_t us = start ? (sp__now_ns() - start) / 1000 : 0;
    /* a short-circuiting middleware never routes: no match, no pattern */
    count(&me->counts, route_index(req->reached ? req->match->pattern : NULL), status, us);
    if (my_thread != NULL) {
        atomic_fetch_add_explicit(&my_thread->requests, 1, memory_order_relaxed);
        atomic_store_explicit(&my_thread->start_ns, 0, memory_order_release);
    }
    uint64_t n = atomic_fetch_add_explicit(&me->requests, 1, memory_order_relaxed) + 1;
    if (request_limit && n >= request_limit && limit_fn && !atomic_exchange(&limit_fired, 1))
        limit_fn();
    return us;
}

/* ---- accept balancing ------------------------------------------------------ */

bool sp__sb_clearly_more(uint64_t mine, uint64_t least, uint64_t sum, uint64_t n)
{
    /* the slack: a sixteenth of the mean, and one for small counts */
    return n > 1 && mine > least + sum / (16 * n) + 1;
}

void sp__sb_share_key(uint64_t key)
{
    if (me == NULL)
        return;
    atomic_store(&me->share.beat_ms, (int64_t)sp__now_ms());
    atomic_store(&me->share.key, key);
}

void sp__sb_share_set(uint32_t conns, bool accepting)
{
    if (me == NULL)
        return;
    /* Store only what changed: siblings read this line on every accept. */
    if (atomic_load_explicit(&me->share.conns, memory_order_relaxed) != conns)
        atomic_store_explicit(&me->share.conns, conns, memory_order_relaxed);
    if (atomic_load_explicit(&me->share.accepting, memory_order_relaxed) != (int)accepting)
        atomic_store_explicit(&me->share.accepting, (int)accepting, memory_order_relaxed);
}

void sp__sb_share_beat(void)
{
    if (me != NULL)
        atomic_store_explicit(&me->share.beat_ms, (int64_t)sp__now_ms(), memory_order_relaxed);
}

/* Leave it when a sibling on the same sockets is accepting, alive, and
 * holds clearly fewer connections than this worker: that sibling was woken
 * for the same connection and takes it.  The sibling holding the fewest
 * never leaves a connection to anyone, so the rule never leaves one to
 * nobody; with no such sibling (the others full, paused or stuck) this
 * worker accepts.  Counts are read without a lock: a stale one moves the
 * split by a connection and never stops accepting. */
bool sp__sb_leave_to_sibling(void)
{
    uint64_t key = me ? atomic_load_explicit(&me->share.key, memory_order_relaxed) : 0;
    uint64_t sum = 0, n = 0, least = UINT64_MAX;
    if (key == 0)
        return false;
    int64_t now = (int64_t)sp__now_ms();
    for (size_t i = 0; i < board->n_slots; i++) {
        sp__sb_share *s = &sp__sb_slot_at(board, i)->share;
        if (atomic_load_explicit(&s->key, memory_order_relaxed) != key)
            continue;
        uint64_t conns = atomic_load_explicit(&s->conns, memory_order_relaxed);
        sum += conns;
        n++;
        if (s != &me->share && conns < least &&
            atomic_load_explicit(&s->accepting, memory_order_relaxed) &&
            now - atomic_load_explicit(&s->beat_ms, memory_order_relaxed) <= SP__SB_BEAT_STALE_MS)
            least = conns;
    }
    return least != UINT64_MAX &&
           sp__sb_clearly_more(atomic_load_explicit(&me->share.conns, memory_order_relaxed), least,
                               sum, n);
}
