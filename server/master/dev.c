/*
 * dev.c - "spindle dev [server.ini]": serve, and on every save rebuild the
 * module and reload the workers (docs/tutorial.md, "The dev loop").
 *
 * The project is the ini file's folder (--project moves it), its build
 * folder PROJECT/build (--build-dir).  spindle dev runs the server as a
 * child (the same binary, with the ini and the other arguments) and
 * watches, with inotify:
 *
 *   - sources under the project (C and C++ sources and headers,
 *     CMakeLists.txt, *.cmake): rebuild with the project's own
 *     "cmake --build", then reload;
 *   - ini files under the project, and the server.ini wherever it is:
 *     reload (the master re-reads them; a config that does not load is
 *     refused and the old workers keep serving);
 *   - Python files under the project: reload (the wsgi module imports the
 *     application again in the new workers);
 *   - the module files server.ini names, in their folders: reload (a build
 *     made by hand, in another shell).
 *
 * A build's output goes to the terminal in full; a failed build reloads
 * nothing, so the old code keeps serving.  A module the ini names outside
 * the build folder is installed from the build folder's file of the same
 * name: written beside it, then renamed over it.  The reload is the
 * master's own graceful one (HUP).  Changes are taken together until the
 * files have been quiet for DEBOUNCE_MS, so an editor's save (often a
 * write, a rename and a chmod) is one rebuild.
 *
 * The server runs with preload off whatever the ini says (a preloaded
 * master keeps the code it loaded at start across reloads).
 *
 * Ctrl-C (INT) or TERM stops the server gracefully and then spindle dev.
 * If the server exits by itself (a config that does not load at start),
 * spindle dev waits for the next change and starts it again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "server/master/dev.h"

#define EX_USAGE     64
#define EX_NOINPUT   66
#define DEBOUNCE_MS  150
#define DEBOUNCE_MAX 2000
#define MAX_WATCHES  1024
#define MAX_MODULES  64
#define STOP_WAIT_S  60

enum { CHANGE_NONE = 0, CHANGE_RELOAD = 1, CHANGE_BUILD = 2 };

static struct dev {
    char ini[PATH_MAX];
    char project[PATH_MAX];
    char build[PATH_MAX];
    char self[PATH_MAX];
    bool cmake; /* PROJECT/CMakeLists.txt exists */
    char **server_args;
    int n_server_args;
    int ino, sigfd;
    pid_t server;
    struct {
        int wd;
        char *path;
    } watches[MAX_WATCHES];
    int n_watches;
    char *modules[MAX_MODULES]; /* absolute paths the ini names */
    int n_modules;
} dev;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spindle dev: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spindle dev [server.ini] [--project DIR] [--build-dir DIR] [--KEY VALUE ...]\n"
            "  Serve server.ini (default ./server.ini) and, on every save, rebuild the\n"
            "  module (cmake --build of the project's build folder) and reload the workers.\n"
            "  The project is the ini's folder unless --project says otherwise; its build\n"
            "  folder is PROJECT/build unless --build-dir does.  Other options go to the\n"
            "  server.  A failed build is printed and the running code keeps serving.\n");
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* ---- children ------------------------------------------------------------ */

/* In a child: the default signal mask and dispositions back. */
static void child_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Run argv in the project folder, output to the terminal; its exit status
 * (-1 if it could not run). */
static int run_tool(char *const argv[])
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        child_signals();
        if (chdir(dev.project) != 0)
            _exit(127);
        execvp(argv[0], argv);
        fprintf(stderr, "spindle dev: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Configure (once) and build the project; true when it built. */
static bool build(void)
{
    if (!dev.cmake)
        return true;
    char cache[PATH_MAX + 32];
    snprintf(cache, sizeof(cache), "%s/CMakeCache.txt", dev.build);
    if (access(cache, F_OK) != 0) {
        char *conf[] = {"cmake", "-S", dev.project, "-B", dev.build, NULL};
        if (run_tool(conf) != 0) {
            say("cmake could not configure %s (above)", dev.build);
            return false;
        }
    }
    char *argv[] = {"cmake", "--build", dev.build, NULL};
    int64_t t0 = now_ms();
    int rc = run_tool(argv);
    if (rc != 0) {
        say("the build failed (above); the running code keeps serving");
        return false;
    }
    say("built in %lld ms", (long long)(now_ms() - t0));
    return true;
}

static void start_server(void)
{
    int argc = 3 + dev.n_server_args;
    char **argv = calloc((size_t)argc + 1, sizeof(*argv));
    if (argv == NULL)
        return;
    argv[0] = "spindle";
    argv[1] = dev.ini;
    for (int i = 0; i < dev.n_server_args; i++)
        argv[2 + i] = dev.server_args[i];
    /* Last, so it wins: a preloaded master would hand every reload the
     * code it loaded at start, and a save would change nothing. */
    argv[argc - 1] = "--preload=false";
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        child_signals();
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive spindle dev */
        execv(dev.self, argv);
        fprintf(stderr, "spindle dev: cannot run %s: %s\n", dev.self, strerror(errno));
        _exit(127);
    }
    free(argv);
    if (pid < 0) {
        say("cannot start the server: %s", strerror(errno));
        return;
    }
    dev.server = pid;
    say("serving %s (pid %d); watching %s", dev.ini, (int)pid, dev.project);
}

/* The server's exit, if it has exited; prints why. */
static void reap(void)
{
    int status;
    if (dev.server <= 0 || waitpid(dev.server, &status, WNOHANG) != dev.server)
        return;
    dev.server = 0;
    if (WIFEXITED(status))
        say("the server exited with status %d; it starts again at the next change",
            WEXITSTATUS(status));
    else
        say("the server was killed by signal %d; it starts again at the next change",
            WTERMSIG(status));
}

static int stop_server(void)
{
    if (dev.server <= 0)
        return 0;
    kill(dev.server, SIGTERM);
    int status = 0;
    for (int i = 0; i < STOP_WAIT_S * 10; i++) {
        pid_t r = waitpid(dev.server, &status, WNOHANG);
        if (r == dev.server || (r < 0 && errno != EINTR)) {
            dev.server = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        }
        usleep(100 * 1000);
    }
    kill(dev.server, SIGKILL);
    waitpid(dev.server, &status, 0);
    dev.server = 0;
    return 1;
}

/* ---- the modules server.ini names ------------------------------------------ */

static void read_modules(void)
{
    for (int i = 0; i < dev.n_modules; i++)
        free(dev.modules[i]);
    dev.n_modules = 0;
    sp__config *cfg = calloc(1, sizeof(*cfg));
    char err[512];
    if (cfg == NULL)
        return;
    if (sp__config_load_file(cfg, dev.ini, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < cfg->n_modules && dev.n_modules < MAX_MODULES; i++)
            if (strchr(cfg->modules[i].value, '/')) /* a file, not a built-in's name */
                dev.modules[dev.n_modules++] = strdup(cfg->modules[i].value);
        sp__config_free(cfg);
    }
    free(cfg);
}

/* A module outside the build folder gets the build's file of the same
 * name, written beside it and renamed over it, so a worker starting at
 * that moment copies either the old file or the new one, never a part. */
static void install_modules(void)
{
    for (int i = 0; i < dev.n_modules; i++) {
        const char *dst = dev.modules[i], *base = strrchr(dst, '/') + 1;
        char src[PATH_MAX * 2], tmp[PATH_MAX + 32];
        struct stat s, d;
        if (under(dst, dev.build))
            continue; /* the build wrote it in place */
        snprintf(src, sizeof(src), "%s/%s", dev.build, base);
        if (stat(src, &s) != 0)
            continue;
        if (stat(dst, &d) == 0 && d.st_mtim.tv_sec == s.st_mtim.tv_sec &&
            d.st_mtim.tv_nsec == s.st_mtim.tv_nsec && d.st_size == s.st_size)
            continue;
        snprintf(tmp, sizeof(tmp), "%s.dev-%d", dst, (int)getpid());
        int in = open(src, O_RDONLY | O_CLOEXEC);
        int out = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        off_t off = 0;
        bool ok = out >= 0;
        while (ok && off < s.st_size) {
            ssize_t n = sendfile(out, in, &off, (size_t)(s.st_size - off));
            ok = n > 0;
        }
        ok = ok && fsync(out) == 0;
        if (out >= 0 && close(out) != 0)
            ok = false;
        if (in >= 0)
            close(in);
        struct timespec times[2] = {s.st_atim, s.st_mtim};
        if (ok && utimensat(AT_FDCWD, tmp, times, 0) == 0 && rename(tmp, dst) == 0) {
            say("installed %s as %s", src, dst);
        } else {
            say("cannot install %s as %s: %s", src, dst, strerror(errno));
            unlink(tmp);
        }
    }
}

/* ---- watching ---------------------------------------------------------------- */

static const char *watched_path(int wd)
{
    for (int i = 0; i < dev.n_watches; i++)
        if (dev.watches[i].wd == wd)
            return dev.watches[i].path;
    return NULL;
}

static void watch_dir(const char *dir)
{
    if (dev.n_watches >= MAX_WATCHES)
        return;
    int wd = inotify_add_watch(dev.ino, dir,
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                   IN_DELETE | IN_ONLYDIR);
    if (wd < 0)
        return;
    if (watched_path(wd) != NULL)
        return; /* already watched (the same folder by another name) */
    dev.watches[dev.n_watches].wd = wd;
    dev.watches[dev.n_watches].path = strdup(dir);
    dev.n_watches++;
}

/* dir and every folder under it but hidden ones and the build folder. */
static void watch_tree(const char *dir, int depth)
{
    if (depth > 16 || under(dir, dev.build))
        return;
    watch_dir(dir);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char sub[PATH_MAX];
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        if (snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) < (int)sizeof(sub))
            watch_tree(sub, depth + 1);
    }
    closedir(d);
}

static void watch_all(void)
{
    watch_tree(dev.project, 0);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", dev.ini);
    *strrchr(dir, '/') = '\0';
    watch_dir(dir);
    for (int i = 0; i < dev.n_modules; i++) {
        snprintf(dir, sizeof(dir), "%s", dev.modules[i]);
        *strrchr(dir, '/') = '\0';
        watch_dir(dir);
    }
}

static bool is_source(const char *name)
{
    static const char *const tails[] = {".c",   ".h",   ".cc",  ".cpp", ".cxx",
                                        ".hh",  ".hpp", ".hxx", ".inc", ".cmake",
                                        ".def", ".S",   ".s",   ".map", NULL};
    if (strcmp(name, "CMakeLists.txt") == 0)
        return true;
    for (int i = 0; tails[i]; i++)
        if (ends_with(name, tails[i]))
            return true;
    return false;
}

/* What a change to dir/name asks for. */
static int classify(const char *dir, const char *name, uint32_t mask, char *what, size_t cap)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((mask & IN_ISDIR) && (mask & (IN_CREATE | IN_MOVED_TO)) && name[0] != '.') {
        watch_tree(path, 1);
        return CHANGE_NONE;
    }
    for (int i = 0; i < dev.n_modules; i++)
        if (strcmp(path, dev.modules[i]) == 0) {
            snprintf(what, cap, "%s", path);
            return CHANGE_RELOAD;
        }
    if (under(path, dev.build) || name[0] == '.')
        return CHANGE_NONE;
    if (strcmp(path, dev.ini) == 0 ||
        (under(path, dev.project) && (ends_with(name, ".ini") || ends_with(name, ".py")))) {
        snprintf(what, cap, "%s", path);
        return CHANGE_RELOAD;
    }
    if (dev.cmake && under(path, dev.project) && is_source(name)) {
        snprintf(what, cap, "%s", path);
        return CHANGE_BUILD;
    }
    return CHANGE_NONE;
}

/* Read what inotify has; the strongest change seen, its path in what. */
static int read_changes(char *what, size_t cap)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int change = CHANGE_NONE;
    for (;;) {
        ssize_t n = read(dev.ino, buf, sizeof(buf));
        if (n <= 0)
            return change;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            const char *dir = watched_path(e->wd);
            char one[PATH_MAX * 2];
            if (dir && e->len > 0) {
                int c = classify(dir, e->name, e->mask, one, sizeof(one));
                if (c > change) {
                    change = c;
                    snprintf(what, cap, "%s", one);
                }
            }
            p += sizeof(*e) + e->len;
        }
    }
}

/* After a first change: keep reading until quiet for DEBOUNCE_MS. */
static int settle(int change, char *what, size_t cap)
{
    int64_t end = now_ms() + DEBOUNCE_MAX;
    for (;;) {
        struct pollfd p = {.fd = dev.ino, .events = POLLIN};
        int left = (int)(end - now_ms());
        if (left <= 0 || poll(&p, 1, left < DEBOUNCE_MS ? left : DEBOUNCE_MS) <= 0)
            return change;
        char one[PATH_MAX * 2] = "";
        int c = read_changes(one, sizeof(one));
        if (c > change) {
            change = c;
            snprintf(what, cap, "%s", one);
        }
    }
}

/* Build if asked, then reload (or start) the server. */
static void act(int change, const char *what)
{
    say("%s changed", what);
    if (change == CHANGE_BUILD && !build())
        return;
    read_modules();
    watch_all();
    install_modules();
    /* What the build and the install wrote (the .so) is not a change, nor
     * an ini or Python file saved meanwhile (the reload below reads them);
     * a source saved meanwhile is, and comes round again. */
    char later[PATH_MAX * 2] = "";
    int again = read_changes(later, sizeof(later));
    if (again == CHANGE_BUILD) {
        act(settle(again, later, sizeof(later)), later);
        return;
    }
    reap(); /* it may have stopped meanwhile: then start it, not reload it */
    if (dev.server > 0) {
        say("reloading the workers");
        kill(dev.server, SIGHUP);
    } else {
        start_server();
    }
}

/* ---- main -------------------------------------------------------------------- */

static int parse(int argc, char **argv)
{
    const char *ini = NULL, *project = NULL, *build_dir = NULL;
    dev.server_args = calloc((size_t)argc + 1, sizeof(char *));
    if (dev.server_args == NULL)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--project") == 0 || strcmp(a, "--build-dir") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "spindle dev: %s needs a folder\n", a);
                return EX_USAGE;
            }
            *(a[2] == 'p' ? &project : &build_dir) = argv[++i];
        } else if (i == 0 && a[0] != '-') {
            ini = a; /* the ini comes first, or is ./server.ini */
        } else {
            dev.server_args[dev.n_server_args++] = argv[i];
        }
    }
    if (ini == NULL)
        ini = "server.ini";
    if (realpath(ini, dev.ini) == NULL) {
        fprintf(stderr, "spindle dev: %s: %s\n", ini, strerror(errno));
        usage(stderr);
        return EX_NOINPUT;
    }
    if (project) {
        if (realpath(project, dev.project) == NULL) {
            fprintf(stderr, "spindle dev: --project %s: %s\n", project, strerror(errno));
            return EX_NOINPUT;
        }
    } else {
        snprintf(dev.project, sizeof(dev.project), "%s", dev.ini);
        *strrchr(dev.project, '/') = '\0';
        if (dev.project[0] == '\0')
            strcpy(dev.project, "/");
    }
    if (build_dir && build_dir[0] == '/')
        snprintf(dev.build, sizeof(dev.build), "%s", build_dir);
    else if (build_dir) {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return 1;
        snprintf(dev.build, sizeof(dev.build), "%.*s/%s", PATH_MAX / 2, cwd, build_dir);
    } else
        snprintf(dev.build, sizeof(dev.build), "%.*s/build", PATH_MAX - 8, dev.project);
    char cml[PATH_MAX + 32];
    snprintf(cml, sizeof(cml), "%s/CMakeLists.txt", dev.project);
    dev.cmake = access(cml, F_OK) == 0;
    ssize_t n = readlink("/proc/self/exe", dev.self, sizeof(dev.self) - 1);
    if (n <= 0)
        return 1;
    dev.self[n] = '\0';
    return 0;
}

int sp__dev_main(int argc, char **argv)
{
    int rc = parse(argc, argv);
    if (rc != 0)
        return rc;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    dev.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    dev.ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (dev.sigfd < 0 || dev.ino < 0) {
        fprintf(stderr, "spindle dev: %s\n", strerror(errno));
        return 1;
    }
    if (dev.cmake)
        say("project %s, build folder %s", dev.project, dev.build);
    else
        say("no CMakeLists.txt in %s: reloading on changes, building nothing", dev.project);
    read_modules();
    watch_all();
    build(); /* a failed first build is printed; the server may still start */
    install_modules();
    read_changes((char[8]){0}, 8); /* what the build and the install wrote */
    start_server();

    for (;;) {
        struct pollfd p[2] = {{.fd = dev.sigfd, .events = POLLIN},
                              {.fd = dev.ino, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 1;
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(dev.sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) {
                    reap();
                } else if (si.ssi_signo == SIGHUP) {
                    act(CHANGE_BUILD, "SIGHUP: everything");
                } else {
                    say("stopping");
                    return stop_server() == 0 ? 0 : 1;
                }
            }
        }
        if (p[1].revents & POLLIN) {
            char what[PATH_MAX * 2] = "";
            int change = read_changes(what, sizeof(what));
            if (change != CHANGE_NONE)
                act(settle(change, what, sizeof(what)), what);
        }
    }
}
