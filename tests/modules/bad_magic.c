/*
 * bad_magic.c - a module whose descriptor has the right symbol name but a
 * wrong magic: the loader must refuse it (it is not a spindle module, or a
 * corrupted one) instead of calling through its pointers.
 */
#include <spindle/spindle.h>

SP_EXPORT const sp_module spindle_module = {
    .magic = 0xdeadbeefu,
    .abi_major = SP_ABI_MAJOR,
    .abi_minor = SP_ABI_MINOR,
    .size = sizeof(sp_module),
    .name = "bad_magic",
};
