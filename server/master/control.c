/*
 * control.c - the control socket in the master (see control.h).
 *
 * A unix socket only: its file mode and owner are the access control, the
 * same as a pidfile plus kill(1) would need.  Clients are read and
 * answered by ops.c without the master waiting on them; each command only
 * starts something (a reload, a stop) and the answer says it started, not
 * that it finished.
 */
#include "server/master/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/master/stats.h"

static void cmd_stats(sp__master *m, FILE *out)
{
    fputs("ok\n", out);
    sp__stats_json(m, out);
}

static void cmd_workers(sp__master *m, FILE *out, const char *arg)
{
    char *end, why[128];
    long n = strtol(arg, &end, 10);
    if ((*arg != '+' && *arg != '-') || *end != '\0' || n == 0 || n < -1024 || n > 1024) {
        fputs("error workers takes +N or -N\n", out);
        return;
    }
    if (sp__m_workers_delta(m, (int)n, why, sizeof(why)) != 0)
        fprintf(out, "error %s\n", why);
    else
        fprintf(out, "ok workers %d\n", m->target);
}

void sp__control_answer(sp__master *m, char *line, FILE *out)
{
    char why[128];
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "reload") == 0 || strcmp(line, "chain-reload") == 0) {
        if (sp__m_reload(m, line[0] == 'c' ? 1 : -1, why, sizeof(why)) == 0)
            fputs("ok reloading\n", out);
        else
            fprintf(out, "error %s\n", why);
    } else if (strcmp(line, "stop") == 0) {
        sp__m_begin_stop(m, 1);
        fputs("ok stopping\n", out);
    } else if (strncmp(line, "workers ", 8) == 0) {
        cmd_workers(m, out, line + 8);
    } else if (strcmp(line, "stats") == 0) {
        cmd_stats(m, out);
    } else {
        fputs("error unknown command (reload, chain-reload, stop, workers +N|-N, stats)\n", out);
    }
}
