/*
 * reads_config.c - reads its own [module:reads_config] section in
 * init_worker and serves the value: proves sections reach modules (and
 * that a reload hands the new values to the new workers).
 *
 *   GET /greet -> 200 text: the "greeting" setting, or "(unset)"
 */
#include <spindle/spindle.h>

/* Set once per worker in init_worker, read-only afterwards. */
static const char *greeting = "(unset)";

static int greet(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send_text(res, 200, "%s", greeting);
}

static int setup(sp_app *app, const sp_section *conf)
{
    const char *g = sp_conf_get(conf, "greeting");
    if (g != NULL)
        greeting = g;
    return sp_route(app, "GET", "/greet", greet);
}

SP_MODULE(reads_config, .init_worker = setup);
