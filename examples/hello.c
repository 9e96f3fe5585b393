/*
 * hello - the smallest useful spindle module.
 *
 *   GET /              -> "Hello, World!"
 *   GET /hello?name=x  -> "Hello, x!"
 */
#include <spindle/spindle.h>

static int root(sp_request *req, sp_response *res)
{
    return sp_send(res, 200, "text/plain; charset=utf-8", "Hello, World!", 13);
}

static int hello(sp_request *req, sp_response *res)
{
    sp_str who = sp_query(req, "name");
    if (!sp_str_is_set(who) || who.len == 0)
        who = (sp_str){"World", 5};
    /* Written as bytes, not through %s, so a decoded NUL does not cut it. */
    sp_send(res, 200, "text/plain; charset=utf-8", "Hello, ", 7);
    sp_write(res, who.ptr, who.len);
    return sp_write(res, "!", 1);
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc = sp_route(app, "GET", "/", root);
    return rc ? rc : sp_route(app, "GET", "/hello", hello);
}

SP_MODULE(hello, .init_worker = setup);
