/*
 * new.h - "spindle new NAME [DIR]": write a module project from the
 * templates built into the binary (conf/new/, embedded at build time by
 * cmake/embed-templates.cmake).
 */
#ifndef SPINDLE_SERVER_MASTER_NEW_H
#define SPINDLE_SERVER_MASTER_NEW_H

#include <stddef.h>

/* One template: its path under conf/new/ ("tests/test_NAME.py.in") and
 * its bytes.  The project file's path drops ".in", reads NAME as the
 * project's name and a leading "dot." as "."; "@NAME@" in the bytes
 * becomes the name. */
typedef struct sp__template {
    const char *path;
    const unsigned char *data;
    size_t len;
} sp__template;

extern const sp__template sp__new_templates[];
extern const size_t sp__new_template_count;

/* argv after "new"; returns the exit status: 0, 64 (bad usage or name), 73
 * (DIR not empty, or a file that cannot be written). */
int sp__new_main(int argc, char **argv);

#endif
