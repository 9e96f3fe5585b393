/*
 * master_int.h - the master's state, shared by its files (master internals).
 *
 * The master is one single-threaded poll loop split by concern:
 *   master.c     start-up, the loop, signals, stop, touch-reload
 *   supervise.c  forking, reaping, respawn backoff, recycling, harakiri
 *   reload.c     HUP: all-at-once and chain reloads
 *   stats.c      the stats/metrics documents
 *   control.c    the control socket's commands (spindle ctl)
 *   ops.c        the clients of both sockets, never waited on
 *   tasks.c      the task store, spoolers' numbers, [cron], sweeping
 *   autoscale.c  processes = auto: adding and retiring workers
 * Nothing here is touched by more than that one thread, so no locks.
 */
#ifndef SPINDLE_SERVER_MASTER_MASTER_INT_H
#define SPINDLE_SERVER_MASTER_MASTER_INT_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "conf/config.h"
#include "server/lib/clock.h"
#include "server/worker/listen.h"
#include "server/worker/scoreboard.h"

/* One worker, running (pid > 0) or scheduled to be forked (pid 0). */
typedef struct sp__mslot {
    pid_t pid;
    int id;
    int gen;
    int fd; /* pipe from the worker ('R', 'X'); -1 after EOF */
    int sb; /* scoreboard slot, -1 while only scheduled */
    int ready;
    int retiring;   /* asked to stop; never respawned */
    int harakiri;   /* a thread passed its deadline */
    int recycling;  /* asked for a replacement ('X') */
    pid_t succeeds; /* retire this worker once we are ready */
    int respawns;   /* times this worker number was started again */
    long long started_ms;
    long long kill_at;        /* SIGKILL at this time (ms), 0 = never */
    int spooler;              /* a spooler's number (app/tasks/spooler.c); 0 for a worker */
    long long cpu_ms, cpu_at; /* processes = auto: CPU time used, as of when (autoscale.c) */
} sp__mslot;

/* A client of the control or stats socket (ops.c). */
#define SP__OPS_MAX       32
#define SP__OPS_CLIENT_MS 2000
enum sp__ops_kind { SP__OPS_CONTROL, SP__OPS_STATS };
typedef struct sp__ops_client {
    int fd; /* -1: a free slot */
    enum sp__ops_kind kind;
    bool answering;     /* the request is in; out is being written */
    long long deadline; /* CLOCK_MONOTONIC ms: closed then, whatever its state */
    size_t got;
    char req[2048];
    char *out; /* the whole answer (malloc'd) */
    size_t out_len, out_off;
} sp__ops_client;

typedef struct sp__master {
    sp__config *cfg;
    sp__config *pending; /* reload in progress: the new config */
    sp__listeners ls;
    sp__listeners ls_pending;
    int argc;
    char **argv;
    sp__mslot *slots;
    size_t n_slots, cap_slots;
    int gen;
    int sfd;
    int stopping; /* 0, 1 graceful, 2 fast */
    long long stop_deadline;
    int exit_code;
    int fails;            /* consecutive workers dying before ready */
    long long respawn_at; /* backoff: no forks before this */
    int target;           /* workers wanted: processes, then TTIN/TTOU and autoscale */
    int pending_target;   /* workers the pending generation starts with */
    int chain_mode;       /* the running reload goes one worker at a time */
    int chain_next;       /* chain reload: the next worker number to replace */
    sp__scoreboard *sb;
    int control_fd, stats_fd;
    sp__ops_client ops[SP__OPS_MAX]; /* their clients (ops.c) */
    char *control_path, *stats_path; /* unix socket files to remove */
    long long started_ms;
    int announced; /* systemd told READY=1 */
    struct timespec touch_mtime;
    long long touch_checked_ms;
    unsigned long long recycles;
    /* background tasks (tasks.c) */
    struct sp__cron *cron;
    const sp__config *cron_cfg; /* the config cron was built from */
    long long sweep_at;         /* next sweep of expired task states */
    long long lease_at;         /* next renewal of the task lease */
    /* processes = auto (autoscale.c) */
    struct {
        long long next_ms;         /* next sample */
        long long saturated_since; /* every worker saturated since (0: not) */
        long long spare_since;     /* one worker fewer enough since (0: not) */
        long long hold_until;      /* no change before (after the last one) */
        unsigned long long added, retired;
        char last[160]; /* why the last change was made */
    } as;
} sp__master;

/* supervise.c */
int sp__m_spawn(sp__master *m, int id, int gen, pid_t succeeds, int respawns);
void sp__m_schedule(sp__master *m, int id, int gen, int died_early, pid_t succeeds, int respawns);
void sp__m_fork_scheduled(sp__master *m);
void sp__m_reap(sp__master *m);
void sp__m_on_message(sp__master *m, sp__mslot *s);
void sp__m_retire(sp__master *m, sp__mslot *s, long long grace_ms);
void sp__m_check_deadlines(sp__master *m);
void sp__m_signal_all(sp__master *m, int sig, int mark_retiring);
int sp__m_live(const sp__master *m);
/* TTIN/TTOU: delta workers more or fewer.  0, or SP_ESTATE (stopping or
 * reloading) / SP_E2BIG (out of bounds) with the reason in err. */
int sp__m_workers_delta(sp__master *m, int delta, char *err, size_t errlen);
/* Make sure each worker number up to target has a worker. */
void sp__m_top_up(sp__master *m);
void sp__m_begin_stop(sp__master *m, int how);
/* The config a worker of generation gen runs with. */
const sp__config *sp__m_cfg_of(const sp__master *m, int gen);

/* A spooler process (slot gen 0: every reload replaces it). */
int sp__m_spawn_spooler(sp__master *m, int n, int respawns);

/* tasks.c */
/* Before the first fork: the task store, recovery of spooled tasks a
 * killed server left running, the cron schedule.  0, or -1 with err. */
int sp__m_tasks_start(sp__master *m, char *err, size_t errlen);
/* Each loop pass: spoolers up to `spoolers`, due cron lines, sweeping. */
void sp__m_tasks_tick(sp__master *m);
void sp__m_tasks_stop(sp__master *m);

/* autoscale.c */
/* Each loop pass: with processes = auto, add or retire a worker when the
 * load says so (cheap between samples). */
void sp__m_autoscale(sp__master *m);
/* Workers a generation of cfg starts with: processes, or with auto the
 * current count within the bounds. */
int sp__m_workers_for(const sp__master *m, const sp__config *cfg);

/* reload.c */
/* HUP; chain < 0: as reload-mode says, 0 all at once, 1 chain.  0, or a
 * negative SP_E* code with the short reason in why (the details are logged). */
int sp__m_reload(sp__master *m, int chain, char *why, size_t whylen);
/* A worker of the pending generation became ready. */
void sp__m_reload_progress(sp__master *m);
/* A worker of the pending generation could not start. */
void sp__m_reload_abandon(sp__master *m, const char *why);

#endif
