/*
 * no_descriptor.c - a shared object that exports symbols, but not
 * "spindle_module": the loader must say so and name the file.
 */
#include <spindle/spindle.h>

SP_EXPORT int not_a_spindle_module(void);

SP_EXPORT const int spindle_module_missing = 1;

SP_EXPORT int not_a_spindle_module(void)
{
    return 42;
}
