/*
 * conf_fixture.h - shared set-up for the conf/ unit tests (test_options.c,
 * test_cli.c): a fresh mkdtemp folder per test, removed afterwards, and
 * helpers that write an ini file there and load it, expecting success or
 * one exact error line.  Each test file includes it once and declares
 *   TestSuite(name, .init = setup, .fini = teardown);
 */
#ifndef SPINDLE_TESTS_CONF_FIXTURE_H
#define SPINDLE_TESTS_CONF_FIXTURE_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/options.h"

static char tmp[64];
static char real_tmp[PATH_MAX]; /* tmp as realpath spells it: how paths come out */
static char paths[8][512];
static int next_path;

static inline int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static inline void setup(void)
{
    strcpy(tmp, "/tmp/sp_opt_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    cr_assert_not_null(realpath(tmp, real_tmp));
}

static inline void teardown(void)
{
    nftw(tmp, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static inline const char *at(const char *name)
{
    char *p = paths[next_path++ % 8];

    snprintf(p, 512, "%s/%s", tmp, name);
    return p;
}

static inline void put(const char *name, const char *text)
{
    FILE *f = fopen(at(name), "w");

    cr_assert_not_null(f, "cannot write %s", name);
    fputs(text, f);
    fclose(f);
}

/* Load text as x.ini; it must succeed. */
static inline void load(sp__config *cfg, const char *text)
{
    char err[512];

    put("x.ini", text);
    cr_assert_eq(sp__config_load_file(cfg, at("x.ini"), err, sizeof err), 0, "load: %s", err);
}

/* Load text as x.ini; it must fail with exactly "<tmp>/x.ini" + expect. */
static inline void fails(const char *text, const char *expect)
{
    sp__config cfg;
    char err[512], want[2048];

    put("x.ini", text);
    snprintf(want, sizeof want, "%s/x.ini%s", tmp, expect);
    cr_assert_eq(sp__config_load_file(&cfg, at("x.ini"), err, sizeof err), -1, "want %s", want);
    cr_assert_str_eq(err, want);
}

/* One [server] key after a listen, so the line of interest is line 3. */
static inline void server_ok(sp__config *cfg, const char *line)
{
    char text[512];

    snprintf(text, sizeof text, "[server]\nlisten = 127.0.0.1:8000\n%s\n", line);
    load(cfg, text);
}

static inline void server_fails(const char *line, const char *expect)
{
    char text[512];

    snprintf(text, sizeof text, "[server]\nlisten = 127.0.0.1:8000\n%s\n", line);
    fails(text, expect);
}

#define SERVER(cfg, line, field, want)                                                             \
    do {                                                                                           \
        server_ok(&cfg, line);                                                                     \
        cr_assert_eq(cfg.field, want, "%s", line);                                                 \
        sp__config_free(&cfg);                                                                     \
    } while (0)

#define LISTEN_ACC " (accepted: host:port, [v6]:port or unix:/path, port 1-65535)"

#endif /* SPINDLE_TESTS_CONF_FIXTURE_H */
