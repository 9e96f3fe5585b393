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
 *
 * Building it was most of the module's work per request, so little of it
 * is done per request.  Every environ is a copy of one template dict per
 * process: PyDict_Copy clones its table in one go, a table with room for
 * the headers too (ENVIRON_ROOM keys), so no key of the template is
 * inserted one by one and the copy seldom grows.  The template holds the
 * constant keys and values, and every key each request sets, with the
 * value the last request that set it gave it.  A request with the same
 * text (the same method, Host, client address, port...: most of them,
 * behind a proxy or on a keep-alive connection) leaves the copied value
 * as it is; another sets its own, in its environ and in the template.
 * The HTTP_* keys of common headers are made once, and their last values
 * reused while the same text comes again.  What is shared this way is str,
 * which nobody can change: each environ is still a dict of its own, that
 * the application may change without the next request seeing it.  Keys
 * are interned once per process; all of this is touched with the GIL held
 * only, and none of it lets the GIL go.
 */
#include "app/wsgi/wsgi.h"

#include <string.h>

/* The template's keys: constants first, then those each request sets. */
#define TKEYS(XX)                                                                                  \
    XX(VERSION, "wsgi.version")                                                                    \
    XX(ERRORS, "wsgi.errors")                                                                      \
    XX(MULTITHREAD, "wsgi.multithread")                                                            \
    XX(MULTIPROCESS, "wsgi.multiprocess")                                                          \
    XX(RUN_ONCE, "wsgi.run_once")                                                                  \
    XX(FILE_WRAPPER, "wsgi.file_wrapper")                                                          \
    XX(INPUT_TERMINATED, "wsgi.input_terminated")                                                  \
    XX(REQUEST_METHOD, "REQUEST_METHOD")                                                           \
    XX(SCRIPT_NAME, "SCRIPT_NAME")                                                                 \
    XX(PATH_INFO, "PATH_INFO")                                                                     \
    XX(QUERY_STRING, "QUERY_STRING")                                                               \
    XX(REQUEST_URI, "REQUEST_URI")                                                                 \
    XX(SERVER_NAME, "SERVER_NAME")                                                                 \
    XX(SERVER_PORT, "SERVER_PORT")                                                                 \
    XX(SERVER_PROTOCOL, "SERVER_PROTOCOL")                                                         \
    XX(REMOTE_ADDR, "REMOTE_ADDR")                                                                 \
    XX(REMOTE_PORT, "REMOTE_PORT")                                                                 \
    XX(URL_SCHEME, "wsgi.url_scheme")                                                              \
    XX(INPUT, "wsgi.input")                                                                        \
    XX(REQUEST_ID, "spindle.request_id")

enum {
#define XX(k, s) T_##k,
    TKEYS(XX)
#undef XX
        T_COUNT
};

/* The template has room for this many keys, its own 20 and the headers':
 * a copy with more grows once, as any dict does.  More room costs every
 * copy (the table is copied whole). */
#define ENVIRON_ROOM 40
/* Longer header values are not kept for the next request. */
#define REUSE_MAX 512

static PyObject *tkeys[T_COUNT];
static PyObject *k_content_type, *k_content_length, *k_https;
static PyObject *v_version, *v_http, *v_https, *v_proto10, *v_proto11, *v_on;

static PyObject *template;
/* The template's value of each key (borrowed: the template holds it). */
static PyObject *tvals[T_COUNT];
/* CONTENT_LENGTH's last value, reused while the same length comes again. */
static PyObject *last_length;

/* ---- common headers ------------------------------------------------------ */

enum { H_PLAIN, H_COOKIE, H_HOST, H_CONTENT_TYPE, H_CONTENT_LENGTH };

/* Lower case, as found in the table: each a letter or '-'. */
static const struct {
    const char *name;
    unsigned char how;
} common_names[] = {
    {"host", H_HOST},
    {"user-agent", H_PLAIN},
    {"accept", H_PLAIN},
    {"accept-encoding", H_PLAIN},
    {"accept-language", H_PLAIN},
    {"accept-charset", H_PLAIN},
    {"connection", H_PLAIN},
    {"keep-alive", H_PLAIN},
    {"cookie", H_COOKIE},
    {"referer", H_PLAIN},
    {"origin", H_PLAIN},
    {"authorization", H_PLAIN},
    {"cache-control", H_PLAIN},
    {"pragma", H_PLAIN},
    {"upgrade-insecure-requests", H_PLAIN},
    {"if-none-match", H_PLAIN},
    {"if-modified-since", H_PLAIN},
    {"range", H_PLAIN},
    {"dnt", H_PLAIN},
    {"te", H_PLAIN},
    {"expect", H_PLAIN},
    {"priority", H_PLAIN},
    {"transfer-encoding", H_PLAIN},
    {"content-type", H_CONTENT_TYPE},
    {"content-length", H_CONTENT_LENGTH},
    {"x-forwarded-for", H_PLAIN},
    {"x-forwarded-proto", H_PLAIN},
    {"x-forwarded-host", H_PLAIN},
    {"x-forwarded-port", H_PLAIN},
    {"x-real-ip", H_PLAIN},
    {"x-request-id", H_PLAIN},
    {"x-requested-with", H_PLAIN},
    {"x-csrftoken", H_PLAIN},
    {"forwarded", H_PLAIN},
    {"via", H_PLAIN},
    {"sec-fetch-site", H_PLAIN},
    {"sec-fetch-mode", H_PLAIN},
    {"sec-fetch-dest", H_PLAIN},
    {"sec-fetch-user", H_PLAIN},
    {"sec-ch-ua", H_PLAIN},
    {"sec-ch-ua-mobile", H_PLAIN},
    {"sec-ch-ua-platform", H_PLAIN},
};
#define N_COMMON     (sizeof(common_names) / sizeof(common_names[0]))
#define N_BUCKETS    128 /* a power of two, about three times N_COMMON */
#define CGI_NAME_MAX 256

typedef struct {
    PyObject *key;  /* HTTP_..., interned (CONTENT_TYPE for Content-Type) */
    PyObject *last; /* the last value, or NULL */
    size_t len;
    unsigned char how;
} common_header;

static common_header common[N_COMMON];
static signed char buckets[N_BUCKETS]; /* index into common, -1 for none */

static unsigned name_hash(const char *p, size_t n)
{
    return (unsigned)(n * 31 + ((unsigned char)p[0] | 0x20) * 7 +
                      ((unsigned char)p[n - 1] | 0x20)) &
           (N_BUCKETS - 1);
}

static common_header *find_common(sp_str name)
{
    if (name.len == 0)
        return NULL;
    for (unsigned h = name_hash(name.ptr, name.len);; h = (h + 1) & (N_BUCKETS - 1)) {
        int i = buckets[h];
        if (i < 0)
            return NULL;
        if (common[i].len == name.len &&
            sp__wsgi_same_name(name.ptr, common_names[i].name, name.len))
            return &common[i];
    }
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

static int common_init(void)
{
    memset(buckets, -1, sizeof(buckets));
    for (size_t i = 0; i < N_COMMON; i++) {
        const char *name = common_names[i].name;
        char cgi[CGI_NAME_MAX];
        common_header *h = &common[i];
        h->len = strlen(name);
        h->how = common_names[i].how;
        if (h->how == H_CONTENT_TYPE) {
            h->key = Py_NewRef(k_content_type);
        } else {
            cgi_name(cgi, sizeof(cgi), (sp_str){name, h->len});
            if ((h->key = PyUnicode_InternFromString(cgi)) == NULL)
                return -1;
        }
        unsigned b = name_hash(name, h->len);
        while (buckets[b] >= 0)
            b = (b + 1) & (N_BUCKETS - 1);
        buckets[b] = (signed char)i;
    }
    return 0;
}

/* ---- values ---------------------------------------------------------------- */

int sp__wsgi_environ_init(void)
{
    static const char *names[T_COUNT] = {
#define XX(k, s) s,
        TKEYS(XX)
#undef XX
    };
    for (int i = 0; i < T_COUNT; i++)
        if ((tkeys[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return -1;
    k_content_type = PyUnicode_InternFromString("CONTENT_TYPE");
    k_content_length = PyUnicode_InternFromString("CONTENT_LENGTH");
    k_https = PyUnicode_InternFromString("HTTPS");
    v_version = Py_BuildValue("(ii)", 1, 0);
    v_http = PyUnicode_InternFromString("http");
    v_https = PyUnicode_InternFromString("https");
    v_proto10 = PyUnicode_InternFromString("HTTP/1.0");
    v_proto11 = PyUnicode_InternFromString("HTTP/1.1");
    v_on = PyUnicode_InternFromString("on");
    if (!(k_content_type && k_content_length && k_https && v_version && v_http && v_https &&
          v_proto10 && v_proto11 && v_on))
        return -1;
    return common_init();
}

/* s holds the Latin-1 text of p[0, n). */
static inline bool same_text(PyObject *s, const char *p, size_t n)
{
    return (size_t)PyUnicode_GET_LENGTH(s) == n && PyUnicode_KIND(s) == PyUnicode_1BYTE_KIND &&
           (n == 0 || memcmp(PyUnicode_1BYTE_DATA(s), p, n) == 0);
}

/* The bytes as a Latin-1 str: *last again when it holds that text, else a
 * new one, which *last keeps for the next time unless it is long.  A new
 * reference. */
static PyObject *reuse(PyObject **last, const char *p, size_t n)
{
    if (*last != NULL && same_text(*last, p, n))
        return Py_NewRef(*last);
    PyObject *v = PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL);
    if (v != NULL && n <= REUSE_MAX)
        Py_XSETREF(*last, Py_NewRef(v));
    return v;
}

/* The environ's key t is v from now on, the template's too. */
static int set_both(PyObject *env, int t, PyObject *v)
{
    if (PyDict_SetItem(env, tkeys[t], v) != 0 || PyDict_SetItem(template, tkeys[t], v) != 0)
        return -1;
    tvals[t] = v;
    return 0;
}

/* Key t is the bytes as a Latin-1 str, which it was not. */
static int set_text(PyObject *env, int t, const char *p, size_t n)
{
    PyObject *v = PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL);
    int rc = v ? set_both(env, t, v) : -1;
    Py_XDECREF(v);
    return rc;
}

/* Key t is the bytes as a Latin-1 str: already so when the template
 * (whose copy env is) has that text. */
static inline int track(PyObject *env, int t, const char *p, size_t n)
{
    return same_text(tvals[t], p, n) ? 0 : set_text(env, t, p, n);
}

static int track_str(PyObject *env, int t, sp_str s)
{
    return track(env, t, s.ptr ? s.ptr : "", s.len);
}

/* Key t is v, one of a few constant values. */
static int track_obj(PyObject *env, int t, PyObject *v)
{
    return tvals[t] == v ? 0 : set_both(env, t, v);
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

/* PATH_INFO: p[0, n) percent-decoded; a '%' not followed by two hex
 * digits stays as it is. */
static int track_path(PyObject *env, const char *p, size_t n)
{
    if (memchr(p, '%', n) == NULL)
        return track(env, T_PATH_INFO, p, n);
    char *out = PyMem_Malloc(n);
    size_t o = 0;
    if (out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
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
    int rc = track(env, T_PATH_INFO, out, o);
    PyMem_Free(out);
    return rc;
}

/* SCRIPT_NAME and PATH_INFO: the router sends only paths under the mount
 * here, so the prefix is the mount itself. */
static int put_paths(PyObject *env, sp_request *req)
{
    sp_str path = sp_path(req);
    const sp__wsgi *w = &sp__wsgi_self;
    const char *p = path.ptr ? path.ptr : "";
    size_t cut = 0;
    if (w->mount_len > 0 && path.len >= w->mount_len && memcmp(p, w->mount, w->mount_len) == 0 &&
        (path.len == w->mount_len || p[w->mount_len] == '/'))
        cut = w->mount_len;
    if (track(env, T_SCRIPT_NAME, w->mount, cut) != 0)
        return -1;
    return track_path(env, p + cut, path.len - cut);
}

/* SERVER_NAME and SERVER_PORT from Host ("name", "name:port", "[v6]:port"). */
static int put_server(PyObject *env, sp_str host, bool https)
{
    const char *p = host.ptr ? host.ptr : "";
    size_t n = host.len, name_len = n;
    const char *port = https ? "443" : "80";
    size_t port_len = https ? 3 : 2;
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
    return track(env, T_SERVER_NAME, p, name_len) != 0 ||
                   track(env, T_SERVER_PORT, port, port_len) != 0
               ? -1
               : 0;
}

/* v in decimal, written backwards from end (room for 21 bytes); returns
 * where it starts: what snprintf's %llu writes, without its cost. */
static char *decimal(char *end, unsigned long long v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

/* ---- headers ------------------------------------------------------------- */

/* env[key] = v, or, for a repeated header, the values joined: "; " for
 * Cookie, ", " otherwise (RFC 9110 5.3).  Whether the key was there shows
 * in the dict's size, not in what setdefault gives back: two headers of
 * the same text may well be the same str. */
static int put_header(PyObject *env, PyObject *key, PyObject *v, bool cookie)
{
    Py_ssize_t had = PyDict_GET_SIZE(env);
    PyObject *old = PyDict_SetDefault(env, key, v);
    if (old == NULL)
        return -1;
    if (PyDict_GET_SIZE(env) > had)
        return 0;
    PyObject *joined = PyUnicode_FromFormat("%U%s%U", old, cookie ? "; " : ", ", v);
    if (joined == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, joined);
    Py_DECREF(joined);
    return rc;
}

/* Every header as HTTP_*, but Content-Type (CONTENT_TYPE, the last one
 * wins) and Content-Length (from the body spindle read: chunked bodies
 * have one too).  *host is the first Host; *length, whether a
 * Content-Length came. */
static int put_headers(PyObject *env, sp_request *req, sp_str *host, bool *length)
{
    size_t count = sp_header_count(req);
    for (size_t i = 0; i < count; i++) {
        sp_str name, value;
        PyObject *key, *v;
        int rc;
        if (sp_header_at(req, i, &name, &value) != SP_OK)
            continue;
        const char *vp = value.ptr ? value.ptr : "";
        common_header *h = find_common(name);
        if (h != NULL) {
            if (h->how == H_CONTENT_LENGTH) {
                *length = true;
                continue;
            }
            if (h->how == H_HOST && host->ptr == NULL)
                *host = (sp_str){vp, value.len};
            v = reuse(&h->last, vp, value.len);
            if (v == NULL)
                return -1;
            if (h->how == H_CONTENT_TYPE)
                rc = PyDict_SetItem(env, h->key, v);
            else
                rc = put_header(env, h->key, v, h->how == H_COOKIE);
            Py_DECREF(v);
            if (rc != 0)
                return -1;
            continue;
        }
        char cgi[CGI_NAME_MAX];
        size_t n = cgi_name(cgi, sizeof(cgi), name);
        if (n == 0)
            continue;
        key = PyUnicode_FromStringAndSize(cgi, (Py_ssize_t)n);
        v = key ? PyUnicode_DecodeLatin1(vp, (Py_ssize_t)value.len, NULL) : NULL;
        rc = v ? put_header(env, key, v, false) : -1;
        Py_XDECREF(v);
        Py_XDECREF(key);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- the environ ------------------------------------------------------------ */

/* Made at the first request, once wsgi.errors exists.  Keys set per
 * request start as what most requests have, or empty. */
static int make_template(void)
{
    PyObject *d = _PyDict_NewPresized(ENVIRON_ROOM);
    PyObject *empty = PyUnicode_FromStringAndSize("", 0);
    PyObject *get = PyUnicode_InternFromString("GET");
    PyObject *mount =
        PyUnicode_DecodeLatin1(sp__wsgi_self.mount, (Py_ssize_t)sp__wsgi_self.mount_len, NULL);
    PyObject *vals[T_COUNT] = {
        [T_VERSION] = v_version,
        [T_ERRORS] = sp__wsgi_self.errors,
        [T_MULTITHREAD] = Py_True,
        [T_MULTIPROCESS] = Py_True,
        [T_RUN_ONCE] = Py_False,
        [T_FILE_WRAPPER] = (PyObject *)&sp__wsgi_file_wrapper_type,
        [T_INPUT_TERMINATED] = Py_True,
        [T_REQUEST_METHOD] = get,
        [T_SCRIPT_NAME] = mount,
        [T_PATH_INFO] = empty,
        [T_QUERY_STRING] = empty,
        [T_REQUEST_URI] = empty,
        [T_SERVER_NAME] = empty,
        [T_SERVER_PORT] = empty,
        [T_SERVER_PROTOCOL] = v_proto11,
        [T_REMOTE_ADDR] = empty,
        [T_REMOTE_PORT] = empty,
        [T_URL_SCHEME] = v_http,
        [T_INPUT] = Py_None,      /* each request sets it */
        [T_REQUEST_ID] = Py_None, /* each request sets it */
    };
    int rc = d && empty && get && mount ? 0 : -1;
    for (int i = 0; rc == 0 && i < T_COUNT; i++)
        rc = PyDict_SetItem(d, tkeys[i], vals[i]);
    Py_XDECREF(empty);
    Py_XDECREF(get);
    Py_XDECREF(mount);
    if (rc != 0) {
        Py_XDECREF(d);
        return -1;
    }
    for (int i = 0; i < T_COUNT; i++)
        tvals[i] = vals[i]; /* the template holds them now */
    template = d;
    return 0;
}

PyObject *sp__wsgi_environ(sp_request *req, PyObject *input)
{
    if (template == NULL && make_template() != 0)
        return NULL;
    PyObject *env = PyDict_Copy(template);
    if (env == NULL)
        return NULL;
    sp_str scheme = sp_scheme(req), host = SP_STR_NULL, rid = sp_request_id(req);
    bool https = scheme.len == 5 && memcmp(scheme.ptr, "https", 5) == 0, length = false;
    char num[24];
    PyObject *v;
    if (put_headers(env, req, &host, &length) != 0 ||
        track_str(env, T_REQUEST_METHOD, sp_method(req)) != 0 || put_paths(env, req) != 0 ||
        track_str(env, T_QUERY_STRING, sp_query_string(req)) != 0 ||
        track_str(env, T_REQUEST_URI, sp_target(req)) != 0 || put_server(env, host, https) != 0 ||
        track_obj(env, T_SERVER_PROTOCOL, sp_http_version(req) == 10 ? v_proto10 : v_proto11) !=
            0 ||
        track_str(env, T_REMOTE_ADDR, sp_remote_addr(req)) != 0 ||
        track_obj(env, T_URL_SCHEME, https ? v_https : v_http) != 0)
        goto fail;
    int port = sp_remote_port(req);
    char *p = decimal(num + sizeof(num), (unsigned long long)(port < 0 ? -(long long)port : port));
    if (port < 0)
        *--p = '-';
    if (track(env, T_REMOTE_PORT, p, (size_t)(num + sizeof(num) - p)) != 0)
        goto fail;
    if (sp_body_length(req) > 0 || length) {
        p = decimal(num + sizeof(num), sp_body_length(req));
        v = reuse(&last_length, p, (size_t)(num + sizeof(num) - p));
        int rc = v ? PyDict_SetItem(env, k_content_length, v) : -1;
        Py_XDECREF(v);
        if (rc != 0)
            goto fail;
    }
    if (https && PyDict_SetItem(env, k_https, v_on) != 0)
        goto fail;
    if (PyDict_SetItem(env, tkeys[T_INPUT], input) != 0)
        goto fail;
    v = PyUnicode_DecodeLatin1(rid.ptr ? rid.ptr : "", (Py_ssize_t)rid.len, NULL);
    if (v == NULL || PyDict_SetItem(env, tkeys[T_REQUEST_ID], v) != 0) {
        Py_XDECREF(v);
        goto fail;
    }
    Py_DECREF(v);
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}
