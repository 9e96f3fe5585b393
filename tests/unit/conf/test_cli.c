/*
 * test_cli.c - the command line and the generated text (conf/cli.c,
 * conf/emit.c): overrides and their order, every option as a flag, error
 * lines, -T read back to the same config, --help, and the example ini
 * being byte for byte the shipped conf/server.ini.
 */
#include "conf_fixture.h"

TestSuite(cli, .init = setup, .fini = teardown);

/* ---- command line ------------------------------------------------------------ */

static int run_cli(sp__config *c, enum sp__action *a, char *err, int argc, char **argv)
{
    return sp__config_load(c, argc, argv, a, err, 512);
}

#define CLI(c, a, err, ...)                                                                        \
    run_cli(c, a, err, (int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)),                    \
            (char *[]){__VA_ARGS__})

Test(cli, cli_ini_file_and_overrides)
{
    char *ini = (char *)at("x.ini"), arg[600], err[512];
    enum sp__action a;
    sp__config c;

    put("x.ini", "[server]\nlisten = :8000\nthreads = 7\nprocesses = 3\n[app]\nmodule = a.so\n");
    cr_assert_eq(CLI(&c, &a, err, "spindle", ini), 0, "%s", err);
    cr_assert_eq(a, SP__RUN);
    cr_assert_eq(c.threads, 7);
    cr_assert_str_eq(c.ini_path, ini);
    sp__config_free(&c);

    /* the command line wins even when written before the file */
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--threads", "3", ini, "--processes=5", "--listen",
                     ":8001", "--module=b.so", "--timeout-body=2m"),
                 0, "%s", err);
    cr_assert_eq(c.threads, 3);
    cr_assert_eq(c.processes, 5);
    cr_assert_eq(c.timeout_body_ms, 120000);
    cr_assert_eq(c.n_listen, 2);
    cr_assert_str_eq(c.listen[1].text, ":8001");
    cr_assert_str_eq(c.listen[1].origin.file, "<command line>");
    cr_assert_eq(c.listen[1].origin.line, 5);
    cr_assert_eq(c.n_modules, 2);
    /* a relative path on the command line starts at the working directory */
    cr_assert_not_null(getcwd(arg, sizeof arg));
    strcat(arg, "/b.so");
    cr_assert_str_eq(c.modules[1].value, arg);
    sp__config_free(&c);

    snprintf(arg, sizeof arg, "--ini=%s", ini);
    cr_assert_eq(CLI(&c, &a, err, "spindle", arg, "-t"), 0, "%s", err);
    cr_assert_eq(a, SP__CHECK);
    sp__config_free(&c);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "-T", "--ini", ini), 0, "%s", err);
    cr_assert_eq(a, SP__PRINT);
    cr_assert_eq(c.n_listen, 1);
    sp__config_free(&c);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--", ini), 0, "%s", err);
    sp__config_free(&c);
}

Test(cli, cli_without_a_file)
{
    enum sp__action a;
    char err[512];
    sp__config c;

    cr_assert_eq(CLI(&c, &a, err, "spindle", "--listen", "127.0.0.1:9000", "--threads=2"), 0, "%s",
                 err);
    cr_assert_null(c.ini_path);
    cr_assert_eq(c.threads, 2);
    sp__config_free(&c);
    cr_assert_eq(CLI(&c, &a, err, "spindle"), -1);
    cr_assert_str_eq(err, "<command line>: listen: at least one listen is required" LISTEN_ACC);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--threads", "4"), -1);
    cr_assert_str_eq(err, "<command line>: listen: at least one listen is required" LISTEN_ACC);
}

Test(cli, cli_actions_need_no_config)
{
    enum sp__action a;
    char err[512];
    sp__config c;

    cr_assert_eq(CLI(&c, &a, err, "spindle", "--help", "missing.ini"), 0, "%s", err);
    cr_assert_eq(a, SP__HELP);
    sp__config_free(&c);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "-h"), 0);
    cr_assert_eq(a, SP__HELP);
    sp__config_free(&c);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--version"), 0);
    cr_assert_eq(a, SP__VERSION);
    sp__config_free(&c);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "-v"), 0);
    cr_assert_eq(a, SP__VERSION);
    sp__config_free(&c);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--print-example-ini"), 0);
    cr_assert_eq(a, SP__PRINT_EXAMPLE);
    sp__config_free(&c);
}

Test(cli, cli_errors)
{
    char *ini = (char *)at("x.ini"), want[600], err[512];
    enum sp__action a;
    sp__config c;

    put("x.ini", "[server]\nlisten = :8000\n");
    cr_assert_eq(CLI(&c, &a, err, "spindle", ini, "--foo"), -1);
    cr_assert_str_eq(err, "<command line>: --foo: unknown option (see --help)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--thread=4", ini), -1);
    cr_assert_str_eq(err, "<command line>: --thread: unknown option (see --help)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", "-x"), -1);
    cr_assert_str_eq(err, "<command line>: -x: unknown option (see --help)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--=3"), -1);
    cr_assert_str_eq(err, "<command line>: --: unknown option (see --help)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", ini, "--threads"), -1);
    cr_assert_str_eq(err, "<command line>:2: threads: needs a value (accepted: an integer from "
                          "1 to 1024, or auto)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", ini, "--threads", "abc"), -1);
    cr_assert_str_eq(err, "<command line>:2: threads: 'abc' is not a number (accepted: an "
                          "integer from 1 to 1024, or auto)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--processes=0", ini), -1);
    cr_assert_str_eq(err, "<command line>:1: processes: 0 is out of range (accepted: an "
                          "integer from 1 to 1024, or auto)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", ini, ini), -1);
    snprintf(want, sizeof want,
             "<command line>:2: %s: a second ini file (accepted: one ini "
             "file; %s came first)",
             ini, ini);
    cr_assert_str_eq(err, want);
    cr_assert_eq(CLI(&c, &a, err, "spindle", "--ini"), -1);
    cr_assert_str_eq(err, "<command line>:1: ini: needs a value (accepted: an ini file)");
    cr_assert_eq(CLI(&c, &a, err, "spindle", "nope.ini"), -1);
    cr_assert_str_eq(err, "nope.ini: cannot open: No such file or directory");
    /* the file's own errors come through unchanged */
    put("x.ini", "[server]\nlisten = :8000\nthreads = 0\n");
    cr_assert_eq(CLI(&c, &a, err, "spindle", ini), -1);
    snprintf(want, sizeof want,
             "%s:3: threads: 0 is out of range (accepted: an integer from 1 "
             "to 1024, or auto)",
             ini);
    cr_assert_str_eq(err, want);
}

/* A value each option type accepts, to show every key is a flag. */
static const char *sample(const sp__option *o)
{
    switch (o->type) {
    case SP__T_LISTEN:
        return "127.0.0.1:1";
    case SP__T_MODULE:
        return "m.so";
    case SP__T_MIDDLEWARE:
        return "mw";
    case SP__T_ROUTE:
        return "GET / m:f";
    case SP__T_MODE:
        return "600";
    case SP__T_PATH:
        return "p";
    case SP__T_BOOL:
        return "no";
    case SP__T_STRING:
        return strcmp(o->key, "tasks-backend") ? "s" : "redis://127.0.0.1:6379/2";
    case SP__T_CIDRS:
        return "127.0.0.1/32, ::1";
    case SP__T_NAME:
        return "web-1.a_b";
    default:
        return o->dflt;
    }
}

Test(cli, every_option_is_a_flag)
{
    size_t n;
    const sp__option *opts = sp__options(&n);
    char arg[256], err[512];
    enum sp__action a;
    sp__config c;

    for (size_t i = 0; i < n; i++) {
        cr_assert_not_null(sample(&opts[i]), "no sample for %s", opts[i].key);
        snprintf(arg, sizeof arg, "--%s=%s", opts[i].key, sample(&opts[i]));
        cr_assert_eq(CLI(&c, &a, err, "spindle", "--listen", ":1", arg), 0, "%s: %s", arg, err);
        sp__config_free(&c);
        snprintf(arg, sizeof arg, "--%s", opts[i].key);
        if (opts[i].type == SP__T_BOOL) /* a bool flag alone means true; it takes no next arg */
            cr_assert_eq(CLI(&c, &a, err, "spindle", "--listen", ":1", arg), 0, "%s: %s", arg, err);
        else
            cr_assert_eq(
                CLI(&c, &a, err, "spindle", "--listen", ":1", arg, (char *)sample(&opts[i])), 0,
                "%s: %s", arg, err);
        sp__config_free(&c);
    }
}

/* ---- -T, help, example ----------------------------------------------------------- */

static char *print_to_string(const sp__config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    sp__config_print(c, f);
    fclose(f);
    return text;
}

Test(cli, print_round_trip)
{
    char err[512], *first, *second;
    sp__config c, back;
    FILE *f;

    setenv("SP_TEST_THREADS", "13", 1);
    load(&c, "[server]\n"
             "listen = 127.0.0.1:8000\nlisten = [::1]:8001\nlisten = *:8002\n"
             "listen = unix:app.sock\nlisten = uwsgi://unix:/run/u.sock\n"
             "listen = uwsgi://127.0.0.1:9000\n"
             "processes = 3\nthreads = $(SP_TEST_THREADS)\nbacklog = 99\nrequest-queue = 7\n"
             "limit-uri = 1000\nlimit-headers = 32k\nlimit-header-count = 50\n"
             "limit-body = 2G\ntimeout-header = 1500ms\ntimeout-body = 90\n"
             "timeout-keepalive = 2m\ntimeout-write = 7s\ngraceful-timeout = 120m\n"
             "max-keepalive-requests = 0\nsocket-mode = 600\npidfile = run/s.pid\n"
             "log-file = /var/log/s.log\nlog-level = debug\n"
             "[app]\nmodule = a.so\nmodule = /abs/b.so\n"
             "middleware = request_id\nmiddleware = m:wrap\n"
             "route = GET /a/{id} a:get\nroute = * /static/* files:serve\n"
             "[module:a]\nk = v w\nk = 2\nexpr = a = b\n"
             "[module:empty]\n");
    first = print_to_string(&c);
    cr_assert(strstr(first, "threads = 13\n"));
    cr_assert(strstr(first, "timeout-header = 1500ms\n"));
    cr_assert(strstr(first, "socket-mode = 0600\n"));
    cr_assert(strstr(first, "log-level = debug\n"));
    cr_assert(strstr(first, "[module:empty]\n"));

    /* Written elsewhere and read back, it gives the same config. */
    cr_assert_eq(mkdir(at("other"), 0700), 0);
    f = fopen(at("other/rt.ini"), "w");
    fputs(first, f);
    fclose(f);
    cr_assert_eq(sp__config_load_file(&back, at("other/rt.ini"), err, sizeof err), 0, "%s\n%s", err,
                 first);
    second = print_to_string(&back);
    cr_assert_str_eq(second, first);
    cr_assert_eq(back.n_listen, 6);
    for (size_t i = 0; i < back.n_listen; i++) {
        cr_assert_eq(back.listen[i].addrlen, c.listen[i].addrlen);
        cr_assert_eq(memcmp(&back.listen[i].addr, &c.listen[i].addr, c.listen[i].addrlen), 0);
        cr_assert_eq(back.listen[i].proto, c.listen[i].proto);
    }
    cr_assert_eq(back.limit_body, 2ULL << 30);
    cr_assert_eq(back.limit_uri, 1000);
    cr_assert_eq(back.graceful_timeout_ms, 7200000);
    cr_assert_str_eq(back.pidfile, c.pidfile);
    cr_assert_str_eq(back.modules[0].value, c.modules[0].value);
    cr_assert_str_eq(back.routes[1].pattern, "/static/*");
    cr_assert_eq(back.n_sections, 2);
    cr_assert_eq(back.sections[0].n_items, 3);
    cr_assert_str_eq(sp_conf_get(&back.sections[0], "expr"), "a = b");
    free(first);
    free(second);
    sp__config_free(&c);
    sp__config_free(&back);
}

Test(cli, print_round_trip_of_defaults)
{
    char err[512], *first, *second;
    sp__config c, back;

    load(&c, "[server]\nlisten = :8000\n");
    first = print_to_string(&c);
    cr_assert(strstr(first, "; pidfile =\n"), "unset keys are commented out");
    cr_assert(strstr(first, "; socket-mode =\n"));
    put("rt.ini", first);
    cr_assert_eq(sp__config_load_file(&back, at("rt.ini"), err, sizeof err), 0, "%s", err);
    second = print_to_string(&back);
    cr_assert_str_eq(second, first);
    cr_assert_eq(back.socket_mode, -1);
    free(first);
    free(second);
    sp__config_free(&c);
    sp__config_free(&back);
}

Test(cli, help_lists_every_option)
{
    char *text = NULL, flag[64];
    size_t len = 0, n;
    const sp__option *opts = sp__options(&n);
    FILE *f = open_memstream(&text, &len);

    sp__config_help(f, "spindle");
    fclose(f);
    cr_assert_eq(strncmp(text, "usage: spindle ", 15), 0);
    cr_assert(strstr(text, "[server] options:"));
    cr_assert(strstr(text, "[app] options:"));
    cr_assert(strstr(text, "--processes N  (default 2)\n"));
    cr_assert(strstr(text, "--timeout-keepalive TIME  (default 75s)\n"));
    for (size_t i = 0; i < n; i++) {
        snprintf(flag, sizeof flag, "  --%s%s", opts[i].key,
                 opts[i].type == SP__T_BOOL ? "[=BOOL]" : " ");
        cr_assert(strstr(text, flag), "%s missing from --help", opts[i].key);
    }
    /* the app section comes after every server option */
    cr_assert_gt(strstr(text, "  --module ") - text, strstr(text, "  --log-level ") - text);
    free(text);
}

/* A file of the source tree, found from this file's own path. */
static void repo_path(const char *rel, char *out, size_t n)
{
    const char *tail = strstr(__FILE__, "tests/unit/conf/test_cli.c");

    cr_assert_not_null(tail);
    snprintf(out, n, "%.*s%s", (int)(tail - __FILE__), __FILE__, rel);
}

Test(cli, example_is_the_shipped_server_ini)
{
    char path[PATH_MAX], *want = NULL, *got = NULL;
    size_t wlen = 0, glen = 0;
    FILE *f, *in;
    int ch;

    repo_path("conf/server.ini", path, sizeof path);
    in = fopen(path, "r");
    cr_assert_not_null(in, "cannot open %s", path);
    f = open_memstream(&want, &wlen);
    while ((ch = fgetc(in)) != EOF)
        fputc(ch, f);
    fclose(f);
    fclose(in);
    f = open_memstream(&got, &glen);
    sp__config_example(f);
    fclose(f);
    cr_assert_str_eq(got, want,
                     "conf/server.ini is stale: regenerate it with "
                     "spindle --print-example-ini > conf/server.ini");
    free(want);
    free(got);
}

Test(cli, shipped_server_ini_loads)
{
    char path[PATH_MAX], root[PATH_MAX], want[PATH_MAX + 64], err[512];
    const char *names[] = {"hello", "echo", "sleep"};
    sp__config c;

    repo_path("conf/server.ini", path, sizeof path);
    repo_path("conf", want, sizeof want);
    cr_assert_not_null(realpath(want, root));
    *strrchr(root, '/') = '\0';
    cr_assert_eq(sp__config_load_file(&c, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n_listen, 1);
    cr_assert_str_eq(c.listen[0].text, "127.0.0.1:8000");
    cr_assert_eq(c.processes, 2);
    cr_assert_eq(c.threads, 8);
    cr_assert_eq(c.n_modules, 3);
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "%s/build/examples/%s.so", root, names[i]);
        cr_assert_str_eq(c.modules[i].value, want);
    }
    cr_assert_eq(c.n_middleware, 2);
    cr_assert_str_eq(c.middleware[0].value, "request_id");
    cr_assert_str_eq(c.middleware[1].value, "access_log");
    cr_assert_eq(c.n_routes, 0);
    cr_assert_eq(c.n_sections, 1);
    cr_assert_str_eq(c.sections[0].name, "access_log");
    cr_assert_eq(c.sections[0].n_items, 0);
    sp__config_free(&c);
}
