/*
 * echo - answers any request on /echo (and below) with a JSON picture of
 * what arrived: method, target, path, query, version, scheme, client
 * address and port, request id, headers in arrival order, and the body
 * (base64 when it is not valid UTF-8).  For tests, and for anyone
 * debugging what a proxy in front really sends.
 */
#include <spindle/spindle.h>

/* Append a string literal without counting its bytes by hand. */
#define LIT(res, s) sp_write((res), (s), sizeof(s) - 1)

static void field(sp_response *res, const char *name, sp_str value)
{
    sp_printf(res, ",\"%s\":", name);
    sp_write_json_str(res, value);
}

static int echo(sp_request *req, sp_response *res)
{
    sp_str body = sp_body(req), name, value;

    sp_set_header(res, "Content-Type", "application/json");
    LIT(res, "{\"method\":");
    sp_write_json_str(res, sp_method(req));
    field(res, "target", sp_target(req));
    field(res, "path", sp_path(req));
    field(res, "query", sp_query_string(req));
    sp_printf(res, ",\"version\":\"HTTP/1.%d\"", sp_http_version(req) % 10);
    field(res, "scheme", sp_scheme(req));
    LIT(res, ",\"client\":{\"address\":");
    sp_write_json_str(res, sp_remote_addr(req));
    sp_printf(res, ",\"port\":%d}", sp_remote_port(req));
    field(res, "request_id", sp_request_id(req));
    LIT(res, ",\"headers\":[");
    for (size_t i = 0; sp_header_at(req, i, &name, &value) == SP_OK; i++) {
        sp_write(res, i ? ",[" : "[", i ? 2 : 1);
        sp_write_json_str(res, name);
        LIT(res, ",");
        sp_write_json_str(res, value);
        LIT(res, "]");
    }
    bool text = sp_utf8_valid(body.ptr, body.len);
    LIT(res, "],\"body\":");
    if (text) {
        sp_write_json_str(res, body);
    } else {
        LIT(res, "\"");
        sp_write_base64(res, body.ptr, body.len);
        LIT(res, "\"");
    }
    sp_printf(res, ",\"body_encoding\":\"%s\"}\n", text ? "utf-8" : "base64");
    return SP_OK;
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc = sp_route(app, "*", "/echo", echo);
    return rc ? rc : sp_route(app, "*", "/echo/*", echo);
}

SP_MODULE(echo, .init_worker = setup);
