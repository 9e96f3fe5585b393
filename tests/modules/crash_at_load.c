/*
 * crash_at_load.c - init_worker dies of SIGSEGV: every worker crashes
 * before it is ready.  The master must back off between respawns and give
 * up after respawn-limit deaths in a row (exit non-zero), never fork-storm.
 */
#include <spindle/spindle.h>

static int setup(sp_app *app, const sp_section *conf)
{
    volatile int *volatile p = NULL;

    (void)app;
    (void)conf;
    *p = 1;
    return SP_OK;
}

SP_MODULE(crash_at_load, .init_worker = setup);
