/*
 * arena.h - per-request bump allocator.
 *
 * Every request owns an arena; anything allocated for it (decoded query
 * values, response header copies, request id) dies in one sp__arena_reset
 * when the response is done.  The first block is kept across requests, so
 * a connection that serves small requests allocates nothing in steady state.
 */
#ifndef SPINDLE_SERVER_LIB_ARENA_H
#define SPINDLE_SERVER_LIB_ARENA_H

#include <stddef.h>

typedef struct sp__arena_block sp__arena_block;

typedef struct sp__arena {
    sp__arena_block *head; /* current block; the kept first block is last */
    size_t first_size;
} sp__arena;

void sp__arena_init(sp__arena *a, size_t first_size);
/* Aligned to max_align_t; NULL when out of memory. */
void *sp__arena_alloc(sp__arena *a, size_t size);
char *sp__arena_strndup(sp__arena *a, const char *s, size_t n);
/* Free every block but the first, and empty it. */
void sp__arena_reset(sp__arena *a);
void sp__arena_free(sp__arena *a);

#endif
