/*
 * logio.c - Python's text output to spindle's log.
 *
 * sys.stdout, sys.stderr and wsgi.errors are each one of these: a text
 * stream that keeps a partial line and hands every whole line to sp_log,
 * so the log stays one record per line whatever sizes print() and
 * logging write in.  flush() sends a partial line as it is.  Writes are
 * serialised by the GIL, which write() never lets go of.
 */
#include "app/wsgi/wsgi.h"

#include <string.h>

#define LINE_MAX_BYTES 16384 /* a longer line is cut into records of this size */

typedef struct {
    PyObject ob_base; /* PyObject_HEAD */
    int level;
    char prefix[32];
    char *line;
    size_t len, cap;
} log_writer;

static void emit(log_writer *w, const char *p, size_t n)
{
    while (n > 0 && (p[n - 1] == '\r'))
        n--;
    sp_log(w->level, "%s%.*s", w->prefix, (int)n, p);
}

static int keep(log_writer *w, const char *p, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        char *line = PyMem_Realloc(w->line, cap);
        if (line == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        w->line = line;
        w->cap = cap;
    }
    memcpy(w->line + w->len, p, n);
    w->len += n;
    return 0;
}

static int take(log_writer *w, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t part = nl ? (size_t)(nl - p) : n;
        if (w->len + part >= LINE_MAX_BYTES) {
            size_t room = LINE_MAX_BYTES - w->len;
            if (keep(w, p, room) != 0)
                return -1;
            emit(w, w->line, w->len);
            w->len = 0;
            p += room;
            n -= room;
            continue;
        }
        if (keep(w, p, part) != 0)
            return -1;
        if (!nl)
            break;
        emit(w, w->line, w->len);
        w->len = 0;
        p += part + 1;
        n -= part + 1;
    }
    return 0;
}

static PyObject *lw_write(log_writer *w, PyObject *arg)
{
    Py_ssize_t n;
    const char *p;
    if (PyUnicode_Check(arg)) {
        p = PyUnicode_AsUTF8AndSize(arg, &n);
        if (p == NULL)
            return NULL;
        if (take(w, p, (size_t)n) != 0)
            return NULL;
        return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
    }
    if (PyBytes_Check(arg)) {
        if (take(w, PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg)) != 0)
            return NULL;
        return PyLong_FromSsize_t(PyBytes_GET_SIZE(arg));
    }
    return PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.100s",
                        Py_TYPE(arg)->tp_name);
}

static PyObject *lw_writelines(log_writer *w, PyObject *lines)
{
    PyObject *it = PyObject_GetIter(lines), *item;
    if (it == NULL)
        return NULL;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *r = lw_write(w, item);
        Py_DECREF(item);
        if (r == NULL) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *lw_flush(log_writer *w, PyObject *unused)
{
    if (w->len > 0) {
        emit(w, w->line, w->len);
        w->len = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *lw_false(PyObject *self, PyObject *unused)
{
    Py_RETURN_FALSE;
}

static PyObject *lw_true(PyObject *self, PyObject *unused)
{
    Py_RETURN_TRUE;
}

static PyObject *lw_fileno(PyObject *self, PyObject *unused)
{
    PyObject *io = PyImport_ImportModule("io"), *exc;
    if (io == NULL)
        return NULL;
    exc = PyObject_GetAttrString(io, "UnsupportedOperation");
    Py_DECREF(io);
    if (exc == NULL)
        return NULL;
    PyErr_SetString(exc, "spindle's log stream has no file descriptor");
    Py_DECREF(exc);
    return NULL;
}

static PyObject *lw_get_encoding(PyObject *self, void *unused)
{
    return PyUnicode_FromString("utf-8");
}

static PyObject *lw_get_closed(PyObject *self, void *unused)
{
    Py_RETURN_FALSE;
}

static void lw_dealloc(log_writer *w)
{
    if (w->len > 0)
        emit(w, w->line, w->len);
    PyMem_Free(w->line);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

static PyMethodDef lw_methods[] = {
    {"write", (PyCFunction)lw_write, METH_O, "Write text; whole lines go to the log."},
    {"writelines", (PyCFunction)lw_writelines, METH_O, "Write each string of an iterable."},
    {"flush", (PyCFunction)lw_flush, METH_NOARGS, "Send a partial line to the log."},
    {"isatty", lw_false, METH_NOARGS, NULL},
    {"readable", lw_false, METH_NOARGS, NULL},
    {"seekable", lw_false, METH_NOARGS, NULL},
    {"writable", lw_true, METH_NOARGS, NULL},
    {"fileno", lw_fileno, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef lw_getset[] = {{"encoding", lw_get_encoding, NULL, NULL, NULL},
                                  {"closed", lw_get_closed, NULL, NULL, NULL},
                                  {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject sp__wsgi_log_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "spindle.LogStream",
    .tp_basicsize = sizeof(log_writer),
    .tp_dealloc = (destructor)lw_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A text stream whose lines go to spindle's log.",
    .tp_methods = lw_methods,
    .tp_getset = lw_getset,
};

PyObject *sp__wsgi_log_new(int level, const char *prefix)
{
    log_writer *w = PyObject_New(log_writer, &sp__wsgi_log_type);
    if (w == NULL)
        return NULL;
    w->level = level;
    snprintf(w->prefix, sizeof(w->prefix), "%s", prefix);
    w->line = NULL;
    w->len = w->cap = 0;
    return (PyObject *)w;
}
