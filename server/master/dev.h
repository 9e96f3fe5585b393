/*
 * dev.h - "spindle dev [server.ini]": serve, and rebuild the module and
 * reload the workers on every save (dev.c says what is watched).
 */
#ifndef SPINDLE_SERVER_MASTER_DEV_H
#define SPINDLE_SERVER_MASTER_DEV_H

/* argv after "dev"; returns the exit status: 0 after Ctrl-C or TERM once
 * the server stopped, 64 bad usage, 66 no such ini file, 1 otherwise. */
int sp__dev_main(int argc, char **argv);

#endif
