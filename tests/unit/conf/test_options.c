/*
 * test_options.c - the option table and its setters (conf/options.c,
 * setters.c, lists.c, section.c): every type's good and bad values and
 * bounds, listen and route parsing, sections, and the sp_conf_* accessors.
 *
 * Tests go through sp__config_load_file with ini files written under a
 * fresh mkdtemp folder, and compare error lines whole: the exact
 * "file:line: key: problem (accepted)" text is what operators see.  The
 * bool and string setters have no key in the table yet, so they are driven
 * directly.
 */
#include <arpa/inet.h>
#include <sys/un.h>

#include "conf_fixture.h"

TestSuite(options, .init = setup, .fini = teardown);

/* ---- defaults ------------------------------------------------------------- */

Test(options, defaults)
{
    sp__config c;

    server_ok(&c, "");
    cr_assert_eq(c.processes, 2);
    cr_assert_eq(c.threads, 8);
    cr_assert_eq(c.backlog, 1024);
    cr_assert_eq(c.request_queue, 0);
    cr_assert_eq(c.limit_uri, 8192);
    cr_assert_eq(c.limit_headers, 16384);
    cr_assert_eq(c.limit_header_count, 100);
    cr_assert_eq(c.limit_body, 1048576);
    cr_assert_eq(c.timeout_header_ms, 30000);
    cr_assert_eq(c.timeout_body_ms, 60000);
    cr_assert_eq(c.timeout_keepalive_ms, 75000);
    cr_assert_eq(c.timeout_write_ms, 60000);
    cr_assert_eq(c.graceful_timeout_ms, 30000);
    cr_assert_eq(c.max_keepalive_requests, 1000);
    cr_assert_eq(c.socket_mode, -1);
    cr_assert_null(c.pidfile);
    cr_assert_null(c.log_file);
    cr_assert_eq(c.log_level, SP_LOG_INFO);
    cr_assert_eq(c.n_modules + c.n_middleware + c.n_routes + c.n_sections, 0);
    cr_assert_str_eq(c.ini_path, at("x.ini"));
    sp__config_free(&c);
    sp__config_free(&c); /* freeing twice is harmless */
}

/* ---- int ------------------------------------------------------------------ */

Test(options, int_values_and_bounds)
{
    sp__config c;

    SERVER(c, "processes = 1", processes, 1);
    SERVER(c, "processes = 1024", processes, 1024);
    SERVER(c, "threads = +16", threads, 16);
    SERVER(c, "request-queue = 0", request_queue, 0);
    SERVER(c, "max-keepalive-requests = 1000000000", max_keepalive_requests, 1000000000);
    SERVER(c, "backlog = 65535", backlog, 65535);
    SERVER(c, "limit-header-count = 10000", limit_header_count, 10000);
    SERVER(c, "threads = 2\nthreads = 5", threads, 5); /* last one wins */
}

/* threads = auto and processes = auto: the word is 0, the bounds default. */
Test(options, auto_sizing)
{
    sp__config c;

    SERVER(c, "threads = auto", threads, 0);
    SERVER(c, "threads = AUTO\nthreads-max = 16", threads_max, 16);
    SERVER(c, "processes = auto", processes, 0);
    server_ok(&c, "threads = auto\nprocesses = auto\nthreads-min = 3");
    cr_assert_eq(sp__threads_min(&c), 3);
    cr_assert_eq(sp__threads_cap(&c), SP__THREADS_MAX);
    cr_assert_eq(sp__processes_min(&c), SP__PROCESSES_MIN);
    cr_assert_geq(sp__processes_cap(&c), 2);
    cr_assert_eq(c.threads_idle_ms, 30000);
    cr_assert_eq(c.processes_busy_ms, 1000);
    cr_assert_eq(c.processes_idle_ms, 60000);
    sp__config_free(&c);
    server_ok(&c, "threads = 6\nprocesses = 3");
    cr_assert_eq(sp__threads_min(&c), 6);
    cr_assert_eq(sp__threads_cap(&c), 6);
    cr_assert_eq(sp__processes_cap(&c), 3);
    sp__config_free(&c);
}

Test(options, int_errors)
{
    const char *acc = " (accepted: an integer from 1 to 1024, or auto)";
    char want[256];

    snprintf(want, sizeof want, ":3: threads: 'abc' is not a number%s", acc);
    server_fails("threads = abc", want);
    snprintf(want, sizeof want, ":3: processes: 0 is out of range%s", acc);
    server_fails("processes = 0", want);
    snprintf(want, sizeof want, ":3: processes: 1025 is out of range%s", acc);
    server_fails("processes = 1025", want);
    snprintf(want, sizeof want, ":3: processes: -1 is out of range%s", acc);
    server_fails("processes = -1", want);
    snprintf(want, sizeof want, ":3: threads: '' is not a number%s", acc);
    server_fails("threads =", want);
    snprintf(want, sizeof want, ":3: threads: '4x' is not a number%s", acc);
    server_fails("threads = 4x", want);
    snprintf(want, sizeof want, ":3: threads: 'true' is not a number%s", acc);
    server_fails("threads", want); /* a bare key is "true" */
    snprintf(want, sizeof want, ":3: threads: 99999999999999999999 is out of range%s", acc);
    server_fails("threads = 99999999999999999999", want);
    server_fails("max-keepalive-requests = 1000000001",
                 ":3: max-keepalive-requests: 1000000001 is out of range (accepted: an "
                 "integer from 0 to 1000000000)");
    server_fails("request-queue = 65537", ":3: request-queue: 65537 is out of range (accepted: "
                                          "an integer from 0 to 65536)");
}

/* ---- size ----------------------------------------------------------------- */

Test(options, size_values)
{
    sp__config c;

    SERVER(c, "limit-body = 0", limit_body, 0);
    SERVER(c, "limit-body = 10k", limit_body, 10240);
    SERVER(c, "limit-body = 10K", limit_body, 10240);
    SERVER(c, "limit-body = 2m", limit_body, 2 * 1048576);
    SERVER(c, "limit-body = 3M", limit_body, 3 * 1048576);
    SERVER(c, "limit-body = 1g", limit_body, 1073741824ULL);
    SERVER(c, "limit-body = 64G", limit_body, 64ULL << 30);
    SERVER(c, "limit-body = 12345", limit_body, 12345);
    SERVER(c, "limit-uri = 64", limit_uri, 64);
    SERVER(c, "limit-uri = 1M", limit_uri, 1048576);
    SERVER(c, "limit-headers = 1K", limit_headers, 1024);
}

Test(options, size_errors)
{
    const char *uri = " (accepted: a size in bytes from 64 to 1M, with suffix k, m or g)";
    const char *body = " (accepted: a size in bytes from 0 to 64G, with suffix k, m or g)";
    char want[256];

    snprintf(want, sizeof want, ":3: limit-uri: 63 is out of range%s", uri);
    server_fails("limit-uri = 63", want);
    snprintf(want, sizeof want, ":3: limit-uri: 1025K is out of range%s", uri);
    server_fails("limit-uri = 1025K", want);
    snprintf(want, sizeof want, ":3: limit-body: 65G is out of range%s", body);
    server_fails("limit-body = 65G", want);
    snprintf(want, sizeof want, ":3: limit-body: 99999999999999999999G is out of range%s", body);
    server_fails("limit-body = 99999999999999999999G", want);
    snprintf(want, sizeof want, ":3: limit-body: 17179869184G is out of range%s", body);
    server_fails("limit-body = 17179869184G", want); /* 2^64 bytes: overflows */
    snprintf(want, sizeof want, ":3: limit-body: '1.5M' is not a size%s", body);
    server_fails("limit-body = 1.5M", want);
    snprintf(want, sizeof want, ":3: limit-body: '10KB' is not a size%s", body);
    server_fails("limit-body = 10KB", want);
    snprintf(want, sizeof want, ":3: limit-body: '-1' is not a size%s", body);
    server_fails("limit-body = -1", want);
    snprintf(want, sizeof want, ":3: limit-body: 'M' is not a size%s", body);
    server_fails("limit-body = M", want);
}

/* ---- duration ------------------------------------------------------------- */

Test(options, duration_values)
{
    sp__config c;

    SERVER(c, "timeout-header = 5", timeout_header_ms, 5000);
    SERVER(c, "timeout-header = 5s", timeout_header_ms, 5000);
    SERVER(c, "timeout-header = 250ms", timeout_header_ms, 250);
    SERVER(c, "timeout-header = 1ms", timeout_header_ms, 1);
    SERVER(c, "timeout-body = 2m", timeout_body_ms, 120000);
    SERVER(c, "timeout-keepalive = 86400", timeout_keepalive_ms, 86400000);
    SERVER(c, "timeout-write = 1440m", timeout_write_ms, 86400000);
    SERVER(c, "graceful-timeout = 10", graceful_timeout_ms, 10000);
}

Test(options, duration_errors)
{
    const char *acc = " (accepted: a duration from 1ms to 1440m: seconds, or with suffix ms, s "
                      "or m)";
    char want[256];

    snprintf(want, sizeof want, ":3: timeout-body: 0 is out of range%s", acc);
    server_fails("timeout-body = 0", want);
    snprintf(want, sizeof want, ":3: timeout-body: 86401 is out of range%s", acc);
    server_fails("timeout-body = 86401", want);
    snprintf(want, sizeof want, ":3: timeout-body: 1441m is out of range%s", acc);
    server_fails("timeout-body = 1441m", want);
    snprintf(want, sizeof want, ":3: timeout-body: '2h' is not a duration%s", acc);
    server_fails("timeout-body = 2h", want);
    snprintf(want, sizeof want, ":3: timeout-body: 'ms' is not a duration%s", acc);
    server_fails("timeout-body = ms", want);
    snprintf(want, sizeof want, ":3: timeout-body: '5 s' is not a duration%s", acc);
    server_fails("timeout-body = 5 s", want);
    snprintf(want, sizeof want, ":3: timeout-body: '1.5s' is not a duration%s", acc);
    server_fails("timeout-body = 1.5s", want);
}

/* ---- mode, enum ----------------------------------------------------------- */

Test(options, mode_values_and_errors)
{
    const char *acc = " (accepted: an octal file mode from 0 to 0777, like 660 or 0660)";
    char want[256];
    sp__config c;

    SERVER(c, "socket-mode = 660", socket_mode, 0660);
    SERVER(c, "socket-mode = 0660", socket_mode, 0660);
    SERVER(c, "socket-mode = 0", socket_mode, 0);
    SERVER(c, "socket-mode = 777", socket_mode, 0777);
    snprintf(want, sizeof want, ":3: socket-mode: 1000 is out of range%s", acc);
    server_fails("socket-mode = 1000", want);
    snprintf(want, sizeof want, ":3: socket-mode: '689' is not an octal mode%s", acc);
    server_fails("socket-mode = 689", want);
    snprintf(want, sizeof want, ":3: socket-mode: 'rw' is not an octal mode%s", acc);
    server_fails("socket-mode = rw", want);
    snprintf(want, sizeof want, ":3: socket-mode: '' is not an octal mode%s", acc);
    server_fails("socket-mode =", want);
}

Test(options, log_level)
{
    sp__config c;

    SERVER(c, "log-level = error", log_level, SP_LOG_ERROR);
    SERVER(c, "log-level = warn", log_level, SP_LOG_WARN);
    SERVER(c, "log-level = info", log_level, SP_LOG_INFO);
    SERVER(c, "log-level = DEBUG", log_level, SP_LOG_DEBUG);
    server_fails("log-level = verbose", ":3: log-level: 'verbose' is not a known value "
                                        "(accepted: one of error, warn, info, debug)");
    server_fails("log-level = warning", ":3: log-level: 'warning' is not a known value "
                                        "(accepted: one of error, warn, info, debug)");
}

/* ---- bool and string: setters without a table key yet ---------------------- */

Test(options, bool_setter)
{
    const sp__option flag = {
        "flag", SP__SEC_SERVER, SP__T_BOOL, offsetof(sp__config, backlog), 0, 1, NULL,
        NULL,   NULL,           "a flag"};
    const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "ON"};
    const char *no[] = {"false", "no", "off", "0", "False", "NO"};
    sp__origin o = {"t.ini", 4};
    sp__config c = {0};
    char err[256];

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        c.backlog = 7;
        cr_assert_eq(sp__option_set(&c, &flag, yes[i], &o, NULL, err, sizeof err), 0);
        cr_assert_eq(c.backlog, 1, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        c.backlog = 7;
        cr_assert_eq(sp__option_set(&c, &flag, no[i], &o, NULL, err, sizeof err), 0);
        cr_assert_eq(c.backlog, 0, "%s", no[i]);
    }
    cr_assert_eq(sp__option_set(&c, &flag, "maybe", &o, NULL, err, sizeof err), -1);
    cr_assert_str_eq(err, "t.ini:4: flag: 'maybe' is not a boolean (accepted: true, false, yes, "
                          "no, on, off, 1 or 0)");
    cr_assert_eq(c.backlog, 0, "a bad value leaves the field alone");
    cr_assert_eq(sp__option_set(&c, &flag, "", &o, NULL, err, sizeof err), -1);
}

Test(options, string_setter)
{
    const sp__option name = {
        "name", SP__SEC_SERVER, SP__T_STRING, offsetof(sp__config, pidfile), 0, 0, NULL,
        NULL,   NULL,           "a name"};
    sp__origin o = {"t.ini", 1};
    sp__config c;
    char err[256];

    cr_assert_eq(sp__config_init(&c, err, sizeof err), 0);
    cr_assert_eq(sp__option_set(&c, &name, "first", &o, NULL, err, sizeof err), 0);
    cr_assert_eq(sp__option_set(&c, &name, "rel/not a path", &o, NULL, err, sizeof err), 0);
    cr_assert_str_eq(c.pidfile, "rel/not a path"); /* last wins, kept as written */
    sp__config_free(&c);
}

/* ---- path ----------------------------------------------------------------- */

Test(options, paths_resolve_against_the_ini_folder)
{
    char want[PATH_MAX + 32];
    sp__config c;

    server_ok(&c, "pidfile = run/spindle.pid\nlog-file = /var/log/x.log");
    snprintf(want, sizeof want, "%s/run/spindle.pid", real_tmp);
    cr_assert_str_eq(c.pidfile, want);
    cr_assert_str_eq(c.log_file, "/var/log/x.log");
    sp__config_free(&c);

    server_ok(&c, "pidfile = ./a.pid\nlog-file = ../b.log");
    snprintf(want, sizeof want, "%s/a.pid", real_tmp);
    cr_assert_str_eq(c.pidfile, want);
    *strrchr(real_tmp, '/') = '\0';
    snprintf(want, sizeof want, "%s/b.log", real_tmp);
    cr_assert_str_eq(c.log_file, want);
    sp__config_free(&c);
    server_fails("pidfile =", ":3: pidfile: the path is empty (accepted: a file path, relative "
                              "to the ini file's folder)");
}

Test(options, paths_in_an_include_resolve_against_its_own_folder)
{
    char want[PATH_MAX + 32], err[512];
    sp__config c;

    cr_assert_eq(mkdir(at("sub"), 0700), 0);
    put("main.ini", "[server]\nlisten = :8000\ninclude = sub/part.ini\n");
    put("sub/part.ini", "pidfile = p.pid\n[app]\nmodule = m.so\n");
    cr_assert_eq(sp__config_load_file(&c, at("main.ini"), err, sizeof err), 0, "%s", err);
    snprintf(want, sizeof want, "%s/sub/p.pid", real_tmp);
    cr_assert_str_eq(c.pidfile, want);
    snprintf(want, sizeof want, "%s/sub/m.so", real_tmp);
    cr_assert_str_eq(c.modules[0].value, want);
    cr_assert_str_eq(c.modules[0].origin.file, at("sub/part.ini"));
    cr_assert_eq(c.modules[0].origin.line, 3);
    sp__config_free(&c);
}

/* ---- listen --------------------------------------------------------------- */

static const struct sockaddr_in *v4(const sp__listen *l)
{
    cr_assert_eq(l->addr.ss_family, AF_INET);
    cr_assert_eq(l->addrlen, sizeof(struct sockaddr_in));
    return (const struct sockaddr_in *)&l->addr;
}

Test(options, listen_forms)
{
    char want[PATH_MAX + 32];
    const struct sockaddr_in6 *s6;
    const struct sockaddr_un *su;
    sp__config c;

    load(&c, "[server]\n"
             "listen = 127.0.0.1:8000\n"
             "listen = [::1]:8080\n"
             "listen = *:81\n"
             "listen = :82\n"
             "listen = unix:/run/app.sock\n"
             "listen = unix:rel.sock\n"
             "listen = uwsgi://127.0.0.1:9000\n"
             "listen = uwsgi://unix:/run/u.sock\n");
    cr_assert_eq(c.n_listen, 8);
    cr_assert_str_eq(c.listen[0].text, "127.0.0.1:8000");
    cr_assert_eq(c.listen[0].kind, SP__LISTEN_TCP);
    cr_assert_eq(c.listen[0].proto, SP__PROTO_HTTP);
    cr_assert_eq(ntohs(v4(&c.listen[0])->sin_port), 8000);
    cr_assert_eq(ntohl(v4(&c.listen[0])->sin_addr.s_addr), INADDR_LOOPBACK);
    cr_assert_eq(c.listen[0].origin.line, 2);
    cr_assert_str_eq(c.listen[0].origin.file, at("x.ini"));

    s6 = (const struct sockaddr_in6 *)&c.listen[1].addr;
    cr_assert_eq(s6->sin6_family, AF_INET6);
    cr_assert_eq(ntohs(s6->sin6_port), 8080);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));

    cr_assert_eq(ntohl(v4(&c.listen[2])->sin_addr.s_addr), INADDR_ANY);
    cr_assert_eq(ntohs(v4(&c.listen[2])->sin_port), 81);
    cr_assert_eq(ntohl(v4(&c.listen[3])->sin_addr.s_addr), INADDR_ANY);
    cr_assert_eq(ntohs(v4(&c.listen[3])->sin_port), 82);

    cr_assert_eq(c.listen[4].kind, SP__LISTEN_UNIX);
    cr_assert_str_eq(c.listen[4].path, "/run/app.sock");
    su = (const struct sockaddr_un *)&c.listen[4].addr;
    cr_assert_eq(su->sun_family, AF_UNIX);
    cr_assert_str_eq(su->sun_path, "/run/app.sock");
    snprintf(want, sizeof want, "%s/rel.sock", real_tmp);
    cr_assert_str_eq(c.listen[5].path, want);
    cr_assert_str_eq(c.listen[5].text, "unix:rel.sock");

    cr_assert_eq(c.listen[6].proto, SP__PROTO_UWSGI);
    cr_assert_eq(c.listen[6].kind, SP__LISTEN_TCP);
    cr_assert_eq(ntohs(v4(&c.listen[6])->sin_port), 9000);
    cr_assert_eq(c.listen[7].proto, SP__PROTO_UWSGI);
    cr_assert_eq(c.listen[7].kind, SP__LISTEN_UNIX);
    cr_assert_str_eq(c.listen[7].path, "/run/u.sock");
    cr_assert_str_eq(c.listen[7].text, "uwsgi://unix:/run/u.sock");
    sp__config_free(&c);
}

Test(options, listen_errors)
{
    fails("[server]\nlisten = :99999\n", ":2: listen: port 99999 is out of range" LISTEN_ACC);
    fails("[server]\nlisten = 1.2.3.4:0\n", ":2: listen: port 0 is out of range" LISTEN_ACC);
    fails("[server]\nlisten = :123456\n", ":2: listen: port 123456 is out of range" LISTEN_ACC);
    fails("[server]\nlisten = :http\n", ":2: listen: 'http' is not a port number" LISTEN_ACC);
    fails("[server]\nlisten = localhost\n", ":2: listen: 'localhost' has no :port" LISTEN_ACC);
    fails("[server]\nlisten = ::1:80\n",
          ":2: listen: an IPv6 address needs brackets, like [::1]:8000" LISTEN_ACC);
    fails("[server]\nlisten = [::1]\n", ":2: listen: '[::1]' is not [v6addr]:port" LISTEN_ACC);
    fails("[server]\nlisten = []:80\n", ":2: listen: '[]:80' is not [v6addr]:port" LISTEN_ACC);
    fails("[server]\nlisten = unix:\n", ":2: listen: unix: needs a socket path" LISTEN_ACC);
    fails("[server]\nlisten = uwsgi://:0\n", ":2: listen: port 0 is out of range" LISTEN_ACC);
}

Test(options, listen_unresolvable_host)
{
    sp__config c;
    char err[512], want[512];

    put("x.ini", "[server]\n\nlisten = nowhere.invalid:80\n");
    cr_assert_eq(sp__config_load_file(&c, at("x.ini"), err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:3: listen: cannot resolve 'nowhere.invalid': ", at("x.ini"));
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
    cr_assert(strstr(err, LISTEN_ACC), "%s", err);
}

Test(options, listen_unix_path_too_long)
{
    char line[300], want[600];

    snprintf(line, sizeof line, "[server]\nlisten = unix:/%0150d\n", 0);
    snprintf(want, sizeof want,
             ":2: listen: the socket path is 151 bytes long, more than 107" LISTEN_ACC);
    fails(line, want);
}

Test(options, listen_is_required)
{
    fails("[server]\nthreads = 2\n", ": listen: at least one listen is required" LISTEN_ACC);
    fails("", ": listen: at least one listen is required" LISTEN_ACC);
}

/* ---- app: module, middleware, route ---------------------------------------- */

Test(options, modules_and_middleware_accumulate_in_order)
{
    char want[PATH_MAX + 32];
    sp__config c;

    load(&c, "[server]\nlisten = :1\n[app]\n"
             "module = a.so\nmiddleware = request_id\n"
             "module = /abs/b.so\nmiddleware = access_log\n"
             "module = ../c.so\nmiddleware = my.mod-1:wrap_2\n");
    cr_assert_eq(c.n_modules, 3);
    snprintf(want, sizeof want, "%s/a.so", real_tmp);
    cr_assert_str_eq(c.modules[0].value, want);
    cr_assert_str_eq(c.modules[1].value, "/abs/b.so");
    *strrchr(real_tmp, '/') = '\0';
    snprintf(want, sizeof want, "%s/c.so", real_tmp);
    cr_assert_str_eq(c.modules[2].value, want);
    cr_assert_eq(c.modules[2].origin.line, 8);
    cr_assert_eq(c.n_middleware, 3);
    cr_assert_str_eq(c.middleware[0].value, "request_id");
    cr_assert_str_eq(c.middleware[1].value, "access_log");
    cr_assert_str_eq(c.middleware[2].value, "my.mod-1:wrap_2");
    cr_assert_eq(c.middleware[1].origin.line, 7);
    sp__config_free(&c);
}

#define MW_ACC " (accepted: a name like access_log, or module:symbol)"

Test(options, middleware_errors)
{
    fails("[app]\nmiddleware = foo-bar\n",
          ":2: middleware: 'foo-bar' is not a name or module:symbol" MW_ACC);
    fails("[app]\nmiddleware = 1abc\n",
          ":2: middleware: '1abc' is not a name or module:symbol" MW_ACC);
    fails("[app]\nmiddleware = mod:\n",
          ":2: middleware: 'mod:' is not a name or module:symbol" MW_ACC);
    fails("[app]\nmiddleware = :fn\n",
          ":2: middleware: ':fn' is not a name or module:symbol" MW_ACC);
    fails("[app]\nmiddleware = a:b:c\n", ":2: middleware: 'a:b:c' is not a name or "
                                         "module:symbol" MW_ACC);
    fails("[app]\nmodule =\n", ":2: module: the path is empty (accepted: a path to a module .so, "
                               "relative to the ini file's folder)");
}

Test(options, routes)
{
    sp__config c;

    load(&c, "[server]\nlisten = :1\n[app]\n"
             "route = GET /hello hello:hello\n"
             "route =   *  \t /x/{id}/*   my-mod.v2:get_x \n"
             "route = M-SEARCH / m:f\n");
    cr_assert_eq(c.n_routes, 3);
    cr_assert_str_eq(c.routes[0].method, "GET");
    cr_assert_str_eq(c.routes[0].pattern, "/hello");
    cr_assert_str_eq(c.routes[0].module, "hello");
    cr_assert_str_eq(c.routes[0].symbol, "hello");
    cr_assert_eq(c.routes[0].origin.line, 4);
    cr_assert_str_eq(c.routes[1].method, "*");
    cr_assert_str_eq(c.routes[1].pattern, "/x/{id}/*");
    cr_assert_str_eq(c.routes[1].module, "my-mod.v2");
    cr_assert_str_eq(c.routes[1].symbol, "get_x");
    cr_assert_str_eq(c.routes[2].method, "M-SEARCH");
    sp__config_free(&c);
}

#define ROUTE_ACC " (accepted: METHOD /path module:symbol, like GET /hello hello:hello)"

Test(options, route_errors)
{
    fails("[app]\nroute = GET /x\n", ":2: route: 'GET /x' has 2 fields, not 3" ROUTE_ACC);
    fails("[app]\nroute =\n", ":2: route: '' has 0 fields, not 3" ROUTE_ACC);
    fails("[app]\nroute = GET\n", ":2: route: 'GET' has 1 field, not 3" ROUTE_ACC);
    fails("[app]\nroute = GET /x a:b extra\n",
          ":2: route: 'GET /x a:b extra' has more than 3 fields" ROUTE_ACC);
    fails("[app]\nroute = get /x a:b\n",
          ":2: route: 'get' is not an uppercase method or *" ROUTE_ACC);
    fails("[app]\nroute = G!T /x a:b\n",
          ":2: route: 'G!T' is not an uppercase method or *" ROUTE_ACC);
    fails("[app]\nroute = GET x a:b\n", ":2: route: 'x' does not start with /" ROUTE_ACC);
    fails("[app]\nroute = GET /x ab\n", ":2: route: 'ab' is not module:symbol" ROUTE_ACC);
    fails("[app]\nroute = GET /x a:1b\n", ":2: route: 'a:1b' is not module:symbol" ROUTE_ACC);
    fails("[app]\nroute = GET /x :b\n", ":2: route: ':b' is not module:symbol" ROUTE_ACC);
}

/* ---- keys and sections ------------------------------------------------------- */

Test(options, unknown_keys_and_wrong_sections)
{
    fails("[server]\nthread = 4\n", ":2: thread: unknown key in [server] (did you mean "
                                    "'threads'?)");
    fails("[server]\nlimit_body = 4\n", ":2: limit_body: unknown key in [server] (did you "
                                        "mean 'limit-body'?)");
    fails("[server]\nmodules = a.so\n", ":2: modules: unknown key in [server] (did you mean "
                                        "'module' in [app]?)");
    fails("[server]\nfrobnicate = 1\n", ":2: frobnicate: unknown key in [server] (accepted: "
                                        "the keys spindle --help lists)");
    fails("[server]\nmodule = a.so\n", ":2: module: belongs in [app], not [server]");
    fails("[app]\n\nthreads = 4\n", ":3: threads: belongs in [server], not [app]");
}

#define SECTION_ACC " (accepted: [server], [app], [tasks], [cron], [module:NAME])"

Test(options, sections)
{
    fails("[Tasks]\n", ":1: [Tasks]: unknown section" SECTION_ACC);
    fails("[server]\nlisten = :1\n[tasks]\ntasks-backend = redis://h:0/1\n",
          ": tasks-backend: 'redis://h:0/1' is not a Redis URL (accepted: redis://host:port or "
          "redis://host:port/db, db 0-1000)");
    fails("[server]\nlisten = :1\n[tasks]\ntasks-backend = redis://h:6379/x\n",
          ": tasks-backend: 'redis://h:6379/x' is not a Redis URL (accepted: redis://host:port or "
          "redis://host:port/db, db 0-1000)");
    fails("[tasks]\nthreads = 2\n", ":2: threads: belongs in [server], not [tasks]");
    fails("[server]\ntask-threads = 2\n", ":2: task-threads: belongs in [tasks], not [server]");
    fails("[server]\nlisten = :1\n[cron]\n* * * * *\n",
          ":4: cron: expected MIN HOUR DOM MON DOW module:function, or a seconds field first in "
          "'* * * * *' (accepted: [SEC] MIN HOUR DOM MON DOW module:function)");
    fails("[Server]\n", ":1: [Server]: unknown section" SECTION_ACC);
    fails("[module]\n", ":1: [module]: unknown section" SECTION_ACC);
    fails("[module:]\n", ":1: [module:]: a module section needs a name of letters, digits, '_', "
                         "'.' or '-'" SECTION_ACC);
    fails("[module:a b]\n", ":1: [module:a b]: a module section needs a name of letters, "
                            "digits, '_', '.' or '-'" SECTION_ACC);
    fails("threads = 4\n", ":1: threads: comes before any section (accepted: a key under "
                           "[server], [app] or [module:NAME])");
}

Test(options, missing_file)
{
    sp__config c;
    char err[256];

    cr_assert_eq(sp__config_load_file(&c, "missing.ini", err, sizeof err), -1);
    cr_assert_str_eq(err, "missing.ini: cannot open: No such file or directory");
}

Test(options, module_sections_and_the_public_accessors)
{
    const struct sp_section *s, *none;
    const char *k, *v;
    long n;
    sp__config c;

    load(&c, "[module:access_log]\nfile = /var/log/a.log\nformat = %h %r = x\n"
             "[server]\nlisten = :1\n"
             "[module:cache]\nsize = 12\nbad = 12x\nbig = 99999\n"
             "[module:access_log]\nfile = /tmp/b.log\nflag\n");
    cr_assert_eq(c.n_sections, 2);
    s = sp__config_section(&c, "access_log");
    cr_assert_str_eq(s->name, "access_log");
    cr_assert_eq(sp_conf_count(s), 4);
    cr_assert_str_eq(sp_conf_get(s, "file"), "/tmp/b.log"); /* the last line wins */
    cr_assert_str_eq(sp_conf_get(s, "format"), "%h %r = x");
    cr_assert_str_eq(sp_conf_get(s, "flag"), "true");
    cr_assert_null(sp_conf_get(s, "nope"));
    cr_assert_eq(sp_conf_at(s, 0, &k, &v), SP_OK);
    cr_assert_str_eq(k, "file");
    cr_assert_str_eq(v, "/var/log/a.log");
    cr_assert_eq(sp_conf_at(s, 2, &k, &v), SP_OK);
    cr_assert_str_eq(v, "/tmp/b.log");
    cr_assert_eq(sp_conf_at(s, 4, &k, &v), SP_EINVAL);
    cr_assert_eq(s->items[2].origin.line, 11);

    s = sp__config_section(&c, "cache");
    cr_assert_eq(sp_conf_int(s, "size", 5, 0, 100, &n), SP_OK);
    cr_assert_eq(n, 12);
    cr_assert_eq(sp_conf_int(s, "absent", 5, 0, 100, &n), SP_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(sp_conf_int(s, "bad", 5, 0, 100, &n), SP_EINVAL);
    cr_assert_eq(n, 5);
    cr_assert_eq(sp_conf_int(s, "big", 5, 0, 100, &n), SP_EINVAL);

    none = sp__config_section(&c, "nothing");
    cr_assert_not_null(none);
    cr_assert_eq(sp_conf_count(none), 0);
    cr_assert_null(sp_conf_get(none, "file"));
    cr_assert_null(sp_conf_get(NULL, "file"));
    cr_assert_eq(sp_conf_count(NULL), 0);
    sp__config_free(&c);
}

/* A time zone is checked when the config is read, not when cron starts. */
Test(options, cron_timezone_checked_when_read)
{
    fails("[server]\nlisten = 127.0.0.1:1\n[tasks]\ncron-timezone = Mars/Olympus\n",
          ":4: cron-timezone: 'Mars/Olympus' is not a time zone (accepted: UTC or a zone "
          "name under /usr/share/zoneinfo, like Europe/Paris)");
    fails("[server]\nlisten = 127.0.0.1:1\n[tasks]\ncron-timezone = ../../etc/passwd\n",
          ":4: cron-timezone: '../../etc/passwd' is not a time zone (accepted: UTC or a zone "
          "name under /usr/share/zoneinfo, like Europe/Paris)");
}

/* instance defaults to the host name (as a name: other bytes become '-')
 * and is checked when read; task-lease is a duration of at least 1 s. */
Test(options, instance_and_task_lease)
{
    sp__config c;
    char host[64];

    server_ok(&c, "");
    cr_assert_eq(gethostname(host, sizeof host), 0);
    host[sizeof host - 1] = '\0';
    cr_assert_eq(strlen(c.instance), strlen(host));
    for (size_t i = 0; host[i]; i++)
        cr_assert(c.instance[i] == host[i] || c.instance[i] == '-', "%s from %s", c.instance, host);
    cr_assert_eq(c.task_lease_ms, 30000);
    sp__config_free(&c);
    load(&c, "[server]\nlisten = 127.0.0.1:1\n[tasks]\ninstance = web-2.eu_west\n"
             "task-lease = 1500ms\n");
    cr_assert_str_eq(c.instance, "web-2.eu_west");
    cr_assert_eq(c.task_lease_ms, 1500);
    sp__config_free(&c);
    fails("[server]\nlisten = 127.0.0.1:1\n[tasks]\ninstance = web:1\n",
          ":4: instance: 'web:1' has ':', which a name may not hold (accepted: 1 to 63 letters, "
          "digits, '.', '_' or '-')");
    fails("[server]\nlisten = 127.0.0.1:1\n[tasks]\ninstance =\n",
          ":4: instance: the name is empty (accepted: 1 to 63 letters, digits, '.', '_' or '-')");
    fails("[server]\nlisten = 127.0.0.1:1\n[tasks]\ntask-lease = 500ms\n",
          ":4: task-lease: 500ms is out of range (accepted: a duration from 1s to 1440m: seconds, "
          "or with suffix ms, s or m)");
}

/* Every typed key in the table refuses a value of the wrong shape with one
 * line naming file:line and the key, and what it accepts, so a key added
 * to the table is covered without a test of its own. */
Test(options, every_typed_key_refuses_a_bad_value)
{
    size_t n;
    const sp__option *opts = sp__options(&n);
    int checked = 0;

    for (size_t i = 0; i < n; i++) {
        const sp__option *o = &opts[i];
        const char *bad = o->type == SP__T_INT || o->type == SP__T_SIZE ||
                                  o->type == SP__T_DURATION || o->type == SP__T_MODE
                              ? "twelve"
                          : o->type == SP__T_BOOL || o->type == SP__T_ENUM ? "perhaps"
                          : o->type == SP__T_ZONE                          ? "Mars/Olympus"
                          : o->type == SP__T_NAME                          ? "web:1"
                                                                           : NULL;
        if (bad == NULL)
            continue;
        char text[256], want[128], err[512];
        sp__config cfg;
        const char *sec = sp__section_name(o->section);
        /* the key is line 3 in its section, after a [server] listen */
        snprintf(text, sizeof(text), "[server]\nlisten = 127.0.0.1:1\n%s%s%s%s = %s\n",
                 strcmp(sec, "server") ? "[" : "", strcmp(sec, "server") ? sec : "",
                 strcmp(sec, "server") ? "]\n" : "", o->key, bad);
        put("x.ini", text);
        int line = strcmp(sec, "server") ? 4 : 3;
        snprintf(want, sizeof(want), "x.ini:%d: %s: ", line, o->key);
        cr_assert_eq(sp__config_load_file(&cfg, at("x.ini"), err, sizeof(err)), -1,
                     "%s = %s was accepted", o->key, bad);
        cr_assert(strstr(err, want) != NULL, "%s: error line %s lacks %s", o->key, err, want);
        cr_assert(strstr(err, "(accepted: ") != NULL, "%s: %s says nothing of what is accepted",
                  o->key, err);
        checked++;
    }
    cr_assert_gt(checked, 20, "only %d typed keys found", checked);
}
