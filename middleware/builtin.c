/*
 * builtin.c - the table of middleware linked into the binary.
 *
 * main() hands this table to the application layer
 * (sp__modules_set_builtin); app/ never includes middleware/, so the
 * built-ins stay ordinary modules of the public API and the layers above
 * them decide which exist.
 */
#include "middleware/builtin.h"

const sp_module *const sp__builtin_modules[] = {&sp__builtin_request_id, &sp__builtin_access_log,
                                                &sp__builtin_tasks};
const size_t sp__builtin_count = sizeof(sp__builtin_modules) / sizeof(sp__builtin_modules[0]);
