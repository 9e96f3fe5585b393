/*
 * test_taskstore.c - the task store with its files backend: the record
 * encoding (app/tasks/record.c), atomic writes, a write that fails
 * half-way (the disk-full case) leaving nothing a spooler could run, and
 * a spooler's claim, ack and recovery (app/tasks/store_files.c) as the
 * rest of the server reaches them, through app/tasks/store.h.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/tasks/store.h"

static sp__taskrec sample(void)
{
    static unsigned char body[] = {'a', 0, '\n', '\n', 0xff, 'z'};
    sp__taskrec r = {.state = SP_TASK_QUEUED,
                     .attempts = 2,
                     .spooled = 1,
                     .pid = 42,
                     .created_ms = 1700000000123,
                     .updated_ms = 1700000000456,
                     .body = body,
                     .len = sizeof(body)};
    sp__task_new_id(r.id);
    strcpy(r.name, "mod:fn");
    strcpy(r.error, "line one\nline two");
    strcpy(r.machine, sp__machine_id());
    return r;
}

Test(taskstore, round_trip)
{
    sp__taskrec r = sample(), d;
    char *buf;
    size_t len;
    cr_assert_eq(sp__rec_encode(&r, &buf, &len), SP_OK);
    cr_assert_eq(sp__rec_decode(buf, len, &d), SP_OK);
    cr_assert_str_eq(d.id, r.id);
    cr_assert_str_eq(d.name, "mod:fn");
    cr_assert_str_eq(d.error, "line one line two"); /* one header line */
    cr_assert_eq(d.state, SP_TASK_QUEUED);
    cr_assert_eq(d.attempts, 2);
    cr_assert_eq(d.spooled, 1);
    cr_assert_eq(d.pid, 42);
    cr_assert_str_eq(d.machine, sp__machine_id());
    cr_assert_eq(d.created_ms, 1700000000123);
    cr_assert_eq(d.updated_ms, 1700000000456);
    cr_assert_eq(d.len, r.len);
    cr_assert_eq(memcmp(d.body, r.body, r.len), 0);
    sp__rec_free(&d);
    free(buf);
}

/* The JSON mark travels as an optional "flags" line: a record without it
 * (as every version before 1.6 wrote) reads as flags 0, and a record
 * without flags is written byte for byte as before. */
Test(taskstore, the_json_flag_round_trips_and_old_records_still_read)
{
    sp__taskrec r = sample(), d;
    char *buf;
    size_t len;
    cr_assert_eq(sp__rec_encode(&r, &buf, &len), SP_OK);
    cr_assert_null(memmem(buf, len, "flags", 5), "no flags line when there are none");
    free(buf);
    r.flags = SP__REC_RESULT_JSON;
    cr_assert_eq(sp__rec_encode(&r, &buf, &len), SP_OK);
    cr_assert_not_null(memmem(buf, len, "\nflags 1\n", 9));
    cr_assert_eq(sp__rec_decode(buf, len, &d), SP_OK);
    cr_assert_eq(d.flags, SP__REC_RESULT_JSON);
    sp__rec_free(&d);
    free(buf);
    const char old[] = "spindle-task 1\nid 0123456789abcdef0123456789abcdef\nname a\nstate 2\n"
                       "attempts 0\nspooled 0\npid 1\ncreated 1\nupdated 2\nerror \nlength 2\n\n{}";
    cr_assert_eq(sp__rec_decode(old, sizeof(old) - 1, &d), SP_OK);
    cr_assert_eq(d.flags, 0);
    cr_assert_eq(d.len, 2);
    sp__rec_free(&d);
    /* flags of a later version are not kept */
    const char later[] = "spindle-task 1\nid 0123456789abcdef0123456789abcdef\nname a\nflags 6\n"
                         "length 0\n\n";
    cr_assert_eq(sp__rec_decode(later, sizeof(later) - 1, &d), SP_OK);
    cr_assert_eq(d.flags, 0);
    sp__rec_free(&d);
}

Test(taskstore, short_long_and_malformed_records_are_refused)
{
    sp__taskrec r = sample(), d;
    char *buf;
    size_t len;
    cr_assert_eq(sp__rec_encode(&r, &buf, &len), SP_OK);
    for (size_t cut = 0; cut < len; cut++) /* every truncation, header or body */
        cr_assert_eq(sp__rec_decode(buf, cut, &d), SP_EINVAL, "cut at %zu of %zu", cut, len);
    char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 'x';
    cr_assert_eq(sp__rec_decode(longer, len + 1, &d), SP_EINVAL);
    buf[0] = 'S';
    cr_assert_eq(sp__rec_decode(buf, len, &d), SP_EINVAL);
    free(longer);
    free(buf);
    const char *no_id = "spindle-task 1\nname a\nlength 0\n\n";
    cr_assert_eq(sp__rec_decode(no_id, strlen(no_id), &d), SP_EINVAL);
    const char *bad_name = "spindle-task 1\nid 0123456789abcdef0123456789abcdef\nname a b\n"
                           "length 0\n\n";
    cr_assert_eq(sp__rec_decode(bad_name, strlen(bad_name), &d), SP_EINVAL);
    const char *bad_machine = "spindle-task 1\nid 0123456789abcdef0123456789abcdef\nname a\n"
                              "machine ../x\nlength 0\n\n";
    cr_assert_eq(sp__rec_decode(bad_machine, strlen(bad_machine), &d), SP_EINVAL);
}

/* Where a pid means something: this boot and pid namespace, the same for
 * every call; a record from before the field names none. */
Test(taskstore, machine_ids)
{
    const char *m = sp__machine_id();
    cr_assert(strlen(m) > 2 && strchr(m, ':') != NULL, "%s", m);
    cr_assert_eq(sp__machine_id(), m);
    const char *old = "spindle-task 1\nid 0123456789abcdef0123456789abcdef\nname a\n"
                      "pid 7\nlength 0\n\n";
    sp__taskrec d;
    cr_assert_eq(sp__rec_decode(old, strlen(old), &d), SP_OK);
    cr_assert_str_eq(d.machine, "");
    sp__rec_free(&d);
}

Test(taskstore, unknown_keys_from_a_later_version_are_ignored)
{
    const char *rec = "spindle-task 1\nid 0123456789abcdef0123456789abcdef\nname a\n"
                      "priority high\nlength 2\n\nhi";
    sp__taskrec d;
    cr_assert_eq(sp__rec_decode(rec, strlen(rec), &d), SP_OK);
    cr_assert_eq(d.len, 2);
    cr_assert_eq(memcmp(d.body, "hi", 2), 0);
    sp__rec_free(&d);
}

static int count(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* A spool file as a spooler would find it. */
static int read_rec(const char *path, sp__taskrec *r)
{
    char buf[4096];
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return sp__rec_decode(buf, n, r);
}

static sp__config store(void)
{
    sp__config cfg;
    char err[256], tmpl[] = "/tmp/spindle-ut-spool-XXXXXX";
    memset(&cfg, 0, sizeof(cfg));
    cfg.spool = strdup(mkdtemp(tmpl));
    cfg.task_result_ttl_ms = 60000;
    cr_assert_eq(sp__taskstore_prepare(&cfg, NULL, err, sizeof(err)), 0, "%s", err);
    return cfg;
}

static void drop(sp__config *cfg)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cfg->spool);
    cr_assert_eq(system(cmd), 0);
    free(cfg->spool);
    free(cfg->task_dir);
    free(cfg->spool_dir);
}

Test(taskstore, spool_entries_are_named_by_time_and_read_back)
{
    sp__config cfg = store();
    sp__taskrec r = sample(), d;
    char path[4400], queue[4200];
    cr_assert_eq(sp__spool_put(&cfg, &r, 1234), SP_OK);
    snprintf(path, sizeof(path), "%s/queue/0000000001234-%s", cfg.spool_dir, r.id);
    cr_assert_eq(read_rec(path, &d), SP_OK);
    cr_assert_eq(memcmp(d.body, r.body, r.len), 0);
    sp__rec_free(&d);
    snprintf(queue, sizeof(queue), "%s/tmp", cfg.spool_dir);
    cr_assert_eq(count(queue), 0, "no temp file is left");
    cr_assert_eq(sp__state_write(&cfg, &r), SP_OK);
    cr_assert_eq(sp__state_read(&cfg, r.id, &d), SP_OK);
    sp__rec_free(&d);
    cr_assert_eq(sp__state_read(&cfg, "../../etc/passwd", &d), SP_ENOENT);
    drop(&cfg);
}

/* A file-size limit makes write() fail half-way, as a full disk would. */
Test(taskstore, a_failed_write_leaves_nothing_behind)
{
    sp__config cfg = store();
    static unsigned char big[256 * 1024];
    sp__taskrec r = sample();
    char queue[4200], tmp[4200];
    struct rlimit old, lim = {64 * 1024, 64 * 1024};
    r.body = big;
    r.len = sizeof(big);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_max = old.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = sp__spool_put(&cfg, &r, 1);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(rc, SP_ENOSPC);
    snprintf(queue, sizeof(queue), "%s/queue", cfg.spool_dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", cfg.spool_dir);
    cr_assert_eq(count(queue), 0);
    cr_assert_eq(count(tmp), 0);
    drop(&cfg);
}

Test(taskstore, names_and_ids)
{
    char id[SP_TASK_ID_LEN], id2[SP_TASK_ID_LEN];
    sp__task_new_id(id);
    sp__task_new_id(id2);
    cr_assert_eq(strlen(id), 32);
    cr_assert_str_neq(id, id2);
    cr_assert(sp__task_name_ok("crawl"));
    cr_assert(sp__task_name_ok("mod.v2:run_it-now"));
    cr_assert_not(sp__task_name_ok(""));
    cr_assert_not(sp__task_name_ok("a b"));
    cr_assert_not(sp__task_name_ok("../x"));
}

Test(taskstore, a_spool_folder_takes_spooled_tasks_and_wants_spoolers)
{
    sp__config cfg = store(), none;
    char err[256];
    cfg.spoolers = 3;
    cr_assert(sp__spool_accepts(&cfg));
    cr_assert_eq(sp__spoolers_wanted(&cfg), 3);
    cr_assert_eq(sp__spool_claim_due(&cfg, "* * * * * m:f", 60), SP_OK, "one server, one fire");
    memset(&none, 0, sizeof(none)); /* no spool, no [cron]: a private store only */
    none.spoolers = 3;
    cr_assert_eq(sp__taskstore_prepare(&none, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_not(sp__spool_accepts(&none));
    cr_assert_eq(sp__spoolers_wanted(&none), 0);
    long queued;
    cr_assert_neq(sp__spool_depth(&none, &queued), SP_OK);
    sp__taskstore_cleanup(&none);
    free(none.task_dir);
    drop(&cfg);
}

Test(taskstore, a_spooler_claims_the_due_task_and_acks_it)
{
    sp__config cfg = store();
    sp__taskrec r = sample(), later = sample(), d;
    sp__spool_slot slot;
    char err[256], queue[4200];
    long queued = -1;
    cr_assert_eq(sp__spool_put(&cfg, &r, 1), SP_OK);
    cr_assert_eq(sp__spool_put(&cfg, &later, sp__unix_ms() + 3600 * 1000), SP_OK);
    cr_assert_eq(sp__spool_depth(&cfg, &queued), SP_OK);
    cr_assert_eq(queued, 2);
    cr_assert_eq(sp__spool_open(&cfg, &slot, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sp__spool_claim(&cfg, &slot, 1, &d), SP_OK);
    cr_assert_str_eq(d.id, r.id);
    cr_assert_eq(d.len, r.len);
    sp__rec_free(&d);
    cr_assert_eq(count(slot.where), 1, "the claimed task waits in the slot while it runs");
    snprintf(queue, sizeof(queue), "%s/queue", cfg.spool_dir);
    cr_assert_eq(count(queue), 1);
    sp__spool_ack(&cfg, &slot);
    cr_assert_eq(count(slot.where), 0);
    cr_assert_eq(sp__spool_claim(&cfg, &slot, 1, &d), SP_ENOENT, "the other is not due");
    sp__spool_close(&cfg, &slot);
    struct stat st;
    cr_assert_neq(stat(slot.where, &st), 0, "an empty slot goes at exit");
    drop(&cfg);
}

static int settled;
static char settled_id[SP_TASK_ID_LEN];

static int settle_ok(const sp__config *cfg, sp__taskrec *r, const char *why)
{
    settled++;
    memcpy(settled_id, r->id, SP_TASK_ID_LEN);
    return SP_OK;
}

static int settle_refused(const sp__config *cfg, sp__taskrec *r, const char *why)
{
    settled++;
    return SP_EIO;
}

Test(taskstore, a_dead_spoolers_task_is_handed_over_until_it_is_settled)
{
    sp__config cfg = store();
    sp__taskrec r = sample(), d;
    sp__spool_slot slot;
    char err[256];
    cr_assert_eq(sp__spool_put(&cfg, &r, 1), SP_OK);
    cr_assert_eq(sp__spool_open(&cfg, &slot, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sp__spool_claim(&cfg, &slot, 1, &d), SP_OK);
    sp__rec_free(&d);
    settled = 0; /* the spooler "dies" here: no ack */
    sp__spool_orphans(&cfg, (int)getpid(), "killed", settle_refused);
    cr_assert_eq(settled, 1);
    cr_assert_eq(count(slot.where), 1, "a task settle refuses stays for the next try");
    settled = 0;
    sp__spool_orphans(&cfg, 0, "the server stopped", settle_ok);
    cr_assert_eq(settled, 1);
    cr_assert_str_eq(settled_id, r.id);
    struct stat st;
    cr_assert_neq(stat(slot.where, &st), 0, "the dead spooler's slot is gone");
    drop(&cfg);
}
