/*
 * bytes.c - a bench module: bodies of a given size, both ways.
 *
 *   GET  /bytes/NAME     the file NAME of the directory `dir` in
 *                        [module:bytes] (sp_send_file), as nginx serves it
 *   GET  /bytes?size=N   N bytes (0..4 MiB) from a buffer filled once in
 *                        init_worker (sp_send_static: not copied);
 *                        with &copy=1 through sp_send, which copies
 *   POST /bytes          reads the request body with sp_body_read in 64 KiB
 *                        pieces and answers the byte count as text
 *
 * Built by bench/run with cc against include/ only, as a third-party module
 * would be; the peer is nginx serving a static file of the same size, and
 * `return 200` for POST.
 */
#include <stdio.h>
#include <string.h>

#include <spindle/spindle.h>

#define MAX_SIZE (4L * 1024 * 1024)
#define PIECE    (64 * 1024)

static char data[MAX_SIZE]; /* filled in init_worker; read-only after */
static char dir[512];       /* [module:bytes] dir */

static long query_size(sp_request *req)
{
    sp_str v = sp_query(req, "size");
    long n = 0;

    if (!sp_str_is_set(v) || v.len == 0 || v.len > 8)
        return -1;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return -1;
        n = n * 10 + (v.ptr[i] - '0');
    }
    return n <= MAX_SIZE ? n : -1;
}

static int get_bytes(sp_request *req, sp_response *res)
{
    long size = query_size(req);
    if (size < 0)
        return 400;
    if (sp_str_is_set(sp_query(req, "copy")))
        return sp_send(res, 200, "application/octet-stream", data, (size_t)size);
    return sp_send_static(res, 200, "application/octet-stream", data, (size_t)size);
}

/* NAME: letters, digits, '-', '_' and '.' but not first, so nothing outside dir. */
static int get_file(sp_request *req, sp_response *res)
{
    sp_str name = sp_param(req, "name");
    char path[1024];

    if (dir[0] == '\0' || name.len == 0 || name.len > 100 || name.ptr[0] == '.')
        return 404;
    for (size_t i = 0; i < name.len; i++) {
        char ch = name.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 404;
    }
    snprintf(path, sizeof(path), "%s/%.*s", dir, (int)name.len, name.ptr);
    int rc = sp_send_file(res, 200, "application/octet-stream", path);
    return rc == SP_ENOENT ? 404 : rc;
}

static int post_bytes(sp_request *req, sp_response *res)
{
    static _Thread_local char buf[PIECE];
    long n, total = 0;

    while ((n = sp_body_read(req, buf, sizeof(buf))) > 0)
        total += n;
    if (n < 0)
        return 500;
    return sp_send_text(res, 200, "%ld\n", total);
}

static int setup(sp_app *app, const sp_section *conf)
{
    const char *d = conf ? sp_conf_get(conf, "dir") : NULL;
    if (d != NULL && strlen(d) < sizeof(dir))
        strcpy(dir, d);
    for (long i = 0; i < MAX_SIZE; i++)
        data[i] = (char)('a' + i % 26);
    int rc = sp_route(app, "GET", "/bytes", get_bytes);
    rc = rc ? rc : sp_route(app, "GET", "/bytes/{name}", get_file);
    return rc ? rc : sp_route(app, "POST", "/bytes", post_bytes);
}

SP_MODULE(bytes, .init_worker = setup);
