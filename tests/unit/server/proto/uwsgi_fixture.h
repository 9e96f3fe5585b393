/*
 * uwsgi_fixture.h - uwsgi packets as nginx's uwsgi_pass sends them, for
 * the tests of the converter (server/proto/test_uwsgi.c) and of a uwsgi
 * listener's connections (server/worker/test_front.c).
 */
#ifndef SPINDLE_TESTS_UWSGI_FIXTURE_H
#define SPINDLE_TESTS_UWSGI_FIXTURE_H

#include <stddef.h>
#include <string.h>

/* A packet from NULL-terminated key, value pairs; returns its length.
 * The header is modifier1, the little-endian size of the variables, and
 * modifier2 0; each variable is a little-endian length and bytes, twice. */
static inline size_t uwsgi_packet(char *out, int modifier1, const char *const *kv)
{
    size_t n = 4;

    for (size_t i = 0; kv[i]; i += 2) {
        size_t kl = strlen(kv[i]), vl = strlen(kv[i + 1]);

        out[n] = (char)(kl & 255);
        out[n + 1] = (char)(kl >> 8);
        memcpy(out + n + 2, kv[i], kl);
        n += 2 + kl;
        out[n] = (char)(vl & 255);
        out[n + 1] = (char)(vl >> 8);
        memcpy(out + n + 2, kv[i + 1], vl);
        n += 2 + vl;
    }
    out[0] = (char)modifier1;
    out[1] = (char)((n - 4) & 255);
    out[2] = (char)((n - 4) >> 8);
    out[3] = 0;
    return n;
}

#endif /* SPINDLE_TESTS_UWSGI_FIXTURE_H */
