/*
 * main.c - spindle's entry point: read the configuration, then either
 * answer a question about it (-t, -T, --help, --version) or become the
 * master.  "spindle ctl ..." talks to a running master instead; "spindle
 * new ..." makes a module project; "spindle dev ..." serves one and
 * rebuilds and reloads it on every save.
 * Configuration errors exit 78 (EX_CONFIG) with one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "conf/config.h"
#include "middleware/builtin.h"
#include "server/master/check.h"
#include "server/master/control.h"
#include "server/master/dev.h"
#include "server/master/master.h"
#include "server/master/new.h"
#include "server/lib/proctitle.h"

int main(int argc, char **argv)
{
    char err[1024];
    enum sp__action action = SP__RUN;
    sp__config *cfg = calloc(1, sizeof(*cfg));

    if (argc < 2) { /* no config, no flag: say how to run it rather than fail on listen */
        sp__config_usage(stderr, argv[0]);
        fprintf(stderr, "\n%s --help lists every option.\n", argv[0]);
        free(cfg);
        return 64; /* EX_USAGE */
    }
    if (argc >= 2 && strcmp(argv[1], "ctl") == 0) {
        free(cfg);
        return sp__ctl_main(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "new") == 0) {
        free(cfg);
        return sp__new_main(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "dev") == 0) {
        free(cfg);
        return sp__dev_main(argc - 2, argv + 2);
    }
    if (cfg == NULL)
        return 1;
    sp__modules_set_builtin(sp__builtin_modules, sp__builtin_count);
    sp__proctitle_init(argc, argv);
    if (sp__config_load(cfg, argc, argv, &action, err, sizeof(err)) != 0) {
        fprintf(stderr, "spindle: %s\n", err);
        free(cfg);
        return SP__EX_CONFIG;
    }
    switch (action) {
    case SP__HELP:
        sp__config_help(stdout, argv[0]);
        break;
    case SP__VERSION:
        printf("spindle %s (module ABI %d.%d)\n", SP_VERSION_STRING, SP_ABI_MAJOR, SP_ABI_MINOR);
        break;
    case SP__PRINT_EXAMPLE:
        sp__config_example(stdout);
        break;
    case SP__PRINT:
        sp__config_print(cfg, stdout);
        break;
    case SP__CHECK:
        if (sp__check_config(cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "spindle: %s\n", err);
            sp__config_free(cfg);
            free(cfg);
            return SP__EX_CONFIG;
        }
        printf("spindle: configuration %s is ok\n", cfg->ini_path ? cfg->ini_path : "");
        break;
    case SP__RUN:
        return sp__master_run(cfg, argc, argv);
    }
    sp__config_free(cfg);
    free(cfg);
    return 0;
}
