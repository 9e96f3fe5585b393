/* buf.c - growable, recycled byte buffer (see buf.h). */
#include "server/lib/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spindle/spindle.h"

int sp__buf_reserve(sp__buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return SP_OK;
    size_t want = b->cap ? b->cap : 1024;
    while (want - b->len < extra) {
        if (want > ((size_t)-1) / 2)
            return SP_ENOMEM;
        want *= 2;
    }
    char *p = realloc(b->data, want);
    if (p == NULL)
        return SP_ENOMEM;
    b->data = p;
    b->cap = want;
    return SP_OK;
}

int sp__buf_append(sp__buf *b, const void *data, size_t len)
{
    if (len == 0)
        return SP_OK;
    int rc = sp__buf_reserve(b, len);
    if (rc != SP_OK)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return SP_OK;
}

int sp__buf_vprintf(sp__buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return SP_EINVAL;
    }
    if ((size_t)n >= room) {
        if (sp__buf_reserve(b, (size_t)n + 1) != SP_OK) {
            va_end(ap2);
            return SP_ENOMEM;
        }
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
    return SP_OK;
}

int sp__buf_printf(sp__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sp__buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void sp__buf_reset(sp__buf *b)
{
    b->len = 0;
    if (b->cap > SP__BUF_KEEP) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

void sp__buf_free(sp__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
