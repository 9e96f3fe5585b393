/*
 * echo - answers any request on /echo (and below) with a JSON picture of
 * what arrived: method, target, path, query, version, scheme, client
 * address and port, request id, headers in arrival order, and the body
 * (base64 when it is not valid UTF-8).  For tests, and for anyone
 * debugging what a proxy in front really sends.
 */
#include <stdint.h>
#include <string.h>

#include <spindle/spindle.h>

/* Append a string literal without counting its bytes by hand. */
#define LIT(res, s) sp_write((res), (s), sizeof(s) - 1)

static void json_str(sp_response *res, sp_str s)
{
    static const char hex[] = "0123456789abcdef";
    LIT(res, "\"");
    size_t run = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sp_write(res, s.ptr + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            sp_write(res, esc, 2);
        } else {
            sp_write(res, esc, 6);
        }
    }
    sp_write(res, s.ptr + run, s.len - run);
    LIT(res, "\"");
}

static int utf8_valid(sp_str s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        unsigned c = p[i];
        size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (n == 9 || (n == 1 && c < 0xc2) || i + n >= s.len + (n ? 0 : 1))
            return 0;
        for (size_t k = 1; k <= n; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
        i += n + 1;
    }
    return 1;
}

static void base64(sp_response *res, sp_str s)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s.ptr;
    LIT(res, "\"");
    for (size_t i = 0; i < s.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < s.len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < s.len)
            v |= p[i + 2];
        char out[4] = {tbl[v >> 18 & 63], tbl[v >> 12 & 63], i + 1 < s.len ? tbl[v >> 6 & 63] : '=',
                       i + 2 < s.len ? tbl[v & 63] : '='};
        sp_write(res, out, 4);
    }
    LIT(res, "\"");
}

static void field(sp_response *res, const char *name, sp_str value)
{
    sp_printf(res, ",\"%s\":", name);
    json_str(res, value);
}

static int echo(sp_request *req, sp_response *res)
{
    sp_str body = sp_body(req), name, value;

    sp_set_header(res, "Content-Type", "application/json");
    LIT(res, "{\"method\":");
    json_str(res, sp_method(req));
    field(res, "target", sp_target(req));
    field(res, "path", sp_path(req));
    field(res, "query", sp_query_string(req));
    sp_printf(res, ",\"version\":\"HTTP/1.%d\"", sp_http_version(req) % 10);
    field(res, "scheme", sp_scheme(req));
    LIT(res, ",\"client\":{\"address\":");
    json_str(res, sp_remote_addr(req));
    sp_printf(res, ",\"port\":%d}", sp_remote_port(req));
    field(res, "request_id", sp_request_id(req));
    LIT(res, ",\"headers\":[");
    for (size_t i = 0; sp_header_at(req, i, &name, &value) == SP_OK; i++) {
        sp_write(res, i ? ",[" : "[", i ? 2 : 1);
        json_str(res, name);
        LIT(res, ",");
        json_str(res, value);
        LIT(res, "]");
    }
    int text = utf8_valid(body);
    LIT(res, "],\"body\":");
    if (text)
        json_str(res, body);
    else
        base64(res, body);
    sp_printf(res, ",\"body_encoding\":\"%s\"}\n", text ? "utf-8" : "base64");
    return SP_OK;
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc = sp_route(app, "*", "/echo", echo);
    return rc ? rc : sp_route(app, "*", "/echo/*", echo);
}

SP_MODULE(echo, .init_worker = setup);
