/*
 * queue.c - see queue.h.
 *
 * A mutex and a condition variable.  pop() re-checks the list under the
 * lock, so signalling after unlock can never lose a wake-up: a thread
 * that missed the signal finds the node when it next takes the lock.
 */
#include "server/queue.h"

int sp__queue_init(sp__queue *q)
{
    q->head = q->tail = NULL;
    q->len = 0;
    q->closed = 0;
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        return -1;
    if (pthread_cond_init(&q->ready, NULL) != 0) {
        pthread_mutex_destroy(&q->lock);
        return -1;
    }
    return 0;
}

void sp__queue_destroy(sp__queue *q)
{
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
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
    pthread_mutex_unlock(&q->lock);
    /* After unlocking: a woken thread must not wake into a held mutex. */
    pthread_cond_signal(&q->ready);
    return len;
}

sp__qnode *sp__queue_pop(sp__queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->closed)
        pthread_cond_wait(&q->ready, &q->lock);
    sp__qnode *n = q->head;
    if (n != NULL) {
        q->head = n->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->len--;
    }
    pthread_mutex_unlock(&q->lock);
    return n;
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
