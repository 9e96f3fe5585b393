/*
 * test_arena.c - unit tests for server/lib/arena.c, the per-request bump
 * allocator.
 *
 * What the file proves: every allocation is aligned for any type and none
 * overlaps another; a request bigger than a block still gets its memory
 * (and an impossible size gets NULL, not a wrapped small block); reset
 * hands out the kept first block again, so steady traffic allocates
 * nothing; strndup copies exactly n bytes of an unterminated source.
 */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/lib/arena.h"

Test(arena, alignment_and_no_overlap)
{
    sp__arena a;
    unsigned char *p[300];
    sp__arena_init(&a, 256);
    for (size_t i = 0; i < 300; i++) {
        size_t size = i % 50 + 1;
        p[i] = sp__arena_alloc(&a, size);
        cr_assert_not_null(p[i]);
        cr_assert_eq((uintptr_t)p[i] % alignof(max_align_t), 0, "alloc %zu of %zu bytes", i, size);
        memset(p[i], (int)(i & 0xff), size);
    }
    for (size_t i = 0; i < 300; i++)
        for (size_t j = 0; j < i % 50 + 1; j++)
            cr_assert_eq(p[i][j], (unsigned char)(i & 0xff), "alloc %zu overwritten", i);
    sp__arena_free(&a);
}

Test(arena, bigger_than_a_block)
{
    sp__arena a;
    sp__arena_init(&a, 128);
    void *small = sp__arena_alloc(&a, 8);
    unsigned char *big = sp__arena_alloc(&a, 100000);
    cr_assert_not_null(small);
    cr_assert_not_null(big);
    cr_assert_eq((uintptr_t)big % alignof(max_align_t), 0);
    memset(big, 0xab, 100000);
    cr_assert_null(sp__arena_alloc(&a, SIZE_MAX / 2 + 1));
    cr_assert_null(sp__arena_alloc(&a, SIZE_MAX));
    sp__arena_free(&a);
}

Test(arena, reset_reuses_first_block)
{
    sp__arena a;
    sp__arena_init(&a, 1024);
    void *first = sp__arena_alloc(&a, 16);
    for (int i = 0; i < 50; i++)
        cr_assert_not_null(sp__arena_alloc(&a, 4096));
    sp__arena_reset(&a);
    cr_assert_eq(sp__arena_alloc(&a, 16), first, "after reset the kept block starts over");
    sp__arena_reset(&a);
    sp__arena_reset(&a);
    cr_assert_eq(sp__arena_alloc(&a, 16), first);
    sp__arena_free(&a);
    /* Usable again after free. */
    cr_assert_not_null(sp__arena_alloc(&a, 16));
    sp__arena_free(&a);
}

Test(arena, strndup_copies_n)
{
    sp__arena a;
    const char src[4] = {'a', 'b', 'c', 'd'}; /* not terminated */
    sp__arena_init(&a, 0);
    char *s = sp__arena_strndup(&a, src, 3);
    cr_assert_str_eq(s, "abc");
    char *e = sp__arena_strndup(&a, NULL, 0);
    cr_assert_str_eq(e, "");
    sp__arena_free(&a);
}
