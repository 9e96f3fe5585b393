/*
 * front.c - the pre-HTTP stages of a connection (see front.h).
 *
 * Everything here runs on the IO loop, before a request is queued, and
 * only moves bytes inside the connection's read buffer: the PROXY header
 * is cut off the front, a uwsgi packet is replaced by a shorter HTTP head.
 * Refusals are logged with the peer and closed without an answer: neither
 * a proxy nor a uwsgi client would read an HTTP error page.
 */
#include "server/worker/front.h"

#include <string.h>

#include "server/worker/conn.h"
#include "server/proto/proxyproto.h"
#include "server/proto/trust.h"
#include "server/proto/uwsgi.h"

void sp__front_open(sp__front *f, const sp__worker *w, int lfd, const struct sockaddr *sa)
{
    const sp__config *cfg = w->cfg;

    memset(f, 0, sizeof *f);
    f->https = -1;
    for (size_t i = 0; i < w->ls->n; i++)
        if (w->ls->v[i].fd == lfd)
            f->uwsgi = w->ls->v[i].proto == SP__PROTO_UWSGI;
    f->peer_trusted = f->trusted = sp__cidr_match(&cfg->trusted_proxies, sa) ? 1 : 0;
    f->proxy_pending = cfg->proxy_protocol != SP__PROXY_OFF;
}

static int refuse(sp__conn *c, const char *why)
{
    sp_log(SP_LOG_WARN, "%s:%d: connection closed: %s", c->addr, c->port, why);
    return SP_EINVAL;
}

static void set_client(sp__conn *c, const char *addr, int port)
{
    size_t n = strlen(addr);

    if (n == 0 || n >= sizeof c->addr)
        return;
    memcpy(c->addr, addr, n + 1);
    c->port = (unsigned short)port;
    c->front.trusted = sp__cidr_match_text(&c->w->cfg->trusted_proxies, addr, n) ? 1 : 0;
}

static int accepted_versions(int mode)
{
    if (mode == SP__PROXY_V1)
        return SP__PP_ACCEPT_V1;
    return mode == SP__PROXY_V2 ? SP__PP_ACCEPT_V2 : SP__PP_ACCEPT_V1 | SP__PP_ACCEPT_V2;
}

/* The PROXY header stage: 1 done, 0 more bytes, -1 close. */
static int proxy_stage(sp__conn *c)
{
    sp__pp_result r;
    enum sp__pp_state st;

    if (!c->front.peer_trusted) {
        int looks = sp__pp_looks_like(c->x->in.data, c->x->in.len);

        if (looks > 0)
            return refuse(c, "PROXY header from a peer not in trusted-proxies");
        if (looks == 0)
            c->front.proxy_pending = 0;
        return looks == 0;
    }
    st = sp__pp_parse(c->x->in.data, c->x->in.len, accepted_versions(c->w->cfg->proxy_protocol),
                      c->w->lim.headers, &r);
    if (st == SP__PP_NEED_MORE)
        return 0;
    if (st == SP__PP_ERROR)
        return refuse(c, r.reason);
    if (!r.local)
        set_client(c, r.addr, r.port);
    memmove(c->x->in.data, c->x->in.data + r.len, c->x->in.len - r.len);
    c->x->in.len -= r.len;
    c->front.proxy_pending = 0;
    return 1;
}

/* The uwsgi stage: rewrite this request's packet. */
static int uwsgi_stage(sp__conn *c)
{
    sp__uw_result r;
    size_t len = c->x->in.len;
    enum sp__uw_state st =
        sp__uw_convert(c->x->in.data, c->x->pos, &len, c->w->lim.headers, c->w->lim.body, &r);

    if (st == SP__UW_NEED_MORE)
        return 0;
    if (st == SP__UW_ERROR)
        return refuse(c, r.reason);
    c->x->in.len = len;
    c->front.converted = 1;
    c->front.https = (signed char)r.https;
    if (r.addr[0])
        set_client(c, r.addr, r.port);
    return 1;
}

int sp__front_feed(sp__conn *c)
{
    int rc;

    if (c->front.proxy_pending && (rc = proxy_stage(c)) != 1)
        return rc;
    if (c->front.uwsgi && !c->front.converted)
        return uwsgi_stage(c);
    return 1;
}

void sp__front_request(sp__conn *c, sp_request *r)
{
    const sp__config *cfg = c->w->cfg;
    sp__fwd_result fwd;

    if (c->front.uwsgi)
        c->x->h1.keep_alive = 0; /* one request per uwsgi connection */
    if (c->front.https >= 0)
        r->scheme = c->front.https ? (sp_str){"https", 5} : (sp_str){"http", 4};
    if (!c->front.trusted || cfg->forwarded_headers == SP__FWD_OFF ||
        !sp__trust_forwarded(&cfg->trusted_proxies, cfg->forwarded_headers, r->headers,
                             r->n_headers, &fwd))
        return;
    if (fwd.addr[0]) {
        size_t n = strlen(fwd.addr);
        char *copy = sp__arena_strndup(r->arena, fwd.addr, n);

        if (copy) {
            r->remote_addr = (sp_str){copy, n};
            r->remote_port = fwd.port;
        }
    }
    if (fwd.https >= 0)
        r->scheme = fwd.https ? (sp_str){"https", 5} : (sp_str){"http", 4};
}

void sp__front_next(sp__front *f)
{
    f->converted = 0;
}
