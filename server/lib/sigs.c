/* sigs.c - see sigs.h. */
#include "server/lib/sigs.h"

#include "spindle/spindle.h"

int sp__sigs_hold(sigset_t *held)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* reloads are the master's business */
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    sigemptyset(held);
    sigaddset(held, SIGTERM);
    sigaddset(held, SIGINT);
    sigaddset(held, SIGQUIT);
    sigaddset(held, SIGUSR1);
    sigaddset(held, SIGUSR2);
    /* SETMASK, not BLOCK: the master forks with its own signals blocked,
     * and a child keeps only these. */
    return sigprocmask(SIG_SETMASK, held, NULL) == 0 ? 0 : SP_EIO;
}
