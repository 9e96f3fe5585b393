/*
 * wsgi.h - what the files of the wsgi module share.
 *
 * The module runs one Python interpreter per process (worker or spooler):
 * wsgi.c starts it in init_worker and owns the thread states, environ.c
 * builds the environ, input.c is wsgi.input, respond.c is start_response,
 * write() and the response iterable, logio.c sends Python's output to
 * spindle's log, pymod.c is the `spindle` module the application imports.
 *
 * Every function here is called with the GIL held unless it says
 * otherwise.  Python.h comes first, as Python asks.
 */
#ifndef SPINDLE_WSGI_WSGI_H
#define SPINDLE_WSGI_WSGI_H

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
    bool preloaded; /* Python started and the application imported in the master */
} sp__wsgi;

extern sp__wsgi sp__wsgi_self;

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

/* ---- wsgi.c ---------------------------------------------------------------- */

/* Take the GIL with this thread's own thread state (made on its first
 * call: task threads run no init_thread), and let it go.  Called without
 * the GIL; enter fails when Python is not running. */
int sp__wsgi_enter(void);
void sp__wsgi_leave(void);

/* Log the pending Python exception, one line per line of its traceback,
 * each prefixed with what (a request line, "import"); clears it. */
void sp__wsgi_log_exception(int level, const char *what);

/* ---- environ.c ------------------------------------------------------------- */

int sp__wsgi_environ_init(void);
/* A new environ for req, wsgi.input being input; NULL with an exception. */
PyObject *sp__wsgi_environ(sp_request *req, PyObject *input);

/* ---- input.c --------------------------------------------------------------- */

extern PyTypeObject sp__wsgi_input_type;
PyObject *sp__wsgi_input_new(sp_request *req);
/* The request ended: later reads raise ValueError; the buffer is freed. */
void sp__wsgi_input_end(PyObject *input);

/* ---- respond.c ------------------------------------------------------------- */

extern PyTypeObject sp__wsgi_call_type;
extern PyTypeObject sp__wsgi_file_wrapper_type;
/* Run the application for one request; returns what the handler returns. */
int sp__wsgi_run(sp_request *req, sp_response *res);

/* ---- logio.c --------------------------------------------------------------- */

extern PyTypeObject sp__wsgi_log_type;
/* A text stream whose lines go to sp_log at level, each after prefix. */
PyObject *sp__wsgi_log_new(int level, const char *prefix);

/* ---- pymod.c --------------------------------------------------------------- */

/* The `spindle` module's init function, for PyImport_AppendInittab. */
PyObject *sp__wsgi_pymod_init(void);
/* Preloaded: define in this worker's app the tasks the import in the
 * master defined (spindle._tasks); -1 with an exception. */
int sp__wsgi_pymod_define_all(void);

#endif /* SPINDLE_WSGI_WSGI_H */
