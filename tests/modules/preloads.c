/*
 * preloads.c - a module with a preload hook (ABI 1.8): proves the master
 * runs it once before forking and that workers serve on what it built.
 *
 *   [module:preloads] fail = on   the hook fails (the start must stop, 78)
 *   GET /preloaded -> 200 text: "by PID calls N in PID", the process that
 *                     ran the hook (0: none), how often, and who serves
 */
#include <stdbool.h>
#include <unistd.h>

#include <spindle/spindle.h>

/* Set by the hook in the master; every worker inherits them. */
static int preloaded_by;
static int calls;

static int preloaded(sp_request *req, sp_response *res)
{
    (void)req;
    return sp_send_text(res, 200, "by %d calls %d in %d", preloaded_by, calls, (int)getpid());
}

static int preload(const sp_section *conf)
{
    bool fail = false;
    if (sp_conf_bool(conf, "fail", false, &fail) != SP_OK || fail)
        return SP_EINVAL;
    preloaded_by = (int)getpid();
    calls++;
    return SP_OK;
}

static int setup(sp_app *app, const sp_section *conf)
{
    (void)conf;
    return sp_route(app, "GET", "/preloaded", preloaded);
}

static const sp_conf_key keys[] = {{"fail", SP_CONF_BOOL, "make the preload hook fail"},
                                   {NULL, 0, NULL}};

SP_MODULE(preloads, .init_worker = setup, .preload = preload, .conf_keys = keys);
