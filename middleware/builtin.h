/*
 * builtin.h - the middleware that ships inside the spindle binary.
 *
 * Each is written against the public header only, exactly as a third-party
 * module would be; the only difference is that its descriptor is linked in
 * rather than dlopen()ed.  A built-in is initialised only when server.ini
 * names it (a middleware line or a [module:NAME] section).
 */
#ifndef SPINDLE_MIDDLEWARE_BUILTIN_H
#define SPINDLE_MIDDLEWARE_BUILTIN_H

#include <stddef.h>

#include "spindle/spindle.h"

extern const sp_module sp__builtin_request_id;
extern const sp_module sp__builtin_access_log;
extern const sp_module sp__builtin_tasks; /* GET /_tasks/{id}; not middleware, a built-in module */

/* All of them, for main() to hand to the application (builtin.c). */
extern const sp_module *const sp__builtin_modules[];
extern const size_t sp__builtin_count;

#endif
