/*
 * router.h - method + path to handler.
 *
 * Patterns are absolute paths made of literal segments, "{name}" segments
 * (one whole segment each) and an optional trailing "/" "*" prefix mount (a "/" then a star).
 * Precedence when several match: a literal segment beats "{param}", which
 * beats a mount; among mounts the longest prefix wins.  HEAD falls back to
 * GET.  "*" as the method matches any method.
 *
 * The router is built in init_worker (one thread) and only read afterwards,
 * so matching takes no lock.
 */
#ifndef SPINDLE_APP_ROUTER_H
#define SPINDLE_APP_ROUTER_H

#include <stddef.h>

#include "spindle/spindle.h"

#define SP__MAX_PARAMS 16

typedef struct sp__router sp__router;

typedef struct sp__param {
    sp_str name;  /* points into the router's copy of the pattern */
    sp_str value; /* points into the matched path (still percent-encoded) */
} sp__param;

typedef struct sp__match {
    sp_handler_fn fn;
    /* The matched route's pattern ("/hello/{name}"), the router's own copy
     * (valid while the router lives); NULL unless SP__ROUTE_FOUND. */
    const char *pattern;
    sp__param params[SP__MAX_PARAMS];
    size_t n_params;
    /* For SP__ROUTE_BAD_METHOD: "GET, HEAD, POST" (sorted, HEAD added when
     * GET is routed), NUL terminated. */
    char allow[128];
} sp__match;

enum sp__route_result { SP__ROUTE_FOUND = 0, SP__ROUTE_NOT_FOUND = 1, SP__ROUTE_BAD_METHOD = 2 };

sp__router *sp__router_new(void);
void sp__router_free(sp__router *r);

/* SP_OK; SP_EINVAL for a malformed pattern or method; SP_EEXIST for a
 * duplicate (method, pattern); SP_ENOMEM. */
int sp__router_add(sp__router *r, const char *method, const char *pattern, sp_handler_fn fn);

/* Match a request.  path is the raw path (no query).  Fills m. */
enum sp__route_result sp__router_match(const sp__router *r, sp_str method, sp_str path,
                                       sp__match *m);

#endif /* SPINDLE_APP_ROUTER_H */
