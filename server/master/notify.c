/*
 * notify.c - systemd notify and socket activation (see notify.h).
 *
 * Passed sockets are matched to listen lines by the address they are
 * bound to, not by their order, so the unit's ListenStream= lines and
 * server.ini's listen lines need not be kept in the same order.  An
 * adopted unix socket is labelled without a path, so the master never
 * unlinks or chowns a file that belongs to systemd.
 */
#include "server/master/notify.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "server/lib/log.h"

void sp__notify(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sd_notify(0, msg);
}

static int matches(int fd, const sp__listen *l)
{
    if (l->kind == SP__LISTEN_UNIX)
        return sd_is_socket_unix(fd, SOCK_STREAM, 1, l->path, 0) > 0;
    return sd_is_socket_sockaddr(fd, SOCK_STREAM, (const struct sockaddr *)&l->addr,
                                 (unsigned)l->addrlen, 1) > 0;
}

static int adopt_one(const sp__config *cfg, int fd, sp__listeners *out)
{
    for (size_t i = 0; i < cfg->n_listen; i++) {
        const sp__listen *l = &cfg->listen[i];
        if (!matches(fd, l))
            continue;
        sp__listener *v = &out->v[out->n];
        *v = (sp__listener){.fd = fd,
                            .text = strdup(l->text),
                            .proto = l->proto,
                            .is_unix = l->kind == SP__LISTEN_UNIX};
        if (v->text == NULL)
            return 0;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        out->n++;
        sp_log(SP_LOG_INFO, "listen %s: using the socket the service manager passed", l->text);
        return 1;
    }
    return 0;
}

size_t sp__notify_adopt(const sp__config *cfg, sp__listeners *out)
{
    int n = sd_listen_fds(1);
    out->v = NULL;
    out->n = 0;
    if (n <= 0)
        return 0;
    out->v = calloc((size_t)n, sizeof(*out->v));
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        if (out->v == NULL || !adopt_one(cfg, fd, out)) {
            sp_log(SP_LOG_WARN, "passed socket %d matches no listen line; closing it", fd);
            close(fd);
        }
    }
    return out->n;
}
