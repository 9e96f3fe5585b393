/*
 * buf.h - a growable byte buffer that keeps its memory between uses.
 *
 * Connections recycle their read, body and response buffers with it: after
 * the first few requests a connection stops calling malloc.  Buffers that
 * grew past SP__BUF_KEEP are shrunk back when idle, so one huge request
 * does not pin memory for the life of a keep-alive connection.
 */
#ifndef SPINDLE_SERVER_LIB_BUF_H
#define SPINDLE_SERVER_LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define SP__BUF_KEEP (64 * 1024)

typedef struct sp__buf {
    char *data;
    size_t len;
    size_t cap;
} sp__buf;

/* Make room for extra more bytes; SP_ENOMEM on failure. */
int sp__buf_reserve(sp__buf *b, size_t extra);
int sp__buf_append(sp__buf *b, const void *data, size_t len);
int sp__buf_vprintf(sp__buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int sp__buf_printf(sp__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empty it; give memory back if it grew past SP__BUF_KEEP. */
void sp__buf_reset(sp__buf *b);
void sp__buf_free(sp__buf *b);

#endif
