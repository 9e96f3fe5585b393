/*
 * blob.c - large bodies both ways, for the tests that put nginx in front.
 *
 *   GET  /blob?size=N[&mode=stream]   N bytes (0..64 MiB) of a fixed pattern,
 *                                     byte i = i mod 251, buffered with a
 *                                     Content-Length, or streamed in 64 KiB
 *                                     writes (chunked on HTTP/1.1)
 *   GET  /blob?size=N&mode=static     the same bytes (N up to 16 MiB) with
 *                                     sp_send_static, from a buffer filled
 *                                     in init_worker: never copied
 *   POST /blob                        the request body back, byte for byte
 *   GET  /blob/file?path=P            the file at P with sp_send_file
 *
 * The pattern has a prime period so a dropped, doubled or shifted block
 * changes the bytes at a block boundary; the tests compare hashes.
 */
#include <string.h>

#include <spindle/spindle.h>

#define MAX_SIZE (64L * 1024 * 1024)
#define PIECE    (64 * 1024)
#define PERIOD   251

static long query_size(sp_request *req)
{
    sp_str v = sp_query(req, "size");
    long n = 0;

    if (!sp_str_is_set(v) || v.len == 0 || v.len > 9)
        return -1;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return -1;
        n = n * 10 + (v.ptr[i] - '0');
    }
    return n <= MAX_SIZE ? n : -1;
}

/* The pattern from phase 0, PERIOD bytes longer than a piece, so the
 * piece for any offset starts at piece + offset % PERIOD.  Filled in
 * init_worker, before any handler thread reads it; read-only after. */
static unsigned char piece[PIECE + PERIOD];
#define STATIC_MAX (16L * 1024 * 1024)
static unsigned char whole[STATIC_MAX]; /* the pattern, for mode=static */

static int get_blob(sp_request *req, sp_response *res)
{
    long size = query_size(req);
    sp_str mode = sp_query(req, "mode");
    int stream = sp_str_is_set(mode) && mode.len == 6 && memcmp(mode.ptr, "stream", 6) == 0;
    int rc;

    if (size < 0)
        return 400;
    if (sp_str_is_set(mode) && mode.len == 6 && memcmp(mode.ptr, "static", 6) == 0)
        return size > STATIC_MAX
                   ? 400
                   : sp_send_static(res, 200, "application/octet-stream", whole, (size_t)size);
    sp_set_header(res, "Content-Type", "application/octet-stream");
    if (stream && (rc = sp_stream_start(res)) != SP_OK)
        return rc;
    for (long off = 0; off < size; off += PIECE) {
        size_t n = size - off < PIECE ? (size_t)(size - off) : PIECE;
        const unsigned char *p = piece + off % PERIOD;

        rc = stream ? sp_stream_write(res, p, n) : sp_write(res, p, n);
        if (rc != SP_OK)
            return rc;
    }
    return SP_OK;
}

static int post_blob(sp_request *req, sp_response *res)
{
    sp_str body = sp_body(req);

    return sp_send(res, 200, "application/octet-stream", body.ptr, body.len);
}

static int get_file(sp_request *req, sp_response *res)
{
    char path[4096];
    sp_str p = sp_query(req, "path");

    if (!sp_str_is_set(p) || p.len == 0 || p.len >= sizeof path)
        return 400;
    memcpy(path, p.ptr, p.len);
    path[p.len] = 0;
    return sp_send_file(res, 200, "application/octet-stream", path);
}

static int setup(sp_app *app, const sp_section *conf)
{
    (void)conf;
    for (size_t i = 0; i < sizeof piece; i++)
        piece[i] = (unsigned char)(i % PERIOD);
    for (size_t i = 0; i < sizeof whole; i++)
        whole[i] = (unsigned char)(i % PERIOD);
    int rc = sp_route(app, "GET", "/blob", get_blob);
    rc = rc ? rc : sp_route(app, "GET", "/blob/file", get_file);
    return rc ? rc : sp_route(app, "POST", "/blob", post_blob);
}

SP_MODULE(blob, .init_worker = setup);
