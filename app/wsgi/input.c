/*
 * input.c - wsgi.input: the request body as a Python file.
 *
 * spindle has the whole body before the handler runs, in memory or, past
 * body-buffer-size, in a temp file; sp_body_read reads it from either in
 * pieces, so this stream never holds more than one block of it besides
 * what the application asks for.  The GIL is let go around every
 * sp_body_read: reading a spilled body is disk IO.
 *
 * read(n) returns n bytes unless the body ends first (a short read only
 * at the end, so applications that loop and those that do not both get
 * the body).  The object may outlive its request if the application keeps
 * it; after the request every read raises ValueError.
 */
#include "app/wsgi/wsgi.h"

#include <string.h>

#define BLOCK 65536

typedef struct {
    PyObject ob_base; /* PyObject_HEAD */
    sp_request *req;
    char *buf;
    size_t pos, len; /* unread bytes are buf[pos, len) */
    uint64_t left;   /* bytes not yet taken from sp_body_read */
} input;

static int alive(input *in)
{
    if (in->req != NULL)
        return 0;
    PyErr_SetString(PyExc_ValueError, "wsgi.input read after its request ended");
    return -1;
}

/* Up to cap bytes of the body into dst, the GIL let go; -1 with an
 * exception on failure, 0 at the end. */
static Py_ssize_t pull(input *in, char *dst, size_t cap)
{
    if (in->left == 0 || cap == 0)
        return 0;
    PyThreadState *ts = PyEval_SaveThread();
    long n = sp_body_read(in->req, dst, cap);
    PyEval_RestoreThread(ts);
    if (n < 0) {
        PyErr_SetString(PyExc_OSError, "reading the request body failed");
        return -1;
    }
    if ((uint64_t)n > in->left)
        n = (long)in->left;
    in->left -= (uint64_t)n;
    if (n == 0)
        in->left = 0; /* shorter than announced: the end is the end */
    return n;
}

/* Refill the empty buffer; bytes now buffered, 0 at the end, -1. */
static Py_ssize_t fill(input *in)
{
    if (in->buf == NULL && (in->buf = PyMem_Malloc(BLOCK)) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t n = pull(in, in->buf, BLOCK);
    in->pos = 0;
    in->len = n > 0 ? (size_t)n : 0;
    return n;
}

/* n bytes (or up to the end), as one bytes object. */
static PyObject *read_n(input *in, uint64_t want)
{
    uint64_t avail = (uint64_t)(in->len - in->pos) + in->left;
    size_t n = (size_t)(want < avail ? want : avail), got = 0;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (out == NULL)
        return NULL;
    char *dst = PyBytes_AS_STRING(out);
    size_t have = in->len - in->pos;
    if (have > 0) {
        got = have < n ? have : n;
        memcpy(dst, in->buf + in->pos, got);
        in->pos += got;
    }
    while (got < n) {
        Py_ssize_t r = pull(in, dst + got, n - got);
        if (r < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got < n && _PyBytes_Resize(&out, (Py_ssize_t)got) != 0)
        return NULL;
    return out;
}

static int size_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "expected at most one argument");
        return -1;
    }
    if (nargs == 1 && args[0] != Py_None) {
        *size = PyLong_AsSsize_t(args[0]);
        if (*size == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static PyObject *in_read(input *in, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (size_arg(args, nargs, &size) != 0 || alive(in) != 0)
        return NULL;
    return read_n(in, size < 0 ? UINT64_MAX : (uint64_t)size);
}

/* One line, up to and with its '\n', at most limit bytes (limit < 0: no
 * bound); b"" at the end. */
static PyObject *read_line(input *in, Py_ssize_t limit)
{
    char *acc = NULL;
    size_t n = 0;
    PyObject *out = NULL;
    for (;;) {
        if (in->pos == in->len) {
            Py_ssize_t r = fill(in);
            if (r < 0)
                goto done;
            if (r == 0)
                break;
        }
        size_t have = in->len - in->pos;
        if (limit >= 0 && (size_t)limit - n < have)
            have = (size_t)limit - n;
        const char *nl = memchr(in->buf + in->pos, '\n', have);
        size_t take = nl ? (size_t)(nl - (in->buf + in->pos)) + 1 : have;
        char *grown = PyMem_Realloc(acc, n + take + 1);
        if (grown == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        acc = grown;
        memcpy(acc + n, in->buf + in->pos, take);
        n += take;
        in->pos += take;
        if (nl || (limit >= 0 && n >= (size_t)limit))
            break;
    }
    out = PyBytes_FromStringAndSize(acc ? acc : "", (Py_ssize_t)n);
done:
    PyMem_Free(acc);
    return out;
}

static PyObject *in_readline(input *in, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t limit;
    if (size_arg(args, nargs, &limit) != 0 || alive(in) != 0)
        return NULL;
    return read_line(in, limit);
}

static PyObject *in_readlines(input *in, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t hint, total = 0;
    if (size_arg(args, nargs, &hint) != 0 || alive(in) != 0)
        return NULL;
    PyObject *lines = PyList_New(0);
    while (lines != NULL) {
        PyObject *line = read_line(in, -1);
        if (line == NULL || PyBytes_GET_SIZE(line) == 0) {
            if (line == NULL)
                Py_CLEAR(lines);
            Py_XDECREF(line);
            break;
        }
        total += PyBytes_GET_SIZE(line);
        int rc = PyList_Append(lines, line);
        Py_DECREF(line);
        if (rc != 0)
            Py_CLEAR(lines);
        else if (hint > 0 && total >= hint)
            break;
    }
    return lines;
}

static PyObject *in_next(input *in)
{
    if (alive(in) != 0)
        return NULL;
    PyObject *line = read_line(in, -1);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL; /* StopIteration */
    }
    return line;
}

/* Freed objects' memory, kept to make the next requests' objects in (each
 * request makes one) instead of going back to the allocator; the GIL
 * guards it. */
#define SPARE_MAX 16
static input *spare[SPARE_MAX];
static int n_spare;

static void in_dealloc(input *in)
{
    PyMem_Free(in->buf);
    if (n_spare < SPARE_MAX)
        spare[n_spare++] = in;
    else
        Py_TYPE(in)->tp_free((PyObject *)in);
}

static PyMethodDef in_methods[] = {
    {"read", (PyCFunction)(void (*)(void))in_read, METH_FASTCALL, "read([size]) -> bytes"},
    {"readline", (PyCFunction)(void (*)(void))in_readline, METH_FASTCALL,
     "readline([limit]) -> bytes"},
    {"readlines", (PyCFunction)(void (*)(void))in_readlines, METH_FASTCALL,
     "readlines([hint]) -> list of bytes"},
    {NULL, NULL, 0, NULL}};

PyTypeObject sp__wsgi_input_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "spindle.Input",
    .tp_basicsize = sizeof(input),
    .tp_dealloc = (destructor)in_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.input: the request body, streamed.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)in_next,
    .tp_methods = in_methods,
};

PyObject *sp__wsgi_input_new(sp_request *req)
{
    input *in = n_spare > 0
                    ? (input *)PyObject_Init((PyObject *)spare[--n_spare], &sp__wsgi_input_type)
                    : PyObject_New(input, &sp__wsgi_input_type);
    if (in == NULL)
        return NULL;
    in->req = req;
    in->buf = NULL;
    in->pos = in->len = 0;
    in->left = sp_body_length(req);
    return (PyObject *)in;
}

void sp__wsgi_input_end(PyObject *obj)
{
    input *in = (input *)obj;
    in->req = NULL;
    in->left = 0;
    in->pos = in->len = 0;
    PyMem_Free(in->buf);
    in->buf = NULL;
}
