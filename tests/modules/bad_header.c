/*
 * bad_header.c - GET /bad-header tries to set a response header whose
 * value holds CR LF.  The API must refuse it with SP_EHEADER; the handler
 * then answers 500 "refused".  If the API let it through the handler
 * answers 200 "accepted" (and the injected header shows whether it went
 * out on the wire).
 */
#include <spindle/spindle.h>

static int bad_header(sp_request *req, sp_response *res)
{
    int rc = sp_set_header(res, "X-Bad", "a\r\nInjected: yes");

    (void)req;
    if (rc == SP_EHEADER)
        return sp_send_text(res, 500, "refused");
    return sp_send_text(res, 200, "accepted");
}

static int setup(sp_app *app, const sp_section *conf)
{
    (void)conf;
    return sp_route(app, "GET", "/bad-header", bad_header);
}

SP_MODULE(bad_header, .init_worker = setup);
