/*
 * cidr_fixture.h - a trusted-proxies list for the tests that need one:
 * conf/test_cidr.c (the list itself) and server/proto/test_trust.c (the
 * forwarded headers it gates).  use() parses a list as server.ini would
 * give it, replacing the last one; a suite declares .fini = fini so the
 * list is freed after each test.
 */
#ifndef SPINDLE_TESTS_CIDR_FIXTURE_H
#define SPINDLE_TESTS_CIDR_FIXTURE_H

#include <criterion/criterion.h>

#include "conf/cidr.h"

static sp__cidr_list L;

static inline void use(const char *text)
{
    char err[160];

    sp__cidr_free(&L);
    cr_assert_eq(sp__cidr_parse(&L, text, err, sizeof err), 0, "%s: %s", text, err);
}

static inline void fini(void)
{
    sp__cidr_free(&L);
}

#endif /* SPINDLE_TESTS_CIDR_FIXTURE_H */
