/*
 * wsgi.c - the wsgi module: Python WSGI applications on spindle's threads.
 *
 *   [app]
 *   module = /usr/lib/spindle/wsgi.so
 *   [module:wsgi]
 *   app = mysite.wsgi:application
 *   pythonpath = .
 *   env = DJANGO_SETTINGS_MODULE=mysite.settings
 *
 * One interpreter per process, started in init_worker, after the fork:
 * nothing of Python exists in the master, and each worker (and spooler)
 * imports the application itself.  With `preload = on` in [app] the
 * master starts it and imports the application once, before it forks,
 * and the workers inherit both (see "preload" below).  The interpreter is isolated (no
 * PYTHON* variables, no user site-packages); `home` points it at a
 * virtualenv.  At the end of init_worker the GIL is let go.
 *
 * Threads: every thread that runs Python has its own thread state, made
 * once (init_thread, or the first time a task thread needs one) and kept
 * for the thread's life; a request takes the GIL with it, and lets it go
 * whenever spindle reads, parses or writes on its behalf (input.c,
 * respond.c), so `threads` requests really overlap wherever Python waits.
 * exit_worker runs on the thread that ran init_worker and finalises.
 */
#include "app/wsgi/wsgi.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const sp_conf_key keys[] = {
    {"app", SP_CONF_STRING, "the application, as package.module:callable (required)"},
    {"pythonpath", SP_CONF_PATH, "a folder put in front of sys.path; repeatable"},
    {"home", SP_CONF_PATH, "a virtualenv to run in"},
    {"env", SP_CONF_STRING, "NAME=VALUE set in the environment before Python starts; repeatable"},
    {"mount", SP_CONF_STRING, "the URL prefix the application answers under (SCRIPT_NAME)"},
    {NULL, 0, NULL}};

/* ---- the interpreter --------------------------------------------------------- */

/* C extension modules (lib-dynload, site-packages) look Python's symbols up
 * globally, and spindle loads this module RTLD_LOCAL: make libpython
 * global, or the first `import _ctypes` fails. */
static int libpython_global(void)
{
    Dl_info info;
    if (dladdr((void *)Py_InitializeFromConfig, &info) == 0 || info.dli_fname == NULL)
        return -1;
    void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    return h ? 0 : -1;
}

static int set_envs(const sp_section *conf)
{
    for (size_t i = 0; i < sp_conf_count(conf); i++) {
        const char *k, *v;
        if (sp_conf_at(conf, i, &k, &v) != SP_OK || strcmp(k, "env") != 0)
            continue;
        const char *eq = strchr(v, '=');
        if (eq == NULL || eq == v) {
            sp_log(SP_LOG_ERROR, "[module:wsgi] env = %s: expected NAME=VALUE", v);
            return SP_EINVAL;
        }
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - v), v);
        if (setenv(name, eq + 1, 1) != 0)
            return SP_ENOMEM;
    }
    return SP_OK;
}

static int start_python(const char *home)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0; /* spindle's signals are spindle's */
    config.parse_argv = 0;
    config.user_site_directory = 0;
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, "spindle");
    if (!PyStatus_Exception(st) && home != NULL) {
        /* The virtualenv's own interpreter path: Python finds its
         * pyvenv.cfg from there, as it does when that program runs. */
        char prog[4096];
        snprintf(prog, sizeof(prog), "%s/bin/python3", home);
        st = PyConfig_SetBytesString(&config, &config.executable, prog);
    }
    if (!PyStatus_Exception(st)) {
        char *argv[] = {"spindle", NULL};
        st = PyConfig_SetBytesArgv(&config, 1, argv);
    }
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        sp_log(SP_LOG_ERROR, "wsgi: cannot start Python: %s%s%s", st.func ? st.func : "",
               st.func ? ": " : "", st.err_msg ? st.err_msg : "unknown error");
        return SP_EINVAL;
    }
    return SP_OK;
}

/* sys.stdout and sys.stderr to the log; the pythonpath folders in front of
 * sys.path, in ini order. */
static int set_sys(const sp_section *conf)
{
    PyObject *out = sp__wsgi_log_new(SP_LOG_INFO, "python: ");
    PyObject *err = sp__wsgi_log_new(SP_LOG_ERROR, "python: ");
    int rc =
        out && err && PySys_SetObject("stdout", out) == 0 && PySys_SetObject("stderr", err) == 0
            ? 0
            : -1;
    Py_XDECREF(out);
    Py_XDECREF(err);
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    Py_ssize_t at = 0;
    for (size_t i = 0; rc == 0 && path != NULL && i < sp_conf_count(conf); i++) {
        const char *k, *v;
        if (sp_conf_at(conf, i, &k, &v) != SP_OK || strcmp(k, "pythonpath") != 0)
            continue;
        PyObject *dir = PyUnicode_DecodeFSDefault(v);
        rc = dir ? PyList_Insert(path, at++, dir) : -1;
        Py_XDECREF(dir);
    }
    PyObject *tb = rc == 0 ? PyImport_ImportModule("traceback") : NULL;
    sp__wsgi_self.format_tb = tb ? PyObject_GetAttrString(tb, "format_exception") : NULL;
    Py_XDECREF(tb);
    sp__wsgi_self.errors = sp__wsgi_log_new(SP_LOG_ERROR, "wsgi.errors: ");
    return rc == 0 && sp__wsgi_self.format_tb && sp__wsgi_self.errors ? 0 : -1;
}

/* import pkg.mod, take its callable. */
static int load_app(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    const char *attr = colon ? colon + 1 : "application";
    char modname[512];
    snprintf(modname, sizeof(modname), "%.*s", (int)(colon ? colon - spec : (long)strlen(spec)),
             spec);
    PyObject *mod = PyImport_ImportModule(modname);
    PyObject *fn = mod ? PyObject_GetAttrString(mod, attr) : NULL;
    Py_XDECREF(mod);
    if (fn != NULL && !PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is a %.100s, not a callable", modname, attr,
                     Py_TYPE(fn)->tp_name);
        Py_CLEAR(fn);
    }
    if (fn == NULL) {
        sp__wsgi_log_exception(SP_LOG_ERROR, "import");
        sp_log(SP_LOG_ERROR, "wsgi: [module:wsgi] app = %s: cannot load the application", spec);
        return SP_EINVAL;
    }
    sp__wsgi_self.callable = fn;
    return SP_OK;
}

/* ---- the module's hooks ------------------------------------------------------ */

static int handle(sp_request *req, sp_response *res)
{
    if (sp__wsgi_enter() != SP_OK)
        return 500;
    int rc = sp__wsgi_run(req, res);
    sp__wsgi_leave();
    return rc;
}

static bool spec_ok(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || (colon && colon[1] == '\0'))
        return false;
    for (const char *p = spec; *p; p++)
        if (!(*p == '.' || *p == '_' || *p == ':' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

static int set_mount(const char *mount)
{
    size_t n = mount ? strlen(mount) : 0;
    while (n > 0 && mount[n - 1] == '/')
        n--;
    if (mount && mount[0] != '/' && mount[0] != '\0') {
        sp_log(SP_LOG_ERROR, "[module:wsgi] mount = %s: expected a path starting with /", mount);
        return SP_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (mount[i] <= ' ' || mount[i] == '?' || mount[i] == '#' || mount[i] == '*' ||
            mount[i] == '{' || mount[i] == '}' || mount[i] == 0x7f) {
            sp_log(SP_LOG_ERROR, "[module:wsgi] mount = %s: not a plain path", mount);
            return SP_EINVAL;
        }
    sp__wsgi_self.mount = strndup(mount ? mount : "", n);
    sp__wsgi_self.mount_len = n;
    return sp__wsgi_self.mount ? SP_OK : SP_ENOMEM;
}

/* Every request computes under the GIL: serial, so they run one after
 * another on the IO loop's thread rather than wait for each other on
 * handler threads; those that block (a sleep, a socket, a lock) go to the
 * handler threads (docs/python.md, "Threads and the GIL"). */
static int add_routes(sp_app *app)
{
    char pattern[1024];
    const char *m = sp__wsgi_self.mount;
    int serial = sp_handler_serial(app, handle);
    if (serial != SP_OK)
        return serial;
    if (sp__wsgi_self.mount_len == 0)
        return sp_route(app, "*", "/*", handle);
    int rc = sp_route(app, "*", m, handle);
    snprintf(pattern, sizeof(pattern), "%s/*", m);
    return rc ? rc : sp_route(app, "*", pattern, handle);
}

/* Start Python and import the application: in init_worker, or in the
 * master with preload.  Returns holding the GIL when Python started. */
static int start(const sp_section *conf)
{
    const char *spec = sp_conf_get(conf, "app");
    if (spec == NULL || !spec_ok(spec)) {
        sp_log(SP_LOG_ERROR, "[module:wsgi] app = %s: expected package.module:callable",
               spec ? spec : "(missing)");
        return SP_EINVAL;
    }
    int rc = set_mount(sp_conf_get(conf, "mount"));
    if (rc == SP_OK)
        rc = set_envs(conf);
    if (rc != SP_OK)
        return rc;
    if (libpython_global() != 0)
        sp_log(SP_LOG_WARN,
               "wsgi: cannot make libpython's symbols global: %s; C extension "
               "modules may fail to import",
               dlerror());
    if (Py_IsInitialized() == 0 && PyImport_AppendInittab("spindle", sp__wsgi_pymod_init) != 0)
        return SP_ENOMEM;
    rc = start_python(sp_conf_get(conf, "home"));
    if (rc != SP_OK)
        return rc;
    if (PyType_Ready(&sp__wsgi_log_type) != 0 || PyType_Ready(&sp__wsgi_input_type) != 0 ||
        PyType_Ready(&sp__wsgi_call_type) != 0 || PyType_Ready(&sp__wsgi_file_wrapper_type) != 0 ||
        sp__wsgi_environ_init() != 0 || set_sys(conf) != 0) {
        sp__wsgi_log_exception(SP_LOG_ERROR, "start");
        return SP_EINVAL;
    }
    return load_app(spec);
}

/* ---- preload (ABI 1.8) ------------------------------------------------------ */

/* With `preload = on` the master starts Python and imports the
 * application, then keeps the GIL on its only thread for good: it runs no
 * Python after this, and a fork copies the thread that holds it.  Around
 * each of the master's forks Python is told (PyOS_BeforeFork and the two
 * AfterFork calls, from pthread_atfork handlers), so every worker starts
 * as the thread that holds the GIL in a consistent interpreter, and its
 * init_worker only lets it go.  A fork elsewhere (os.fork or subprocess
 * in a worker) is Python's own business: the handlers act in the master
 * alone. */
static pid_t preload_pid;
static bool forking; /* between prepare and parent/child, in the master */
static char *preload_spec, *preload_mount;

static void fork_prepare(void)
{
    if (getpid() != preload_pid)
        return;
    PyOS_BeforeFork();
    forking = true;
}

static void fork_parent(void)
{
    if (!forking)
        return;
    forking = false;
    PyOS_AfterFork_Parent();
}

static void fork_child(void)
{
    if (!forking)
        return;
    forking = false;
    PyOS_AfterFork_Child();
}

static int preload(const sp_section *conf)
{
    sp__wsgi_self.preloaded = true; /* before the import: it may define tasks */
    int rc = start(conf);
    if (rc != SP_OK)
        return rc;
    const char *mount = sp_conf_get(conf, "mount");
    preload_spec = strdup(sp_conf_get(conf, "app"));
    preload_mount = strdup(mount ? mount : "");
    if (preload_spec == NULL || preload_mount == NULL ||
        pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        return SP_ENOMEM;
    preload_pid = getpid();
    return SP_OK;
}

/* What a reload changed that only a restart brings in. */
static void preload_changed(const sp_section *conf)
{
    const char *spec = sp_conf_get(conf, "app"), *mount = sp_conf_get(conf, "mount");
    if (spec && strcmp(spec, preload_spec) != 0)
        sp_log(SP_LOG_WARN,
               "wsgi: app = %s, but the master preloaded %s: a restart loads the new one", spec,
               preload_spec);
    if (strcmp(mount ? mount : "", preload_mount) != 0)
        sp_log(SP_LOG_WARN,
               "wsgi: mount = %s, but the master preloaded mount = %s: a restart applies it",
               mount ? mount : "", preload_mount);
}

static int setup(sp_app *app, const sp_section *conf)
{
    int rc;
    sp__wsgi_self.app = app;
    if (sp__wsgi_self.preloaded) { /* this thread holds the GIL (see preload) */
        preload_changed(conf);
        rc = sp__wsgi_pymod_define_all() == 0 ? SP_OK : SP_EINVAL;
        if (rc != SP_OK)
            sp__wsgi_log_exception(SP_LOG_ERROR, "tasks");
    } else {
        rc = start(conf);
    }
    if (rc == SP_OK)
        rc = add_routes(app);
    if (Py_IsInitialized())
        sp__wsgi_thread_ts = sp__wsgi_self.main_ts = PyEval_SaveThread();
    return rc;
}

/* Python's ident of each request thread, by sp_thread_index: what
 * sys._current_frames() is keyed by, for the harakiri traceback. */
#define IDENTS 1100 /* threads-max (1024), the IO loop's thread, spare */
static _Atomic unsigned long idents[IDENTS];

static int thread_start(sp_app *app)
{
    if (sp__wsgi_thread_ts == NULL && sp__wsgi_self.main_ts != NULL)
        sp__wsgi_thread_ts = PyThreadState_New(PyThreadState_GetInterpreter(sp__wsgi_self.main_ts));
    int i = sp_thread_index();
    if (i > 0 && i < IDENTS)
        atomic_store(&idents[i], PyThread_get_thread_ident());
    return sp__wsgi_self.main_ts == NULL || sp__wsgi_thread_ts != NULL ? SP_OK : SP_ENOMEM;
}

/* Harakiri (ABI 1.7): log the Python stack of the stuck thread, from
 * sys._current_frames(), on the reporting thread.  It needs the GIL: a
 * thread stuck in Python code lets it go every few milliseconds; one stuck
 * in C code that holds it leaves no traceback before the worker is killed. */
static void on_harakiri(sp_app *app, int thread, const char *request)
{
    unsigned long ident = thread > 0 && thread < IDENTS ? atomic_load(&idents[thread]) : 0;
    if (ident == 0 || sp__wsgi_enter() != SP_OK)
        return;
    PyObject *frames = PySys_GetObject("_current_frames"); /* borrowed */
    PyObject *all = frames ? PyObject_CallNoArgs(frames) : NULL;
    PyObject *key = PyLong_FromUnsignedLong(ident);
    PyObject *frame = all && key ? PyDict_GetItemWithError(all, key) : NULL; /* borrowed */
    PyObject *tb = frame ? PyImport_ImportModule("traceback") : NULL;
    PyObject *lines = tb ? PyObject_CallMethod(tb, "format_stack", "O", frame) : NULL;
    PyObject *empty = lines ? PyUnicode_FromString("") : NULL;
    PyObject *text = empty ? PyUnicode_Join(empty, lines) : NULL;
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (s == NULL) {
        PyErr_Clear();
        sp_log(SP_LOG_ERROR, "wsgi: harakiri: thread %d (%s) is not in Python code", thread,
               request);
    } else {
        sp_log(SP_LOG_ERROR,
               "wsgi: harakiri: thread %d (%s) is here, most recent call last:", thread, request);
        for (const char *line = s; *line;) {
            const char *nl = strchr(line, '\n');
            int n = nl ? (int)(nl - line) : (int)strlen(line);
            sp_log(SP_LOG_ERROR, "wsgi: harakiri: %.*s", n, line);
            line += n + (nl != NULL);
        }
    }
    Py_XDECREF(text);
    Py_XDECREF(empty);
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_XDECREF(key);
    Py_XDECREF(all);
    /* This thread ends after the report: its thread state goes with it. */
    PyThreadState_Clear(sp__wsgi_thread_ts);
    PyThreadState_DeleteCurrent();
    sp__wsgi_thread_ts = NULL;
}

static void thread_stop(sp_app *app)
{
    if (sp__wsgi_thread_ts == NULL || sp__wsgi_thread_ts == sp__wsgi_self.main_ts)
        return;
    PyEval_RestoreThread(sp__wsgi_thread_ts);
    PyThreadState_Clear(sp__wsgi_thread_ts);
    PyThreadState_DeleteCurrent();
    sp__wsgi_thread_ts = NULL;
}

static void teardown(sp_app *app)
{
    if (sp__wsgi_self.main_ts == NULL)
        return;
    PyEval_RestoreThread(sp__wsgi_self.main_ts);
    PyObject *out = PySys_GetObject("stdout");
    PyObject *r = out ? PyObject_CallMethod(out, "flush", NULL) : NULL;
    Py_XDECREF(r);
    PyErr_Clear();
    Py_CLEAR(sp__wsgi_self.callable);
    Py_CLEAR(sp__wsgi_self.errors);
    Py_CLEAR(sp__wsgi_self.format_tb);
    if (Py_FinalizeEx() != 0)
        sp_log(SP_LOG_WARN, "wsgi: Python did not finalise cleanly");
    sp__wsgi_self.main_ts = sp__wsgi_thread_ts = NULL;
    free(sp__wsgi_self.mount);
    sp__wsgi_self.mount = NULL;
}

SP_MODULE(wsgi, .init_worker = setup, .init_thread = thread_start, .exit_thread = thread_stop,
          .exit_worker = teardown, .conf_keys = keys, .harakiri = on_harakiri, .preload = preload);
