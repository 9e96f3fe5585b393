/*
 * http1.h - HTTP/1.x request parsing on top of llhttp (strict mode).
 *
 * llhttp tokenises; this layer enforces what llhttp leaves to its user:
 * limits (414, 431, 413), Host rules, Expect, versions, obs-fold, and
 * records every piece as an offset span into the connection's read buffer.
 * Offsets, not pointers, because the buffer may move when it grows; they
 * become sp_str views only when the request is complete.
 *
 * The parser stops (pauses) at the end of each request, so pipelined bytes
 * stay unread in the buffer until the response to this one is done.
 */
#ifndef SPINDLE_SERVER_PROTO_HTTP1_H
#define SPINDLE_SERVER_PROTO_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "server/lib/buf.h"
#include "llhttp.h"

typedef struct sp__span {
    size_t off;
    size_t len;
} sp__span;

typedef struct sp__h1_limits {
    size_t uri;
    size_t headers;
    int header_count;
    uint64_t body;
    size_t body_buffer;   /* above this the body spills to a temp file */
    const char *temp_dir; /* where such files are made */
} sp__h1_limits;

enum sp__h1_state {
    SP__H1_NEED_MORE, /* every byte consumed, request not complete */
    SP__H1_DONE,      /* a whole request; *pos is just past it */
    SP__H1_ERROR      /* refuse with h->status and close */
};

typedef struct sp__h1 {
    llhttp_t p;
    const sp__h1_limits *lim;
    const char *base; /* the buffer of the current feed */
    size_t start;     /* offset where this request began */
    sp__span method;
    sp__span url;
    sp__span *hdr; /* name, value, name, value, ... */
    size_t n_hdr;  /* spans used (2 per header) */
    size_t cap_hdr;
    sp__buf *body; /* the body while it fits in lim->body_buffer */
    int spill_fd;  /* else an unlinked temp file holding it; -1 when none */
    uint64_t body_len;
    size_t ext_bytes;
    size_t trailer_bytes;
    int trailer_lines;
    /* The current trailer field's name, lower-cased, as far as it fits:
     * trailers arrive after the body, when the head's spans are gone. */
    char tname[24];
    size_t tname_len;
    int status;         /* error status once SP__H1_ERROR */
    const char *reason; /* why, for the log */
    int version;        /* 10, 11 */
    size_t head_end;    /* at most the offset past the blank line; what follows
                         * it up to the parse position is consumed body */
    unsigned headers_done : 1;
    unsigned expect_continue : 1;
    unsigned keep_alive : 1;
    unsigned upgrade : 1;
    unsigned field_done : 1;
    unsigned begun : 1;      /* a message started (not just blank lines) */
    unsigned finished : 1;   /* an upgrade request ended the connection's HTTP */
    unsigned value_seen : 1; /* the current header's value has begun */
    unsigned direct : 1;     /* the feed is already at the body buffer's tail */
} sp__h1;

void sp__h1_init(sp__h1 *h, const sp__h1_limits *lim, sp__buf *body);
void sp__h1_free(sp__h1 *h);
/* As new for another connection, keeping the header table. */
void sp__h1_recycle(sp__h1 *h);
/* Give up the spilled body file to the caller (who closes it). */
int sp__h1_take_spill(sp__h1 *h);
/* Forget the finished request; parsing resumes at offset start. */
void sp__h1_next(sp__h1 *h, size_t start);
/* Parse buf[*pos, len); *pos advances over what was consumed. */
enum sp__h1_state sp__h1_feed(sp__h1 *h, const char *buf, size_t *pos, size_t len);
/* How many bytes of a Content-Length body may be read straight into the
 * body buffer's tail (whatever is left of it, all in room reserved at the
 * end of the head); 0 when the body is chunked, spilled to a file, done,
 * or the head is not over. */
size_t sp__h1_body_room(const sp__h1 *h);
/* Parse n body bytes the caller put at the body buffer's tail (at most
 * sp__h1_body_room): counted, not copied. */
enum sp__h1_state sp__h1_feed_body(sp__h1 *h, size_t n);
/* The connection ends: a request cut short is an error. */
int sp__h1_mid_request(const sp__h1 *h, size_t pos);

#endif
