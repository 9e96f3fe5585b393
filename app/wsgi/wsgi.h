/*
 * wsgi.h - what the files of the wsgi module share.
 *
 * The module runs one Python interpreter per process (worker or spooler):
 * wsgi.c starts it in init_worker (or preload), interp.c holds it and the
 * thread states (interp.h), environ.c
 * builds the environ, input.c is wsgi.input, respond.c is start_response,
 * write() and the response iterable, logio.c sends Python's output to
 * spindle's log, pymod.c is the `spindle` module the application imports.
 *
 * Every function here is called with the GIL held unless it says
 * otherwise.  Python.h comes first, as Python asks.
 */
#ifndef SPINDLE_WSGI_WSGI_H
#define SPINDLE_WSGI_WSGI_H

#include "app/wsgi/interp.h" /* first: it includes Python.h */

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
