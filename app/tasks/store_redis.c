/*
 * store_redis.c - the Redis backend of the task store (backend.h), for
 * tasks-backend = redis://host:port/db.
 *
 * Several spindle instances share one queue and one state store: a task
 * submitted on one is run by a spooler on any, and its state is readable
 * from all.  The records are the same encoding as the files (record.h),
 * under these keys:
 *
 *   spindle:task:ID          the state record (result in the body)
 *   spindle:payload:ID       the spool record (payload in the body)
 *   spindle:queue            list of IDs, LPUSH in, BLMOVE out (FIFO)
 *   spindle:delayed          zset of IDs waiting out a retry backoff
 *   spindle:processing:NAME:MASTER:PID   IDs a spooler claimed (reliable queue)
 *   spindle:spoolers         set of the processing lists that may hold IDs
 *   spindle:lease:NAME:MASTER  a master's lease, renewed every task-lease / 3
 *   spindle:cron:DUE:LINE    which instance fired a [cron] line's due time
 *
 * NAME is the instance key (the host name unless set).  Claiming moves the
 * ID atomically into the spooler's processing list (BLMOVE); it leaves
 * only on ack (LREM), so a spooler that dies leaves its task there for its
 * master to put back: at least once, as with files.  A host that dies
 * whole takes its master with it: its lease then expires, and the first
 * master to look (spool_lease, every tick of each) moves that instance's
 * lists into its own recovery list (NAME:MASTER:0) in one script, so one
 * master settles each task, as its own master would have.  A live lease
 * is never taken over, so two live instances that share a name do not
 * take each other's tasks.
 *
 * The local folder is kept as with files (prepare, clean-up, sweep and
 * recovery go through sp__store_files too): [cron] keeps its cron-state
 * there, and a spool a files-backed run left half-run is still recovered,
 * into Redis, rather than stranded.
 *
 * One connection per thread (hiredis contexts are not thread-safe, and a
 * blocking BLMOVE must not hold anyone else up), opened on first use and
 * dropped after any error so the next call reconnects: a Redis restart
 * costs the calls made while it is down, nothing more.
 */
#include "app/tasks/backend.h"
#include "app/tasks/record.h"

#include <hiredis/hiredis.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 2000
#define PROMOTE_BATCH      16
/* How long a [cron] claim is kept: longer than instances' clocks may
 * disagree, short enough that a line due every second keeps a few
 * thousand keys. */
#define CRON_CLAIM_S 3600
#define REGISTRY     "spindle:spoolers"
/* Lapsed lists taken over per tick: the master's loop does not wait long. */
#define RECLAIM_BATCH 8

/* Move the IDs of one processing list whose owner's lease is gone into
 * KEYS[2] (the caller's recovery list) and return that list's name; false
 * when there is none.  Stale names of empty lists are dropped on the way.
 * One script, so two masters never both take an ID. */
static const char reclaim_lua[] =
    "for _, list in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local owner = string.match(list, '^spindle:processing:(.+):%d+$')\n"
    "  if list ~= KEYS[2] and (owner == nil or\n"
    "      redis.call('EXISTS', 'spindle:lease:' .. owner) == 0) then\n"
    "    redis.call('SREM', KEYS[1], list)\n"
    "    local n = 0\n"
    "    while owner and redis.call('LMOVE', list, KEYS[2], 'RIGHT', 'LEFT') do n = n + 1 end\n"
    "    if n > 0 then\n"
    "      redis.call('SADD', KEYS[1], KEYS[2])\n"
    "      return list\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return false\n";

/* Each thread's connection lives under this key: per thread because
 * hiredis contexts are not thread-safe and the callers have no context
 * object; a key (not _Thread_local) so a thread's connection is closed
 * when the thread ends.  Set up once, process-wide. */
static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static void close_conn(void *c)
{
    redisFree(c);
}

/* Close this thread's connection: after an error (the next call
 * reconnects), and in a forked child (the master forks workers and
 * spoolers), which must not talk on its parent's socket: replies would go
 * to whichever process reads first.  Closing the child's copy of the
 * descriptor leaves the parent's alone. */
static void drop_conn(void)
{
    redisContext *c = pthread_getspecific(conn_key);
    if (c != NULL)
        redisFree(c);
    pthread_setspecific(conn_key, NULL);
}

static void conn_setup(void)
{
    pthread_key_create(&conn_key, close_conn);
    pthread_atfork(NULL, NULL, drop_conn);
}

static redisContext *connection(const sp__config *cfg)
{
    char host[256];
    int port = 0, db = 0;
    struct timeval tv = {CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000};
    pthread_once(&conn_once, conn_setup);
    redisContext *conn = pthread_getspecific(conn_key);
    if (conn != NULL)
        return conn;
    if (sscanf(cfg->tasks_backend, "redis://%255[^:/]:%d/%d", host, &port, &db) < 2)
        return NULL;
    conn = redisConnectWithTimeout(host, port, tv);
    if (conn == NULL || conn->err) {
        sp_log(SP_LOG_ERROR, "tasks-backend %s: %s", cfg->tasks_backend,
               conn ? conn->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(conn, (struct timeval){10, 0});
    redisReply *r = db ? redisCommand(conn, "SELECT %d", db) : NULL;
    int bad = db && (r == NULL || r->type == REDIS_REPLY_ERROR);
    if (r)
        freeReplyObject(r);
    if (!bad) {
        pthread_setspecific(conn_key, conn);
        return conn;
    }
fail:
    if (conn)
        redisFree(conn);
    return NULL;
}

/* Run a command; NULL (and the connection dropped) on any failure. */
static redisReply *command(const sp__config *cfg, const char *fmt, ...)
{
    va_list ap;
    redisContext *c = connection(cfg);
    if (c == NULL)
        return NULL;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        sp_log(SP_LOG_ERROR, "tasks-backend: %s", r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
        drop_conn();
        return NULL;
    }
    return r;
}

/* SET key to r's encoding, with an expiry in ms (0: none). */
static int put_record(const sp__config *cfg, const char *prefix, const sp__taskrec *r, long long px)
{
    char *buf;
    size_t len;
    int rc = sp__rec_encode(r, &buf, &len);
    if (rc != SP_OK)
        return rc;
    redisReply *rep = px ? command(cfg, "SET spindle:%s:%s %b PX %lld", prefix, r->id, buf, len, px)
                         : command(cfg, "SET spindle:%s:%s %b", prefix, r->id, buf, len);
    free(buf);
    if (rep == NULL)
        return SP_EIO;
    freeReplyObject(rep);
    return SP_OK;
}

static int get_record(const sp__config *cfg, const char *prefix, const char *id, sp__taskrec *r)
{
    redisReply *rep = command(cfg, "GET spindle:%s:%s", prefix, id);
    if (rep == NULL)
        return SP_EIO;
    int rc = rep->type == REDIS_REPLY_STRING ? sp__rec_decode(rep->str, rep->len, r) : SP_ENOENT;
    freeReplyObject(rep);
    return rc;
}

static int state_write(const sp__config *cfg, const sp__taskrec *r)
{
    long long keep = r->state >= SP_TASK_DONE ? 2LL * cfg->task_result_ttl_ms : 0;
    return put_record(cfg, "task", r, keep);
}

static int state_read(const sp__config *cfg, const char *id, sp__taskrec *r)
{
    return get_record(cfg, "task", id, r);
}

static void state_remove(const sp__config *cfg, const char *id)
{
    redisReply *rep = command(cfg, "DEL spindle:task:%s", id);
    if (rep)
        freeReplyObject(rep);
}

static int spool_put(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms)
{
    int rc = put_record(cfg, "payload", r, 0);
    if (rc != SP_OK)
        return rc;
    redisReply *rep =
        not_before_ms <= sp__unix_ms()
            ? command(cfg, "LPUSH spindle:queue %s", r->id)
            : command(cfg, "ZADD spindle:delayed %" PRId64 " %s", not_before_ms, r->id);
    if (rep == NULL)
        return SP_EIO;
    freeReplyObject(rep);
    return SP_OK;
}

/* Retried tasks whose backoff is over go back to the queue; ZREM decides
 * which spooler moves each one. */
static void promote(const sp__config *cfg)
{
    redisReply *due = command(cfg, "ZRANGEBYSCORE spindle:delayed -inf %" PRId64 " LIMIT 0 %d",
                              sp__unix_ms(), PROMOTE_BATCH);
    for (size_t i = 0; due && due->type == REDIS_REPLY_ARRAY && i < due->elements; i++) {
        const char *id = due->element[i]->str;
        redisReply *won = command(cfg, "ZREM spindle:delayed %s", id);
        redisReply *push =
            won && won->integer == 1 ? command(cfg, "LPUSH spindle:queue %s", id) : NULL;
        if (won)
            freeReplyObject(won);
        if (push)
            freeReplyObject(push);
    }
    if (due)
        freeReplyObject(due);
}

/* The task ran, or cannot: drop it from processing, and its payload. */
static void drop_claimed(const sp__config *cfg, const char *processing, const char *id)
{
    redisReply *a = command(cfg, "LREM %s 1 %s", processing, id);
    redisReply *b = command(cfg, "DEL spindle:payload:%s", id);
    if (a)
        freeReplyObject(a);
    if (b)
        freeReplyObject(b);
}

/* List slot's processing list where lapsed leases are looked for. */
static void register_slot(const sp__config *cfg, const sp__spool_slot *slot)
{
    redisReply *rep = command(cfg, "SADD " REGISTRY " %s", slot->where);
    if (rep)
        freeReplyObject(rep);
}

/* BLMOVE waits wait_ms itself: SP_ENOENT when it ran out, ask again. */
static int spool_claim(const sp__config *cfg, sp__spool_slot *slot, int wait_ms, sp__taskrec *r)
{
    char timeout[32];
    promote(cfg);
    snprintf(timeout, sizeof(timeout), "%.3f", wait_ms / 1000.0);
    redisReply *rep = command(cfg, "BLMOVE spindle:queue %s RIGHT LEFT %s", slot->where, timeout);
    if (rep == NULL)
        return SP_EIO;
    int rc = SP_ENOENT;
    if (rep->type == REDIS_REPLY_STRING) {
        rc = get_record(cfg, "payload", rep->str, r);
        if (rc != SP_OK) {
            sp_log(SP_LOG_ERROR, "tasks-backend: task %s has no whole payload; dropped", rep->str);
            drop_claimed(cfg, slot->where, rep->str);
            rc = SP_ENOENT;
        } else {
            snprintf(slot->held, sizeof(slot->held), "%s", rep->str);
            register_slot(cfg, slot); /* again: a lapsed lease's take-over dropped it */
        }
    }
    freeReplyObject(rep);
    return rc;
}

static void spool_ack(const sp__config *cfg, sp__spool_slot *slot)
{
    drop_claimed(cfg, slot->where, slot->held);
    slot->held[0] = '\0';
}

static int cron_claim(const sp__config *cfg, const char *line, int64_t due)
{
    redisReply *rep = command(cfg, "SET spindle:cron:%" PRId64 ":%s %s:%d NX EX %d", due, line,
                              cfg->instance, (int)getpid(), CRON_CLAIM_S);
    if (rep == NULL)
        return SP_EIO;
    int won = rep->type == REDIS_REPLY_STATUS; /* "OK"; nil when the key was there */
    freeReplyObject(rep);
    return won ? SP_OK : SP_EEXIST;
}

/* A spooler's processing list: NAME:MASTER:PID (PID 0: the master's own
 * recovery list). */
static void processing_key(const sp__config *cfg, char *buf, size_t len, int master_pid, int pid)
{
    snprintf(buf, len, "spindle:processing:%s:%d:%d", cfg->instance, master_pid, pid);
}

static void lease_key(const sp__config *cfg, char *buf, size_t len, int master_pid)
{
    snprintf(buf, len, "spindle:lease:%s:%d", cfg->instance, master_pid);
}

static void forget_if_empty(const sp__config *cfg, const char *key)
{
    redisReply *n = command(cfg, "LLEN %s", key);
    redisReply *rm = n && n->type == REDIS_REPLY_INTEGER && n->integer == 0
                         ? command(cfg, "SREM " REGISTRY " %s", key)
                         : NULL;
    if (n)
        freeReplyObject(n);
    if (rm)
        freeReplyObject(rm);
}

static void recover_list(const sp__config *cfg, const char *key, const char *why, sp__orphan_fn *fn)
{
    redisReply *ids = command(cfg, "LRANGE %s 0 -1", key);
    for (size_t i = 0; ids && ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++) {
        sp__taskrec r;
        const char *id = ids->element[i]->str;
        if (get_record(cfg, "payload", id, &r) == SP_OK) {
            if (fn(cfg, &r, why) != SP_OK) {
                sp__rec_free(&r);
                continue; /* stays in the list for the next try */
            }
            sp__rec_free(&r);
            /* re-queued tasks wait in spindle:delayed; a failed one needs no payload */
            redisReply *wait = command(cfg, "ZSCORE spindle:delayed %s", id);
            redisReply *del = wait && wait->type == REDIS_REPLY_NIL
                                  ? command(cfg, "DEL spindle:payload:%s", id)
                                  : NULL;
            if (wait)
                freeReplyObject(wait);
            if (del)
                freeReplyObject(del);
        }
        redisReply *rm = command(cfg, "LREM %s 1 %s", key, id);
        if (rm)
            freeReplyObject(rm);
    }
    if (ids)
        freeReplyObject(ids);
    forget_if_empty(cfg, key);
}

/* May a starting master take over the lists of master `master` of its own
 * name?  When that master's lease is gone, or was left here by a master
 * whose pid is gone (killed, then restarted before the lease ran out);
 * never while a live instance of the same name elsewhere renews it. */
static bool master_gone(const sp__config *cfg, int master)
{
    char key[256];
    lease_key(cfg, key, sizeof(key), master);
    redisReply *rep = command(cfg, "GET %s", key);
    if (rep == NULL)
        return false;
    bool gone = rep->type == REDIS_REPLY_NIL;
    /* the lease's value is its master's sp__machine_id */
    if (!gone && rep->type == REDIS_REPLY_STRING)
        gone = strcmp(rep->str, sp__machine_id()) == 0 && kill(master, 0) != 0 && errno == ESRCH;
    freeReplyObject(rep);
    return gone;
}

/* pid 0: the lists of this instance's masters that are gone (a killed
 * server). */
static void recover_lists(const sp__config *cfg, int pid, const char *why, sp__orphan_fn *fn)
{
    char key[256], prefix[200];
    if (pid > 0) {
        processing_key(cfg, key, sizeof(key), (int)getpid(), pid);
        recover_list(cfg, key, why, fn);
        return;
    }
    snprintf(prefix, sizeof(prefix), "spindle:processing:%s:", cfg->instance);
    redisReply *keys = command(cfg, "KEYS %s*", prefix);
    for (size_t i = 0; keys && keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
        int master = atoi(keys->element[i]->str + strlen(prefix));
        if (master > 0 && master != (int)getpid() && master_gone(cfg, master))
            recover_list(cfg, keys->element[i]->str, why, fn);
    }
    if (keys)
        freeReplyObject(keys);
}

/* Renew this master's lease, then take over the lists of instances whose
 * lease lapsed, a few per tick, and settle their tasks. */
static void spool_lease(const sp__config *cfg, sp__orphan_fn *settle)
{
    char lease[256], mine[256], why[512];
    lease_key(cfg, lease, sizeof(lease), (int)getpid());
    redisReply *rep = command(cfg, "SET %s %s PX %d", lease, sp__machine_id(), cfg->task_lease_ms);
    if (rep == NULL)
        return;
    freeReplyObject(rep);
    processing_key(cfg, mine, sizeof(mine), (int)getpid(), 0);
    /* what an earlier pass could not settle */
    recover_list(cfg, mine, "its instance stopped renewing its lease while it ran", settle);
    for (int i = 0; i < RECLAIM_BATCH; i++) {
        rep = command(cfg, "EVAL %s 2 " REGISTRY " %s", reclaim_lua, mine);
        if (rep == NULL || rep->type != REDIS_REPLY_STRING) {
            if (rep)
                freeReplyObject(rep);
            return;
        }
        /* spindle:processing:NAME:MASTER:PID */
        char name[128] = "?";
        int master = 0, pid = 0;
        sscanf(rep->str, "spindle:processing:%127[^:]:%d:%d", name, &master, &pid);
        snprintf(why, sizeof(why),
                 "instance %s (master pid %d) stopped renewing its lease (task-lease) while its "
                 "spooler pid %d ran it",
                 name, master, pid);
        sp_log(SP_LOG_WARN, "%s: taking over its tasks", rep->str);
        freeReplyObject(rep);
        recover_list(cfg, mine, why, settle);
    }
}

static void spool_orphans(const sp__config *cfg, int pid, const char *why, sp__orphan_fn *settle)
{
    recover_lists(cfg, pid, why, settle);
    sp__store_files.spool_orphans(cfg, pid, why, settle);
}

/* The master is the spooler's parent; the list outlives a spooler that
 * dies, for that master to recover. */
static int spool_open(const sp__config *cfg, sp__spool_slot *slot, char *err, size_t errlen)
{
    processing_key(cfg, slot->where, sizeof(slot->where), (int)getppid(), (int)getpid());
    slot->held[0] = '\0';
    register_slot(cfg, slot);
    return 0;
}

static void spool_close(const sp__config *cfg, const sp__spool_slot *slot)
{
    forget_if_empty(cfg, slot->where);
}

/* Every instance submits to and runs the shared queue: a spool is always
 * there. */
static bool always(const sp__config *cfg)
{
    return true;
}

/* Not counted: the master's loop does not wait on Redis. */
static int spool_depth(const sp__config *cfg, long *queued)
{
    return SP_ESTATE;
}

static int prepare(sp__config *cfg, const sp__config *prev, char *err, size_t errlen)
{
    return sp__store_files.prepare(cfg, prev, err, errlen);
}

/* A master stopping cleanly lets go of its lease: nothing it held is left
 * to take over. */
static void cleanup(const sp__config *cfg)
{
    char lease[256];
    lease_key(cfg, lease, sizeof(lease), (int)getpid());
    redisReply *rep = command(cfg, "DEL %s", lease);
    if (rep)
        freeReplyObject(rep);
    sp__store_files.cleanup(cfg);
}

/* States in Redis expire by themselves (state_write); this sweeps the
 * local folder. */
static void state_sweep(const sp__config *cfg)
{
    sp__store_files.state_sweep(cfg);
}

const sp__store_ops sp__store_redis = {
    .prepare = prepare,
    .cleanup = cleanup,
    .state_write = state_write,
    .state_read = state_read,
    .state_remove = state_remove,
    .state_sweep = state_sweep,
    .spool_accepts = always,
    .spool_runs = always,
    .spool_put = spool_put,
    .spool_open = spool_open,
    .spool_close = spool_close,
    .spool_claim = spool_claim,
    .spool_ack = spool_ack,
    .spool_orphans = spool_orphans,
    .spool_depth = spool_depth,
    .spool_lease = spool_lease,
    .cron_claim = cron_claim,
};
