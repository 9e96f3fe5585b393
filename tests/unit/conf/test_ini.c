/*
 * test_ini.c - the server.ini reader (conf/ini.c): syntax only.
 *
 * Most tests drive sp__ini_read with a callback that records every line it
 * is handed, so they check exactly what the reader passes on (section,
 * key, value, file, line) without involving the option table; the error
 * tests check the one-line "file:line: key: problem" messages, whole.
 * Files are written under a fresh mkdtemp folder per test.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/ini.h"

static char tmp[64];
static char paths[8][512];
static int next_path;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void setup(void)
{
    strcpy(tmp, "/tmp/sp_ini_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
    nftw(tmp, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(ini, .init = setup, .fini = teardown);

/* The full path of name inside the test folder (a few kept at once). */
static const char *at(const char *name)
{
    char *p = paths[next_path++ % 8];

    snprintf(p, 512, "%s/%s", tmp, name);
    return p;
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(at(name), "w");

    cr_assert_not_null(f, "cannot write %s", name);
    fputs(text, f);
    fclose(f);
}

/* ---- a callback that records ------------------------------------------- */

struct rec {
    char lines[32][256]; /* "section|key|value|file-basename:line" */
    int n;
    const char *fail_on; /* key to reject, to test callback errors */
};

static int record(void *ctx, const sp__ini_line *l, char *err, size_t errlen)
{
    struct rec *r = ctx;
    const char *base = strrchr(l->file, '/');

    if (r->fail_on && l->key && strcmp(l->key, r->fail_on) == 0) {
        snprintf(err, errlen, "rejected %s", l->key);
        return -1;
    }
    cr_assert_lt(r->n, 32);
    snprintf(r->lines[r->n++], 256, "%s|%s|%s|%s:%d", l->section ? l->section : "-",
             l->key ? l->key : "-", l->value ? l->value : "-", base ? base + 1 : l->file, l->line);
    cr_assert(l->dir[0] == '/', "dir is absolute: %s", l->dir);
    return 0;
}

static void read_ok(const char *name, struct rec *r)
{
    char err[512];
    int rc = sp__ini_read(at(name), record, r, err, sizeof err);

    cr_assert_eq(rc, 0, "read failed: %s", err);
}

/* Read name; it must fail with exactly "<tmp>/" + expect. */
static void read_fails(const char *name, const char *expect)
{
    struct rec r = {.n = 0};
    char err[512], want[512];
    int rc = sp__ini_read(at(name), record, &r, err, sizeof err);

    snprintf(want, sizeof want, "%s/%s", tmp, expect);
    cr_assert_eq(rc, -1, "read should fail with %s", want);
    cr_assert_str_eq(err, want);
    cr_assert_null(strchr(err, '\n'));
}

/* ---- syntax ------------------------------------------------------------- */

Test(ini, comments_blanks_and_whitespace)
{
    struct rec r = {.n = 0};

    put("a.ini", "; a comment\n"
                 "# another\n"
                 "\n"
                 "   \t\n"
                 "  [server]  \n"
                 "   ; indented comment\n"
                 "  threads   =   8  \n"
                 "key=value with  inner  spaces\n"
                 "empty =\n"
                 "eq = a=b\n");
    read_ok("a.ini", &r);
    cr_assert_eq(r.n, 5);
    cr_assert_str_eq(r.lines[0], "server|-|-|a.ini:5");
    cr_assert_str_eq(r.lines[1], "server|threads|8|a.ini:7");
    cr_assert_str_eq(r.lines[2], "server|key|value with  inner  spaces|a.ini:8");
    cr_assert_str_eq(r.lines[3], "server|empty||a.ini:9");
    cr_assert_str_eq(r.lines[4], "server|eq|a=b|a.ini:10");
}

Test(ini, bare_key_means_true)
{
    struct rec r = {.n = 0};

    put("a.ini", "[app]\nverbose\n  other  \n");
    read_ok("a.ini", &r);
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.lines[1], "app|verbose|true|a.ini:2");
    cr_assert_str_eq(r.lines[2], "app|other|true|a.ini:3");
}

Test(ini, repeated_keys_all_reach_the_callback_in_order)
{
    struct rec r = {.n = 0};

    put("a.ini", "[app]\nmodule = a\nmodule = b\n[server]\nmodule = c\n");
    read_ok("a.ini", &r);
    cr_assert_eq(r.n, 5);
    cr_assert_str_eq(r.lines[1], "app|module|a|a.ini:2");
    cr_assert_str_eq(r.lines[2], "app|module|b|a.ini:3");
    cr_assert_str_eq(r.lines[4], "server|module|c|a.ini:5");
}

Test(ini, crlf_and_bom)
{
    struct rec r = {.n = 0};

    put("a.ini", "\xef\xbb\xbf[server]\r\nthreads = 4\r\n");
    read_ok("a.ini", &r);
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.lines[0], "server|-|-|a.ini:1");
    cr_assert_str_eq(r.lines[1], "server|threads|4|a.ini:2");
}

Test(ini, section_names_are_trimmed_and_passed_on)
{
    struct rec r = {.n = 0};

    put("a.ini", "[ module:access_log ]\nfile = x\n");
    read_ok("a.ini", &r);
    cr_assert_str_eq(r.lines[0], "module:access_log|-|-|a.ini:1");
    cr_assert_str_eq(r.lines[1], "module:access_log|file|x|a.ini:2");
}

Test(ini, syntax_errors)
{
    put("a.ini", "[server]\n= 5\n");
    read_fails("a.ini", "a.ini:2: =: a line starting with '=' has no key (accepted: key = value)");
    put("b.ini", "[server]\nmax threads = 5\n");
    read_fails("b.ini", "b.ini:2: max threads: a key has no spaces (accepted: key = value)");
    put("c.ini", "\n[server\n");
    read_fails("c.ini", "c.ini:2: [server: a section header ends with ']' (accepted: [server], "
                        "[app], [module:NAME])");
    put("d.ini", "[ ]\n");
    read_fails("d.ini", "d.ini:1: []: empty section name (accepted: [server], [app], "
                        "[module:NAME])");
}

Test(ini, key_before_any_section)
{
    put("a.ini", "; top\nthreads = 4\n[server]\n");
    read_fails("a.ini", "a.ini:2: threads: comes before any section (accepted: a key under "
                        "[server], [app] or [module:NAME])");
}

Test(ini, callback_error_stops_reading)
{
    struct rec r = {.n = 0, .fail_on = "bad"};
    char err[256];

    put("a.ini", "[server]\nbad = 1\nlater = 2\n");
    cr_assert_eq(sp__ini_read(at("a.ini"), record, &r, err, sizeof err), -1);
    cr_assert_str_eq(err, "rejected bad");
    cr_assert_eq(r.n, 1);
}

/* ---- $(VAR) -------------------------------------------------------------- */

Test(ini, env_expansion_anywhere_in_a_value)
{
    struct rec r = {.n = 0};

    setenv("SP_TEST_HOST", "127.0.0.1", 1);
    setenv("SP_TEST_PORT", "8080", 1);
    setenv("SP_TEST_EMPTY", "", 1);
    put("a.ini", "[server]\n"
                 "listen = $(SP_TEST_HOST):$(SP_TEST_PORT)\n"
                 "x = [$(SP_TEST_EMPTY)]\n"
                 "y = $ and $x and ( stay\n");
    read_ok("a.ini", &r);
    cr_assert_str_eq(r.lines[1], "server|listen|127.0.0.1:8080|a.ini:2");
    cr_assert_str_eq(r.lines[2], "server|x|[]|a.ini:3");
    cr_assert_str_eq(r.lines[3], "server|y|$ and $x and ( stay|a.ini:4");
}

Test(ini, env_unset_is_an_error_naming_it)
{
    unsetenv("SP_TEST_NOT_SET");
    put("a.ini", "[server]\n\npidfile = /run/$(SP_TEST_NOT_SET).pid\n");
    read_fails("a.ini", "a.ini:3: pidfile: environment variable SP_TEST_NOT_SET is not set");
}

Test(ini, env_malformed_references)
{
    put("a.ini", "[server]\nx = $(OPEN\n");
    read_fails("a.ini", "a.ini:2: x: unterminated $( in '$(OPEN'");
    put("b.ini", "[server]\nx = $()\n");
    read_fails("b.ini", "b.ini:2: x: '$()' is not an environment variable reference "
                        "(accepted: $(NAME))");
    put("c.ini", "[server]\nx = $(A B)\n");
    read_fails("c.ini", "c.ini:2: x: '$(A B)' is not an environment variable reference "
                        "(accepted: $(NAME))");
}

/* ---- include ------------------------------------------------------------- */

Test(ini, include_is_relative_to_the_including_file)
{
    struct rec r = {.n = 0};
    char sub[600];

    snprintf(sub, sizeof sub, "%s/sub", tmp);
    cr_assert_eq(mkdir(sub, 0700), 0);
    put("main.ini", "[server]\nthreads = 1\ninclude = sub/part.ini\nprocesses = 3\n");
    put("sub/part.ini", "backlog = 10\ninclude = deeper.ini\n[app]\nmodule = m\n");
    put("sub/deeper.ini", "listen = :80\n");
    read_ok("main.ini", &r);
    cr_assert_eq(r.n, 7);
    cr_assert_str_eq(r.lines[0], "server|-|-|main.ini:1");
    cr_assert_str_eq(r.lines[1], "server|threads|1|main.ini:2");
    /* the included file starts in the includer's section */
    cr_assert_str_eq(r.lines[2], "server|backlog|10|part.ini:1");
    cr_assert_str_eq(r.lines[3], "server|listen|:80|deeper.ini:1");
    cr_assert_str_eq(r.lines[4], "app|-|-|part.ini:3");
    cr_assert_str_eq(r.lines[5], "app|module|m|part.ini:4");
    /* ... and its [app] does not leak back into main.ini */
    cr_assert_str_eq(r.lines[6], "server|processes|3|main.ini:4");
}

Test(ini, include_at_top_level_before_any_section)
{
    struct rec r = {.n = 0};

    put("main.ini", "include = common.ini\n[app]\nmodule = x\n");
    put("common.ini", "[server]\nthreads = 2\n");
    read_ok("main.ini", &r);
    cr_assert_eq(r.n, 4);
    cr_assert_str_eq(r.lines[1], "server|threads|2|common.ini:2");
    cr_assert_str_eq(r.lines[3], "app|module|x|main.ini:3");
}

Test(ini, include_file_names_its_own_errors)
{
    put("main.ini", "[server]\ninclude = part.ini\n");
    put("part.ini", "\n\nthreads 4\n");
    read_fails("main.ini", "part.ini:3: threads 4: a key has no spaces (accepted: key = value)");
}

Test(ini, include_expands_variables)
{
    struct rec r = {.n = 0};

    setenv("SP_TEST_PART", "part", 1);
    put("main.ini", "[server]\ninclude = $(SP_TEST_PART).ini\n");
    put("part.ini", "threads = 5\n");
    read_ok("main.ini", &r);
    cr_assert_str_eq(r.lines[1], "server|threads|5|part.ini:1");
}

Test(ini, missing_include_names_the_including_line)
{
    char want[512];

    put("main.ini", "[server]\n\ninclude = nothere.ini\n");
    snprintf(want, sizeof want,
             "main.ini:3: include: cannot open %s/nothere.ini: No such file or directory", tmp);
    read_fails("main.ini", want);
}

Test(ini, empty_include)
{
    put("main.ini", "[server]\ninclude =\n");
    read_fails("main.ini", "main.ini:2: include: needs a file name (accepted: a path, relative "
                           "to this file's folder)");
}

Test(ini, include_cycle)
{
    char want[512];

    put("a.ini", "[server]\ninclude = b.ini\n");
    put("b.ini", "x = 1\ninclude = a.ini\n");
    snprintf(want, sizeof want, "b.ini:2: include: include cycle: %s/a.ini is already being read",
             tmp);
    read_fails("a.ini", want);
}

Test(ini, include_self)
{
    char want[512];

    put("a.ini", "[server]\ninclude = ./a.ini\n");
    snprintf(want, sizeof want, "a.ini:2: include: include cycle: %s/./a.ini is already being read",
             tmp);
    read_fails("a.ini", want);
}

Test(ini, include_depth_limit)
{
    char name[32], text[64], want[512];

    /* f0 includes f1 ... includes f16: 17 files open at once. */
    for (int i = 0; i <= SP__INI_MAX_DEPTH; i++) {
        snprintf(name, sizeof name, "f%d.ini", i);
        snprintf(text, sizeof text, "%sinclude = f%d.ini\n", i == 0 ? "[server]\n" : "", i + 1);
        put(name, i == SP__INI_MAX_DEPTH ? "x = 1\n" : text);
    }
    snprintf(want, sizeof want, "f%d.ini:1: include: includes nest deeper than %d",
             SP__INI_MAX_DEPTH - 1, SP__INI_MAX_DEPTH);
    read_fails("f0.ini", want);

    /* One level less is fine. */
    put("f15.ini", "x = 1\n");
    {
        struct rec r = {.n = 0};
        read_ok("f0.ini", &r);
        cr_assert_eq(r.n, 2);
    }
}

/* ---- files ---------------------------------------------------------------- */

Test(ini, missing_file)
{
    char err[256];
    struct rec r = {.n = 0};

    cr_assert_eq(sp__ini_read("missing.ini", record, &r, err, sizeof err), SP_ENOENT);
    cr_assert_str_eq(err, "missing.ini: cannot open: No such file or directory");
}

Test(ini, directory_is_not_a_file)
{
    char err[256], want[512];
    struct rec r = {.n = 0};

    cr_assert_eq(sp__ini_read(tmp, record, &r, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", tmp);
    cr_assert_str_eq(err, want);
}

Test(ini, error_line_is_one_line_even_with_newlines_from_the_environment)
{
    char err[256];

    /* A value from $(VAR) may hold newlines and end up quoted in an error. */
    sp__ini_error(err, sizeof err, "a.ini", 3, "threads", "'%s' is not a number", "1\n2\r");
    cr_assert_str_eq(err, "a.ini:3: threads: '1 2 ' is not a number");
    sp__ini_error(err, sizeof err, "a.ini", 0, "listen", "required");
    cr_assert_str_eq(err, "a.ini: listen: required");
}

Test(ini, error_buffer_is_truncated_safely)
{
    char err[16];
    struct rec r = {.n = 0};

    put("a.ini", "threads = 4\n");
    cr_assert_eq(sp__ini_read(at("a.ini"), record, &r, err, sizeof err), -1);
    cr_assert_eq(strlen(err), sizeof err - 1);
}

/* ---- sp__path_join ---------------------------------------------------------- */

static void joins(const char *dir, const char *rel, const char *want)
{
    char *got = sp__path_join(dir, rel);

    cr_assert_not_null(got);
    cr_assert_str_eq(got, want, "join(%s, %s)", dir, rel);
    free(got);
}

Test(ini, path_join)
{
    joins("/a/b", "c.so", "/a/b/c.so");
    joins("/a/b", "/abs/c.so", "/abs/c.so");
    joins("/a/b", "./c.so", "/a/b/c.so");
    joins("/a/b", "../c.so", "/a/c.so");
    joins("/a/b", "../../c.so", "/c.so");
    joins("/a/b", "../../../c.so", "/c.so");
    joins("/a/b", ".././x/../c.so", "/a/x/../c.so"); /* only leading parts fold */
    joins("/", "c", "/c");
    joins("/a", "..", "/");
    joins("/a/b", ".", "/a/b");
    joins("rel", "../c", "rel/../c"); /* relative folders are not folded */
}
