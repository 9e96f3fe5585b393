/*
 * new.c - "spindle new NAME [DIR]": a module project that builds and
 * passes its own test right after it is made (conf/new/ holds the files;
 * docs/tutorial.md walks through them).
 *
 * NAME must be a C identifier (it names the module, its .so, its
 * [module:NAME] section and its middleware) and not the name of a built-in
 * module.  DIR (default ./NAME) must not exist or be an empty folder: an
 * existing project is never written over.  Exit codes follow sysexits.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "middleware/builtin.h"
#include "server/master/new.h"

#define EX_USAGE     64
#define EX_CANTCREAT 73
#define NAME_MAX_LEN 64
#define MADE_MAX     64

static void usage(FILE *out)
{
    fprintf(out, "usage: spindle new NAME [DIR]\n"
                 "  Make a module project in DIR (default ./NAME): NAME.c with a JSON route, a\n"
                 "  path parameter, a POST, a middleware and a background task; CMakeLists.txt\n"
                 "  (find_package(spindle)); server.ini; a test ctest runs; a README.\n"
                 "  NAME is a C identifier; DIR must not exist or be empty.\n");
}

/* NULL when name can name a module, else why not. */
static const char *name_problem(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return "it is empty";
    if (n > NAME_MAX_LEN)
        return "it is longer than 64 characters";
    if (!isalpha((unsigned char)name[0]) && name[0] != '_')
        return "a C identifier starts with a letter or '_'";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return "a C identifier holds only letters, digits and '_'";
    /* target names CMake keeps for itself (the module is a target) */
    static const char cmake_names[] = "|all|clean|help|install|test|package|package_source|"
                                      "edit_cache|rebuild_cache|depend|Continuous|"
                                      "Experimental|Nightly|NightlyMemoryCheck|";
    char probe[NAME_MAX_LEN + 3];
    snprintf(probe, sizeof(probe), "|%s|", name);
    if (strstr(cmake_names, probe))
        return "CMake keeps that target name for itself";
    for (size_t i = 0; i < sp__builtin_count; i++)
        if (strcmp(name, sp__builtin_modules[i]->name) == 0)
            return "a built-in module has that name";
    return NULL;
}

/* 0 if dir is absent or an empty folder; else EX_CANTCREAT, said on stderr. */
static int check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "spindle new: %s: %s\n", dir, strerror(errno));
        return EX_CANTCREAT;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "spindle new: %s exists and is not a folder; name a new one\n", dir);
        return EX_CANTCREAT;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "spindle new: %s: %s\n", dir, strerror(errno));
        return EX_CANTCREAT;
    }
    bool empty = true;
    for (struct dirent *e; empty && (e = readdir(d)) != NULL;)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    if (!empty) {
        fprintf(stderr,
                "spindle new: %s exists and is not empty; a project is never written over "
                "(name a new or empty folder)\n",
                dir);
        return EX_CANTCREAT;
    }
    return 0;
}

/* What was made, undone in reverse if a later step fails. */
static char *made[MADE_MAX];
static size_t made_n;

static void note_made(const char *path)
{
    if (made_n < MADE_MAX)
        made[made_n++] = strdup(path);
}

static void undo_made(void)
{
    while (made_n > 0) {
        char *p = made[--made_n];
        if (p && unlink(p) != 0)
            rmdir(p); /* a folder this run made */
        free(p);
    }
}

static void forget_made(void)
{
    while (made_n > 0)
        free(made[--made_n]);
}

/* mkdir -p path; each folder made is noted.  0 or -1 (errno set). */
static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, 0755) == 0)
                note_made(buf);
            else if (errno != EEXIST)
                return -1;
            if (end)
                return 0;
            *p = '/';
        }
    }
}

/* The project path of template path tpl: ".in" dropped, NAME read as
 * name, a leading "dot." (of the last part) as ".". */
static void out_path(const char *tpl, const char *name, char *out, size_t cap)
{
    size_t o = 0, n = strlen(tpl) - 3; /* without ".in" */
    const char *base = strrchr(tpl, '/');
    base = base ? base + 1 : tpl;
    for (size_t i = 0; i < n && o + 1 < cap;) {
        if (tpl + i == base && strncmp(tpl + i, "dot.", 4) == 0) {
            out[o++] = '.';
            i += 4;
        } else if (strncmp(tpl + i, "NAME", 4) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", name);
            o = o < cap ? o : cap - 1;
            i += 4;
        } else {
            out[o++] = tpl[i++];
        }
    }
    out[o] = '\0';
}

/* Write the template's bytes with "@NAME@" replaced; 0 or -1 (errno). */
static int write_template(const char *path, const sp__template *t, const char *name)
{
    bool script = t->len > 2 && t->data[0] == '#' && t->data[1] == '!';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, script ? 0755 : 0644);
    if (fd < 0)
        return -1;
    note_made(path);
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return -1;
    }
    const char *p = (const char *)t->data, *end = p + t->len;
    while (p < end) {
        const char *at = memmem(p, (size_t)(end - p), "@NAME@", 6);
        size_t run = at ? (size_t)(at - p) : (size_t)(end - p);
        fwrite(p, 1, run, f);
        if (at == NULL)
            break;
        fputs(name, f);
        p = at + 6;
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return -1;
    return 0;
}

int sp__new_main(int argc, char **argv)
{
    if (argc >= 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 1 || argc > 2 || argv[0][0] == '-' || (argc == 2 && argv[1][0] == '\0')) {
        usage(stderr);
        return EX_USAGE;
    }
    const char *name = argv[0], *dir = argc == 2 ? argv[1] : argv[0];
    const char *why = name_problem(name);
    if (why) {
        fprintf(stderr,
                "spindle new: '%s' cannot name a module: %s (it becomes the C module name, "
                "%s.so and [module:%s])\n",
                name, why, name, name);
        return EX_USAGE;
    }
    int rc = check_dir(dir);
    if (rc != 0)
        return rc;
    char path[4096], rel[1024];
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "spindle new: cannot make %s: %s\n", dir, strerror(errno));
        undo_made();
        return EX_CANTCREAT;
    }
    for (size_t i = 0; i < sp__new_template_count; i++) {
        const sp__template *t = &sp__new_templates[i];
        out_path(t->path, name, rel, sizeof(rel));
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        int ok = make_dirs(path);
        *slash = '/';
        if (ok != 0 || write_template(path, t, name) != 0) {
            fprintf(stderr, "spindle new: cannot write %s: %s (nothing was left behind)\n", path,
                    strerror(errno));
            undo_made();
            return EX_CANTCREAT;
        }
    }
    forget_made();
    printf("spindle new: made the module project %s in %s/\n"
           "next:\n"
           "  cd %s\n"
           "  cmake -B build && cmake --build build      # build/%s.so\n"
           "  ctest --test-dir build --output-on-failure # boot spindle on it, check each route\n"
           "  spindle dev server.ini                     # serve 127.0.0.1:8000, reload on save\n",
           name, dir, dir, name);
    return 0;
}
