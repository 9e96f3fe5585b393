/*
 * fuzz_http1.c - the HTTP/1 parsing glue under arbitrary bytes.
 *
 * The first input byte seeds where the rest is cut into pieces, so one
 * input also exercises the resumable paths: spans that continue across
 * feeds, a buffer that moves between feeds (it is realloc'd as it grows),
 * and pipelined requests taken one after another with sp__h1_next.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/lib/buf.h"
#include "server/proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const sp__h1_limits limits = {1024, 4096, 50, 1 << 16, 512, "/tmp"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp__buf in = {0}, body = {0};
    sp__h1 h;
    size_t pos = 0, fed = 0;
    unsigned seed = size ? data[0] : 0;

    sp__h1_init(&h, &limits, &body);
    while (fed < size) {
        size_t piece = 1 + (seed = seed * 1103515245u + 12345u) % 97;
        if (piece > size - fed)
            piece = size - fed;
        if (sp__buf_append(&in, data + fed, piece) != 0)
            break;
        fed += piece;
        enum sp__h1_state st;
        while ((st = sp__h1_feed(&h, in.data, &pos, in.len)) == SP__H1_DONE) {
            /* Touch every span the server would hand to a handler. */
            volatile char sink = 0;
            for (size_t i = 0; i < h.n_hdr; i++)
                if (h.hdr[i].len)
                    sink ^= in.data[h.hdr[i].off + h.hdr[i].len - 1];
            if (h.url.len)
                sink ^= in.data[h.url.off];
            (void)sink;
            if (!h.keep_alive)
                break; /* the server closes here */
            sp__h1_next(&h, pos);
        }
        if (st != SP__H1_NEED_MORE)
            break;
    }
    sp__h1_free(&h);
    sp__buf_free(&in);
    sp__buf_free(&body);
    return 0;
}
