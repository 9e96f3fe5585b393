/*
 * test_buf.c - unit tests for server/lib/buf.c, the growable byte buffer
 * that connections recycle between requests.
 *
 * What the file proves: growing never loses content and refuses an
 * impossible size without touching what is there; printf appends exactly
 * what it formats, also when the text is longer than the free room; reset
 * keeps a small buffer for the next request and gives a big one back.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "server/lib/buf.h"
#include "spindle/spindle.h"

Test(buf, reserve_keeps_content)
{
    sp__buf b = {0};
    cr_assert_eq(sp__buf_append(&b, "", 0), SP_OK);
    cr_assert_null(b.data, "an empty append allocates nothing");
    cr_assert_eq(sp__buf_reserve(&b, 10), SP_OK);
    cr_assert_geq(b.cap, 10);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(sp__buf_append(&b, "abc", 3), SP_OK);
    cr_assert_eq(sp__buf_reserve(&b, 5000), SP_OK);
    cr_assert_geq(b.cap - b.len, 5000);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "abc", 3), 0);
    cr_assert_eq(sp__buf_reserve(&b, (size_t)-1), SP_ENOMEM);
    cr_assert_eq(memcmp(b.data, "abc", 3), 0);
    sp__buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len + b.cap, 0);
}

Test(buf, printf_appends)
{
    sp__buf b = {0};
    cr_assert_eq(sp__buf_printf(&b, "%s-%d", "x", 1), SP_OK);
    cr_assert_eq(sp__buf_printf(&b, "|%s", ""), SP_OK);
    cr_assert_eq(b.len, 4);
    cr_assert_eq(memcmp(b.data, "x-1|", 4), 0);
    /* Longer than what is free: the second formatting pass must match. */
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(sp__buf_printf(&b, "[%s]%d", big, 77), SP_OK);
    cr_assert_eq(b.len, 4 + 1 + 2999 + 1 + 2);
    cr_assert_eq(b.data[4], '[');
    cr_assert_eq(memcmp(b.data + 5, big, 2999), 0);
    cr_assert_eq(memcmp(b.data + 5 + 2999, "]77", 3), 0);
    sp__buf_free(&b);
}

Test(buf, reset_keeps_small_frees_big)
{
    sp__buf b = {0};
    cr_assert_eq(sp__buf_append(&b, "abc", 3), SP_OK);
    char *small = b.data;
    size_t cap = b.cap;
    sp__buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, small, "a small buffer is kept for the next request");
    cr_assert_eq(b.cap, cap);

    cr_assert_eq(sp__buf_reserve(&b, SP__BUF_KEEP + 1), SP_OK);
    b.len = SP__BUF_KEEP + 1;
    sp__buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.data, "a buffer that grew past SP__BUF_KEEP is given back");
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(sp__buf_append(&b, "z", 1), SP_OK);
    sp__buf_free(&b);
}

/* vsnprintf needs a byte for its NUL: text as long as the free room, or
 * one byte shorter or longer, must all come out whole (an off-by-one
 * here drops the last byte or writes past the end). */
Test(buf, printf_at_the_edge_of_the_free_room)
{
    for (size_t left = 0; left < 6; left++) {
        for (size_t len = left ? left - 1 : 0; len <= left + 1; len++) {
            sp__buf b = {0};
            char text[16];
            cr_assert_eq(sp__buf_reserve(&b, 64), SP_OK);
            size_t fill = b.cap - left;
            cr_assert_eq(sp__buf_reserve(&b, fill), SP_OK);
            memset(b.data, '.', fill);
            b.len = fill;
            memset(text, 'a', len);
            text[len] = '\0';
            text[0 < len ? len - 1 : 0] = len ? 'z' : '\0';
            cr_assert_eq(sp__buf_printf(&b, "%s", text), SP_OK);
            cr_assert_eq(b.len, fill + len, "%zu free, %zu bytes", left, len);
            cr_assert_eq(memcmp(b.data + fill, text, len), 0, "%zu free, %zu bytes: '%.*s'", left,
                         len, (int)len, b.data + fill);
            cr_assert_eq(b.data[fill - 1], '.', "what was there changed");
            sp__buf_free(&b);
        }
    }
}
