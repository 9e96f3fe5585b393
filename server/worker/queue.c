/*
 * queue.c - see queue.h.
 *
 * A mutex and a condition variable.  pop() re-checks the list under the
 * lock, so signalling after unlock can never lose a wake-up: a thread
 * that missed the signal finds the node when it next takes the lock.
 *
 * Wake-ups are throttled: at most one signal is ever on its way.  A push
 * signals only when a thread is asleep and no signal is pending; the
 * woken thread, once it has taken a node, passes the wake-up on if more
 * nodes wait and more threads sleep.  So a burst of N quick requests wakes
 * one thread, which usually finishes the first and takes the next before
 * a second thread would have been scheduled, instead of N threads each
 * paying a context switch for one request (the profile of hello under
 * wrk spent a third of the worker's time switching before this).  Slow or
 * blocking handlers still fan out: every thread that takes a node hands
 * the wake-up on, so a burst reaches every idle thread, one hop each.
 *
 * Invariant, under the lock: nodes waiting and threads asleep imply that
 * `waking` is set, i.e. some sleeper is due to wake and look.  Whoever
 * wakes clears it (a spurious wake-up too; that only costs an extra
 * signal later) and then either takes a node, and hands on, or finds the
 * list empty.
 */
#include "server/worker/queue.h"

#include <errno.h>
#include <time.h>

#include "spindle/spindle.h"

int sp__queue_init(sp__queue *q)
{
    pthread_condattr_t attr;
    q->head = q->tail = NULL;
    q->len = 0;
    q->closed = 0;
    q->idle = 0;
    q->waking = 0;
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        return SP_ENOMEM;
    /* Idle timeouts (sp__queue_pop_idle) count on the monotonic clock. */
    int rc = pthread_condattr_init(&attr);
    if (rc == 0) {
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        rc = pthread_cond_init(&q->ready, &attr);
        pthread_condattr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_mutex_destroy(&q->lock);
        return SP_ENOMEM;
    }
    return 0;
}

void sp__queue_destroy(sp__queue *q)
{
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
}

/* After linking n in, under the lock: whether to signal a sleeper. */
static int wake_for_push(sp__queue *q)
{
    int wake = q->idle > 0 && !q->waking;
    if (wake)
        q->waking = 1;
    return wake;
}

size_t sp__queue_push(sp__queue *q, sp__qnode *n)
{
    n->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    size_t len = ++q->len;
    int wake = wake_for_push(q);
    pthread_mutex_unlock(&q->lock);
    /* After unlocking: a woken thread must not wake into a held mutex. */
    if (wake)
        pthread_cond_signal(&q->ready);
    return len;
}

void sp__queue_push_front(sp__queue *q, sp__qnode *n)
{
    pthread_mutex_lock(&q->lock);
    n->next = q->head;
    q->head = n;
    if (q->tail == NULL)
        q->tail = n;
    q->len++;
    int wake = wake_for_push(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        pthread_cond_signal(&q->ready);
}

/* Under the lock: unlink the head, if any, hand the wake-up on, unlock. */
static sp__qnode *take_head(sp__queue *q)
{
    sp__qnode *n = q->head;
    int wake = 0;
    if (n != NULL) {
        q->head = n->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->len--;
        wake = q->head != NULL && q->idle > 0 && !q->waking;
        if (wake)
            q->waking = 1;
    }
    pthread_mutex_unlock(&q->lock);
    if (wake)
        pthread_cond_signal(&q->ready);
    return n;
}

sp__qnode *sp__queue_pop(sp__queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->closed) {
        q->idle++;
        pthread_cond_wait(&q->ready, &q->lock);
        q->idle--;
        q->waking = 0;
    }
    return take_head(q);
}

static void deadline(struct timespec *t, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L)
        t->tv_sec++, t->tv_nsec -= 1000000000L;
}

sp__qnode *sp__queue_pop_idle(sp__queue *q, int idle_ms, bool (*may_stop)(void *), void *arg,
                              bool *stopped)
{
    struct timespec until;
    deadline(&until, idle_ms);
    *stopped = false;
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->closed) {
        q->idle++;
        int rc = pthread_cond_timedwait(&q->ready, &q->lock, &until);
        q->idle--;
        /* A timed-out waiter may have taken a signal meant for a sleeper:
         * clearing `waking` makes the next push signal again, and a node
         * that is already here is taken below, like after any wake-up. */
        q->waking = 0;
        if (rc == ETIMEDOUT && q->head == NULL && !q->closed) {
            if (may_stop(arg)) {
                *stopped = true;
                pthread_mutex_unlock(&q->lock);
                return NULL;
            }
            deadline(&until, idle_ms); /* kept: idle for another while */
        }
    }
    return take_head(q);
}

void sp__queue_close(sp__queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

size_t sp__queue_len(sp__queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

int sp__queue_spare(sp__queue *q)
{
    int idle = atomic_load_explicit(&q->idle, memory_order_relaxed);
    size_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    return len >= (size_t)idle ? 0 : idle - (int)len;
}

int sp__queue_unserved(sp__queue *q)
{
    int idle = atomic_load_explicit(&q->idle, memory_order_relaxed);
    size_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    return len <= (size_t)idle ? 0 : (int)(len - (size_t)idle);
}
