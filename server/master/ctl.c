/*
 * ctl.c - "spindle ctl": the client of the control socket (control.h).
 *
 *   spindle ctl --control unix:/run/spindle.ctl reload
 *   spindle ctl --control /run/spindle.ctl workers +2
 *
 * Exit codes: 0 the master said ok, 1 it said error, 2 usage or the
 * socket could not be reached.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/master/control.h"

static int usage(void)
{
    fputs("usage: spindle ctl --control [unix:]PATH "
          "<reload|chain-reload|stop|workers +N|workers -N|stats>\n",
          stderr);
    return 2;
}

static int connect_to(const char *spec)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {10, 0};
    const char *path = strncmp(spec, "unix:", 5) == 0 ? spec + 5 : spec;
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Print the answer; 0 if its first word is "ok". */
static int relay(int fd)
{
    char buf[4096];
    int first = 1, ok = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (first) {
            ok = n >= 2 && memcmp(buf, "ok", 2) == 0;
            first = 0;
        }
        fwrite(buf, 1, (size_t)n, ok ? stdout : stderr);
    }
    if (first)
        fputs("spindle ctl: no answer from the master\n", stderr);
    return ok ? 0 : 1;
}

int sp__ctl_main(int argc, char **argv)
{
    const char *control = NULL;
    char line[256];
    int i = 0;

    if (i + 1 < argc && strcmp(argv[i], "--control") == 0) {
        control = argv[i + 1];
        i += 2;
    }
    if (control == NULL || i >= argc)
        return usage();
    if (strcmp(argv[i], "workers") == 0 && i + 2 == argc)
        snprintf(line, sizeof(line), "workers %s\n", argv[i + 1]);
    else if (i + 1 == argc && strcmp(argv[i], "workers") != 0)
        snprintf(line, sizeof(line), "%s\n", argv[i]);
    else
        return usage();
    int fd = connect_to(control);
    if (fd < 0) {
        fprintf(stderr, "spindle ctl: cannot connect to %s: %s\n", control, strerror(errno));
        return 2;
    }
    size_t len = strlen(line);
    int rc = write(fd, line, len) == (ssize_t)len ? relay(fd) : 2;
    close(fd);
    return rc;
}
