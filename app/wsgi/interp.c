/*
 * interp.c - see interp.h: the state of the process's interpreter, the
 * thread states, and the log of a Python exception.
 */
#include "app/wsgi/wsgi.h"

#include <string.h>

/* Python is one per process; so is this. */
sp__wsgi sp__wsgi_self;

_Thread_local PyThreadState *sp__wsgi_thread_ts;

void sp__wsgi_log_exception(int level, const char *what)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return;
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *lines = NULL, *text = NULL;
    if (sp__wsgi_self.format_tb)
        lines = PyObject_CallFunctionObjArgs(sp__wsgi_self.format_tb, t, v ? v : Py_None,
                                             tb ? tb : Py_None, NULL);
    if (lines) {
        PyObject *empty = PyUnicode_FromString("");
        text = empty ? PyUnicode_Join(empty, lines) : NULL;
        Py_XDECREF(empty);
    }
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (s == NULL) {
        PyErr_Clear();
        PyObject *r = v ? PyObject_Repr(v) : NULL;
        const char *rs = r ? PyUnicode_AsUTF8(r) : NULL;
        sp_log(level, "wsgi: %s: %s", what, rs ? rs : "an exception (unprintable)");
        PyErr_Clear();
        Py_XDECREF(r);
    } else {
        for (const char *line = s; *line;) {
            const char *nl = strchr(line, '\n');
            int n = nl ? (int)(nl - line) : (int)strlen(line);
            sp_log(level, "wsgi: %s: %.*s", what, n, line);
            line += n + (nl != NULL);
        }
    }
    Py_XDECREF(text);
    Py_XDECREF(lines);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
}

/* ---- the GIL ------------------------------------------------------------------ */

int sp__wsgi_enter(void)
{
    if (sp__wsgi_self.main_ts == NULL)
        return SP_ESTATE;
    if (sp__wsgi_thread_ts == NULL)
        sp__wsgi_thread_ts = PyThreadState_New(PyThreadState_GetInterpreter(sp__wsgi_self.main_ts));
    if (sp__wsgi_thread_ts == NULL)
        return SP_ENOMEM;
    PyEval_RestoreThread(sp__wsgi_thread_ts);
    return SP_OK;
}

void sp__wsgi_leave(void)
{
    PyEval_SaveThread();
}
