/*
 * crash.h - a crashing process logs its stack: the module file and the
 * function of each frame (crash.c), then dies of its signal as before.
 */
#ifndef SPINDLE_SERVER_LIB_CRASH_H
#define SPINDLE_SERVER_LIB_CRASH_H

/* Install the handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT in
 * this process (who: "worker 2", for the log), with an alternate stack for
 * the calling thread.  Not under a sanitizer, whose own report says where. */
void sp__crash_install(const char *who);
/* An alternate signal stack for the calling thread (a stack overflow is
 * reported too): each thread that runs module code calls it once. */
void sp__crash_thread(void);
/* Frames in the object the loader calls loaded_name are shown as shown,
 * with function names read from fd (the bytes that were loaded). */
void sp__crash_object(const char *loaded_name, const char *shown, int fd);

#endif
