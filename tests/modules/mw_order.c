/*
 * mw_order.c - two middleware, "order_a" and "order_b", that each append
 * their letter to the response header X-Order after the inner chain
 * returns.  The innermost appends first, so server.ini order
 * "order_a, order_b" (outermost first) gives "b,a".
 */
#include <spindle/spindle.h>

static int append(sp_request *req, sp_response *res, sp_next *next, const char *me)
{
    int rc = sp_next_call(next, req, res);
    sp_str cur;
    sp_str val;

    if (rc != SP_OK)
        return rc;
    cur = sp_response_header(res, "X-Order");
    if (sp_str_is_set(cur))
        val = sp_sprintf(req, "%.*s,%s", SP_STR_ARGS(cur), me);
    else
        val = sp_sprintf(req, "%s", me);
    if (val.ptr == NULL)
        return SP_ENOMEM;
    return sp_set_header(res, "X-Order", val.ptr);
}

static int order_a(sp_request *req, sp_response *res, sp_next *next)
{
    return append(req, res, next, "a");
}

static int order_b(sp_request *req, sp_response *res, sp_next *next)
{
    return append(req, res, next, "b");
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc;

    (void)conf;
    if ((rc = sp_middleware_define(app, "order_a", order_a)) != SP_OK)
        return rc;
    return sp_middleware_define(app, "order_b", order_b);
}

SP_MODULE(mw_order, .init_worker = setup);
