/*
 * request_id.c - X-Request-Id on every response.
 *
 * A request id the client (usually nginx, with proxy_set_header
 * X-Request-Id $request_id) already assigned is kept, so one id follows a
 * request through every tier's logs; anything that does not look like an
 * id is replaced, because the value lands in log lines and headers
 * downstream.  Written only against the public API.
 */
#include <string.h>

#include "middleware/builtin.h"
#include "spindle/spindle.h"

#define ID_MAX 128

static int id_acceptable(sp_str id)
{
    if (id.len == 0 || id.len > ID_MAX)
        return 0;
    for (size_t i = 0; i < id.len; i++) {
        char c = id.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int request_id(sp_request *req, sp_response *res, sp_next *next)
{
    sp_str incoming = sp_header(req, "X-Request-Id");
    char id[ID_MAX + 1];

    if (id_acceptable(incoming))
        sp_set_request_id(req, incoming);
    int rc = sp_next_call(next, req, res);
    if (!sp_headers_sent(res)) {
        sp_str cur = sp_request_id(req);
        memcpy(id, cur.ptr, cur.len < ID_MAX ? cur.len : ID_MAX);
        id[cur.len < ID_MAX ? cur.len : ID_MAX] = '\0';
        sp_set_header(res, "X-Request-Id", id);
    }
    return rc;
}

static int setup(sp_app *app, const sp_section *conf)
{
    return sp_middleware_define(app, "request_id", request_id);
}

static const sp_conf_key no_keys[] = {{NULL, 0, NULL}}; /* it reads no setting */

const sp_module sp__builtin_request_id =
    SP_MODULE_DESCRIPTOR("request_id", .init_worker = setup, .conf_keys = no_keys);
