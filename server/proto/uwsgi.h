/*
 * uwsgi.h - the uwsgi binary protocol (nginx's uwsgi_pass), turned into the
 * HTTP/1.x request head it describes.
 *
 * A uwsgi request is a 4-byte header (modifier1, a little-endian 16-bit
 * datasize, modifier2), datasize bytes of CGI-style variables (each a
 * 16-bit length and key, a 16-bit length and value), then CONTENT_LENGTH
 * bytes of body.  Rather than a second request path, the packet is
 * rewritten in place into "METHOD TARGET HTTP/1.x\r\nName: value\r\n...
 * \r\n" and the body stays where it is, so the HTTP/1.1 parser, its
 * limits, the body spill and every later stage serve both protocols with
 * one code path.  The rewrite never grows: each variable costs 4 bytes of
 * lengths in the packet and at most ": " and CRLF in the head, HTTP_ names
 * lose their prefix, and the request line is far shorter than the
 * REQUEST_METHOD and REQUEST_URI variables it comes from.
 *
 * Because the head is made here, everything that would shape it is checked
 * here: a method that is not a token, a target or value holding CR, LF, NUL
 * or a space where it would split the line, a variable name that is not
 * [A-Za-z0-9_], and bad sizes are errors, and the connection is closed.
 * Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, TE,
 * Expect, Upgrade) are dropped: nginx has already de-chunked the body and
 * answered 100-continue, and the body length is CONTENT_LENGTH.
 */
#ifndef SPINDLE_SERVER_PROTO_UWSGI_H
#define SPINDLE_SERVER_PROTO_UWSGI_H

#include <stddef.h>
#include <stdint.h>

enum sp__uw_state {
    SP__UW_NEED_MORE, /* not a whole packet yet (what arrived is valid so far) */
    SP__UW_DONE,      /* the head is written; see sp__uw_result */
    SP__UW_ERROR      /* malformed: log reason and close */
};

typedef struct sp__uw_result {
    size_t packet_len;  /* bytes of the uwsgi packet that were consumed */
    size_t head_len;    /* bytes of HTTP head now at the packet's place */
    uint64_t body_len;  /* CONTENT_LENGTH (0 when absent or empty) */
    char addr[48];      /* REMOTE_ADDR when it is a valid address, else "" */
    int port;           /* REMOTE_PORT, 0 when absent */
    int https;          /* UWSGI_SCHEME, HTTPS or REQUEST_SCHEME said https */
    int version;        /* 10 or 11, from SERVER_PROTOCOL */
    const char *reason; /* on SP__UW_ERROR */
} sp__uw_result;

/* Look at buf[start, *len): once a whole packet is there, rewrite it into
 * an HTTP head at buf + start, move the bytes after it (the body so far)
 * down to follow the head, and set *len to the new end.  max_vars: most
 * bytes of variables (limit-headers); max_body: limit-body.  Checks that
 * need only the 4-byte header (modifier1, datasize) fail as soon as those
 * bytes arrive. */
enum sp__uw_state sp__uw_convert(char *buf, size_t start, size_t *len, size_t max_vars,
                                 uint64_t max_body, sp__uw_result *out);

#endif
