/*
 * control.c - the control socket in the master (see control.h).
 *
 * A unix socket only: its file mode and owner are the access control, the
 * same as a pidfile plus kill(1) would need.  Commands run synchronously
 * in the master's loop; each one only starts something (a reload, a stop)
 * and the answer says it started, not that it finished.
 */
#include "server/master/control.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/master/stats.h"

static void answer(int fd, const char *text)
{
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        /* the client went away */
    }
}

static int read_line(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len - 1) {
        ssize_t n = read(fd, buf + got, 1);
        if (n <= 0 || buf[got] == '\n')
            break;
        got++;
    }
    buf[got] = '\0';
    if (got > 0 && buf[got - 1] == '\r')
        buf[--got] = '\0';
    return (int)got;
}

static void cmd_stats(sp__master *m, int fd)
{
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (out == NULL) {
        answer(fd, "error out of memory\n");
        return;
    }
    sp__stats_json(m, out);
    fclose(out);
    answer(fd, "ok\n");
    if (write(fd, body, len) < 0) {
        /* the client went away */
    }
    free(body);
}

static void cmd_workers(sp__master *m, int fd, const char *arg)
{
    char *end, msg[160], why[128];
    long n = strtol(arg, &end, 10);
    if ((*arg != '+' && *arg != '-') || *end != '\0' || n == 0 || n < -1024 || n > 1024) {
        answer(fd, "error workers takes +N or -N\n");
        return;
    }
    if (sp__m_workers_delta(m, (int)n, why, sizeof(why)) != 0) {
        snprintf(msg, sizeof(msg), "error %s\n", why);
        answer(fd, msg);
        return;
    }
    snprintf(msg, sizeof(msg), "ok workers %d\n", m->target);
    answer(fd, msg);
}

void sp__control_serve(sp__master *m)
{
    char line[256], msg[160], why[128];
    int fd = sp__ops_accept(m->control_fd);
    if (fd < 0)
        return;
    m->client_fd = fd; /* workers forked meanwhile must not keep it open */
    read_line(fd, line, sizeof(line));
    if (strcmp(line, "reload") == 0 || strcmp(line, "chain-reload") == 0) {
        if (sp__m_reload(m, line[0] == 'c' ? 1 : -1, why, sizeof(why)) == 0)
            snprintf(msg, sizeof(msg), "ok reloading\n");
        else
            snprintf(msg, sizeof(msg), "error %s\n", why);
        answer(fd, msg);
    } else if (strcmp(line, "stop") == 0) {
        sp__m_begin_stop(m, 1);
        answer(fd, "ok stopping\n");
    } else if (strncmp(line, "workers ", 8) == 0) {
        cmd_workers(m, fd, line + 8);
    } else if (strcmp(line, "stats") == 0) {
        cmd_stats(m, fd);
    } else {
        answer(fd, "error unknown command (reload, chain-reload, stop, workers +N|-N, stats)\n");
    }
    close(fd);
    m->client_fd = -1;
}
