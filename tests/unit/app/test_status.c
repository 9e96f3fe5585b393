/*
 * test_status.c - unit tests for app/status.c: HTTP reason phrases and the
 * messages of spindle's error codes (sp_status_reason, sp_strerror).
 *
 * What the file proves: every error code of the public header has its own
 * message, distinct from every other; unknown codes and statuses get a
 * fixed fallback instead of NULL; every status the server itself answers
 * with has a reason phrase.
 */
#include <criterion/criterion.h>
#include <stddef.h>

#include "spindle/spindle.h"

Test(status, strerror_every_code)
{
    static const struct {
        int code;
        const char *msg;
    } errs[] = {
#define SP__XX(name, val, msg) {SP_##name, msg},
        SP_ERRNO_MAP(SP__XX)
#undef SP__XX
    };
    size_t n = sizeof(errs) / sizeof(errs[0]);
    cr_assert_eq(n, 13);
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(errs[i].code, 0);
        cr_assert_str_eq(sp_strerror(errs[i].code), errs[i].msg, "code %d", errs[i].code);
        for (size_t j = 0; j < i; j++) {
            cr_assert_neq(errs[i].code, errs[j].code);
            cr_assert_str_neq(errs[i].msg, errs[j].msg);
        }
    }
    cr_assert_str_eq(sp_strerror(SP_OK), "success");
    cr_assert_str_eq(sp_strerror(-14), "unknown error");
    cr_assert_str_eq(sp_strerror(-999), "unknown error");
    cr_assert_str_eq(sp_strerror(404), "unknown error");
}

Test(status, reasons)
{
    cr_assert_str_eq(sp_status_reason(404), "Not Found");
    cr_assert_str_eq(sp_status_reason(200), "OK");
    cr_assert_str_eq(sp_status_reason(413), "Content Too Large");
    cr_assert_str_eq(sp_status_reason(505), "HTTP Version Not Supported");
    cr_assert_str_eq(sp_status_reason(999), "Unknown");
    cr_assert_str_eq(sp_status_reason(0), "Unknown");
    cr_assert_str_eq(sp_status_reason(-404), "Unknown");
    /* Every status the server itself refuses with has a name. */
    static const int own[] = {400, 404, 405, 408, 413, 414, 417, 431, 500, 501, 503, 505};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        cr_assert_str_neq(sp_status_reason(own[i]), "Unknown", "%d", own[i]);
}
