/*
 * respond.c - one WSGI call: start_response, write() and the iterable.
 *
 * start_response only records the status and headers (checked there, so
 * a bad one raises in the application, where its traceback makes sense);
 * they are handed to spindle when the first non-empty piece of body is
 * ready, or when the iterable ends empty, as PEP 3333 asks.  Until then
 * the application may call start_response again with exc_info and the
 * new status wins; once they are sent, exc_info is raised again.
 *
 * How the body goes out is chosen at that first piece:
 *   - a list or tuple, or a Content-Length the application gave (up to
 *     BUFFER_MAX): buffered, and spindle frames it with its length;
 *     bytes past the given Content-Length are dropped;
 *   - anything else (a generator, write()): streamed, chunked, each piece
 *     on the wire as it comes, which is what streaming views want;
 *   - wsgi.file_wrapper around a real file at its start: sp_send_file on
 *     /proc/self/fd/N, so the file goes by sendfile and never through
 *     Python.
 * The iterable's close() is called whatever happens (an exception, a
 * client that went away).  An exception before the headers are sent is a
 * 500; after, the connection is cut so the client sees a truncated
 * answer, not a complete-looking one.  The GIL is let go around every
 * spindle call that writes.
 */
#include "app/wsgi/wsgi.h"

#include <structmember.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUFFER_MAX     (8u << 20) /* a longer Content-Length body is streamed */
#define GIL_FREE_WRITE 4096       /* sp_write of less is a memcpy: keep the GIL */

typedef struct {
    PyObject ob_base; /* PyObject_HEAD */
    sp_request *req;
    sp_response *res;
    int code;          /* status from start_response, 0 before */
    PyObject *headers; /* list of (name, value), checked */
    int64_t length;    /* Content-Length the application gave, or -1 */
    uint64_t written;  /* body bytes handed to spindle */
    bool sent;         /* status and headers handed to spindle */
    bool streaming;
    bool sequence; /* the iterable is a list or tuple */
    int failed;    /* an SP_E* code from writing: the client is gone */
} call;

/* ---- checks ---------------------------------------------------------------- */

static bool is_token(const char *s, Py_ssize_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (n == 0)
        return false;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c != 0 && strchr(extra, c))))
            return false;
    }
    return true;
}

static bool is_value(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Hop-by-hop headers are the server's (PEP 3333); dropped if given. */
static bool hop_by_hop(const char *name)
{
    static const char *const hop[] = {"Connection",
                                      "Keep-Alive",
                                      "Proxy-Authenticate",
                                      "Proxy-Authorization",
                                      "TE",
                                      "Trailers",
                                      "Trailer",
                                      "Transfer-Encoding",
                                      "Upgrade"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (strcasecmp(name, hop[i]) == 0)
            return true;
    return false;
}

/* "200 OK" -> 200; -1 with ValueError. */
static int parse_status(PyObject *status)
{
    Py_ssize_t n;
    const char *s;
    if (!PyUnicode_Check(status)) {
        PyErr_Format(PyExc_TypeError, "status must be a str, not %.100s", Py_TYPE(status)->tp_name);
        return -1;
    }
    s = PyUnicode_AsUTF8AndSize(status, &n);
    if (s == NULL)
        return -1;
    if (n < 4 || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
        s[3] != ' ' || !is_value(s, n)) {
        PyErr_Format(PyExc_ValueError, "status %R: expected a code and a reason, like '200 OK'",
                     status);
        return -1;
    }
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (code < 200 || code > 599) {
        PyErr_Format(PyExc_ValueError, "status %R: spindle sends final statuses only, 200 to 599",
                     status);
        return -1;
    }
    return code;
}

/* One (name, value) pair: both str, Latin-1, a token and a clean value.
 * Content-Length is read into *length.  1: a header to send; 0: one that
 * is the server's (Content-Length, hop-by-hop), dropped; -1: refused. */
static int check_header(PyObject *pair, int64_t *length)
{
    PyObject *name, *value;
    Py_ssize_t nl, vl;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        PyErr_Format(PyExc_TypeError, "each header must be a (name, value) tuple, not %R", pair);
        return -1;
    }
    name = PyTuple_GET_ITEM(pair, 0);
    value = PyTuple_GET_ITEM(pair, 1);
    if (!PyUnicode_Check(name) || !PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "header %R: name and value must be str", pair);
        return -1;
    }
    if (PyUnicode_MAX_CHAR_VALUE(name) > 0xff || PyUnicode_MAX_CHAR_VALUE(value) > 0xff) {
        PyErr_Format(PyExc_ValueError, "header %R: not Latin-1 (encode it, RFC 8187)", pair);
        return -1;
    }
    const char *n = PyUnicode_AsUTF8AndSize(name, &nl);
    const char *v = PyUnicode_AsUTF8AndSize(value, &vl);
    if (n == NULL || v == NULL)
        return -1;
    if (!is_token(n, nl) || !is_value(v, vl)) {
        PyErr_Format(PyExc_ValueError,
                     "header %R: a name that is not a token, or a control "
                     "character in the value",
                     pair);
        return -1;
    }
    if (strcasecmp(n, "Content-Length") == 0) {
        char *end;
        long long len = strtoll(v, &end, 10);
        if (vl == 0 || *end != '\0' || len < 0 || v[0] == '-' || v[0] == '+') {
            PyErr_Format(PyExc_ValueError, "header %R: not a length", pair);
            return -1;
        }
        *length = len;
        return 0; /* spindle frames the body itself */
    }
    return hop_by_hop(n) ? 0 : 1;
}

/* ---- handing the answer to spindle ---------------------------------------- */

/* ASCII text is its own UTF-8, held by the str: no copy.  Other Latin-1
 * text is encoded to its bytes. */
static const char *latin1(PyObject *text, PyObject **keep)
{
    *keep = NULL;
    if (PyUnicode_IS_ASCII(text))
        return PyUnicode_AsUTF8(text);
    *keep = PyUnicode_AsLatin1String(text);
    return *keep ? PyBytes_AS_STRING(*keep) : NULL;
}

static int latin1_header(sp_response *res, PyObject *pair)
{
    PyObject *kn, *kv;
    const char *name = latin1(PyTuple_GET_ITEM(pair, 0), &kn);
    const char *value = name ? latin1(PyTuple_GET_ITEM(pair, 1), &kv) : NULL;
    int rc = value ? sp_add_header(res, name, value) : SP_ENOMEM;
    Py_XDECREF(kn);
    if (name)
        Py_XDECREF(kv);
    return rc;
}

/* Status and headers to the response (not yet the wire). */
static int apply(call *c)
{
    if (c->code == 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the application sent a body before calling start_response");
        return -1;
    }
    int rc = sp_set_status(c->res, c->code);
    for (Py_ssize_t i = 0; rc == SP_OK && i < PyList_GET_SIZE(c->headers); i++)
        rc = latin1_header(c->res, PyList_GET_ITEM(c->headers, i));
    if (rc != SP_OK) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "spindle refused the response headers: %s",
                         sp_strerror(rc));
        return -1;
    }
    c->sent = true;
    return 0;
}

/* An error page is to replace what apply() set. */
static void unapply(call *c)
{
    for (Py_ssize_t i = 0; c->headers && i < PyList_GET_SIZE(c->headers); i++) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(PyList_GET_ITEM(c->headers, i), 0));
        if (name != NULL)
            sp_del_header(c->res, name);
    }
    PyErr_Clear();
    sp_clear_body(c->res);
    c->sent = false;
}

static int write_failed(call *c, int rc)
{
    c->failed = rc;
    PyErr_Format(PyExc_OSError, "the client went away: %s", sp_strerror(rc));
    return -1;
}

/* The first piece decides buffered or streamed; then the piece goes out. */
static int output(call *c, const char *data, size_t len, bool force_stream)
{
    if (c->failed)
        return write_failed(c, c->failed);
    if (!c->sent) {
        if (apply(c) != 0)
            return -1;
        bool known = c->length >= 0 && (uint64_t)c->length <= BUFFER_MAX;
        c->streaming = force_stream || !(known || c->sequence);
        if (c->streaming) {
            PyThreadState *ts = PyEval_SaveThread();
            int rc = sp_stream_start(c->res);
            PyEval_RestoreThread(ts);
            if (rc != SP_OK)
                return write_failed(c, rc);
        }
    }
    if (c->length >= 0) {
        uint64_t room = (uint64_t)c->length - c->written;
        if (len > room)
            len = (size_t)room;
    }
    if (len == 0)
        return 0;
    int rc;
    if (c->streaming || len >= GIL_FREE_WRITE) {
        PyThreadState *ts = PyEval_SaveThread();
        rc = c->streaming ? sp_stream_write(c->res, data, len) : sp_write(c->res, data, len);
        PyEval_RestoreThread(ts);
    } else {
        rc = sp_write(c->res, data, len);
    }
    if (rc != SP_OK)
        return write_failed(c, rc);
    c->written += len;
    return 0;
}

/* ---- the call object: start_response and write ------------------------------ */

static PyObject *start_response(call *c, PyObject *args)
{
    PyObject *status, *headers, *exc_info = Py_None;
    if (!PyArg_ParseTuple(args, "OO|O:start_response", &status, &headers, &exc_info))
        return NULL;
    if (c->res == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response called after its request ended");
        return NULL;
    }
    if (exc_info != Py_None) {
        if (c->sent) { /* too late to change the answer: the app's error goes on up */
            PyObject *t, *v, *tb;
            if (!PyArg_ParseTuple(exc_info, "OOO:exc_info", &t, &v, &tb))
                return NULL;
            Py_INCREF(t);
            Py_INCREF(v);
            Py_INCREF(tb);
            PyErr_Restore(t, v, tb);
            return NULL;
        }
    } else if (c->code != 0) {
        PyErr_SetString(PyExc_RuntimeError, "start_response called a second time without exc_info");
        return NULL;
    }
    int code = parse_status(status);
    if (code < 0)
        return NULL;
    PyObject *given = PySequence_Fast(headers, "headers must be a list of (name, value) tuples");
    PyObject *list = given ? PyList_New(0) : NULL;
    int64_t length = -1;
    for (Py_ssize_t i = 0; list && i < PySequence_Fast_GET_SIZE(given); i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(given, i);
        int keep = check_header(pair, &length);
        if (keep < 0 || (keep && PyList_Append(list, pair) != 0))
            Py_CLEAR(list);
    }
    Py_XDECREF(given);
    if (list == NULL)
        return NULL;
    Py_XSETREF(c->headers, list);
    c->code = code;
    c->length = length;
    return PyObject_GetAttrString((PyObject *)c, "write");
}

static PyObject *call_write(call *c, PyObject *arg)
{
    Py_buffer view;
    if (c->res == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after its request ended");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) != 0)
        return NULL;
    int rc = view.len > 0 || !c->sent ? output(c, view.buf, (size_t)view.len, true) : 0;
    PyBuffer_Release(&view);
    if (rc != 0)
        return NULL;
    Py_RETURN_NONE;
}

static void call_dealloc(call *c)
{
    Py_XDECREF(c->headers);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyMethodDef call_methods[] = {
    {"start_response", (PyCFunction)start_response, METH_VARARGS,
     "start_response(status, headers, exc_info=None) -> write"},
    {"write", (PyCFunction)call_write, METH_O, "write(data): send body bytes now (streamed)"},
    {NULL, NULL, 0, NULL}};

PyTypeObject sp__wsgi_call_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "spindle.Call",
    .tp_basicsize = sizeof(call),
    .tp_dealloc = (destructor)call_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One WSGI call's start_response and write.",
    .tp_methods = call_methods,
};

/* ---- wsgi.file_wrapper ----------------------------------------------------- */

typedef struct {
    PyObject ob_base; /* PyObject_HEAD */
    PyObject *filelike;
    Py_ssize_t blksize;
} file_wrapper;

static PyObject *fw_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *names[] = {"filelike", "block_size", NULL};
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", names, &filelike, &blksize))
        return NULL;
    file_wrapper *fw = (file_wrapper *)type->tp_alloc(type, 0);
    if (fw == NULL)
        return NULL;
    Py_INCREF(filelike);
    fw->filelike = filelike;
    fw->blksize = blksize > 0 ? blksize : 8192;
    return (PyObject *)fw;
}

static PyObject *fw_next(file_wrapper *fw)
{
    PyObject *data = PyObject_CallMethod(fw->filelike, "read", "n", fw->blksize);
    if (data != NULL && PyBytes_Check(data) && PyBytes_GET_SIZE(data) == 0) {
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *fw_close(file_wrapper *fw, PyObject *unused)
{
    if (PyObject_HasAttrString(fw->filelike, "close"))
        return PyObject_CallMethod(fw->filelike, "close", NULL);
    Py_RETURN_NONE;
}

static void fw_dealloc(file_wrapper *fw)
{
    Py_XDECREF(fw->filelike);
    Py_TYPE(fw)->tp_free((PyObject *)fw);
}

static PyMethodDef fw_methods[] = {
    {"close", (PyCFunction)fw_close, METH_NOARGS, "Close the wrapped file."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef fw_members[] = {
    {"filelike", T_OBJECT, offsetof(file_wrapper, filelike), READONLY, NULL},
    {"blksize", T_PYSSIZET, offsetof(file_wrapper, blksize), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

PyTypeObject sp__wsgi_file_wrapper_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "spindle.FileWrapper",
    .tp_basicsize = sizeof(file_wrapper),
    .tp_dealloc = (destructor)fw_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.file_wrapper(filelike, block_size=8192): a file sent with sendfile.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)fw_next,
    .tp_methods = fw_methods,
    .tp_members = fw_members,
    .tp_new = fw_new,
};

/* A wrapped regular file read from its start goes by sendfile: 1 if sent,
 * 0 to iterate it instead, -1 with an exception. */
static int send_wrapped(call *c, file_wrapper *fw)
{
    struct stat st;
    PyObject *r = PyObject_CallMethod(fw->filelike, "fileno", NULL);
    int fd = r ? (int)PyLong_AsLong(r) : -1;
    Py_XDECREF(r);
    if (fd < 0 || PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (c->sent || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || lseek(fd, 0, SEEK_CUR) != 0 ||
        (c->length >= 0 && c->length != (int64_t)st.st_size))
        return 0;
    if (apply(c) != 0)
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    PyThreadState *ts = PyEval_SaveThread();
    int rc = sp_send_file(c->res, c->code, NULL, path);
    PyEval_RestoreThread(ts);
    if (rc != SP_OK) {
        unapply(c);
        return 0;
    }
    c->written = (uint64_t)st.st_size;
    return 1;
}

/* ---- one request ------------------------------------------------------------- */

/* "GET /path" for log lines: made only when one is written. */
static const char *req_line(const call *c, char *buf, size_t cap)
{
    sp_str m = sp_method(c->req), p = sp_path(c->req);
    snprintf(buf, cap, "%.*s %.*s", SP_STR_ARGS(m), (int)(p.len > 120 ? 120 : p.len), p.ptr);
    return buf;
}

static int iterate(call *c, PyObject *result)
{
    PyObject *it = PyObject_GetIter(result), *item;
    if (it == NULL)
        return -1;
    c->sequence = PyList_CheckExact(result) || PyTuple_CheckExact(result);
    while ((item = PyIter_Next(it)) != NULL) {
        int rc = 0;
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "the application yielded %.100s, not bytes",
                         Py_TYPE(item)->tp_name);
            rc = -1;
        } else if (PyBytes_GET_SIZE(item) > 0) {
            rc = output(c, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item), false);
        }
        Py_DECREF(item);
        if (rc != 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return -1;
    if (!c->sent && apply(c) != 0)
        return -1;
    char what[160];
    if (c->length >= 0 && c->written < (uint64_t)c->length && !c->streaming)
        sp_log(SP_LOG_WARN, "wsgi: %s: Content-Length %lld, but the application sent %llu bytes",
               req_line(c, what, sizeof(what)), (long long)c->length,
               (unsigned long long)c->written);
    return 0;
}

static void close_result(const call *c, PyObject *result)
{
    PyObject *exc_t, *exc_v, *exc_tb;
    PyErr_Fetch(&exc_t, &exc_v, &exc_tb); /* close() runs even while one is pending */
    PyObject *close = PyObject_GetAttrString(result, "close");
    if (close == NULL) {
        PyErr_Clear();
    } else {
        PyObject *r = PyObject_CallNoArgs(close);
        Py_DECREF(close);
        char what[160];
        if (r == NULL)
            sp__wsgi_log_exception(SP_LOG_ERROR, req_line(c, what, sizeof(what)));
        Py_XDECREF(r);
    }
    PyErr_Restore(exc_t, exc_v, exc_tb);
}

/* The application failed: log it; a 500 if nothing went out yet. */
static int failed(call *c)
{
    if (c->failed) {
        PyErr_Clear(); /* the client left: nothing to tell anyone */
        return c->failed;
    }
    char what[160];
    sp__wsgi_log_exception(SP_LOG_ERROR, req_line(c, what, sizeof(what)));
    if (c->sent && (c->streaming || c->res == NULL))
        return SP_EIO;
    unapply(c);
    return 500;
}

static int respond(call *c, PyObject *result)
{
    int rc = 0;
    if (Py_IS_TYPE(result, &sp__wsgi_file_wrapper_type))
        rc = send_wrapped(c, (file_wrapper *)result);
    if (rc == 0)
        rc = iterate(c, result) == 0 ? 1 : -1;
    close_result(c, result);
    return rc < 0 ? failed(c) : c->failed;
}

int sp__wsgi_run(sp_request *req, sp_response *res)
{
    call *c = PyObject_New(call, &sp__wsgi_call_type);
    if (c == NULL) {
        PyErr_Clear();
        return 500;
    }
    c->req = req;
    c->res = res;
    c->code = 0;
    c->headers = NULL;
    c->length = -1;
    c->written = 0;
    c->sent = c->streaming = c->sequence = false;
    c->failed = 0;
    int rc;
    PyObject *input = sp__wsgi_input_new(req);
    PyObject *env = input ? sp__wsgi_environ(req, input) : NULL;
    PyObject *sr = env ? PyObject_GetAttrString((PyObject *)c, "start_response") : NULL;
    PyObject *result =
        sr ? PyObject_CallFunctionObjArgs(sp__wsgi_self.callable, env, sr, NULL) : NULL;
    if (result == NULL) {
        rc = failed(c);
    } else {
        rc = respond(c, result);
        Py_DECREF(result);
    }
    if (input)
        sp__wsgi_input_end(input);
    c->req = NULL;
    c->res = NULL;
    Py_XDECREF(sr);
    Py_XDECREF(env);
    Py_XDECREF(input);
    Py_DECREF(c);
    return rc;
}
