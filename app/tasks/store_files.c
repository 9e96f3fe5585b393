/*
 * store_files.c - the files backend of the task store (backend.h): states
 * and the spool in folders, for one server.
 *
 * Every process reads the same folders, so a task submitted on worker 1
 * can be polled on worker 2, run by a spooler, and recovered by the master
 * after a crash, with no shared memory and nothing to lose on kill -9:
 *
 *   <task_dir>/state/ID        the task's state and result (any worker reads)
 *   <task_dir>/tmp/            half-written files, renamed into place
 *   <spool_dir>/queue/T-ID     spooled tasks, T = not-before time in ms (FIFO)
 *   <spool_dir>/running-PID/   tasks claimed (renamed) by spooler PID
 *   <spool_dir>/bad/           files that do not decode, kept for a human
 *
 * Why files rather than shared memory: spooled tasks must outlive every
 * process anyway, a result may be any size, and a reader on another worker
 * needs no lock: rename() is the only way a record changes, so each open()
 * sees one whole version.  The cost is a small file write per state change,
 * cheap next to a task that is worth running in the background.  Files
 * appear only by rename() from tmp/, and with `durable` after fsync of the
 * file and of the folder, so a reader sees a whole record or none; a record
 * whose body is short is refused anyway (record.c).
 *
 * Spoolers claim by rename() from queue/ into their own running-PID/:
 * atomic, so one spooler wins each task, and the task a dead spooler held
 * is the file left in its folder.  The queue is scanned every wait_ms;
 * names start with the time a task may run from, so the smallest due name
 * is the oldest task, and a retried task waits out its backoff in place.
 */
#include "app/tasks/backend.h"
#include "app/tasks/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/lib/fdio.h"

#define TEMP_MAX_AGE_MS (3600LL * 1000)
#define PRIVATE_DIR     "/tmp"
#define PRIVATE_PREFIX  "spindle-tasks-" /* then the master's pid */

/* ---- files --------------------------------------------------------------- */

static int io_error(void)
{
    return errno == ENOSPC || errno == EDQUOT || errno == EFBIG ? SP_ENOSPC : SP_EIO;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Write r as dir/name: a temp file in tmpdir, renamed into place; durable
 * adds fsync of the file and of dir.  SP_ENOSPC (disk or quota full),
 * SP_EIO; nothing is left behind on failure. */
static int rec_write(const char *tmpdir, const char *dir, const char *name, const sp__taskrec *r,
                     int durable)
{
    static atomic_uint seq; /* unique temp names across this process's threads */
    char tmp[4096], dst[4096], *buf;
    size_t len;
    int rc = sp__rec_encode(r, &buf, &len);
    if (rc != SP_OK)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s/%s.%d.%u", tmpdir, name, (int)getpid(),
             atomic_fetch_add(&seq, 1));
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        free(buf);
        return io_error();
    }
    if (sp__write_all(fd, buf, len) != 0 || (durable && fsync(fd) != 0)) {
        rc = io_error();
        close(fd);
        goto undo;
    }
    if (close(fd) != 0 || rename(tmp, dst) != 0) {
        rc = io_error();
        goto undo;
    }
    free(buf);
    return durable && fsync_dir(dir) != 0 ? SP_EIO : SP_OK;
undo:
    unlink(tmp);
    free(buf);
    return rc;
}

/* Read and decode path.  SP_ENOENT, SP_EIO, SP_EINVAL. */
static int rec_read(const char *path, sp__taskrec *r)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SP_ENOENT : SP_EIO;
    char *buf = NULL;
    int rc = SP_EIO;
    if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) != NULL) {
        ssize_t n = 0, got;
        while (n < st.st_size && (got = read(fd, buf + n, (size_t)(st.st_size - n))) > 0)
            n += got;
        rc = n == st.st_size ? sp__rec_decode(buf, (size_t)n, r) : SP_EIO;
    }
    free(buf);
    close(fd);
    return rc;
}

/* ---- the store ----------------------------------------------------------- */

static int make_dirs(const char *root, const char *const *subs, char *err, size_t errlen)
{
    char path[4096];
    if (mkdir(root, 0750) != 0 && errno != EEXIST)
        goto fail;
    for (; *subs; subs++) {
        snprintf(path, sizeof(path), "%s/%s", root, *subs);
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            goto fail;
    }
    snprintf(path, sizeof(path), "%s/tmp", root);
    if (access(path, W_OK) == 0)
        return 0;
fail:
    snprintf(err, errlen, "task store %s: %s", root, strerror(errno));
    return -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw);

/* Private stores are named after their master's pid, so one left behind by
 * a master that was killed (no clean-up ran) is removed by the next start. */
static void remove_stale_stores(void)
{
    char path[300];
    DIR *d = opendir(PRIVATE_DIR);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        int pid = strncmp(e->d_name, PRIVATE_PREFIX, strlen(PRIVATE_PREFIX)) == 0
                      ? atoi(e->d_name + strlen(PRIVATE_PREFIX))
                      : 0;
        if (pid <= 0 || (kill(pid, 0) == 0 || errno != ESRCH))
            continue;
        snprintf(path, sizeof(path), "%s/%s", PRIVATE_DIR, e->d_name);
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (d)
        closedir(d);
}

/* <store> is the spool folder when one is set (results then survive
 * restarts too), else a private folder, kept across reloads (prev) so
 * every generation shares one store. */
static int prepare(sp__config *cfg, const sp__config *prev, char *err, size_t errlen)
{
    static const char *const store[] = {"state", "tmp", NULL};
    static const char *const spool[] = {"queue", "tmp", "bad", NULL};
    char tmpl[128];
    snprintf(tmpl, sizeof(tmpl), "%s/%s%d-XXXXXX", PRIVATE_DIR, PRIVATE_PREFIX, (int)getpid());
    free(cfg->task_dir);
    free(cfg->spool_dir);
    cfg->task_dir = cfg->spool_dir = NULL;
    if (cfg->spool)
        cfg->task_dir = strdup(cfg->spool);
    else if (prev && !prev->spool && prev->task_dir)
        cfg->task_dir = strdup(prev->task_dir);
    else
        cfg->task_dir = (remove_stale_stores(), mkdtemp(tmpl)) ? strdup(tmpl) : NULL;
    if (cfg->task_dir == NULL) {
        snprintf(err, errlen, "cannot make a task store folder: %s", strerror(errno));
        return -1;
    }
    if (make_dirs(cfg->task_dir, store, err, errlen) != 0)
        return -1;
    if (cfg->spool == NULL && cfg->n_cron == 0)
        return 0;
    if (cfg->spool)
        cfg->spool_dir = strdup(cfg->spool);
    else if (asprintf(&cfg->spool_dir, "%s/spool", cfg->task_dir) < 0)
        cfg->spool_dir = NULL;
    if (cfg->spool_dir == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return make_dirs(cfg->spool_dir, spool, err, errlen);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path); /* best effort: what cannot go stays for a human */
    return 0;
}

/* Only the private folder goes: a spool folder is the operator's. */
static void cleanup(const sp__config *cfg)
{
    if (cfg->spool == NULL && cfg->task_dir != NULL &&
        strncmp(cfg->task_dir, PRIVATE_DIR "/" PRIVATE_PREFIX,
                strlen(PRIVATE_DIR "/" PRIVATE_PREFIX)) == 0)
        nftw(cfg->task_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int state_write(const sp__config *cfg, const sp__taskrec *r)
{
    char dir[4096], tmp[4096];
    if (cfg->task_dir == NULL)
        return SP_ESTATE;
    snprintf(dir, sizeof(dir), "%s/state", cfg->task_dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", cfg->task_dir);
    return rec_write(tmp, dir, r->id, r, r->spooled);
}

static int state_read(const sp__config *cfg, const char *id, sp__taskrec *r)
{
    char path[4096];
    if (cfg->task_dir == NULL)
        return SP_ENOENT;
    snprintf(path, sizeof(path), "%s/state/%s", cfg->task_dir, id);
    return rec_read(path, r);
}

static void state_remove(const sp__config *cfg, const char *id)
{
    char path[4096];
    if (cfg->task_dir != NULL) {
        snprintf(path, sizeof(path), "%s/state/%s", cfg->task_dir, id);
        unlink(path);
    }
}

static int spool_put(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms)
{
    char dir[4096], tmp[4096], name[64];
    if (cfg->spool_dir == NULL)
        return SP_ESTATE;
    snprintf(dir, sizeof(dir), "%s/queue", cfg->spool_dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", cfg->spool_dir);
    snprintf(name, sizeof(name), "%013" PRId64 "-%s", not_before_ms, r->id);
    return rec_write(tmp, dir, name, r, 1);
}

/* Remove files in dir whose modification time is before cutoff (unix ms);
 * with states, only finished ones. */
static void sweep_dir(const char *dir, int64_t cutoff, int states)
{
    char path[4096];
    struct stat st;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || (int64_t)st.st_mtime * 1000 >= cutoff)
            continue;
        sp__taskrec r;
        if (states && rec_read(path, &r) == SP_OK) {
            int finished = r.state >= SP_TASK_DONE;
            sp__rec_free(&r);
            if (!finished)
                continue;
        }
        unlink(path);
    }
    if (d)
        closedir(d);
}

static void state_sweep(const sp__config *cfg)
{
    char dir[4096];
    int64_t now = sp__unix_ms();
    if (cfg->task_dir == NULL)
        return;
    snprintf(dir, sizeof(dir), "%s/state", cfg->task_dir);
    /* kept twice the ttl: for one ttl more it reads "expired", not unknown */
    sweep_dir(dir, now - 2LL * cfg->task_result_ttl_ms, 1);
    snprintf(dir, sizeof(dir), "%s/tmp", cfg->task_dir);
    sweep_dir(dir, now - TEMP_MAX_AGE_MS, 0);
}

/* ---- the spool ----------------------------------------------------------- */

static bool spool_accepts(const sp__config *cfg)
{
    return cfg->spool != NULL && cfg->spool_dir != NULL; /* [cron]'s private spool is its own */
}

static bool spool_runs(const sp__config *cfg)
{
    return cfg->spool_dir != NULL;
}

/* The due queue entry with the smallest name into best; 0 if none. */
static int pick(const char *queue, char *best, size_t len)
{
    char now[32];
    DIR *d = opendir(queue);
    snprintf(now, sizeof(now), "%013" PRId64, sp__unix_ms());
    best[0] = '\0';
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= len || strncmp(e->d_name, now, 13) > 0)
            continue;
        if (best[0] == '\0' || strcmp(e->d_name, best) < 0)
            snprintf(best, len, "%s", e->d_name);
    }
    if (d)
        closedir(d);
    return best[0] != '\0';
}

static void set_aside(const sp__config *cfg, const char *path, const char *name)
{
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s/bad/%s", cfg->spool_dir, name);
    sp_log(SP_LOG_ERROR, "spool: %s is not a whole task file; moved to %s", path, bad);
    rename(path, bad);
}

static int spool_open(const sp__config *cfg, sp__spool_slot *slot, char *err, size_t errlen)
{
    snprintf(slot->where, sizeof(slot->where), "%s/running-%d", cfg->spool_dir, (int)getpid());
    slot->held[0] = '\0';
    if (mkdir(slot->where, 0750) == 0 || errno == EEXIST)
        return 0;
    snprintf(err, errlen, "cannot make %s: %s", slot->where, strerror(errno));
    return -1;
}

static void spool_close(const sp__config *cfg, const sp__spool_slot *slot)
{
    rmdir(slot->where); /* fails, rightly, if a task is left in it */
}

static int spool_claim(const sp__config *cfg, sp__spool_slot *slot, int wait_ms, sp__taskrec *r)
{
    char queue[4096], from[4400], to[4400];
    struct timespec pause = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
    snprintf(queue, sizeof(queue), "%s/queue", cfg->spool_dir);
    if (!pick(queue, slot->held, sizeof(slot->held))) {
        nanosleep(&pause, NULL);
        return SP_ENOENT;
    }
    snprintf(from, sizeof(from), "%s/%s", queue, slot->held);
    snprintf(to, sizeof(to), "%s/%s", slot->where, slot->held);
    if (rename(from, to) != 0)
        return SP_ENOENT; /* another spooler took it: look again */
    int rc = rec_read(to, r);
    if (rc == SP_EINVAL)
        set_aside(cfg, to, slot->held);
    /* unreadable otherwise: it stays in running-PID/, recovered once this
     * spooler is gone */
    return rc == SP_OK ? SP_OK : SP_ENOENT;
}

static void spool_ack(const sp__config *cfg, sp__spool_slot *slot)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", slot->where, slot->held);
    unlink(path);
    slot->held[0] = '\0';
}

static void requeue(const sp__config *cfg, const char *path, const char *name, const char *why,
                    sp__orphan_fn *settle)
{
    sp__taskrec rec;
    int rc = rec_read(path, &rec);
    if (rc != SP_OK) {
        if (rc == SP_EINVAL)
            set_aside(cfg, path, name);
        return;
    }
    if (settle(cfg, &rec, why) == SP_OK)
        unlink(path); /* else it stays, and the next start tries again */
    sp__rec_free(&rec);
}

static void recover_dir(const sp__config *cfg, const char *dir, const char *why,
                        sp__orphan_fn *settle)
{
    char path[4096];
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        requeue(cfg, path, e->d_name, why, settle);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void spool_orphans(const sp__config *cfg, int pid, const char *why, sp__orphan_fn *settle)
{
    char dir[4096];
    if (cfg->spool_dir == NULL)
        return;
    if (pid > 0) {
        snprintf(dir, sizeof(dir), "%s/running-%d", cfg->spool_dir, pid);
        recover_dir(cfg, dir, why, settle);
        return;
    }
    DIR *d = opendir(cfg->spool_dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "running-", 8) != 0)
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", cfg->spool_dir, e->d_name);
        recover_dir(cfg, dir, why, settle);
    }
    if (d)
        closedir(d);
}

/* Entries in queue/, due or not: a directory read, cheap enough for the
 * master's loop. */
static int spool_depth(const sp__config *cfg, long *queued)
{
    char dir[4200];
    if (cfg->spool_dir == NULL)
        return SP_ENOENT;
    snprintf(dir, sizeof(dir), "%s/queue", cfg->spool_dir);
    DIR *d = opendir(dir);
    if (d == NULL)
        return SP_EIO;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    *queued = n;
    return SP_OK;
}

/* A spool folder belongs to one server, so every due time is this one's. */
/* The spool belongs to one server, whose master recovers it: no lease. */
static void spool_lease(const sp__config *cfg, sp__orphan_fn *settle)
{
}

static int cron_claim(const sp__config *cfg, const char *line, int64_t due)
{
    return SP_OK;
}

const sp__store_ops sp__store_files = {
    .prepare = prepare,
    .cleanup = cleanup,
    .state_write = state_write,
    .state_read = state_read,
    .state_remove = state_remove,
    .state_sweep = state_sweep,
    .spool_accepts = spool_accepts,
    .spool_runs = spool_runs,
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
