/*
 * sleepers.c - the IO-bound case's bound on this machine, for bench/run.
 *
 *   cc -O2 -pthread -o sleepers sleepers.c
 *   ./sleepers THREADS MS SECONDS   -> sleeps per second, all threads together
 *
 * THREADS threads each sleep MS milliseconds in a loop, with nothing else to
 * do: what THREADS handler threads that sleep MS per request could answer
 * if serving cost nothing.  On a VM timers fire late, so this is below
 * THREADS * 1000 / MS, and no server can beat it.  Counted over SECONDS
 * after a one second warm-up.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static atomic_long sleeps;
static atomic_int done;
static long ms;

static void *sleeper(void *arg)
{
    (void)arg;
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (!atomic_load_explicit(&done, memory_order_relaxed)) {
        nanosleep(&d, NULL);
        atomic_fetch_add_explicit(&sleeps, 1, memory_order_relaxed);
    }
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (ms = atol(argv[2])) <= 0 || atoi(argv[1]) <= 0 || atoi(argv[3]) <= 0) {
        fprintf(stderr, "usage: sleepers THREADS MS SECONDS\n");
        return 2;
    }
    int n = atoi(argv[1]), secs = atoi(argv[3]);
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    for (int i = 0; t && i < n; i++)
        if (pthread_create(&t[i], NULL, sleeper, NULL) != 0)
            return 1;
    if (t == NULL)
        return 1;
    struct timespec warm = {1, 0}, run = {secs, 0};
    nanosleep(&warm, NULL);
    long a = atomic_load(&sleeps);
    double t0 = now();
    nanosleep(&run, NULL);
    long b = atomic_load(&sleeps);
    double t1 = now();
    atomic_store(&done, 1);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("%.1f\n", (double)(b - a) / (t1 - t0));
    free(t);
    return 0;
}
