/*
 * interp.h - the interpreter's process-wide state, and the thread that
 * holds it: what every file of the wsgi module uses, from one file that
 * uses none of them (interp.c), so that they depend on it and not on each
 * other.  wsgi.h includes it; include wsgi.h.
 *
 * Python.h comes first, as Python asks.
 */
#ifndef SPINDLE_WSGI_INTERP_H
#define SPINDLE_WSGI_INTERP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdint.h>

#include "spindle/spindle.h"

/* One per process: Python itself is process-wide, so is what runs it. */
typedef struct sp__wsgi {
    sp_app *app;
    PyObject *callable;  /* the application */
    PyObject *errors;    /* wsgi.errors: a log writer */
    PyObject *format_tb; /* traceback.format_exception */
    char *mount;         /* SCRIPT_NAME, "" for the root */
    size_t mount_len;
    bool preloaded;         /* Python started and the application imported in the master */
    PyThreadState *main_ts; /* saved when init_worker lets the GIL go */
} sp__wsgi;

extern sp__wsgi sp__wsgi_self;
/* This thread's state; made on first use, kept for the thread's life. */
extern _Thread_local PyThreadState *sp__wsgi_thread_ts;

/* s (n bytes) equals lower, a lower-case name, but for the case of its
 * letters: header names, compared without a locale. */
static inline bool sp__wsgi_same_name(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i], t = (unsigned char)lower[i];
        if (c != t && ((c | 0x20) != t || t < 'a' || t > 'z'))
            return false;
    }
    return true;
}

/* Take the GIL with this thread's own thread state (made on its first
 * call: task threads run no init_thread), and let it go.  Called without
 * the GIL; enter fails when Python is not running. */
int sp__wsgi_enter(void);
void sp__wsgi_leave(void);

/* Log the pending Python exception, one line per line of its traceback,
 * each prefixed with what (a request line, "import"); clears it. */
void sp__wsgi_log_exception(int level, const char *what);

#endif /* SPINDLE_WSGI_INTERP_H */
