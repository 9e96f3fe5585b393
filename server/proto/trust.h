/*
 * trust.h - who the client really is, when a trusted proxy says so in
 * X-Forwarded-For / X-Forwarded-Proto or RFC 7239 Forwarded.
 *
 * The rule is the standard real-ip one (nginx's real_ip_recursive):
 * headers are consulted only when the connection's address (after any
 * PROXY protocol header or uwsgi REMOTE_ADDR) is in trusted-proxies; then
 * the forwarded addresses are walked from the right, skipping addresses
 * that are themselves trusted, and the first untrusted one is the client.
 * If every hop is trusted the left-most is the client.  A hop that is not
 * an address ("unknown", an obfuscated name, garbage) stops the walk and
 * the headers are ignored: nothing after it can be vouched for.
 *
 * Only one family of headers counts (forwarded-headers): a proxy that
 * appends X-Forwarded-For passes a client's own Forwarded header through
 * untouched, so believing both would let the client pick its address.
 *
 * Pure: reads request headers, writes a result; no allocation.
 */
#ifndef SPINDLE_SERVER_PROTO_TRUST_H
#define SPINDLE_SERVER_PROTO_TRUST_H

#include "app/request.h"
#include "conf/cidr.h"
#include "conf/config.h"

#define SP__FWD_MAX_HOPS 64 /* right-most hops examined; more are ignored */

typedef struct sp__fwd_result {
    char addr[48]; /* the client, canonical text; "" when the headers gave none */
    int port;      /* its port when the header gave one, else 0 */
    int https;     /* -1 unknown, 0 http, 1 https */
} sp__fwd_result;

/* Evaluate headers[0, n) per mode (enum sp__fwd_mode) against trusted.
 * The caller has already checked that the connection's address is
 * trusted.  Returns 1 when out->addr or out->https was set. */
int sp__trust_forwarded(const sp__cidr_list *trusted, int mode, const sp__header *headers, size_t n,
                        sp__fwd_result *out);

#endif
