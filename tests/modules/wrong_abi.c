/*
 * wrong_abi.c - a module whose descriptor claims ABI major 99.
 *
 * Built by hand instead of with SP_MODULE so the loader sees a future
 * major it must refuse, naming this file and both versions.
 */
#include <spindle/spindle.h>

static int wrong_abi(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send_text(res, 200, "a module of ABI 99 must never be served");
}

static int setup(sp_app *app, const sp_section *conf)
{
    (void)conf;
    return sp_route(app, "GET", "/wrong-abi", wrong_abi);
}

SP_EXPORT const sp_module spindle_module = {
    .magic = SP_MODULE_MAGIC,
    .abi_major = 99,
    .abi_minor = 0,
    .size = sizeof(sp_module),
    .name = "wrong_abi",
    .init_worker = setup,
};
