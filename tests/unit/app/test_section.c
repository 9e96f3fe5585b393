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
 * with NULL, gets an empty section rather than a crash.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "conf/config.h"

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
    snprintf(lmax, sizeof lmax, "%ld", LONG_MAX);
    items[10].value = lmax;
    sections[0] = other;
    sections[1] = cache;
    memset(&cfg, 0, sizeof cfg);
    cfg.sections = sections;
    cfg.n_sections = 2;
}

TestSuite(section, .init = setup);

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
