/*
 * environ.c - the WSGI environ of one request (PEP 3333).
 *
 * Strings are "native strings": str holding the request's bytes as
 * Latin-1, so every byte survives.  PATH_INFO is percent-decoded (what CGI
 * does, and what frameworks expect); QUERY_STRING and REQUEST_URI are as
 * sent.  SCRIPT_NAME is the `mount` prefix and PATH_INFO what follows it.
 * SERVER_NAME and SERVER_PORT come from Host (PEP 3333's own
 * reconstruction rule reads HTTP_HOST first), with the scheme's port when
 * Host names none.  wsgi.url_scheme is spindle's scheme for the request,
 * which honours PROXY, uwsgi and X-Forwarded-Proto from trusted-proxies.
 * Keys are interned once per process.
 */
#include "app/wsgi/wsgi.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define KEYS(XX)                                                                                   \
    XX(REQUEST_METHOD)                                                                             \
    XX(SCRIPT_NAME)                                                                                \
    XX(PATH_INFO)                                                                                  \
    XX(QUERY_STRING)                                                                               \
    XX(REQUEST_URI)                                                                                \
    XX(CONTENT_TYPE)                                                                               \
    XX(CONTENT_LENGTH)                                                                             \
    XX(SERVER_NAME)                                                                                \
    XX(SERVER_PORT)                                                                                \
    XX(SERVER_PROTOCOL)                                                                            \
    XX(REMOTE_ADDR)                                                                                \
    XX(REMOTE_PORT)                                                                                \
    XX(HTTPS)

enum {
#define XX(k) K_##k,
    KEYS(XX)
#undef XX
        K_COUNT
};

static PyObject *keys[K_COUNT];
static PyObject *k_version, *k_scheme, *k_input, *k_errors, *k_multithread, *k_multiprocess,
    *k_run_once, *k_file_wrapper, *k_input_terminated, *k_request_id;
static PyObject *v_version, *v_http, *v_https, *v_proto10, *v_proto11;

int sp__wsgi_environ_init(void)
{
    static const char *names[K_COUNT] = {
#define XX(k) #k,
        KEYS(XX)
#undef XX
    };
    for (int i = 0; i < K_COUNT; i++)
        if ((keys[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return -1;
    k_version = PyUnicode_InternFromString("wsgi.version");
    k_scheme = PyUnicode_InternFromString("wsgi.url_scheme");
    k_input = PyUnicode_InternFromString("wsgi.input");
    k_errors = PyUnicode_InternFromString("wsgi.errors");
    k_multithread = PyUnicode_InternFromString("wsgi.multithread");
    k_multiprocess = PyUnicode_InternFromString("wsgi.multiprocess");
    k_run_once = PyUnicode_InternFromString("wsgi.run_once");
    k_file_wrapper = PyUnicode_InternFromString("wsgi.file_wrapper");
    k_input_terminated = PyUnicode_InternFromString("wsgi.input_terminated");
    k_request_id = PyUnicode_InternFromString("spindle.request_id");
    v_version = Py_BuildValue("(ii)", 1, 0);
    v_http = PyUnicode_InternFromString("http");
    v_https = PyUnicode_InternFromString("https");
    v_proto10 = PyUnicode_InternFromString("HTTP/1.0");
    v_proto11 = PyUnicode_InternFromString("HTTP/1.1");
    return k_version && k_scheme && k_input && k_errors && k_multithread && k_multiprocess &&
                   k_run_once && k_file_wrapper && k_input_terminated && k_request_id &&
                   v_version && v_http && v_https && v_proto10 && v_proto11
               ? 0
               : -1;
}

/* dict[key] = the bytes as a Latin-1 str; steals nothing. */
static int put(PyObject *env, PyObject *key, const char *p, size_t n)
{
    PyObject *v = PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL);
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, v);
    Py_DECREF(v);
    return rc;
}

static int put_str(PyObject *env, PyObject *key, sp_str s)
{
    return put(env, key, s.ptr ? s.ptr : "", s.len);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s into a new str (Latin-1); a '%' not followed by two hex
 * digits stays as it is. */
static PyObject *unquote(const char *p, size_t n)
{
    if (memchr(p, '%', n) == NULL)
        return PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL);
    char *out = PyMem_Malloc(n);
    size_t o = 0;
    if (out == NULL)
        return PyErr_NoMemory();
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
            (lo = hexval(p[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    PyObject *v = PyUnicode_DecodeLatin1(out, (Py_ssize_t)o, NULL);
    PyMem_Free(out);
    return v;
}

/* SCRIPT_NAME and PATH_INFO: the router sends only paths under the mount
 * here, so the prefix is the mount itself. */
static int put_paths(PyObject *env, sp_request *req)
{
    sp_str path = sp_path(req);
    const sp__wsgi *w = &sp__wsgi_self;
    size_t cut = 0;
    if (w->mount_len > 0 && path.len >= w->mount_len &&
        memcmp(path.ptr, w->mount, w->mount_len) == 0 &&
        (path.len == w->mount_len || path.ptr[w->mount_len] == '/'))
        cut = w->mount_len;
    if (put(env, keys[K_SCRIPT_NAME], w->mount, cut ? w->mount_len : 0) != 0)
        return -1;
    PyObject *info = unquote(path.ptr + cut, path.len - cut);
    if (info == NULL)
        return -1;
    int rc = PyDict_SetItem(env, keys[K_PATH_INFO], info);
    Py_DECREF(info);
    return rc;
}

/* SERVER_NAME and SERVER_PORT from Host ("name", "name:port", "[v6]:port"). */
static int put_server(PyObject *env, sp_request *req, bool https)
{
    sp_str host = sp_header(req, "Host");
    const char *p = host.ptr ? host.ptr : "";
    size_t n = host.len, name_len = n;
    const char *port = https ? "443" : "80";
    size_t port_len = strlen(port);
    const char *colon = NULL;
    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close && (size_t)(close - p) + 1 < n && close[1] == ':')
            colon = close + 1;
    } else {
        colon = memchr(p, ':', n);
    }
    if (colon) {
        name_len = (size_t)(colon - p);
        if ((size_t)(colon - p) + 1 < n) {
            port = colon + 1;
            port_len = n - name_len - 1;
        }
    }
    if (name_len == 0) {
        p = "localhost";
        name_len = 9;
    }
    return put(env, keys[K_SERVER_NAME], p, name_len) != 0 ||
                   put(env, keys[K_SERVER_PORT], port, port_len) != 0
               ? -1
               : 0;
}

/* "Accept-Language" -> "HTTP_ACCEPT_LANGUAGE"; 0 for a name too long. */
static size_t cgi_name(char *dst, size_t cap, sp_str name)
{
    if (name.len + 6 > cap)
        return 0;
    memcpy(dst, "HTTP_", 5);
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        dst[5 + i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    dst[5 + name.len] = '\0';
    return 5 + name.len;
}

static bool name_is(sp_str name, const char *lit)
{
    size_t n = strlen(lit);
    return name.len == n && strncasecmp(name.ptr, lit, n) == 0;
}

/* A repeated header: its values joined, "; " for Cookie, ", " otherwise
 * (RFC 9110 5.3). */
static int put_header(PyObject *env, PyObject *key, sp_str name, sp_str value)
{
    PyObject *old = PyDict_GetItemWithError(env, key);
    if (old == NULL)
        return PyErr_Occurred() ? -1 : put_str(env, key, value);
    PyObject *more = PyUnicode_DecodeLatin1(value.ptr, (Py_ssize_t)value.len, NULL);
    PyObject *joined =
        more ? PyUnicode_FromFormat("%U%s%U", old, name_is(name, "Cookie") ? "; " : ", ", more)
             : NULL;
    Py_XDECREF(more);
    if (joined == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, joined);
    Py_DECREF(joined);
    return rc;
}

static int put_headers(PyObject *env, sp_request *req)
{
    size_t count = sp_header_count(req);
    for (size_t i = 0; i < count; i++) {
        sp_str name, value;
        char cgi[256];
        if (sp_header_at(req, i, &name, &value) != SP_OK)
            continue;
        if (name_is(name, "Content-Type")) {
            if (put_str(env, keys[K_CONTENT_TYPE], value) != 0)
                return -1;
            continue;
        }
        if (name_is(name, "Content-Length"))
            continue; /* from the body spindle read: chunked bodies have one too */
        size_t n = cgi_name(cgi, sizeof(cgi), name);
        if (n == 0)
            continue;
        PyObject *key = PyUnicode_FromStringAndSize(cgi, (Py_ssize_t)n);
        int rc = key ? put_header(env, key, name, value) : -1;
        Py_XDECREF(key);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int put_obj(PyObject *env, PyObject *key, PyObject *v)
{
    return PyDict_SetItem(env, key, v);
}

/* The keys whose values are the same for every request, copied into each
 * environ in one go (a dict copy is cheaper than setting them one by one).
 * Made at the first request, once wsgi.errors exists. */
static PyObject *constants;

static PyObject *make_constants(void)
{
    PyObject *d = PyDict_New();
    if (d == NULL || put_obj(d, k_version, v_version) ||
        put_obj(d, k_errors, sp__wsgi_self.errors) || put_obj(d, k_multithread, Py_True) ||
        put_obj(d, k_multiprocess, Py_True) || put_obj(d, k_run_once, Py_False) ||
        put_obj(d, k_file_wrapper, (PyObject *)&sp__wsgi_file_wrapper_type) ||
        put_obj(d, k_input_terminated, Py_True))
        Py_CLEAR(d);
    return d;
}

static int put_wsgi(PyObject *env, sp_request *req, PyObject *input, bool https)
{
    sp_str rid = sp_request_id(req);
    return put_obj(env, k_scheme, https ? v_https : v_http) || put_obj(env, k_input, input) ||
                   put_str(env, k_request_id, rid)
               ? -1
               : 0;
}

PyObject *sp__wsgi_environ(sp_request *req, PyObject *input)
{
    if (constants == NULL && (constants = make_constants()) == NULL)
        return NULL;
    PyObject *env = PyDict_Copy(constants);
    if (env == NULL)
        return NULL;
    sp_str scheme = sp_scheme(req);
    bool https = scheme.len == 5 && memcmp(scheme.ptr, "https", 5) == 0;
    char num[32];
    int n;
    if (put_str(env, keys[K_REQUEST_METHOD], sp_method(req)) != 0 || put_paths(env, req) != 0 ||
        put_str(env, keys[K_QUERY_STRING], sp_query_string(req)) != 0 ||
        put_str(env, keys[K_REQUEST_URI], sp_target(req)) != 0 ||
        put_server(env, req, https) != 0 ||
        put_obj(env, keys[K_SERVER_PROTOCOL], sp_http_version(req) == 10 ? v_proto10 : v_proto11) !=
            0 ||
        put_str(env, keys[K_REMOTE_ADDR], sp_remote_addr(req)) != 0)
        goto fail;
    n = snprintf(num, sizeof(num), "%d", sp_remote_port(req));
    if (put(env, keys[K_REMOTE_PORT], num, (size_t)n) != 0)
        goto fail;
    if (sp_body_length(req) > 0 || sp_str_is_set(sp_header(req, "Content-Length"))) {
        n = snprintf(num, sizeof(num), "%llu", (unsigned long long)sp_body_length(req));
        if (put(env, keys[K_CONTENT_LENGTH], num, (size_t)n) != 0)
            goto fail;
    }
    if (https && put(env, keys[K_HTTPS], "on", 2) != 0)
        goto fail;
    if (put_headers(env, req) != 0 || put_wsgi(env, req, input, https) != 0)
        goto fail;
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}
