/*
 * listen.c - binding the listening sockets (see listen.h).
 *
 * A unix socket path left behind by a crashed run is replaced only when
 * nothing answers on it: unlinking a live socket would silently steal a
 * running server's address.
 */
#include "server/worker/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return SP_EINVAL;
    strcpy(sa->sun_path, path);
    return 0;
}

/* A stale socket file: exists, is a socket, and refuses connections. */
static void remove_stale(const char *path)
{
    struct stat st;
    struct sockaddr_un sa;
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || unix_addr(&sa, path) != 0)
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno == ECONNREFUSED)
        unlink(path);
    close(fd);
}

static int bind_one(sp__listener *l, const sp__listen *spec, const sp__config *cfg, char *err,
                    size_t errlen)
{
    int one = 1, fd;
    struct sockaddr_un sun;

    if (spec->kind == SP__LISTEN_UNIX) {
        if (unix_addr(&sun, spec->path) != 0) {
            snprintf(err, errlen, "%s:%d: listen: unix socket path too long: %s", spec->origin.file,
                     spec->origin.line, spec->path);
            return SP_EINVAL;
        }
        remove_stale(spec->path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
            goto fail_fd;
        if (fd >= 0 && cfg->socket_mode >= 0 && chmod(spec->path, (mode_t)cfg->socket_mode) != 0)
            goto fail_fd;
    } else {
        fd = socket(spec->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (spec->addr.ss_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
            if (bind(fd, (const struct sockaddr *)&spec->addr, spec->addrlen) != 0)
                goto fail_fd;
        }
    }
    if (fd < 0 || listen(fd, cfg->backlog) != 0)
        goto fail_fd;
    l->fd = fd;
    l->text = strdup(spec->text);
    l->proto = spec->proto;
    l->is_unix = spec->kind == SP__LISTEN_UNIX;
    l->path = spec->path ? strdup(spec->path) : NULL;
    l->fresh = true;
    return 0;

fail_fd:
    snprintf(err, errlen, "%s:%d: listen: cannot listen on %s: %s", spec->origin.file,
             spec->origin.line, spec->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return SP_EIO;
}

static sp__listener *find_text(sp__listeners *ls, const char *text, int want_open)
{
    for (size_t i = 0; ls && i < ls->n; i++)
        if ((ls->v[i].fd >= 0) == want_open && strcmp(ls->v[i].text, text) == 0)
            return &ls->v[i];
    return NULL;
}

static int take_old(sp__listener *l, sp__listeners *old, const char *text)
{
    sp__listener *o = find_text(old, text, 1);
    if (o == NULL)
        return 0;
    *l = *o;
    l->fresh = false;
    l->text = strdup(o->text);
    l->path = o->path ? strdup(o->path) : NULL;
    o->fd = -1;
    return 1;
}

/* A failed reload must leave the running set exactly as it was. */
static void undo_open(sp__listeners *out, sp__listeners *old)
{
    for (size_t i = 0; i < out->n; i++) {
        sp__listener *o = find_text(old, out->v[i].text, 0);
        if (o != NULL) {
            o->fd = out->v[i].fd;
            out->v[i].fd = -1;
        }
    }
    sp__listen_close(out, 1);
}

int sp__listen_open(sp__listeners *out, sp__listeners *old, const sp__config *cfg, char *err,
                    size_t errlen)
{
    out->v = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*out->v));
    out->n = 0;
    if (out->v == NULL) {
        snprintf(err, errlen, "out of memory");
        return SP_ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        sp__listener *l = &out->v[out->n];
        if (!take_old(l, old, cfg->listen[i].text) &&
            bind_one(l, &cfg->listen[i], cfg, err, errlen) != 0) {
            undo_open(out, old);
            return SP_EINVAL;
        }
        out->n++;
    }
    return 0;
}

void sp__listen_close(sp__listeners *ls, int unlink_paths)
{
    for (size_t i = 0; i < ls->n; i++) {
        sp__listener *l = &ls->v[i];
        if (l->fd >= 0) {
            close(l->fd);
            if (unlink_paths && l->is_unix && l->path)
                unlink(l->path);
        }
        free(l->text);
        free(l->path);
    }
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}
