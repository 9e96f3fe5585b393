/*
 * alloccount.c - an LD_PRELOAD heap allocation counter for bench/run.
 *
 *   cc -O2 -shared -fPIC -o alloccount.so alloccount.c -ldl -lpthread
 *   ALLOCCOUNT_DIR=/tmp/x LD_PRELOAD=./alloccount.so spindle server.ini
 *
 * Counts calls to malloc, calloc, realloc, posix_memalign, aligned_alloc,
 * memalign and valloc in every thread of every process it is loaded into
 * (fork keeps it).  A thread of its own writes "<allocations> <frees>" to
 * ALLOCCOUNT_DIR/<pid> every 50 ms, so a script can read the counts of a
 * running server before and after a load and divide by the requests served.
 * The counters are relaxed atomics: a count, not a profile.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong n_alloc, n_free;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

/* dlsym may calloc before real_calloc is known: serve that from here. */
static char early[4096];
static size_t early_used;

static void *early_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (early_used + n > sizeof(early))
        return NULL;
    void *p = early + early_used;
    early_used += n;
    return p;
}

static void resolve(void)
{
    static int busy;
    if (real_malloc != NULL || busy)
        return;
    busy = 1;
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    busy = 0;
}

#define COUNT(c) atomic_fetch_add_explicit(&(c), 1, memory_order_relaxed)

void *malloc(size_t n)
{
    resolve();
    if (real_malloc == NULL)
        return early_alloc(n);
    COUNT(n_alloc);
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    resolve();
    if (real_calloc == NULL)
        return early_alloc(a * b); /* static: already zero */
    COUNT(n_alloc);
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    resolve();
    COUNT(n_alloc);
    return real_realloc(p, n);
}

void free(void *p)
{
    if (p == NULL || ((char *)p >= early && (char *)p < early + sizeof(early)))
        return;
    resolve();
    COUNT(n_free);
    real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    COUNT(n_alloc);
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    resolve();
    COUNT(n_alloc);
    return real_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n)
{
    resolve();
    COUNT(n_alloc);
    return real_memalign(align, n);
}

static void *reporter(void *arg)
{
    const char *dir = arg;
    char path[512], tmp[520], line[64];
    struct timespec ts = {0, 50 * 1000 * 1000};
    pid_t started = getpid();

    for (;;) {
        nanosleep(&ts, NULL);
        if (getpid() != started)
            return NULL; /* a fork child has no copy of this thread */
        snprintf(path, sizeof(path), "%s/%d", dir, (int)started);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int n =
            snprintf(line, sizeof(line), "%lu %lu\n", atomic_load(&n_alloc), atomic_load(&n_free));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            continue;
        ssize_t w = write(fd, line, (size_t)n);
        close(fd);
        if (w == n)
            rename(tmp, path);
    }
}

static void start_reporter(void)
{
    const char *dir = getenv("ALLOCCOUNT_DIR");
    pthread_t t;
    pthread_attr_t a;
    if (dir == NULL)
        return;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &a, reporter, (void *)dir);
    pthread_attr_destroy(&a);
}

/* Threads do not survive fork: every child starts its own reporter. */
__attribute__((constructor)) static void init(void)
{
    start_reporter();
    pthread_atfork(NULL, NULL, start_reporter);
}
