/*
 * cron.c - the master's [cron] scheduler (see cron.h).
 *
 * Times are whole seconds of the wall clock (time(2)): a schedule is about
 * the calendar, so a clock step moves it too, as with cron(8).  Each line
 * keeps the next time it is due; the master's loop ticks every 100 ms, so a
 * line fires within a tick of its second.  After a fire the next time is
 * computed from now, not from the fire time, so a master that was stopped
 * in a debugger does not fire a burst of runs to catch up.
 *
 * A cron-timezone other than UTC is applied by setting TZ around the
 * computation only: the master is single-threaded, and nothing it forks
 * inherits the change.
 */
#include "app/tasks/cron.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "app/tasks/store.h"
#include "app/tasks/tasks.h"
#include "conf/crontab.h"
#include "spindle/spindle.h"

typedef struct entry {
    sp__crontab spec;
    const char *line; /* borrowed from the config */
    int64_t next;     /* unix seconds, -1 = never */
    int64_t last;     /* last fire, 0 = never */
} entry;

struct sp__cron {
    entry *v;
    size_t n;
    char *tz; /* NULL: UTC */
};

static int64_t next_after(const sp__cron *c, const sp__crontab *s, int64_t after)
{
    if (c->tz == NULL)
        return sp__crontab_next(s, after, 1);
    const char *cur = getenv("TZ");
    char *old = cur ? strdup(cur) : NULL;
    setenv("TZ", c->tz, 1);
    tzset();
    int64_t t = sp__crontab_next(s, after, 0);
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    free(old);
    tzset();
    return t;
}

/* ---- cron-state: "LAST<TAB>LINE" per line ------------------------------------ */

static void load_state(sp__cron *c, const sp__config *cfg)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    snprintf(path, sizeof(path), "%s/cron-state", cfg->spool_dir);
    FILE *f = fopen(path, "r");
    while (f && getline(&line, &cap, f) > 0) {
        char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
        if (tab == NULL)
            continue;
        if (nl)
            *nl = '\0';
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->v[i].line, tab + 1) == 0)
                c->v[i].last = strtoll(line, NULL, 10);
    }
    free(line);
    if (f)
        fclose(f);
}

static void save_state(const sp__cron *c, const sp__config *cfg)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/cron-state", cfg->spool_dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp/cron-state", cfg->spool_dir);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].last > 0)
            fprintf(f, "%" PRId64 "\t%s\n", c->v[i].last, c->v[i].line);
    if (fclose(f) == 0)
        rename(tmp, path);
}

/* ---- schedule ---------------------------------------------------------------- */

static int set_zone(sp__cron *c, const char *tz, char *err, size_t errlen)
{
    if (tz == NULL || strcasecmp(tz, "UTC") == 0)
        return 0;
    if (!sp__zone_ok(tz)) { /* checked when read; the zone file may have gone since */
        snprintf(err, errlen,
                 "cron-timezone: '%s' is not a time zone (accepted: UTC or a name "
                 "under /usr/share/zoneinfo, like Europe/Paris)",
                 tz);
        return -1;
    }
    c->tz = strdup(tz);
    return c->tz ? 0 : -1;
}

int sp__cron_new(sp__cron **out, const sp__config *cfg, char *err, size_t errlen)
{
    char why[160];
    *out = NULL;
    if (cfg->n_cron == 0 || cfg->spool_dir == NULL)
        return 0;
    sp__cron *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->v = calloc(cfg->n_cron, sizeof(*c->v))) == NULL ||
        set_zone(c, cfg->cron_timezone, err, errlen) != 0) {
        if (c && c->v)
            sp__cron_free(c);
        else
            free(c);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_cron; i++) {
        if (sp__crontab_parse(cfg->cron[i].value, &c->v[i].spec, why, sizeof(why)) != NULL)
            continue; /* checked when the config was read; never here */
        c->v[i].line = cfg->cron[i].value;
        c->n = i + 1;
    }
    load_state(c, cfg);
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < c->n; i++) {
        entry *e = &c->v[i];
        int64_t missed = cfg->cron_catchup && e->last > 0 ? next_after(c, &e->spec, e->last) : -1;
        /* a catch-up is due at once, and is for the time it missed */
        e->next = missed >= 0 && missed <= now ? missed : next_after(c, &e->spec, now);
    }
    *out = c;
    return 0;
}

/* Spool e's job for its due time e->next.  Instances sharing a Redis
 * store fire each due time once between them: the first to claim it. */
static void fire(const sp__config *cfg, const entry *e)
{
    char at[32];
    struct tm tm;
    time_t due = (time_t)e->next;
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&due, &tm));
    int rc = sp__spool_claim_due(cfg, e->line, e->next);
    if (rc == SP_EEXIST) {
        sp_log(SP_LOG_DEBUG, "cron: '%s' due at %s: fired by another instance", e->line, at);
        return;
    }
    sp__taskrec r = {.state = SP_TASK_QUEUED, .spooled = 1};
    sp__task_new_id(r.id);
    snprintf(r.name, sizeof(r.name), "%s", e->spec.job);
    r.created_ms = r.updated_ms = sp__unix_ms();
    if (rc == SP_OK)
        rc = sp__state_write(cfg, &r);
    if (rc == SP_OK)
        rc = sp__spool_put(cfg, &r, r.created_ms);
    if (rc == SP_OK)
        sp_log(SP_LOG_INFO, "cron: '%s' due at %s: task %s", e->line, at, r.id);
    else
        sp_log(SP_LOG_ERROR, "cron: '%s' due at %s cannot be spooled: %s", e->line, at,
               sp_strerror(rc));
}

void sp__cron_tick(sp__cron *c, const sp__config *cfg)
{
    int64_t now = (int64_t)time(NULL);
    int fired = 0;
    for (size_t i = 0; c && i < c->n; i++) {
        entry *e = &c->v[i];
        if (e->line == NULL || e->next < 0 || now < e->next)
            continue;
        fire(cfg, e);
        e->last = now; /* a catch-up ran for a time long past; it is caught up to now */
        e->next = next_after(c, &e->spec, now);
        fired = 1;
    }
    if (fired)
        save_state(c, cfg);
}

void sp__cron_free(sp__cron *c)
{
    if (c == NULL)
        return;
    free(c->v);
    free(c->tz);
    free(c);
}

int sp__cron_check_jobs(const sp_app *app, const sp__config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_cron; i++) {
        const sp__item *it = &cfg->cron[i];
        sp__crontab spec;
        char buf[128], what[256];
        if (sp__crontab_parse(it->value, &spec, buf, sizeof(buf)) != NULL)
            continue; /* the reader refused such lines already */
        if (sp__tasks_find(app, spec.job, what, sizeof(what)) == NULL) {
            snprintf(err, errlen, "%s:%d: cron: %s", it->origin.file, it->origin.line, what);
            return SP_ENOENT;
        }
    }
    return 0;
}
