/*
 * ini.c - the server.ini reader (syntax only; see ini.h for the contract).
 *
 * Files are read line by line with getline, so a line has no length limit
 * and an error can always name file:line.  Includes recurse; the files
 * being read are kept as (dev, inode) pairs so that a file including itself,
 * however indirectly and whatever path spells it, is caught at once rather
 * than after SP__INI_MAX_DEPTH rounds.
 */
#include "conf/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

struct reader {
    sp__ini_fn fn;
    void *ctx;
    char *err;
    size_t errlen;
    int depth;
    struct {
        dev_t dev;
        ino_t ino;
    } open[SP__INI_MAX_DEPTH];
};

/* One file being read. */
struct frame {
    const char *file; /* as named in messages */
    char *dir;        /* absolute folder, for relative paths */
    char *section;    /* current section, owned; NULL before any */
    int line;
};

/* A growing string for $(VAR) expansion. */
struct buf {
    char *p;
    size_t len, cap;
};

void sp__ini_error(char *err, size_t errlen, const char *file, int line, const char *what,
                   const char *fmt, ...)
{
    va_list ap;
    int n;

    if (errlen == 0)
        return;
    if (line > 0)
        n = snprintf(err, errlen, "%s:%d: %s: ", file, line, what);
    else
        n = snprintf(err, errlen, "%s: %s: ", file, what);
    if (n >= 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* A value may come from the environment and hold a newline; the
     * promise is one line, so fold any into spaces. */
    for (char *c = err; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

char *sp__path_join(const char *dir, const char *rel)
{
    size_t dl = strlen(dir);
    char *out;

    if (rel[0] == '/')
        return strdup(rel);
    /* Folding ".." is only right against a canonical absolute folder. */
    while (dir[0] == '/') {
        if (rel[0] == '.' && (rel[1] == '/' || rel[1] == '\0')) {
            rel += 1;
        } else if (rel[0] == '.' && rel[1] == '.' && (rel[2] == '/' || rel[2] == '\0')) {
            while (dl > 1 && dir[dl - 1] != '/')
                dl--;
            if (dl > 1)
                dl--;
            rel += 2;
        } else {
            break;
        }
        while (*rel == '/')
            rel++;
    }
    out = malloc(dl + strlen(rel) + 2);
    if (!out)
        return NULL;
    memcpy(out, dir, dl);
    out[dl] = '\0';
    if (*rel) {
        if (dl == 0 || out[dl - 1] != '/')
            strcat(out, "/");
        strcat(out, rel);
    }
    return out;
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return SP_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int error_at(struct reader *r, const struct frame *f, const char *what, const char *msg)
{
    sp__ini_error(r->err, r->errlen, f->file, f->line, what, "%s", msg);
    return SP_EINVAL;
}

static int valid_var_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* One "$(NAME)" at in (which starts with "$("): append its value to b and
 * return how many bytes of in it took, or 0 after writing an error. */
static size_t expand_one(struct reader *r, const struct frame *f, const char *key, const char *in,
                         struct buf *b)
{
    const char *close = strchr(in + 2, ')');
    size_t n = close ? (size_t)(close - in - 2) : 0;
    char name[256];
    const char *val;

    if (!close) {
        sp__ini_error(r->err, r->errlen, f->file, f->line, key, "unterminated $( in '%.80s'", in);
        return 0;
    }
    if (!valid_var_name(in + 2, n) || n >= sizeof name) {
        sp__ini_error(r->err, r->errlen, f->file, f->line, key,
                      "'%.*s' is not an environment variable reference (accepted: $(NAME))",
                      (int)(n + 3 > 80 ? 80 : n + 3), in);
        return 0;
    }
    memcpy(name, in + 2, n);
    name[n] = '\0';
    val = getenv(name);
    if (!val) {
        sp__ini_error(r->err, r->errlen, f->file, f->line, key,
                      "environment variable %s is not set", name);
        return 0;
    }
    if (buf_put(b, val, strlen(val))) {
        error_at(r, f, key, "out of memory");
        return 0;
    }
    return n + 3;
}

/* Expand every $(VAR) in in; the result is malloc'd into *out. */
static int expand(struct reader *r, const struct frame *f, const char *key, const char *in,
                  char **out)
{
    struct buf b = {0};

    if (buf_put(&b, "", 0))
        return error_at(r, f, key, "out of memory");
    while (*in) {
        const char *dollar = strstr(in, "$(");
        size_t plain = dollar ? (size_t)(dollar - in) : strlen(in);
        size_t took;

        if (buf_put(&b, in, plain))
            goto nomem;
        in += plain;
        if (!dollar)
            break;
        took = expand_one(r, f, key, in, &b);
        if (took == 0)
            goto fail;
        in += took;
    }
    *out = b.p;
    return 0;
nomem:
    error_at(r, f, key, "out of memory");
fail:
    free(b.p);
    return SP_EINVAL;
}

static int read_file(struct reader *r, const char *path, const char *section,
                     const struct frame *from);

/* The include's path as it will be named: beside the including file. */
static char *include_path(const char *file, const char *rel)
{
    const char *slash = strrchr(file, '/');
    size_t dl = slash ? (size_t)(slash - file + 1) : 0;
    char *out;

    if (rel[0] == '/' || dl == 0)
        return strdup(rel);
    out = malloc(dl + strlen(rel) + 1);
    if (!out)
        return NULL;
    memcpy(out, file, dl);
    strcpy(out + dl, rel);
    return out;
}

static int do_include(struct reader *r, struct frame *f, const char *value)
{
    char *path;
    int rc;

    if (!*value)
        return error_at(r, f, "include",
                        "needs a file name (accepted: a path, relative to "
                        "this file's folder)");
    path = include_path(f->file, value);
    if (!path)
        return error_at(r, f, "include", "out of memory");
    rc = read_file(r, path, f->section, f);
    free(path);
    return rc;
}

static int on_header(struct reader *r, struct frame *f, char *s)
{
    size_t n = strlen(s);
    char *name, *copy;
    sp__ini_line l;

    if (s[n - 1] != ']')
        return error_at(r, f, s,
                        "a section header ends with ']' (accepted: [server], [app], "
                        "[module:NAME])");
    s[n - 1] = '\0';
    name = trim(s + 1);
    if (!*name)
        return error_at(r, f, "[]",
                        "empty section name (accepted: [server], [app], "
                        "[module:NAME])");
    copy = strdup(name);
    if (!copy)
        return error_at(r, f, name, "out of memory");
    free(f->section);
    f->section = copy;
    l = (sp__ini_line){f->section, NULL, NULL, f->file, f->dir, f->line};
    return r->fn(r->ctx, &l, r->err, r->errlen);
}

static int on_key(struct reader *r, struct frame *f, const char *key, const char *value)
{
    sp__ini_line l = {f->section, key, value, f->file, f->dir, f->line};

    if (strcmp(key, "include") == 0)
        return do_include(r, f, value);
    if (!f->section)
        return error_at(r, f, key,
                        "comes before any section (accepted: a key under [server], "
                        "[app] or [module:NAME])");
    return r->fn(r->ctx, &l, r->err, r->errlen);
}

/* A line of a section that is not key = value ([cron]): handed over whole,
 * $(VAR) expanded, with an empty key. */
static int on_raw(struct reader *r, struct frame *f, const char *s)
{
    char *value;
    int rc;

    if (expand(r, f, f->section, s, &value))
        return SP_EINVAL;
    rc = on_key(r, f, "", value);
    free(value);
    return rc;
}

static int handle_line(struct reader *r, struct frame *f, char *text)
{
    char *s = trim(text), *eq, *key, *value;
    const char *raw = "true"; /* a bare key */
    int rc;

    if (*s == '\0' || *s == ';' || *s == '#')
        return 0;
    if (*s == '[')
        return on_header(r, f, s);
    if (f->section && strcmp(f->section, "cron") == 0 && strncmp(s, "include", 7) != 0)
        return on_raw(r, f, s);
    eq = strchr(s, '=');
    if (eq) {
        *eq = '\0';
        raw = trim(eq + 1);
    }
    key = trim(s);
    if (!*key)
        return error_at(r, f, "=", "a line starting with '=' has no key (accepted: key = value)");
    if (strpbrk(key, " \t"))
        return error_at(r, f, key, "a key has no spaces (accepted: key = value)");
    if (expand(r, f, key, raw, &value))
        return SP_EINVAL;
    rc = on_key(r, f, key, value);
    free(value);
    return rc;
}

static int read_lines(struct reader *r, FILE *fp, struct frame *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    errno = 0;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        char *s = line;

        f->line++;
        /* Editors on some systems start the file with a UTF-8 BOM. */
        if (f->line == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
            s += 3;
        if (handle_line(r, f, s)) {
            rc = -1;
            break;
        }
        errno = 0;
    }
    if (rc == 0 && ferror(fp)) {
        sp__ini_error(r->err, r->errlen, f->file, f->line > 0 ? f->line + 1 : 0, "cannot read",
                      "%s", strerror(errno ? errno : EIO));
        rc = -1;
    }
    free(line);
    return rc;
}

static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;

    if (!slash)
        return realpath(".", NULL);
    if (slash == path)
        return strdup("/");
    dir = strndup(path, (size_t)(slash - path));
    if (dir) {
        char *real = realpath(dir, NULL);
        free(dir);
        dir = real;
    }
    return dir;
}

static int open_error(struct reader *r, const char *path, const struct frame *from, int e);

/* Note the open file (catching cycles and runaway nesting). */
static int enter(struct reader *r, FILE *fp, const char *path, const struct frame *from)
{
    struct stat st;

    if (fstat(fileno(fp), &st) != 0)
        return open_error(r, path, from, errno);
    for (int i = 0; i < r->depth; i++) {
        if (r->open[i].dev == st.st_dev && r->open[i].ino == st.st_ino) {
            sp__ini_error(r->err, r->errlen, from->file, from->line, "include",
                          "include cycle: %s is already being read", path);
            return SP_EINVAL;
        }
    }
    if (r->depth == SP__INI_MAX_DEPTH) {
        sp__ini_error(r->err, r->errlen, from->file, from->line, "include",
                      "includes nest deeper than %d", SP__INI_MAX_DEPTH);
        return SP_EINVAL;
    }
    r->open[r->depth].dev = st.st_dev;
    r->open[r->depth].ino = st.st_ino;
    r->depth++;
    return 0;
}

static int open_error(struct reader *r, const char *path, const struct frame *from, int e)
{
    if (from)
        sp__ini_error(r->err, r->errlen, from->file, from->line, "include", "cannot open %s: %s",
                      path, strerror(e));
    else
        sp__ini_error(r->err, r->errlen, path, 0, "cannot open", "%s", strerror(e));
    return e == ENOENT ? SP_ENOENT : SP_EIO;
}

static int read_file(struct reader *r, const char *path, const char *section,
                     const struct frame *from)
{
    struct frame f = {.file = path};
    FILE *fp = fopen(path, "r");
    int rc = SP_EINVAL;

    if (!fp)
        return open_error(r, path, from, errno);
    if ((rc = enter(r, fp, path, from)) != 0) {
        fclose(fp);
        return rc;
    }
    f.dir = folder_of(path);
    f.section = section ? strdup(section) : NULL;
    if (!f.dir || (section && !f.section))
        open_error(r, path, from, f.dir ? ENOMEM : errno);
    else
        rc = read_lines(r, fp, &f);
    r->depth--;
    free(f.dir);
    free(f.section);
    fclose(fp);
    return rc;
}

int sp__ini_read(const char *path, sp__ini_fn fn, void *ctx, char *err, size_t errlen)
{
    struct reader r = {.fn = fn, .ctx = ctx, .err = err, .errlen = errlen};

    if (errlen)
        err[0] = '\0';
    return read_file(&r, path, NULL, NULL);
}
