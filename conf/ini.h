/*
 * ini.h - the server.ini reader: lines in, (section, key, value, origin) out.
 *
 * The reader knows the syntax and nothing about spindle's keys: comments,
 * [section] headers, key = value, bare keys, $(VAR) expansion and
 * include = FILE.  Every other line is handed to a callback, which owns the
 * meaning (options.c turns them into sp__config).  Keeping the two apart
 * lets the syntax be tested on its own and keeps the option table the one
 * place that knows what a key means.
 *
 * Lines of a [cron] section are schedules, not key = value: each is handed
 * over whole as the value, with an empty key (include still works there).
 *
 * include reads another file in place, relative to the including file's
 * folder.  The included file starts in the includer's current section, and
 * a section header inside it does not leak back out: after the include the
 * includer's section is in force again.
 */
#ifndef SPINDLE_CONF_INI_H
#define SPINDLE_CONF_INI_H

#include <stddef.h>

#include "spindle/spindle.h"

/* How deep include may nest; deeper (or a file including itself) is an error. */
#define SP__INI_MAX_DEPTH 16

typedef struct sp__ini_line {
    const char *section; /* "server", "module:x"; NULL before the first header */
    const char *key;     /* NULL when the line is a section header */
    const char *value;   /* $(VAR) expanded; "true" for a bare key; NULL for a header */
    const char *file;    /* the file as named in messages ("conf/server.ini") */
    const char *dir;     /* that file's folder, absolute: where relative paths start */
    int line;            /* 1-based */
} sp__ini_line;

/* Called for each section header and each key line other than include.
 * Everything it is given is borrowed for the call only.  Returns 0 to go on,
 * or -1 after writing one error line into err. */
typedef int (*sp__ini_fn)(void *ctx, const sp__ini_line *line, char *err, size_t errlen);

/* Read path and its includes, calling fn for each line in order.  Returns 0,
 * or -1 with one line (no newline) in err: the reader's own errors (cannot
 * open, syntax, unset variable, include cycle) or fn's. */
int sp__ini_read(const char *path, sp__ini_fn fn, void *ctx, char *err, size_t errlen);

/* Write "FILE:LINE: WHAT: " and the printf-formatted problem into err; a
 * line of 0 leaves ":LINE" out.  The one place the error format lives. */
void sp__ini_error(char *err, size_t errlen, const char *file, int line, const char *what,
                   const char *fmt, ...) SP_PRINTF(6, 7);

/* Join a folder and a relative path, folding leading "./" and "../"
 * against dir (which must be canonical, as realpath gives, for that to be
 * right).  An absolute rel is returned as is.  malloc'd; NULL on ENOMEM. */
char *sp__path_join(const char *dir, const char *rel);

#endif /* SPINDLE_CONF_INI_H */
