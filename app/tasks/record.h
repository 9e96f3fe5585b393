/*
 * record.h - a task record and its encoding, shared by every task store
 * backend.
 *
 * One record type (sp__taskrec) is both a spool entry (the body is the
 * payload) and a task's state (the body is the result), so the spooler
 * that runs a task and the worker that polls it read the same fields, and
 * a backend stores one kind of thing.  The encoding is header lines, a
 * blank line, then exactly `length` body bytes: a human can read a stuck
 * spool file with less(1), and a record cut short is refused (never run)
 * whichever medium carried it, a file or a Redis value.
 */
#ifndef SPINDLE_APP_TASKS_RECORD_H
#define SPINDLE_APP_TASKS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spindle/spindle.h"

#define SP__TASK_NAME_MAX 128
#define SP__MACHINE_MAX   80

/* Record flags (the "flags" header line, absent when 0: records of
 * versions without it read as 0, and those versions skip the line). */
#define SP__REC_RESULT_JSON 1u /* the body is one JSON value (sp_task_set_result_json) */

typedef struct sp__taskrec {
    char id[SP_TASK_ID_LEN];
    char name[SP__TASK_NAME_MAX];
    int state;    /* enum sp_task_state */
    int attempts; /* runs that ended with the spooler dead */
    int spooled;
    int pid; /* in-process: the worker that holds it (liveness); spooled: the spooler */
    /* the machine pid belongs to (sp__machine_id); "" in older records */
    char machine[SP__MACHINE_MAX];
    int64_t created_ms, updated_ms;
    char error[256];
    unsigned flags;      /* SP__REC_* */
    unsigned char *body; /* payload or result; owned after decode, borrowed for encode */
    size_t len;
} sp__taskrec;

/* Encode into a malloc'd buffer.  SP_ENOMEM, SP_EINVAL (headers too long). */
int sp__rec_encode(const sp__taskrec *r, char **out, size_t *outlen);
/* Decode buf; r->body is a malloc'd copy.  SP_EINVAL if malformed or short. */
int sp__rec_decode(const void *buf, size_t len, sp__taskrec *r);
void sp__rec_free(sp__taskrec *r);

void sp__task_new_id(char id[SP_TASK_ID_LEN]);
/* An id as sp__task_new_id makes them: 32 lowercase hex digits (and so
 * safe as a file name or a key). */
bool sp__task_id_ok(const char *id);
/* 1-127 of letters, digits, '_', '.', '-', ':'. */
bool sp__task_name_ok(const char *name);
/* This boot of this machine and its pid namespace ("BOOT_ID:PIDNS"): where
 * a pid means something.  Instances sharing a store run on other machines,
 * where a pid of ours names nobody, or someone else.  Read once. */
const char *sp__machine_id(void);
/* Wall-clock unix milliseconds: the times records carry. */
int64_t sp__unix_ms(void);

#endif
