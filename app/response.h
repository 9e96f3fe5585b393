/*
 * response.h - the response as handlers build it (struct sp_response).
 *
 * Until the handler returns, a response is only state: status, headers
 * (copied into the request arena) and a body in the connection's recycled
 * buffer, so middleware can still rewrite any of it after sp_next_call.
 * The server renders it to the wire afterwards (server/worker/serve.c).  Only a
 * stream goes out early, through the sink the server installs.
 */
#ifndef SPINDLE_APP_RESPONSE_H
#define SPINDLE_APP_RESPONSE_H

#include <stdbool.h>
#include <stdint.h>

#include "server/lib/buf.h"
#include "app/request.h"
#include "spindle/spindle.h"

/* How a streaming response reaches the socket; implemented by the server. */
typedef struct sp__sink_ops {
    int (*stream_start)(void *ctx, sp_response *res);
    int (*stream_write)(void *ctx, const void *data, size_t len);
} sp__sink_ops;

struct sp_response {
    sp_request *req;
    int status;
    sp__header *headers;
    size_t n_headers;
    size_t cap_headers;
    sp__buf *body;
    sp_str fixed; /* sp_send_static: the body, not copied; ptr NULL otherwise */
    int file_fd;  /* -1 unless sp_send_file */
    uint64_t file_size;
    int headers_sent;
    int streaming;
    uint64_t bytes_streamed;
    const sp__sink_ops *sink;
    void *sink_ctx;
};

/* Ready a recycled response for req (body buffer emptied). */
void sp__response_init(sp_response *res, sp_request *req, sp__buf *body, const sp__sink_ops *sink,
                       void *sink_ctx);
/* Close a file left open by sp_send_file. */
void sp__response_release(sp_response *res);

/* The body to write: the buffer, or sp_send_static's bytes. */
sp_str sp__response_body(const sp_response *res);

/* True if a status carries no body (1xx, 204, 304). */
bool sp__status_bodyless(int status);

#endif
