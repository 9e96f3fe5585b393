/*
 * bytes.c - a bench module: bodies of a given size, both ways.
 *
 *   GET  /bytes?size=N   N bytes (0..4 MiB) from a buffer filled once in
 *                        init_worker, application/octet-stream
 *   POST /bytes          reads the request body with sp_body_read in 64 KiB
 *                        pieces and answers the byte count as text
 *
 * Built by bench/run with cc against include/ only, as a third-party module
 * would be; the peer is nginx serving a static file of the same size, and
 * `return 200` for POST.
 */
#include <stdio.h>

#include <spindle/spindle.h>

#define MAX_SIZE (4L * 1024 * 1024)
#define PIECE (64 * 1024)

static char data[MAX_SIZE]; /* filled in init_worker; read-only after */

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
    return sp_send(res, 200, "application/octet-stream", data, (size_t)size);
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
    (void)conf;
    for (long i = 0; i < MAX_SIZE; i++)
        data[i] = (char)('a' + i % 26);
    int rc = sp_route(app, "GET", "/bytes", get_bytes);
    return rc ? rc : sp_route(app, "POST", "/bytes", post_bytes);
}

SP_MODULE(bytes, .init_worker = setup);
