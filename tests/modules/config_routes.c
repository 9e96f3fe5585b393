/*
 * config_routes.c - registers no routes itself; it exports handler
 * functions that server.ini routes by name:
 *
 *   route = GET /cr/one config_routes:cr_one
 *   route = * /cr/any config_routes:cr_any
 *
 * The loader finds them with dlsym, so they must be exported.
 */
#include <spindle/spindle.h>

SP_EXPORT int cr_one(sp_request *req, sp_response *res);
SP_EXPORT int cr_any(sp_request *req, sp_response *res);

SP_EXPORT int cr_one(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send_text(res, 200, "cr_one");
}

SP_EXPORT int cr_any(sp_request *req, sp_response *res)
{
    sp_str m = sp_method(req);

    return sp_send_text(res, 200, "cr_any %.*s", SP_STR_ARGS(m));
}

SP_MODULE(config_routes);
