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
#include <sys/stat.h>
#include <unistd.h>

#define BUFFER_MAX     (8u << 20) /* a longer Content-Length body is streamed */
#define GIL_FREE_WRITE 4096       /* sp_write of less is a memcpy: keep the GIL */

#define INLINE_HEADERS 8 /* more are kept in an array of their own */

typedef struct {
    PyObject ob_base;          /* PyObject_HEAD */
    vectorcallfunc vectorcall; /* start_response: the object is what the application calls */
    sp_request *req;
    sp_response *res;
    int code;           /* status from start_response, 0 before */
    PyObject **headers; /* the (name, value) pairs to send, checked; references */
    Py_ssize_t n_headers;
    int64_t length;   /* Content-Length the application gave, or -1 */
    uint64_t written; /* body bytes handed to spindle */
    bool sent;        /* status and headers handed to spindle */
    bool streaming;
    bool sequence;   /* the iterable is a list or tuple */
    int failed;      /* an SP_E* code from writing: the client is gone */
    PyObject *write; /* what start_response returns, made once: it holds the call */
    PyObject *inline_headers[INLINE_HEADERS];
} call;

/* ---- checks ---------------------------------------------------------------- */

/* tchar (RFC 9110 5.6.2), for bytes below 0x80; none above is one. */
static const unsigned char tchar[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 30 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, /* 50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, /* 70 */
};

static bool is_token(const char *s, Py_ssize_t n)
{
    if (n == 0)
        return false;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || !tchar[c])
            return false;
    }
    return true;
}

/* No control byte but tab (0x00-0x1F but 0x09, and 0x7F).  Eight bytes at
 * a time while none of them is below 0x20 or is 0x7F, which is nearly
 * always; byte by byte from the first word that may hold one. */
static bool is_value(const char *s, Py_ssize_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, del;
        memcpy(&w, s + i, 8);
        del = w ^ (ones * 0x7f); /* a zero byte where w has 0x7F */
        if ((((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs)
            break;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* A str's text as Latin-1 bytes without a copy when it is one byte per
 * character (compact str are NUL-terminated); NULL for wider text. */
static const char *text1(PyObject *s, Py_ssize_t *n)
{
    *n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND)
        return NULL;
    return (const char *)PyUnicode_1BYTE_DATA(s);
}

enum { H_SEND, H_LENGTH, H_HOP };

/* Content-Length, which spindle frames itself, and the hop-by-hop headers
 * (the server's, PEP 3333), told by length first: most names are none. */
static int server_header(const char *n, Py_ssize_t len)
{
    switch (len) {
    case 2:
        return sp__wsgi_same_name(n, "te", 2) ? H_HOP : H_SEND;
    case 7:
        return sp__wsgi_same_name(n, "trailer", 7) || sp__wsgi_same_name(n, "upgrade", 7) ? H_HOP
                                                                                          : H_SEND;
    case 8:
        return sp__wsgi_same_name(n, "trailers", 8) ? H_HOP : H_SEND;
    case 10:
        return sp__wsgi_same_name(n, "connection", 10) || sp__wsgi_same_name(n, "keep-alive", 10)
                   ? H_HOP
                   : H_SEND;
    case 14:
        return sp__wsgi_same_name(n, "content-length", 14) ? H_LENGTH : H_SEND;
    case 17:
        return sp__wsgi_same_name(n, "transfer-encoding", 17) ? H_HOP : H_SEND;
    case 18:
        return sp__wsgi_same_name(n, "proxy-authenticate", 18) ? H_HOP : H_SEND;
    case 19:
        return sp__wsgi_same_name(n, "proxy-authorization", 19) ? H_HOP : H_SEND;
    default:
        return H_SEND;
    }
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
    s = text1(status, &n);
    if (s == NULL && (s = PyUnicode_AsUTF8AndSize(status, &n)) == NULL)
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

/* A value of 1 to 18 digits, as nearly every Content-Length is; -1 for
 * anything else, which strtoll reads. */
static long long digits(const char *s, Py_ssize_t n)
{
    long long v = 0;
    if (n == 0 || n > 18)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
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
    const char *n = text1(name, &nl), *v = text1(value, &vl);
    if (n == NULL || v == NULL) {
        PyErr_Format(PyExc_ValueError, "header %R: not Latin-1 (encode it, RFC 8187)", pair);
        return -1;
    }
    if (!is_token(n, nl) || !is_value(v, vl)) {
        PyErr_Format(PyExc_ValueError,
                     "header %R: a name that is not a token, or a control "
                     "character in the value",
                     pair);
        return -1;
    }
    int kind = server_header(n, nl);
    if (kind == H_LENGTH) {
        char *end;
        long long len = digits(v, vl);
        if (len < 0)
            len = strtoll(v, &end, 10);
        else
            end = (char *)v + vl;
        if (vl == 0 || *end != '\0' || len < 0 || v[0] == '-' || v[0] == '+') {
            PyErr_Format(PyExc_ValueError, "header %R: not a length", pair);
            return -1;
        }
        *length = len;
        return 0; /* spindle frames the body itself */
    }
    return kind == H_SEND;
}

static void clear_headers(call *c)
{
    for (Py_ssize_t i = 0; i < c->n_headers; i++)
        Py_DECREF(c->headers[i]);
    if (c->headers != c->inline_headers)
        PyMem_Free(c->headers);
    c->headers = c->inline_headers;
    c->n_headers = 0;
}

/* ---- handing the answer to spindle ---------------------------------------- */

/* ASCII text is its own UTF-8, held by the str: no copy.  Other Latin-1
 * text is encoded to its bytes. */
static const char *latin1(PyObject *text, PyObject **keep)
{
    *keep = NULL;
    if (PyUnicode_IS_COMPACT_ASCII(text))
        return (const char *)PyUnicode_1BYTE_DATA(text);
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
    for (Py_ssize_t i = 0; rc == SP_OK && i < c->n_headers; i++)
        rc = latin1_header(c->res, c->headers[i]);
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
    for (Py_ssize_t i = 0; i < c->n_headers; i++) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(c->headers[i], 0));
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

static PyObject *call_write(call *c, PyObject *arg);

static PyMethodDef write_def = {"write", (PyCFunction)call_write, METH_O,
                                "write(data): send body bytes now (streamed)"};

/* start_response(status, headers, exc_info=None) -> write: the call
 * object itself, called with the arguments in place (vectorcall), so a
 * request makes no bound method and no argument tuple for it. */
static PyObject *start_response(PyObject *self, PyObject *const *args, size_t nargsf,
                                PyObject *kwnames)
{
    call *c = (call *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        PyErr_SetString(PyExc_TypeError, "start_response() takes no keyword arguments");
        return NULL;
    }
    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "start_response() takes 2 or 3 arguments (status, headers, exc_info), "
                     "%zd given",
                     nargs);
        return NULL;
    }
    PyObject *status = args[0], *headers = args[1], *exc_info = nargs == 3 ? args[2] : Py_None;
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
    if (given == NULL)
        return NULL;
    /* Checked into kept[] first: a refused list leaves the earlier one. */
    Py_ssize_t n = PySequence_Fast_GET_SIZE(given), n_kept = 0;
    PyObject *local[INLINE_HEADERS];
    PyObject **kept = n <= INLINE_HEADERS ? local : PyMem_New(PyObject *, n);
    int64_t length = -1;
    int rc = kept ? 0 : -1;
    if (kept == NULL)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(given, i);
        rc = check_header(pair, &length);
        if (rc > 0)
            kept[n_kept++] = Py_NewRef(pair);
        rc = rc < 0 ? -1 : 0;
    }
    Py_DECREF(given);
    if (rc != 0) {
        for (Py_ssize_t i = 0; i < n_kept; i++)
            Py_DECREF(kept[i]);
        if (kept != local)
            PyMem_Free(kept);
        return NULL;
    }
    clear_headers(c);
    if (kept == local) {
        memcpy(c->inline_headers, local, (size_t)n_kept * sizeof(PyObject *));
    } else {
        c->headers = kept;
    }
    c->n_headers = n_kept;
    c->code = code;
    c->length = length;
    if (c->write == NULL && (c->write = PyCFunction_New(&write_def, self)) == NULL)
        return NULL;
    return Py_NewRef(c->write);
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
    /* c->write is NULL here: while set, it held c. */
    clear_headers(c);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

/* A call object and its write are kept for the next request when nobody
 * else holds either (most applications keep neither): making and freeing
 * them was a good part of a small request's work.  One per thread running
 * Python at once is enough; the GIL guards the pool. */
#define POOL_MAX 16
static call *pool[POOL_MAX];
static int pooled;

static call *call_get(sp_request *req, sp_response *res)
{
    call *c;
    if (pooled > 0) {
        c = pool[--pooled];
    } else if ((c = PyObject_New(call, &sp__wsgi_call_type)) != NULL) {
        c->vectorcall = start_response;
        c->headers = c->inline_headers;
        c->n_headers = 0;
        c->write = NULL;
    } else {
        return NULL;
    }
    c->req = req;
    c->res = res;
    c->code = 0;
    c->length = -1;
    c->written = 0;
    c->sent = c->streaming = c->sequence = false;
    c->failed = 0;
    return c;
}

/* The request ended: c goes back to the pool, or write lets go of it. */
static void call_put(call *c)
{
    c->req = NULL;
    c->res = NULL;
    clear_headers(c);
    /* Held by the caller and by write, which only c holds: nobody kept either. */
    if (c->write != NULL && Py_REFCNT(c) == 2 && Py_REFCNT(c->write) == 1 && pooled < POOL_MAX) {
        pool[pooled++] = c;
        return;
    }
    Py_CLEAR(c->write);
    Py_DECREF(c);
}

PyTypeObject sp__wsgi_call_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "spindle.start_response",
    .tp_basicsize = sizeof(call),
    .tp_dealloc = (destructor)call_dealloc,
    .tp_vectorcall_offset = offsetof(call, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "start_response(status, headers, exc_info=None) -> write, for one WSGI call.",
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

/* One piece of the body: bytes, or a TypeError. */
static int piece(call *c, PyObject *item)
{
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError, "the application yielded %.100s, not bytes",
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    if (PyBytes_GET_SIZE(item) == 0)
        return 0;
    return output(c, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item), false);
}

static int iterate(call *c, PyObject *result)
{
    c->sequence = PyList_CheckExact(result) || PyTuple_CheckExact(result);
    if (c->sequence) {
        /* By index, as a list iterator goes: no iterator to make.  The
         * size is read again each time, the list may change while a write
         * lets the GIL go. */
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(result); i++) {
            PyObject *item = Py_NewRef(PySequence_Fast_GET_ITEM(result, i));
            int rc = piece(c, item);
            Py_DECREF(item);
            if (rc != 0)
                return -1;
        }
    } else {
        PyObject *it = PyObject_GetIter(result), *item;
        if (it == NULL)
            return -1;
        while ((item = PyIter_Next(it)) != NULL) {
            int rc = piece(c, item);
            Py_DECREF(item);
            if (rc != 0) {
                Py_DECREF(it);
                return -1;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            return -1;
    }
    if (!c->sent && apply(c) != 0)
        return -1;
    char what[160];
    if (c->length >= 0 && c->written < (uint64_t)c->length && !c->streaming)
        sp_log(SP_LOG_WARN, "wsgi: %s: Content-Length %lld, but the application sent %llu bytes",
               req_line(c, what, sizeof(what)), (long long)c->length,
               (unsigned long long)c->written);
    return 0;
}

/* Looked up without making the AttributeError most iterables would give. */
#if PY_VERSION_HEX >= 0x030D0000
#define lookup_attr PyObject_GetOptionalAttr
#else
#define lookup_attr _PyObject_LookupAttr
#endif

static void close_result(const call *c, PyObject *result)
{
    static PyObject *name;
    PyObject *close = NULL;
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result))
        return; /* neither has a close(), nor can be given one */
    PyObject *exc_t, *exc_v, *exc_tb;
    PyErr_Fetch(&exc_t, &exc_v, &exc_tb); /* close() runs even while one is pending */
    if (name == NULL)
        name = PyUnicode_InternFromString("close");
    if (name == NULL || lookup_attr(result, name, &close) < 0) {
        PyErr_Clear();
    } else if (close != NULL) {
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
    call *c = call_get(req, res);
    if (c == NULL) {
        PyErr_Clear();
        return 500;
    }
    int rc;
    PyObject *input = sp__wsgi_input_new(req);
    PyObject *env = input ? sp__wsgi_environ(req, input) : NULL;
    /* args[-1] is there for the callee's use (PY_VECTORCALL_ARGUMENTS_OFFSET):
     * a bound method puts its self there instead of copying the arguments. */
    PyObject *args[3] = {NULL, env, (PyObject *)c};
    PyObject *result = env ? PyObject_Vectorcall(sp__wsgi_self.callable, args + 1,
                                                 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL)
                           : NULL;
    if (result == NULL) {
        rc = failed(c);
    } else {
        rc = respond(c, result);
        Py_DECREF(result);
    }
    if (input)
        sp__wsgi_input_end(input);
    Py_XDECREF(env);
    Py_XDECREF(input);
    call_put(c);
    return rc;
}
