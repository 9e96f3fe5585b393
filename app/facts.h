/*
 * facts.h - who the calling process and thread are, for the public
 * getters (sp_worker_id, sp_thread_index, sp_request_start_ns) and the
 * public sp_log (facts.c).
 */
#ifndef SPINDLE_APP_FACTS_H
#define SPINDLE_APP_FACTS_H

#include <stdatomic.h>
#include <stdint.h>

/* Set by the worker as it binds its scoreboard slot: 1..processes. */
void sp__facts_set_worker(int id);
/* Set on each thread that runs requests: its index and the scoreboard
 * word holding its current request's start (NULL when untracked). */
void sp__facts_set_thread(int index, const _Atomic uint64_t *start_ns);

#endif
