/*
 * test_queue.c - the request queue between the IO loop and the handler
 * threads (server/worker/queue.c): every node is taken exactly once, a burst
 * reaches every sleeping thread although at most one signal is on its way
 * at a time, and closing releases every waiter.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "server/worker/queue.h"

#define CONSUMERS 4

typedef struct item {
    sp__qnode node; /* first: pop returns this pointer */
    atomic_int taken;
} item;

typedef struct shared {
    sp__queue q;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int holding;  /* consumers inside a "handler" at once */
    int all_held; /* the most that ever were */
    int hold;     /* consumers wait inside until this many hold an item */
    atomic_long popped;
} shared;

static cpu_set_t one_cpu;

static void *consumer(void *arg)
{
    shared *s = arg;
    sp__qnode *n;
    if (s->hold) {
        /* Same CPU as the producer and never preempting it, so that the
         * burst is pushed whole while every consumer still sleeps. */
        pthread_setaffinity_np(pthread_self(), sizeof(one_cpu), &one_cpu);
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &(struct sched_param){0});
    }
    while ((n = sp__queue_pop(&s->q)) != NULL) {
        item *it = (item *)n;
        atomic_fetch_add(&it->taken, 1);
        atomic_fetch_add(&s->popped, 1);
        if (s->hold == 0)
            continue;
        /* A blocking handler: stay until `hold` consumers are inside, or
         * give up after 10 s (the assertion below then fails, no hang). */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&s->lock);
        s->holding++;
        if (s->holding > s->all_held)
            s->all_held = s->holding;
        pthread_cond_broadcast(&s->cond);
        while (s->holding < s->hold)
            if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0)
                break;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

static void start(shared *s, pthread_t *t, int hold)
{
    cr_assert_eq(sp__queue_init(&s->q), 0);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->holding = s->all_held = 0;
    s->hold = hold;
    atomic_init(&s->popped, 0);
    for (int i = 0; i < CONSUMERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, consumer, s), 0);
}

static void stop(shared *s, pthread_t *t)
{
    sp__queue_close(&s->q);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(t[i], NULL);
    sp__queue_destroy(&s->q);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

/* Wait until every consumer sleeps in pop, so the burst meets sleepers. */
static void wait_all_asleep(shared *s)
{
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&s->q.lock);
        int idle = s->q.idle;
        pthread_mutex_unlock(&s->q.lock);
        if (idle == CONSUMERS)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    cr_assert_fail("the consumers never went to sleep");
}

Test(queue, burst_wakes_every_sleeping_thread)
{
    shared s;
    pthread_t t[CONSUMERS];
    item items[CONSUMERS];
    CPU_ZERO(&one_cpu);
    CPU_SET(sched_getcpu(), &one_cpu);
    cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof(one_cpu), &one_cpu), 0);
    start(&s, t, CONSUMERS);
    wait_all_asleep(&s);
    for (int i = 0; i < CONSUMERS; i++) {
        atomic_init(&items[i].taken, 0);
        sp__queue_push(&s.q, &items[i].node);
    }
    /* One signal went out for the burst.  Each consumer holds its node
     * until all of them hold one: only true if that wake-up was handed on
     * from thread to thread.  Look before closing the queue, which would
     * wake everyone anyway. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&s.lock);
    while (s.all_held < CONSUMERS)
        if (pthread_cond_timedwait(&s.cond, &s.lock, &until) != 0)
            break;
    int held = s.all_held;
    pthread_mutex_unlock(&s.lock);
    stop(&s, t);
    cr_assert_eq(held, CONSUMERS, "only %d of %d threads woke for the burst", held, CONSUMERS);
    for (int i = 0; i < CONSUMERS; i++)
        cr_assert_eq(atomic_load(&items[i].taken), 1);
}

typedef struct producer_arg {
    shared *s;
    item *items;
    int n;
} producer_arg;

static void *producer(void *arg)
{
    producer_arg *p = arg;
    for (int i = 0; i < p->n; i++) {
        sp__queue_push(&p->s->q, &p->items[i].node);
        if (i % 64 == 0) /* let the consumers drain and sleep now and then */
            nanosleep(&(struct timespec){0, 10000}, NULL);
    }
    return NULL;
}

Test(queue, every_node_taken_once_under_two_producers)
{
    enum { PER = 20000 };
    static item items[2][PER];
    shared s;
    pthread_t t[CONSUMERS], p[2];
    producer_arg pa[2];
    start(&s, t, 0);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < PER; i++)
            atomic_init(&items[k][i].taken, 0);
        pa[k] = (producer_arg){&s, items[k], PER};
        cr_assert_eq(pthread_create(&p[k], NULL, producer, &pa[k]), 0);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(p[k], NULL);
    /* Nothing may be stranded with threads asleep: all of it drains. */
    for (int i = 0; i < 10000 && atomic_load(&s.popped) < 2 * PER; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    cr_assert_eq(atomic_load(&s.popped), 2 * PER);
    stop(&s, t);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < PER; i++)
            cr_assert_eq(atomic_load(&items[k][i].taken), 1);
    cr_assert_eq(sp__queue_len(&s.q), 0);
}

Test(queue, close_releases_every_waiter)
{
    shared s;
    pthread_t t[CONSUMERS];
    start(&s, t, 0);
    wait_all_asleep(&s);
    stop(&s, t); /* joins: hangs (and ctest times out) if a waiter stayed */
    cr_assert_eq(atomic_load(&s.popped), 0);
}

Test(queue, push_front_goes_ahead_of_waiting_nodes)
{
    sp__queue q;
    item a, b, c;
    cr_assert_eq(sp__queue_init(&q), 0);
    sp__queue_push(&q, &a.node);
    sp__queue_push(&q, &b.node);
    sp__queue_push_front(&q, &c.node);
    cr_assert_eq(sp__queue_len(&q), 3);
    cr_assert_eq(sp__queue_pop(&q), &c.node);
    cr_assert_eq(sp__queue_pop(&q), &a.node);
    cr_assert_eq(sp__queue_pop(&q), &b.node);
    /* onto an empty queue, it is also the tail */
    sp__queue_push_front(&q, &a.node);
    sp__queue_push(&q, &b.node);
    cr_assert_eq(sp__queue_pop(&q), &a.node);
    cr_assert_eq(sp__queue_pop(&q), &b.node);
    cr_assert_eq(sp__queue_len(&q), 0);
    sp__queue_destroy(&q);
}

Test(queue, spare_counts_sleepers_not_spoken_for)
{
    shared s;
    pthread_t t[CONSUMERS];
    item it[CONSUMERS + 2];
    start(&s, t, 0);
    wait_all_asleep(&s);
    cr_assert_eq(sp__queue_spare(&s.q), CONSUMERS);
    /* Nodes pushed while every consumer sleeps are spoken for at once:
     * hold the lock so that nobody wakes to take them meanwhile. */
    pthread_mutex_lock(&s.q.lock);
    for (int i = 0; i < CONSUMERS + 2; i++) {
        atomic_init(&it[i].taken, 0);
        it[i].node.next = NULL;
        if (s.q.tail)
            s.q.tail->next = &it[i].node;
        else
            s.q.head = &it[i].node;
        s.q.tail = &it[i].node;
        s.q.len++;
        if (i == 0)
            cr_assert_eq(sp__queue_spare(&s.q), CONSUMERS - 1);
    }
    cr_assert_eq(sp__queue_spare(&s.q), 0); /* more nodes than sleepers: none */
    s.q.waking = 1;
    pthread_mutex_unlock(&s.q.lock);
    pthread_cond_signal(&s.q.ready);
    for (int i = 0; i < 10000 && atomic_load(&s.popped) < CONSUMERS + 2; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    cr_assert_eq(atomic_load(&s.popped), CONSUMERS + 2);
    stop(&s, t);
}
