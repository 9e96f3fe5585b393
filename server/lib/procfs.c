/*
 * procfs.c - see procfs.h.
 */
#include "server/lib/procfs.h"

#include <stdio.h>
#include <unistd.h>

long sp__rss_kib(pid_t pid)
{
    char path[64];
    long pages = 0, rss = 0;
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    else
        snprintf(path, sizeof(path), "/proc/self/statm");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}
