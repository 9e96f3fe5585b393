/*
 * notify.h - the service manager: systemd's Type=notify protocol and
 * socket activation (through libsystemd).
 *
 * Both are no-ops outside systemd: sd_notify() does nothing without
 * NOTIFY_SOCKET, and without LISTEN_FDS no socket is adopted.
 */
#ifndef SPINDLE_SERVER_MASTER_NOTIFY_H
#define SPINDLE_SERVER_MASTER_NOTIFY_H

#include "conf/config.h"
#include "server/worker/listen.h"

/* Send "KEY=value" lines (READY=1, RELOADING=1, STOPPING=1, STATUS=...). */
void sp__notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sockets passed by the service manager (LISTEN_FDS), each labelled with
 * the listen line whose address it is bound to, for sp__listen_open() to
 * take instead of binding.  Passed sockets no line asks for are closed
 * with a warning.  Returns how many were adopted. */
size_t sp__notify_adopt(const sp__config *cfg, sp__listeners *out);

#endif
