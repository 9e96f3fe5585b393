/*
 * pymod.c - `import spindle`: the server, seen from the application.
 *
 * A built-in module (PyImport_AppendInittab, before the interpreter
 * starts), so it exists only inside spindle and needs nothing installed.
 */
#include "app/wsgi/wsgi.h"

static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "spindle",
    .m_doc = "The spindle server hosting this application.",
    .m_size = -1,
};

PyObject *sp__wsgi_pymod_init(void)
{
    PyObject *m = PyModule_Create(&def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "version", SP_VERSION_STRING) != 0 ||
        PyModule_AddType(m, &sp__wsgi_file_wrapper_type) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
