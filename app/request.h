/*
 * request.h - the request as handlers see it (struct sp_request).
 *
 * The server fills one per request from the parser's spans: every sp_str
 * points into the connection's read buffer (or its body buffer), so
 * nothing is copied per header.  The struct lives in the connection and is
 * recycled; its arena is reset when the response is done.
 */
#ifndef SPINDLE_APP_REQUEST_H
#define SPINDLE_APP_REQUEST_H

#include "server/lib/arena.h"
#include "app/router.h"
#include "spindle/spindle.h"

typedef struct sp__header {
    sp_str name;
    sp_str value;
} sp__header;

/* Decoded name/value pairs of the query string or a form body (form.c):
 * kv[2i] the i-th name, kv[2i + 1] its value, in the arena. */
typedef struct sp__pairs {
    sp_str *kv;
    size_t n;
} sp__pairs;

struct sp_request {
    sp__arena *arena;
    sp_app *app;
    sp_str method;
    sp_str target;
    sp_str path;
    sp_str query;
    int version; /* 10 or 11 */
    sp_str scheme;
    sp__header *headers; /* arrival order */
    size_t n_headers;
    sp_str body; /* in memory, or mapped from body_fd on demand */
    int body_fd; /* spilled body, owned by the request; -1 when none */
    uint64_t body_len;
    uint64_t body_off; /* sp_body_read position */
    void *body_map;
    sp_str remote_addr;
    int remote_port;
    sp_str request_id;
    sp__match *match;       /* in the arena, once routed; NULL before (or if never) */
    unsigned char route;    /* enum sp__route_result, once match is set */
    unsigned char reached;  /* the chain reached the router (stats count the route) */
    sp__pairs *query_pairs; /* decoded on first use; NULL until then */
    sp__pairs *form_pairs;
    char id_buf[24];
};

/* Split target into path and query; generate a request id. */
void sp__request_prepare(sp_request *req);

/* Drop what a finished request held (spilled body file, its mapping). */
void sp__request_release(sp_request *req);

/* Percent-decode src into the arena ('+' as space when plus_space). */
sp_str sp__url_decode(sp__arena *a, sp_str src, int plus_space);

/* Case-insensitive compare of a view with a C string. */
int sp__str_ieq(sp_str s, const char *c);

/* The value of the first of n headers called name (case-insensitive), or
 * unset: the one lookup behind sp_header and sp_response_header. */
sp_str sp__header_find(const sp__header *h, size_t n, const char *name);

#endif
