/*
 * pymod.c - `import spindle`: the server, seen from the application.
 *
 * A built-in module (PyImport_AppendInittab, before the interpreter
 * starts), so it exists only inside spindle and needs nothing installed.
 * It gives Python spindle's background tasks (docs/tasks.md):
 *
 *   @spindle.task                      # named "package.module:function"
 *   def report(payload): ...           # runs on a task thread or a spooler
 *   task_id = spindle.submit(report, {"day": 3}, spool=False)
 *   return spindle.accepted(start_response, task_id)   # 202, Location
 *
 * Payloads and results are JSON.  Every Python task is defined in spindle
 * with one C function, run_task, which finds the Python callable by the
 * task's name; so [cron] lines name Python tasks as they name C ones.
 * The thin Python layer (decorator, JSON) is the source text below,
 * run in the module's namespace; the C part talks to spindle, with the
 * GIL let go around every call that reaches the task store.
 */
#include "app/wsgi/wsgi.h"

#include <string.h>

static PyObject *queue_full; /* spindle.QueueFull */
static PyObject *run_fn;     /* spindle._run(name, payload) -> result JSON text */

static const char python_part[] =
    "import json as _json\n"
    "\n"
    "class QueueFull(RuntimeError):\n"
    "    '''task-queue is full: answer 503 with Retry-After.'''\n"
    "\n"
    "_tasks = {}\n"
    "\n"
    "def define(name, fn):\n"
    "    '''Make fn runnable as the task called name (in the worker's start:\n"
    "    at import time of the application).'''\n"
    "    if not callable(fn):\n"
    "        raise TypeError('a task must be callable, not %r' % (fn,))\n"
    "    if name not in _tasks:\n"
    "        _define(name)\n"
    "    _tasks[name] = fn\n"
    "    return fn\n"
    "\n"
    "def task(fn=None, *, name=None):\n"
    "    '''Decorator: define fn as a task named 'module:qualname' (or name).'''\n"
    "    def wrap(f):\n"
    "        n = name or '%s:%s' % (f.__module__, f.__qualname__)\n"
    "        define(n, f)\n"
    "        f.spindle_task = n\n"
    "        return f\n"
    "    return wrap if fn is None else wrap(fn)\n"
    "\n"
    "def submit(task, payload=None, spool=False):\n"
    "    '''Queue a task (its name, or a function @task made); payload is\n"
    "    anything json.dumps takes, None for none.  Returns the task id.'''\n"
    "    name = getattr(task, 'spindle_task', task)\n"
    "    data = b'' if payload is None else _json.dumps(payload).encode()\n"
    "    return _submit(name, data, bool(spool))\n"
    "\n"
    "def task_url(task_id, prefix='/_tasks'):\n"
    "    '''Where the built-in tasks module answers for task_id.'''\n"
    "    return '%s/%s' % (prefix.rstrip('/'), task_id)\n"
    "\n"
    "def accepted(start_response, task_id, prefix='/_tasks'):\n"
    "    '''Answer 202 Accepted with Location: the task's polling URL.'''\n"
    "    url = task_url(task_id, prefix)\n"
    "    body = _json.dumps({'id': task_id, 'location': url}).encode()\n"
    "    start_response('202 Accepted', [('Location', url),\n"
    "                   ('Content-Type', 'application/json'),\n"
    "                   ('Content-Length', str(len(body)))])\n"
    "    return [body]\n"
    "\n"
    "def status(task_id):\n"
    "    '''The task's state as a dict (id, name, state, error, result), or\n"
    "    None for an unknown id.'''\n"
    "    st = _status(task_id)\n"
    "    if st is not None and st.get('result') is not None:\n"
    "        try:\n"
    "            st['result'] = _json.loads(st['result'])\n"
    "        except ValueError:\n"
    "            pass\n"
    "    return st\n"
    "\n"
    "def _run(name, payload):\n"
    "    fn = _tasks[name]\n"
    "    result = fn(_json.loads(payload)) if payload else fn()\n"
    "    return _json.dumps(result)\n";

/* ---- called from Python --------------------------------------------------- */

static int run_task(sp_task *t, const void *payload, size_t len);

static PyObject *py_define(PyObject *self, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    if (sp__wsgi_self.app == NULL && sp__wsgi_self.preloaded)
        Py_RETURN_NONE; /* the master imports: each worker defines it at its start */
    if (sp__wsgi_self.app == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "spindle tasks are defined in a spindle worker only");
        return NULL;
    }
    int rc = sp_task_define(sp__wsgi_self.app, name, run_task);
    if (rc == SP_EINVAL)
        return PyErr_Format(PyExc_ValueError,
                            "task name %R: letters, digits, '_', '.', '-' and ':' only", arg);
    if (rc != SP_OK && rc != SP_EEXIST)
        return PyErr_Format(PyExc_RuntimeError,
                            "cannot define task %R: %s (tasks are defined while the "
                            "application is imported)",
                            arg, sp_strerror(rc));
    Py_RETURN_NONE;
}

static PyObject *py_submit(PyObject *self, PyObject *args)
{
    const char *name;
    Py_buffer data;
    int spool;
    char id[SP_TASK_ID_LEN];
    if (!PyArg_ParseTuple(args, "sy*p:submit", &name, &data, &spool))
        return NULL;
    PyThreadState *ts = PyEval_SaveThread();
    int rc = sp_task_submit(sp__wsgi_self.app, name, data.buf, (size_t)data.len,
                            spool ? SP_TASK_SPOOL : 0, id);
    PyEval_RestoreThread(ts);
    PyBuffer_Release(&data);
    switch (rc) {
    case SP_OK:
        return PyUnicode_FromString(id);
    case SP_ENOENT:
        return PyErr_Format(PyExc_LookupError, "no task named '%s'", name);
    case SP_EFULL:
        PyErr_SetString(queue_full, "task-queue is full");
        return NULL;
    case SP_ESTATE:
        return PyErr_Format(PyExc_RuntimeError, "task '%s' not queued: %s", name,
                            spool ? "no spool is set ([tasks] spool)"
                                  : "in-process tasks are off (task-threads = 0)");
    default:
        return PyErr_Format(PyExc_OSError, "task '%s' not queued: %s", name, sp_strerror(rc));
    }
}

static PyObject *py_status(PyObject *self, PyObject *arg)
{
    const char *id = PyUnicode_AsUTF8(arg);
    sp_task_info info;
    if (id == NULL)
        return NULL;
    PyThreadState *ts = PyEval_SaveThread();
    int rc = sp_task_status(sp__wsgi_self.app, id, &info);
    PyEval_RestoreThread(ts);
    if (rc == SP_ENOENT)
        Py_RETURN_NONE;
    if (rc != SP_OK)
        return PyErr_Format(PyExc_OSError, "task %R: %s", arg, sp_strerror(rc));
    PyObject *result = info.result ? PyUnicode_DecodeUTF8(info.result, (Py_ssize_t)info.result_len,
                                                          "surrogateescape")
                                   : Py_NewRef(Py_None);
    PyObject *d = result ? Py_BuildValue("{s:O,s:s,s:s,s:s,s:i,s:O}", "id", arg, "name", info.name,
                                         "state", sp_task_state_name(info.state), "error",
                                         info.error, "attempts", info.attempts, "result", result)
                         : NULL;
    Py_XDECREF(result);
    sp_task_info_free(&info);
    return d;
}

/* ---- called by spindle ------------------------------------------------------ */

/* "ExcType: message" of the pending exception, for the task's error. */
static void describe(char *buf, size_t cap)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *s = v ? PyObject_Str(v) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(buf, cap, "%s%s%s", t ? ((PyTypeObject *)t)->tp_name : "error", msg ? ": " : "",
             msg ? msg : "");
    Py_XDECREF(s);
    PyErr_Clear();
    PyErr_Restore(t, v, tb);
}

static int run_task(sp_task *t, const void *payload, size_t len)
{
    sp_task_info info;
    char what[200], error[256];
    int rc = sp_task_status(sp_task_app(t), sp_task_id(t), &info);
    if (rc != SP_OK) {
        sp_task_set_error(t, "its own record cannot be read");
        return rc;
    }
    sp_task_info_free(&info);
    snprintf(what, sizeof(what), "task %s %s", info.name, sp_task_id(t));
    if ((rc = sp__wsgi_enter()) != SP_OK)
        return rc;
    PyObject *out =
        PyObject_CallFunction(run_fn, "sy#", info.name, (const char *)payload, (Py_ssize_t)len);
    Py_ssize_t n = 0;
    const char *text = out ? PyUnicode_AsUTF8AndSize(out, &n) : NULL;
    if (text == NULL) {
        describe(error, sizeof(error));
        sp__wsgi_log_exception(SP_LOG_ERROR, what);
        rc = SP_EIO;
    }
    PyThreadState *ts = PyEval_SaveThread(); /* the result goes to the task store */
    if (text == NULL)
        sp_task_set_error(t, error);
    else
        rc = sp_task_set_result_json(t, text, (size_t)n); /* ABI 1.6: an object in /_tasks/ID */
    PyEval_RestoreThread(ts);
    Py_XDECREF(out);
    sp__wsgi_leave();
    return rc;
}

int sp__wsgi_pymod_define_all(void)
{
    PyObject *mod = PyImport_ImportModule("spindle");
    PyObject *tasks = mod ? PyObject_GetAttrString(mod, "_tasks") : NULL;
    PyObject *name;
    Py_ssize_t pos = 0;
    int rc = tasks && PyDict_Check(tasks) ? 0 : -1;
    while (rc == 0 && PyDict_Next(tasks, &pos, &name, NULL)) {
        PyObject *r = py_define(NULL, name);
        rc = r ? 0 : -1;
        Py_XDECREF(r);
    }
    Py_XDECREF(tasks);
    Py_XDECREF(mod);
    return rc;
}

/* ---- the module ----------------------------------------------------------------- */

static PyMethodDef functions[] = {{"_define", py_define, METH_O, NULL},
                                  {"_submit", py_submit, METH_VARARGS, NULL},
                                  {"_status", py_status, METH_O, NULL},
                                  {NULL, NULL, 0, NULL}};

static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "spindle",
    .m_doc = "The spindle server hosting this application: background tasks.",
    .m_size = -1,
    .m_methods = functions,
};

PyObject *sp__wsgi_pymod_init(void)
{
    PyObject *m = PyModule_Create(&def);
    if (m == NULL)
        return NULL;
    PyObject *ns = PyModule_GetDict(m); /* borrowed */
    PyObject *r = PyRun_String(python_part, Py_file_input, ns, ns);
    if (r == NULL || PyModule_AddStringConstant(m, "version", SP_VERSION_STRING) != 0 ||
        PyModule_AddType(m, &sp__wsgi_file_wrapper_type) != 0) {
        Py_XDECREF(r);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(r);
    Py_XSETREF(queue_full, Py_XNewRef(PyDict_GetItemString(ns, "QueueFull")));
    Py_XSETREF(run_fn, Py_XNewRef(PyDict_GetItemString(ns, "_run")));
    return m;
}
