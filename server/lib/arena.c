/*
 * arena.c - per-request bump allocator (see arena.h).
 *
 * Blocks form a list, newest first.  A request that outgrows the first
 * block gets blocks of doubling size (or exactly its size when bigger);
 * reset frees all of them but the first, so only unusually large requests
 * touch malloc at all.
 */
#include "server/lib/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sp__arena_block {
    sp__arena_block *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

static sp__arena_block *block_new(size_t size)
{
    sp__arena_block *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void sp__arena_init(sp__arena *a, size_t first_size)
{
    a->head = NULL;
    a->first_size = first_size ? first_size : 4096;
}

void *sp__arena_alloc(sp__arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    sp__arena_block *b = a->head;

    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    if (b == NULL || b->size - b->used < size) {
        size_t want = b ? b->size * 2 : a->first_size;
        if (want < size)
            want = size;
        sp__arena_block *nb = block_new(want);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

char *sp__arena_strndup(sp__arena *a, const char *s, size_t n)
{
    char *p = sp__arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sp__arena_reset(sp__arena *a)
{
    sp__arena_block *b = a->head;
    while (b != NULL && b->next != NULL) {
        sp__arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = b;
    if (b != NULL)
        b->used = 0;
}

void sp__arena_free(sp__arena *a)
{
    sp__arena_reset(a);
    free(a->head);
    a->head = NULL;
}
