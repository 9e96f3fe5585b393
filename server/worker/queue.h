/*
 * queue.h - the worker's queue of complete requests, IO loop to handler
 * threads.
 *
 * Intrusive (a connection carries its own link), so pushing never
 * allocates; unbounded by design because the bound is enforced upstream:
 * the IO loop stops accepting connections while the queue is over its
 * limit, and each connection holds at most one queued request.
 */
#ifndef SPINDLE_SERVER_WORKER_QUEUE_H
#define SPINDLE_SERVER_WORKER_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sp__qnode {
    struct sp__qnode *next;
} sp__qnode;

typedef struct sp__queue {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    sp__qnode *head;
    sp__qnode *tail;
    atomic_size_t len; /* written under the lock; sp__queue_spare reads it without */
    int closed;
    atomic_int idle; /* threads asleep in pop (same) */
    int waking;      /* a signal is on its way to one of them (queue.c) */
} sp__queue;

int sp__queue_init(sp__queue *q);
void sp__queue_destroy(sp__queue *q);
/* Returns the length after the push. */
size_t sp__queue_push(sp__queue *q, sp__qnode *n);
/* Ahead of every waiting node: for work that must not wait its turn
 * (the IO loop being handed over, server/worker/loop.c). */
void sp__queue_push_front(sp__queue *q, sp__qnode *n);
/* Blocks; NULL once the queue is closed and empty. */
sp__qnode *sp__queue_pop(sp__queue *q);
/* As sp__queue_pop, for a thread that may stop when idle (threads =
 * auto): after idle_ms with nothing to take, may_stop(arg) is asked under
 * the queue's lock, so no push can slip between its answer and the
 * thread's leaving; if it says yes, NULL with *stopped set. */
sp__qnode *sp__queue_pop_idle(sp__queue *q, int idle_ms, bool (*may_stop)(void *), void *arg,
                              bool *stopped);
/* Wake every waiter; pops drain what is left, then return NULL. */
void sp__queue_close(sp__queue *q);
size_t sp__queue_len(sp__queue *q);
/* Sleeping threads not yet spoken for by a waiting node: a thread that
 * would take a new node at once.  Read without the lock, so only a hint,
 * of the moment it was taken. */
int sp__queue_spare(sp__queue *q);
/* The other side: waiting nodes no sleeping thread is there for (the same
 * kind of hint). */
int sp__queue_unserved(sp__queue *q);

#endif
