/*
 * test_section.c - unit tests for app/section.c, the sp_conf_* calls a
 * module reads its own [module:NAME] section with, and
 * sp__config_section, which hands a module its section.
 *
 * The sections are built by hand, as conf/ leaves them after reading
 * server.ini (lines in file order, repeats kept; reading the file itself
 * is conf/test_options.c's).
 *
 * What the file proves: a key read as a setting gives its last line and a
 * key read as a list gives every line in order; sp_conf_int takes exactly
 * a decimal number within [min, max], bounds included, and leaves the
 * default in place when it refuses; a module without a section, or asking
 * with NULL, gets an empty section rather than a crash.  The typed getters
 * (1.6) accept the very words server.ini's own keys do (the conf/ parsers),
 * leave the default on a refusal and log file:line, the key, the value and
 * what is accepted; sp__conf_value_check, what start and -t run on
 * declared keys, agrees with them; sp_app_threads/_processes read the
 * server's config.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "conf/config.h"
#include "tests/common/log_capture.h"

static sp__kv items[] = {
    {"file", "/var/log/a.log", {"x.ini", 2}},
    {"size", "12", {"x.ini", 3}},
    {"allow", "10.0.0.0/8", {"x.ini", 4}},
    {"file", "/tmp/b.log", {"x.ini", 5}},
    {"allow", "::1", {"x.ini", 6}},
    {"neg", "-40", {"x.ini", 7}},
    {"hex", "0x10", {"x.ini", 8}},
    {"tail", "12x", {"x.ini", 9}},
    {"empty", "", {"x.ini", 10}},
    {"huge", "99999999999999999999999", {"x.ini", 11}},
    {"lmax", "", {"x.ini", 12}}, /* LONG_MAX, filled in by setup */
};
static struct sp_section cache = {"cache", items, sizeof items / sizeof items[0], {"x.ini", 1}};
static struct sp_section other = {"cache.v2", NULL, 0, {"x.ini", 13}};
static struct sp_section sections[2];
static sp__config cfg;
static char lmax[32];

static void setup(void)
{
    log_capture_start(SP_LOG_ERROR);
    snprintf(lmax, sizeof lmax, "%ld", LONG_MAX);
    items[10].value = lmax;
    sections[0] = other;
    sections[1] = cache;
    memset(&cfg, 0, sizeof cfg);
    cfg.sections = sections;
    cfg.n_sections = 2;
}

static void teardown(void)
{
    log_capture_stop();
}

TestSuite(section, .init = setup, .fini = teardown);

Test(section, a_module_gets_its_own_section_by_exact_name)
{
    const sp_section *s = sp__config_section(&cfg, "cache");

    cr_assert_eq(s, &sections[1]);
    cr_assert_eq(sp__config_section(&cfg, "cache.v2"), &sections[0]);
    /* No prefix, no other case: another module's section is not this one's. */
    const char *strangers[] = {"cach", "Cache", "cache.v", "", "cache "};
    for (size_t i = 0; i < sizeof strangers / sizeof strangers[0]; i++) {
        const sp_section *none = sp__config_section(&cfg, strangers[i]);
        cr_assert_not_null(none, "'%s'", strangers[i]);
        cr_assert_eq(sp_conf_count(none), 0, "'%s' found a section", strangers[i]);
    }
}

/* A module without a section, or with no config at all, reads an empty
 * one through every call, without checking for NULL first. */
Test(section, no_section_reads_as_empty)
{
    const sp_section *none = sp__config_section(NULL, "cache");
    const char *k = "unset", *v = "unset";
    long n = -1;

    cr_assert_not_null(none);
    cr_assert_eq(sp_conf_count(none), 0);
    cr_assert_null(sp_conf_get(none, "file"));
    cr_assert_eq(sp_conf_at(none, 0, &k, &v), SP_EINVAL);
    cr_assert_str_eq(k, "unset", "a refused sp_conf_at wrote its outputs");
    cr_assert_eq(sp_conf_int(none, "size", 7, 0, 100, &n), SP_OK);
    cr_assert_eq(n, 7);
    cr_assert_eq(sp_conf_int(NULL, "size", 8, 0, 100, &n), SP_OK);
    cr_assert_eq(n, 8);
    cr_assert_null(sp_conf_get(&cache, NULL));
}

Test(section, a_setting_is_its_last_line)
{
    cr_assert_str_eq(sp_conf_get(&cache, "file"), "/tmp/b.log");
    cr_assert_str_eq(sp_conf_get(&cache, "allow"), "::1");
    cr_assert_str_eq(sp_conf_get(&cache, "size"), "12");
    cr_assert_str_eq(sp_conf_get(&cache, "empty"), "", "present but empty is not absent");
    cr_assert_null(sp_conf_get(&cache, "fil"));
    cr_assert_null(sp_conf_get(&cache, "FILE"), "keys are case-sensitive");
}

/* A list is read with sp_conf_at: every line, in file order. */
Test(section, a_list_is_every_line_in_order)
{
    const char *want[] = {"10.0.0.0/8", "::1"};
    size_t seen = 0;
    const char *k, *v;

    cr_assert_eq(sp_conf_count(&cache), sizeof items / sizeof items[0]);
    for (size_t i = 0; i < sp_conf_count(&cache); i++) {
        cr_assert_eq(sp_conf_at(&cache, i, &k, &v), SP_OK);
        cr_assert_str_eq(k, items[i].key);
        if (strcmp(k, "allow") == 0) {
            cr_assert_lt(seen, 2);
            cr_assert_str_eq(v, want[seen++]);
        }
    }
    cr_assert_eq(seen, 2);
    /* Either output may be skipped. */
    cr_assert_eq(sp_conf_at(&cache, 3, NULL, &v), SP_OK);
    cr_assert_str_eq(v, "/tmp/b.log");
    cr_assert_eq(sp_conf_at(&cache, 3, &k, NULL), SP_OK);
    cr_assert_str_eq(k, "file");
    cr_assert_eq(sp_conf_at(&cache, sp_conf_count(&cache), &k, &v), SP_EINVAL);
}

Test(section, int_within_bounds)
{
    long n = 0;

    cr_assert_eq(sp_conf_int(&cache, "size", 5, 0, 100, &n), SP_OK);
    cr_assert_eq(n, 12);
    cr_assert_eq(sp_conf_int(&cache, "size", 5, 12, 12, &n), SP_OK, "bounds are inclusive");
    cr_assert_eq(n, 12);
    cr_assert_eq(sp_conf_int(&cache, "neg", 5, -40, 0, &n), SP_OK);
    cr_assert_eq(n, -40);
    cr_assert_eq(sp_conf_int(&cache, "lmax", 5, 0, LONG_MAX, &n), SP_OK);
    cr_assert_eq(n, LONG_MAX);
    cr_assert_eq(sp_conf_int(&cache, "absent", 5, 0, 100, &n), SP_OK);
    cr_assert_eq(n, 5, "an absent key is the default");
}

/* A refused value leaves the default in *out, so a module that only logs
 * the error still runs with a sane value. */
Test(section, int_refusals_leave_the_default)
{
    static const struct {
        const char *key;
        long min, max;
    } bad[] = {
        {"size", 13, 100},     /* below min */
        {"size", 0, 11},       /* above max */
        {"neg", -39, 0},       /* below a negative min */
        {"hex", 0, 100},       /* decimal only */
        {"tail", 0, 100},      /* trailing bytes */
        {"empty", 0, 100},     /* no digits */
        {"huge", 0, LONG_MAX}, /* past what a long holds */
        {"file", 0, 100},      /* no number at all */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long n = -1;
        cr_assert_eq(sp_conf_int(&cache, bad[i].key, 77, bad[i].min, bad[i].max, &n), SP_EINVAL,
                     "%s = '%s' accepted in [%ld, %ld]", bad[i].key,
                     sp_conf_get(&cache, bad[i].key), bad[i].min, bad[i].max);
        cr_assert_eq(n, 77, "%s: *out is %ld, not the default", bad[i].key, n);
    }
}

/* ---- typed getters (ABI 1.6) ---------------------------------------------- */

static sp__kv typed_items[] = {
    {"t1", "true", {"m.ini", 2}},
    {"t2", "YES", {"m.ini", 3}},
    {"t3", "on", {"m.ini", 4}},
    {"t4", "1", {"m.ini", 5}},
    {"f1", "False", {"m.ini", 6}},
    {"f2", "no", {"m.ini", 7}},
    {"f3", "OFF", {"m.ini", 8}},
    {"f4", "0", {"m.ini", 9}},
    {"b", "maybe", {"m.ini", 10}},
    {"s1", "4096", {"m.ini", 11}},
    {"s2", "8k", {"m.ini", 12}},
    {"s3", "2M", {"m.ini", 13}},
    {"s4", "1g", {"m.ini", 14}},
    {"sb", "8kb", {"m.ini", 15}},
    {"sn", "-1", {"m.ini", 16}},
    {"d1", "30", {"m.ini", 17}},
    {"d2", "250ms", {"m.ini", 18}},
    {"d3", "2m", {"m.ini", 19}},
    {"d4", "5s", {"m.ini", 20}},
    {"db", "1h", {"m.ini", 21}},
    {"sbig", "99999999999999999999g", {"m.ini", 22}},
    {"n", "12", {"m.ini", 23}},
    {"nb", "twelve", {"m.ini", 24}},
};
static struct sp_section typed = {
    "crawl", typed_items, sizeof typed_items / sizeof typed_items[0], {"m.ini", 1}};

Test(section, bool_accepts_the_cores_words)
{
    const char *t[] = {"t1", "t2", "t3", "t4"}, *f[] = {"f1", "f2", "f3", "f4"};
    bool v;
    for (size_t i = 0; i < 4; i++) {
        v = false;
        cr_assert_eq(sp_conf_bool(&typed, t[i], false, &v), SP_OK, "%s", t[i]);
        cr_assert(v, "%s", t[i]);
        v = true;
        cr_assert_eq(sp_conf_bool(&typed, f[i], true, &v), SP_OK, "%s", f[i]);
        cr_assert(!v, "%s", f[i]);
    }
    cr_assert_eq(sp_conf_bool(&typed, "absent", true, &v), SP_OK);
    cr_assert(v);
    cr_assert_eq(sp_conf_bool(NULL, "t1", true, &v), SP_OK);
    cr_assert(v);
}

Test(section, a_bad_value_is_einval_the_default_and_one_line)
{
    bool v = false;
    uint64_t u = 0;
    long n = 0;
    cr_assert_eq(sp_conf_bool(&typed, "b", true, &v), SP_EINVAL);
    cr_assert(v, "the default");
    cr_assert(logged("m.ini:10: [module:crawl]: b: 'maybe' is not a boolean (accepted: true, "
                     "false, yes, no, on, off, 1 or 0)"));
    cr_assert_eq(sp_conf_size(&typed, "sb", 7, &u), SP_EINVAL);
    cr_assert_eq(u, 7);
    cr_assert(logged("m.ini:15: [module:crawl]: sb: '8kb' is not a size"));
    cr_assert_eq(sp_conf_size(&typed, "sn", 7, &u), SP_EINVAL);
    cr_assert_eq(sp_conf_size(&typed, "sbig", 7, &u), SP_EINVAL);
    cr_assert(logged("m.ini:22: [module:crawl]: sbig: 99999999999999999999g is out of range"));
    cr_assert_eq(sp_conf_duration_ms(&typed, "db", 9, &u), SP_EINVAL);
    cr_assert_eq(u, 9);
    cr_assert(logged("m.ini:21: [module:crawl]: db: '1h' is not a duration (accepted: a "
                     "duration: seconds, or with suffix ms, s or m)"));
    cr_assert_eq(sp_conf_int(&typed, "nb", 3, 0, 100, &n), SP_EINVAL);
    cr_assert(logged("m.ini:24: [module:crawl]: nb: 'twelve' is not a whole number"));
    cr_assert_eq(sp_conf_int(&typed, "n", 3, 0, 10, &n), SP_EINVAL);
    cr_assert(logged("m.ini:23: [module:crawl]: n: '12' is out of range (accepted: an integer "
                     "from 0 to 10)"));
}

Test(section, sizes_and_durations_as_the_core_reads_them)
{
    static const struct {
        const char *key;
        uint64_t want;
    } sizes[] = {{"s1", 4096}, {"s2", 8192}, {"s3", 2 << 20}, {"s4", 1ull << 30}},
      durs[] = {{"d1", 30000}, {"d2", 250}, {"d3", 120000}, {"d4", 5000}};
    uint64_t u;
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(sp_conf_size(&typed, sizes[i].key, 0, &u), SP_OK, "%s", sizes[i].key);
        cr_assert_eq(u, sizes[i].want, "%s: %llu", sizes[i].key, (unsigned long long)u);
        cr_assert_eq(sp_conf_duration_ms(&typed, durs[i].key, 0, &u), SP_OK, "%s", durs[i].key);
        cr_assert_eq(u, durs[i].want, "%s: %llu", durs[i].key, (unsigned long long)u);
    }
    cr_assert_eq(sp_conf_size(&typed, "absent", 123, &u), SP_OK);
    cr_assert_eq(u, 123);
    cr_assert_eq(sp_conf_duration_ms(&typed, "absent", 456, &u), SP_OK);
    cr_assert_eq(u, 456);
}

/* What start and -t check on a declared key agrees with the getters. */
Test(section, the_start_check_agrees_with_the_getters)
{
    char msg[256];
    cr_assert_eq(sp__conf_value_check(SP_CONF_BOOL, "On", msg, sizeof msg), SP_OK);
    cr_assert_eq(sp__conf_value_check(SP_CONF_BOOL, "maybe", msg, sizeof msg), SP_EINVAL);
    cr_assert_str_eq(msg,
                     "'maybe' is not a boolean (accepted: true, false, yes, no, on, off, 1 or 0)");
    cr_assert_eq(sp__conf_value_check(SP_CONF_SIZE, "8K", msg, sizeof msg), SP_OK);
    cr_assert_eq(sp__conf_value_check(SP_CONF_SIZE, "8 K", msg, sizeof msg), SP_EINVAL);
    cr_assert_eq(sp__conf_value_check(SP_CONF_DURATION, "10ms", msg, sizeof msg), SP_OK);
    cr_assert_eq(sp__conf_value_check(SP_CONF_DURATION, "10h", msg, sizeof msg), SP_EINVAL);
    cr_assert_eq(sp__conf_value_check(SP_CONF_INT, "-3", msg, sizeof msg), SP_OK);
    cr_assert_eq(sp__conf_value_check(SP_CONF_INT, "3.5", msg, sizeof msg), SP_EINVAL);
    cr_assert_eq(sp__conf_value_check(SP_CONF_STRING, "anything", msg, sizeof msg), SP_OK);
    cr_assert_eq(sp__conf_value_check(SP_CONF_PATH, "", msg, sizeof msg), SP_OK);
}

Test(section, threads_and_processes_from_the_config)
{
    sp__config c = {0};
    sp_app a = {0};
    c.threads = 6;
    c.processes = 3;
    a.cfg = &c;
    cr_assert_eq(sp_app_threads(&a), 6);
    cr_assert_eq(sp_app_processes(&a), 3);
    cr_assert_eq(sp_app_threads(NULL), 0);
    cr_assert_eq(sp_app_processes(NULL), 0);
}
