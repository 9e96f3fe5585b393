/*
 * fdio.h - whole writes to a file descriptor (temp files, spool records),
 * retrying short writes and EINTR.
 */
#ifndef SPINDLE_SERVER_LIB_FDIO_H
#define SPINDLE_SERVER_LIB_FDIO_H

#include <stddef.h>

/* 0 once all n bytes are written, -1 (errno set) otherwise. */
int sp__write_all(int fd, const void *p, size_t n);

#endif
