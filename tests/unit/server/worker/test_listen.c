/*
 * test_listen.c - unit tests for server/worker/listen.c, the listening
 * sockets the master binds before it forks (and again on every reload).
 *
 * The listen lines are built by hand, as conf/ leaves them; the sockets
 * are real, on unix paths in a temp folder and on 127.0.0.1 with a port
 * the kernel picks.
 *
 * What the file proves: every line becomes a listening, non-blocking,
 * close-on-exec socket that answers; a reload keeps the very socket of a
 * line that survives it (no connection refused while it happens) and a
 * failed reload leaves the running set exactly as it was, with nothing it
 * bound left behind; a stale socket file from a crashed run is replaced,
 * but a live server's socket or any other file is never removed; unix
 * sockets get socket-mode whatever the umask; errors name file:line.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/worker/listen.h"

static char tmp[64];
static char paths[8][256], texts[8][280];
static sp__listen specs[8];
static sp__config cfg;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void setup(void)
{
    strcpy(tmp, "/tmp/sp_listen_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    memset(&cfg, 0, sizeof cfg);
    memset(specs, 0, sizeof specs);
    cfg.listen = specs;
    cfg.backlog = 16;
    cfg.socket_mode = -1;
}

static void teardown(void)
{
    nftw(tmp, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(listen, .init = setup, .fini = teardown);

static const char *in_tmp(const char *name)
{
    static char p[4][256];
    static int next;
    char *out = p[next++ % 4];
    int n = snprintf(out, 256, "%s/%s", tmp, name);
    cr_assert(n > 0 && n < 256, "temp path too long: %s/%s", tmp, name);
    return out;
}

/* Line i of x.ini (on line i + 2): "unix:<tmp>/name". */
static void unix_line(size_t i, const char *name)
{
    snprintf(paths[i], sizeof paths[i], "%s", in_tmp(name));
    snprintf(texts[i], sizeof texts[i], "unix:%s", paths[i]);
    specs[i] = (sp__listen){.text = texts[i],
                            .kind = SP__LISTEN_UNIX,
                            .proto = SP__PROTO_HTTP,
                            .path = paths[i],
                            .origin = {"x.ini", (int)i + 2}};
}

/* Line i: 127.0.0.1:port (0: any free port). */
static void tcp_line(size_t i, unsigned short port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&specs[i].addr;

    snprintf(texts[i], sizeof texts[i], "127.0.0.1:%u", port);
    specs[i] = (sp__listen){.text = texts[i],
                            .kind = SP__LISTEN_TCP,
                            .proto = SP__PROTO_HTTP,
                            .addrlen = sizeof(struct sockaddr_in),
                            .origin = {"x.ini", (int)i + 2}};
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Line `from` again as line `to`, with its own copy of the strings. */
static void copy_line(size_t to, size_t from)
{
    memcpy(texts[to], texts[from], sizeof texts[to]);
    memcpy(paths[to], paths[from], sizeof paths[to]);
    specs[to] = specs[from];
    specs[to].text = texts[to];
    specs[to].path = specs[from].path ? paths[to] : NULL;
    specs[to].origin.line = (int)to + 2;
}

static void open_ok(sp__listeners *ls, sp__listeners *old, size_t n)
{
    char err[512] = "";

    cfg.n_listen = n;
    cr_assert_eq(sp__listen_open(ls, old, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ls->n, n);
}

static void unix_sa(struct sockaddr_un *sa, const char *path)
{
    size_t n = strlen(path);

    cr_assert_lt(n, sizeof sa->sun_path, "%s", path);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n + 1);
}

/* A client can connect to the unix socket at path. */
static int answers_unix(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

    cr_assert_geq(fd, 0);
    unix_sa(&sa, path);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return rc;
}

static int answers_tcp(unsigned short port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return rc;
}

static unsigned short port_of(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;

    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* A listening socket the worker can accept from without blocking, and
 * that a program the server execs does not inherit. */
static void assert_listening(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;

    cr_assert_geq(fd, 0);
    cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len), 0);
    cr_assert(on, "fd %d does not listen", fd);
    cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK, "fd %d blocks", fd);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d is inherited across exec", fd);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

Test(listen, every_line_listens_and_answers)
{
    sp__listeners ls;

    unix_line(0, "a.sock");
    tcp_line(1, 0);
    unix_line(2, "u.sock");
    specs[2].proto = SP__PROTO_UWSGI;
    open_ok(&ls, NULL, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_listening(ls.v[i].fd);
        cr_assert_str_eq(ls.v[i].text, texts[i], "listener %zu keeps its line as the key", i);
    }
    cr_assert(ls.v[0].is_unix);
    cr_assert_str_eq(ls.v[0].path, paths[0]);
    cr_assert(answers_unix(paths[0]));
    cr_assert_not(ls.v[1].is_unix);
    cr_assert(answers_tcp(port_of(ls.v[1].fd)));
    cr_assert_eq(ls.v[0].proto, SP__PROTO_HTTP);
    cr_assert_eq(ls.v[2].proto, SP__PROTO_UWSGI, "uwsgi:// must reach the worker");
    sp__listen_close(&ls, 1);
    cr_assert_eq(ls.n, 0);
    cr_assert_not(exists(paths[0]), "closing with unlink_paths leaves the socket file");
}

Test(listen, close_leaves_the_files_unless_asked)
{
    sp__listeners ls;

    unix_line(0, "a.sock");
    open_ok(&ls, NULL, 1);
    sp__listen_close(&ls, 0);
    cr_assert(exists(paths[0]), "a worker closing its copy removed the master's socket file");
    cr_assert_not(answers_unix(paths[0]));
}

/* HUP: a line that stays keeps its socket, so its backlog and the
 * connections waiting in it survive the reload. */
Test(listen, reload_keeps_the_socket_of_a_line_that_stays)
{
    sp__listeners a, b;

    unix_line(0, "a.sock");
    tcp_line(1, 0);
    open_ok(&a, NULL, 2);
    int kept_fd = a.v[1].fd;
    unsigned short port = port_of(kept_fd);

    /* The new config drops a.sock, keeps the TCP line, adds c.sock. */
    copy_line(0, 1);
    unix_line(1, "c.sock");
    open_ok(&b, &a, 2);
    cr_assert_eq(b.v[0].fd, kept_fd, "the surviving line was bound again");
    cr_assert_eq(a.v[1].fd, -1, "the old set still owns the moved socket");
    assert_listening(b.v[1].fd);
    cr_assert(answers_unix(paths[1]));

    /* Retiring the old set closes only what the new one dropped. */
    sp__listen_close(&a, 1);
    cr_assert_not(exists(in_tmp("a.sock")));
    assert_listening(kept_fd);
    cr_assert(answers_tcp(port));
    sp__listen_close(&b, 1);
}

/* A reload whose config cannot be bound leaves the running set exactly as
 * it was: the kept sockets go back, what it bound is closed and removed. */
Test(listen, failed_reload_changes_nothing)
{
    sp__listeners a, b = {0};
    char err[512] = "", want[600];

    unix_line(0, "a.sock");
    unix_line(1, "b.sock");
    open_ok(&a, NULL, 2);
    int a_fd = a.v[0].fd, b_fd = a.v[1].fd;

    copy_line(0, 1);        /* b.sock stays */
    unix_line(1, "c.sock"); /* bound, then undone */
    unix_line(2, "no/such/folder/d.sock");
    cfg.n_listen = 3;
    cr_assert_lt(sp__listen_open(&b, &a, &cfg, err, sizeof err), 0);
    snprintf(want, sizeof want, "x.ini:4: listen: cannot listen on unix:%s: %s", paths[2],
             strerror(ENOENT));
    cr_assert_str_eq(err, want);

    cr_assert_eq(a.v[0].fd, a_fd);
    cr_assert_eq(a.v[1].fd, b_fd, "the kept socket did not go back to the running set");
    assert_listening(b_fd);
    cr_assert(answers_unix(in_tmp("b.sock")));
    cr_assert(answers_unix(in_tmp("a.sock")));
    cr_assert_not(exists(paths[1]), "the failed reload left c.sock behind");
    cr_assert_eq(b.n, 0);
    sp__listen_close(&a, 1);
}

/* A crashed run leaves its socket file; nothing answers there any more, so
 * it is replaced. */
Test(listen, a_stale_socket_file_is_replaced)
{
    sp__listeners ls;
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    unix_line(0, "stale.sock");
    unix_sa(&sa, paths[0]);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd); /* the file stays, refusing connections */
    cr_assert_not(answers_unix(paths[0]));

    open_ok(&ls, NULL, 1);
    assert_listening(ls.v[0].fd);
    cr_assert(answers_unix(paths[0]));
    sp__listen_close(&ls, 1);
}

/* A second server started on the same path must fail, not steal the
 * running server's address by unlinking its socket. */
Test(listen, a_live_socket_is_never_taken_over)
{
    sp__listeners ls = {0};
    struct sockaddr_un sa;
    int live = socket(AF_UNIX, SOCK_STREAM, 0);
    char err[512] = "", want[600];

    unix_line(0, "live.sock");
    unix_sa(&sa, paths[0]);
    cr_assert_eq(bind(live, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(live, 4), 0);

    cfg.n_listen = 1;
    cr_assert_lt(sp__listen_open(&ls, NULL, &cfg, err, sizeof err), 0);
    snprintf(want, sizeof want, "x.ini:2: listen: cannot listen on %s: %s", texts[0],
             strerror(EADDRINUSE));
    cr_assert_str_eq(err, want);
    cr_assert(answers_unix(paths[0]), "the running server lost its socket");
    close(live);
}

Test(listen, a_file_that_is_no_socket_is_never_removed)
{
    sp__listeners ls = {0};
    char err[512] = "", text[16] = "";
    FILE *f;

    unix_line(0, "data.txt");
    f = fopen(paths[0], "w");
    cr_assert_not_null(f);
    fputs("precious", f);
    fclose(f);
    cfg.n_listen = 1;
    cr_assert_lt(sp__listen_open(&ls, NULL, &cfg, err, sizeof err), 0);
    cr_assert(strstr(err, "x.ini:2: listen: cannot listen on ") == err, "%s", err);
    f = fopen(paths[0], "r");
    cr_assert_not_null(f, "the file was removed");
    cr_assert_not_null(fgets(text, sizeof text, f));
    fclose(f);
    cr_assert_str_eq(text, "precious");
}

Test(listen, a_tcp_port_in_use_is_an_error_naming_the_line)
{
    sp__listeners a, b = {0};
    char err[512] = "", want[600];

    tcp_line(0, 0);
    open_ok(&a, NULL, 1);
    tcp_line(0, port_of(a.v[0].fd));
    cfg.n_listen = 1;
    cr_assert_lt(sp__listen_open(&b, NULL, &cfg, err, sizeof err), 0);
    snprintf(want, sizeof want, "x.ini:2: listen: cannot listen on %s: %s", texts[0],
             strerror(EADDRINUSE));
    cr_assert_str_eq(err, want);
    sp__listen_close(&a, 1);
}

/* socket-mode is applied as given, not filtered through the umask. */
Test(listen, socket_mode_is_applied)
{
    static const int modes[] = {0600, 0666, 0660};
    mode_t old = umask(022);

    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        sp__listeners ls;
        struct stat st;
        char name[32];

        snprintf(name, sizeof name, "m%zu.sock", i);
        unix_line(0, name);
        cfg.socket_mode = modes[i];
        open_ok(&ls, NULL, 1);
        cr_assert_eq(stat(paths[0], &st), 0);
        cr_assert_eq(st.st_mode & 0777, (mode_t)modes[i], "mode %o, wanted %o",
                     (unsigned)(st.st_mode & 0777), (unsigned)modes[i]);
        sp__listen_close(&ls, 1);
    }
    umask(old);
}

Test(listen, unix_path_too_long)
{
    sp__listeners ls = {0};
    char err[512] = "", want[600], name[200];

    memset(name, 'p', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    unix_line(0, name);
    cfg.n_listen = 1;
    cr_assert_lt(sp__listen_open(&ls, NULL, &cfg, err, sizeof err), 0);
    snprintf(want, sizeof want, "x.ini:2: listen: unix socket path too long: %s", paths[0]);
    cr_assert_str_eq(err, want);
}
