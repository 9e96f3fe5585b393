/*
 * crash.c - GET /crash dereferences NULL on purpose (the worker dies and
 * must be replaced); GET /ok answers 200 "ok".
 */
#include <spindle/spindle.h>

static int crash(sp_request *req, sp_response *res)
{
    volatile int *volatile p = NULL;

    (void)req;
    (void)res;
    *p = 1;
    return 500;
}

static int ok(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send_text(res, 200, "ok");
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc;

    (void)conf;
    if ((rc = sp_route(app, "GET", "/crash", crash)) != SP_OK)
        return rc;
    return sp_route(app, "GET", "/ok", ok);
}

SP_MODULE(crash, .init_worker = setup);
