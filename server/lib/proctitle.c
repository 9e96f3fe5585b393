/*
 * proctitle.c - see proctitle.h.
 *
 * The title area is the process's own argv memory, a process-wide thing,
 * so it is kept in file statics.
 */
#include "server/lib/proctitle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

static char *area;
static size_t area_len;
static char **env_copies;
/* Our environ, still reachable once setenv moves it (volatile: written
 * only, and a store the compiler dropped would keep nothing reachable). */
static char **volatile env_array;

void sp__proctitle_init(int argc, char **argv)
{
    if (argc < 1 || argv[0] == NULL)
        return;
    char *start = argv[0], *end = argv[0] + strlen(argv[0]);
    for (int i = 1; i < argc; i++)
        if (argv[i] == end + 1)
            end = argv[i] + strlen(argv[i]);
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    /* Two arrays: environ itself, which setenv/unsetenv (sd_listen_fds)
     * rearrange, and our own list of the copies, which keeps every copy
     * reachable for the life of the process.  setenv of a new name
     * (a module, Python's os.environ) gives environ a new array, so ours is
     * kept in a static too. */
    char **env = env_array = calloc(n + 1, sizeof(*env));
    env_copies = calloc(n + 1, sizeof(*env_copies));
    if (env == NULL || env_copies == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == end + 1)
            end = environ[i] + strlen(environ[i]);
        env[i] = env_copies[i] = strdup(environ[i]);
    }
    environ = env;
    /* The caller keeps using argv: give it copies before we overwrite. */
    for (int i = 0; i < argc; i++)
        argv[i] = strdup(argv[i]);
    area = start;
    area_len = (size_t)(end - start);
}

void sp__proctitle_set(const char *fmt, ...)
{
    char title[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(title, sizeof(title), fmt, ap);
    va_end(ap);
    prctl(PR_SET_NAME, title, 0, 0, 0);
    if (area == NULL || area_len < 2)
        return;
    size_t n = strlen(title);
    if (n > area_len - 1)
        n = area_len - 1;
    memcpy(area, title, n);
    memset(area + n, '\0', area_len - n);
}
