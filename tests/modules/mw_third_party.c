/*
 * mw_third_party.c - middleware written exactly as a third party would:
 * "tp_header" runs the rest of the chain, then marks every response
 * (including error pages) with "X-Third-Party: yes".  GET /tp -> 200 "tp".
 */
#include <spindle/spindle.h>

static int tp_header(sp_request *req, sp_response *res, sp_next *next)
{
    int rc = sp_next_call(next, req, res);

    if (rc != SP_OK)
        return rc;
    return sp_set_header(res, "X-Third-Party", "yes");
}

static int tp(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send_text(res, 200, "tp");
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc;

    (void)conf;
    if ((rc = sp_middleware_define(app, "tp_header", tp_header)) != SP_OK)
        return rc;
    return sp_route(app, "GET", "/tp", tp);
}

SP_MODULE(mw_third_party, .init_worker = setup);
