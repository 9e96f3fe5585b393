/*
 * proxyproto.h - the PROXY protocol header (HAProxy's spec, v1 text and
 * v2 binary) that a load balancer sends before the first byte of the
 * client's stream, carrying the client's address.
 *
 * Pure and stateless: the caller passes every byte it has from the start
 * of the connection and gets "need more", "done after N bytes" or "error".
 * Re-parsing from the start on each read costs nothing (a v1 header is at
 * most 107 bytes) and keeps the parser free of state, so feeding it one
 * byte at a time is the same as feeding it all at once.
 *
 * Whether a header is required, allowed or refused is the caller's policy
 * (trusted-proxies, proxy-protocol); this file only reads bytes.
 */
#ifndef SPINDLE_SERVER_PROTO_PROXYPROTO_H
#define SPINDLE_SERVER_PROTO_PROXYPROTO_H

#include <stddef.h>

#define SP__PP_V1_MAX 107 /* the spec's longest v1 line, CRLF included */

/* Which versions the caller accepts (bit mask). */
enum { SP__PP_ACCEPT_V1 = 1, SP__PP_ACCEPT_V2 = 2 };

enum sp__pp_state {
    SP__PP_NEED_MORE, /* a valid prefix so far */
    SP__PP_DONE,      /* a whole header of out->len bytes */
    SP__PP_ERROR      /* not a valid header: out->reason says why */
};

typedef struct sp__pp_result {
    int version;        /* 1 or 2 */
    int local;          /* v1 UNKNOWN, v2 LOCAL/UNSPEC: keep the socket's address */
    int family;         /* AF_INET, AF_INET6 or AF_UNIX when !local */
    char addr[48];      /* source address as text ("unix" for AF_UNIX) */
    int port;           /* source port (0 for unix) */
    size_t len;         /* bytes of the header, to drop before the request */
    const char *reason; /* why, on SP__PP_ERROR */
} sp__pp_result;

/* Parse a header at buf[0, len).  accept: SP__PP_ACCEPT_* bits.  max_v2:
 * longest v2 header accepted (16 + its length field).  Bytes that cannot
 * start an accepted header are an error as soon as they arrive. */
enum sp__pp_state sp__pp_parse(const char *buf, size_t len, int accept, size_t max_v2,
                               sp__pp_result *out);

/* Do the first bytes look like a PROXY header of either version?  1 yes,
 * 0 no, -1 too few bytes to tell (for refusing headers from untrusted
 * peers without mistaking "POST" for one). */
int sp__pp_looks_like(const char *buf, size_t len);

#endif
