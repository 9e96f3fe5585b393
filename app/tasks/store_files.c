/*
 * store_files.c - task records in files (see store.h for the layout).
 *
 * Why files rather than shared memory: spooled tasks must outlive every
 * process anyway, a result may be any size, and a reader on another worker
 * needs no lock: rename() is the only way a record changes, so each open()
 * sees one whole version.  The cost is a small file write per state change,
 * cheap next to a task that is worth running in the background.
 */
#include "app/tasks/store.h"
#include "app/tasks/store_redis.h"

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
#include <unistd.h>

#include "server/lib/fdio.h"
#define TEMP_MAX_AGE_MS (3600LL * 1000)
#define PRIVATE_DIR "/tmp"
#define PRIVATE_PREFIX "spindle-tasks-" /* then the master's pid */

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

int sp__rec_write(const char *tmpdir, const char *dir, const char *name, const sp__taskrec *r,
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

int sp__rec_read(const char *path, sp__taskrec *r)
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

int sp__taskstore_prepare(sp__config *cfg, const sp__config *prev, char *err, size_t errlen)
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

void sp__taskstore_cleanup(const sp__config *cfg)
{
    if (cfg->spool == NULL && cfg->task_dir != NULL &&
        strncmp(cfg->task_dir, PRIVATE_DIR "/" PRIVATE_PREFIX,
                strlen(PRIVATE_DIR "/" PRIVATE_PREFIX)) == 0)
        nftw(cfg->task_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int sp__state_write(const sp__config *cfg, const sp__taskrec *r)
{
    char dir[4096], tmp[4096];
    if (cfg->tasks_backend)
        return sp__redis_state_write(cfg, r);
    if (cfg->task_dir == NULL)
        return SP_ESTATE;
    snprintf(dir, sizeof(dir), "%s/state", cfg->task_dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", cfg->task_dir);
    return sp__rec_write(tmp, dir, r->id, r, r->spooled);
}

int sp__state_read(const sp__config *cfg, const char *id, sp__taskrec *r)
{
    char path[4096];
    if (id == NULL || !sp__task_id_ok(id))
        return SP_ENOENT;
    if (cfg->tasks_backend)
        return sp__redis_state_read(cfg, id, r);
    if (cfg->task_dir == NULL)
        return SP_ENOENT;
    snprintf(path, sizeof(path), "%s/state/%s", cfg->task_dir, id);
    return sp__rec_read(path, r);
}

void sp__state_remove(const sp__config *cfg, const char *id)
{
    char path[4096];
    if (cfg->tasks_backend && sp__task_id_ok(id))
        sp__redis_state_remove(cfg, id);
    else if (cfg->task_dir != NULL && sp__task_id_ok(id)) {
        snprintf(path, sizeof(path), "%s/state/%s", cfg->task_dir, id);
        unlink(path);
    }
}

int sp__spool_put(const sp__config *cfg, const sp__taskrec *r, int64_t not_before_ms)
{
    char dir[4096], tmp[4096], name[64];
    if (cfg->tasks_backend)
        return sp__redis_put(cfg, r, not_before_ms);
    if (cfg->spool_dir == NULL)
        return SP_ESTATE;
    snprintf(dir, sizeof(dir), "%s/queue", cfg->spool_dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", cfg->spool_dir);
    snprintf(name, sizeof(name), "%013" PRId64 "-%s", not_before_ms, r->id);
    return sp__rec_write(tmp, dir, name, r, 1);
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
        if (states && sp__rec_read(path, &r) == SP_OK) {
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

void sp__state_sweep(const sp__config *cfg)
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
