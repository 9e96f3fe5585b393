/*
 * test_json_write.c - unit tests for app/json_write.c: the JSON writer
 * (into a heap buffer and into a response), sp_send_json and the
 * validator sp_json_valid.
 *
 * What the file proves: commas, keys and nesting come out right in every
 * shape (empty containers, containers in containers, 64 levels); strings
 * are escaped by the core's escaper and NULL/unset views become null;
 * integers cover both ends of their ranges and doubles read back as the
 * same value with a point whatever the locale; every misuse (a value
 * without a key, a key outside an object or twice, end with nothing open
 * or after a key, a 65th level, a second document) is SP_ESTATE and
 * sticky, as is a non-finite double or invalid raw JSON (SP_EINVAL), and
 * finish reports an unclosed or empty document; a response writer sets
 * the status and application/json but keeps a Content-Type the handler
 * set, and drops a body written before it; everything the writer emits
 * passes the validator, which accepts RFC 8259's grammar and refuses the
 * classic traps (trailing commas, leading zeros, bare controls, bad
 * escapes, ill-formed UTF-8, single quotes, NaN, a 65th level, two values).
 */
#include "app_fixture.h"

#include <locale.h>
#include <math.h>

TestSuite(json_write, .init = setup, .fini = teardown);

/* The finished text of a buffer writer, checked valid, then freed. */
static void assert_doc(sp_json *j, const char *want)
{
    size_t len;
    cr_assert_eq(sp_json_finish(j), SP_OK);
    const char *got = sp_json_data(j, &len);
    cr_assert_str_eq(got, want);
    cr_assert_eq(len, strlen(want));
    cr_assert(sp_json_valid(got, len), "writer output not valid: %s", got);
    sp_json_free(j);
}

Test(json_write, objects_arrays_and_commas)
{
    sp_json *j = sp_json_buffer();
    cr_assert_not_null(j);
    sp_json_object(j);
    sp_json_key(j, "id");
    sp_json_int(j, 42);
    sp_json_key(j, "tags");
    sp_json_array(j);
    sp_json_cstr(j, "a");
    sp_json_cstr(j, "b");
    sp_json_array(j);
    sp_json_end(j);
    sp_json_object(j);
    sp_json_end(j);
    sp_json_end(j);
    sp_json_key(j, "ok");
    sp_json_bool(j, true);
    sp_json_key(j, "no");
    sp_json_bool(j, false);
    sp_json_key(j, "none");
    sp_json_null(j);
    sp_json_end(j);
    assert_doc(j,
               "{\"id\":42,\"tags\":[\"a\",\"b\",[],{}],\"ok\":true,\"no\":false,\"none\":null}");
}

Test(json_write, a_scalar_is_a_document)
{
    sp_json *j = sp_json_buffer();
    sp_json_cstr(j, "x");
    assert_doc(j, "\"x\"");
    j = sp_json_buffer();
    sp_json_array(j);
    sp_json_end(j);
    assert_doc(j, "[]");
}

Test(json_write, strings_use_the_core_escaper_and_null_for_unset)
{
    sp_json *j = sp_json_buffer();
    sp_json_array(j);
    sp_json_cstr(j, "a\"b\\c\n\x01");
    sp_json_str(j, (sp_str){"x\0y", 3});
    sp_json_str(j, SP_STR_NULL);
    sp_json_cstr(j, NULL);
    sp_json_str(j, (sp_str){"", 0});
    sp_json_cstr(j, "caf\xc3\xa9 \xff");
    sp_json_end(j);
    assert_doc(j,
               "[\"a\\\"b\\\\c\\n\\u0001\",\"x\\u0000y\",null,null,\"\",\"caf\xc3\xa9 \\u00ff\"]");
}

Test(json_write, keys_are_escaped)
{
    sp_json *j = sp_json_buffer();
    sp_json_object(j);
    sp_json_key(j, "a\"b");
    sp_json_int(j, 1);
    sp_json_end(j);
    assert_doc(j, "{\"a\\\"b\":1}");
}

Test(json_write, long_strings_grow_the_buffer)
{
    char big[5000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[100] = '"';
    sp_json *j = sp_json_buffer();
    sp_json_cstr(j, big);
    cr_assert_eq(sp_json_finish(j), SP_OK);
    size_t len;
    const char *d = sp_json_data(j, &len);
    cr_assert_eq(len, sizeof(big) - 1 + 1 + 2); /* one escape, two quotes */
    cr_assert(sp_json_valid(d, len));
    sp_json_free(j);
}

Test(json_write, integer_ranges)
{
    sp_json *j = sp_json_buffer();
    sp_json_array(j);
    sp_json_int(j, INT64_MIN);
    sp_json_int(j, INT64_MAX);
    sp_json_uint(j, UINT64_MAX);
    sp_json_int(j, 0);
    sp_json_end(j);
    assert_doc(j, "[-9223372036854775808,9223372036854775807,18446744073709551615,0]");
}

Test(json_write, doubles_read_back_and_use_a_point)
{
    double vals[] = {0.1, 1.0 / 3.0, -2.5, 1e300, 5e-324, 0.0, 123456789.0};
    sp_json *j = sp_json_buffer();
    sp_json_array(j);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        cr_assert_eq(sp_json_double(j, vals[i]), SP_OK);
    sp_json_end(j);
    cr_assert_eq(sp_json_finish(j), SP_OK);
    const char *d = sp_json_data(j, NULL);
    cr_assert(strncmp(d, "[0.1,0.333333333333333", 22) == 0, "%s", d);
    cr_assert(sp_json_valid(d, strlen(d)), "%s", d);
    /* every number reads back as the double written */
    const char *p = d + 1;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char *end;
        cr_assert_eq(strtod(p, &end), vals[i], "value %zu in %s", i, d);
        p = end + 1;
    }
    sp_json_free(j);
}

Test(json_write, a_decimal_comma_locale_still_writes_a_point)
{
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") == NULL &&
        setlocale(LC_NUMERIC, "fr_FR.UTF-8") == NULL)
        cr_skip_test("no locale with a decimal comma installed");
    sp_json *j = sp_json_buffer();
    sp_json_double(j, 2.5);
    setlocale(LC_NUMERIC, "C");
    assert_doc(j, "2.5");
}

Test(json_write, non_finite_doubles_are_refused_and_sticky)
{
    sp_json *j = sp_json_buffer();
    sp_json_array(j);
    cr_assert_eq(sp_json_double(j, NAN), SP_EINVAL);
    cr_assert_eq(sp_json_int(j, 1), SP_EINVAL, "an error is sticky");
    cr_assert_eq(sp_json_end(j), SP_EINVAL);
    cr_assert_eq(sp_json_finish(j), SP_EINVAL);
    cr_assert_str_eq(sp_json_data(j, NULL), "[", "nothing written after the error");
    sp_json_free(j);
    j = sp_json_buffer();
    cr_assert_eq(sp_json_double(j, INFINITY), SP_EINVAL);
    sp_json_free(j);
}

/* One misuse after a prefix of calls: SP_ESTATE, then sticky. */
#define MISUSE(prefix, bad)                                                                        \
    do {                                                                                           \
        sp_json *j = sp_json_buffer();                                                             \
        prefix;                                                                                    \
        cr_assert_eq(bad, SP_ESTATE, #bad " after " #prefix);                                      \
        cr_assert_eq(sp_json_null(j), SP_ESTATE);                                                  \
        cr_assert_eq(sp_json_finish(j), SP_ESTATE);                                                \
        sp_json_free(j);                                                                           \
    } while (0)

Test(json_write, misuse_is_estate_and_sticky)
{
    MISUSE(sp_json_object(j), sp_json_int(j, 1));  /* value without key */
    MISUSE(sp_json_object(j), sp_json_array(j));   /* container without key */
    MISUSE((void)0, sp_json_key(j, "k"));          /* key at top level */
    MISUSE(sp_json_array(j), sp_json_key(j, "k")); /* key in an array */
    MISUSE((sp_json_object(j), sp_json_key(j, "a")), sp_json_key(j, "b")); /* key twice */
    MISUSE((sp_json_object(j), sp_json_key(j, "a")), sp_json_end(j));      /* end after key */
    MISUSE((void)0, sp_json_end(j));                                       /* nothing open */
    MISUSE((sp_json_array(j), sp_json_end(j)), sp_json_end(j));            /* closed already */
    MISUSE(sp_json_int(j, 1), sp_json_int(j, 2));                          /* second document */
}

Test(json_write, finish_reports_open_or_empty_documents)
{
    sp_json *j = sp_json_buffer();
    cr_assert_eq(sp_json_finish(j), SP_ESTATE, "nothing written");
    sp_json_free(j);
    j = sp_json_buffer();
    sp_json_object(j);
    cr_assert_eq(sp_json_finish(j), SP_ESTATE, "an object left open");
    sp_json_free(j);
}

Test(json_write, sixty_four_levels_and_not_one_more)
{
    sp_json *j = sp_json_buffer();
    for (int i = 0; i < 64; i++)
        cr_assert_eq(sp_json_array(j), SP_OK, "level %d", i + 1);
    cr_assert_eq(sp_json_array(j), SP_ESTATE, "level 65");
    sp_json_free(j);

    j = sp_json_buffer();
    for (int i = 0; i < 64; i++)
        sp_json_array(j);
    for (int i = 0; i < 64; i++)
        sp_json_end(j);
    cr_assert_eq(sp_json_finish(j), SP_OK);
    size_t len;
    const char *d = sp_json_data(j, &len);
    cr_assert_eq(len, 128);
    cr_assert(sp_json_valid(d, len), "64 levels are valid");
    sp_json_free(j);
}

Test(json_write, raw_values_are_checked)
{
    sp_json *j = sp_json_buffer();
    sp_json_object(j);
    sp_json_key(j, "r");
    cr_assert_eq(sp_json_raw(j, " {\"a\":[1,2]} ", 13), SP_OK);
    sp_json_key(j, "s");
    cr_assert_eq(sp_json_raw(j, "\"x\"", 3), SP_OK);
    sp_json_end(j);
    assert_doc(j, "{\"r\": {\"a\":[1,2]} ,\"s\":\"x\"}");

    j = sp_json_buffer();
    sp_json_array(j);
    cr_assert_eq(sp_json_raw(j, "{\"a\":", 5), SP_EINVAL);
    cr_assert_eq(sp_json_finish(j), SP_EINVAL);
    sp_json_free(j);
    j = sp_json_buffer();
    cr_assert_eq(sp_json_raw(j, NULL, 0), SP_EINVAL);
    sp_json_free(j);
}

Test(json_write, null_writers_and_data_of_a_response_writer)
{
    cr_assert_eq(sp_json_object(NULL), SP_EINVAL);
    cr_assert_eq(sp_json_int(NULL, 1), SP_EINVAL);
    cr_assert_eq(sp_json_finish(NULL), SP_EINVAL);
    sp_json_free(NULL);
    size_t len = 7;
    cr_assert_null(sp_json_data(NULL, &len));
    cr_assert_eq(len, 0);
    sp_json *j = sp_json_buffer();
    cr_assert_str_eq(sp_json_data(j, &len), "");
    cr_assert_eq(len, 0);
    sp_json_free(j);
}

/* ---- into a response ------------------------------------------------------------ */

Test(json_write, a_response_writer_sets_status_type_and_body)
{
    request("GET", "/");
    sp_write(&rs, "old", 3);
    sp_json *j = sp_json_response(&rs, 201);
    cr_assert_not_null(j);
    sp_json_object(j);
    sp_json_key(j, "n");
    sp_json_int(j, 1);
    sp_json_end(j);
    cr_assert_eq(sp_json_finish(j), SP_OK);
    cr_assert_eq(rs.status, 201);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/json");
    ASSERT_STR(body_str(), "{\"n\":1}");
    cr_assert_null(sp_json_data(j, NULL));
    sp_json_free(j); /* a no-op for a response writer */
}

Test(json_write, a_response_writer_keeps_the_handlers_content_type)
{
    request("GET", "/");
    sp_set_header(&rs, "Content-Type", "application/vnd.api+json");
    sp_json *j = sp_json_response(&rs, 200);
    sp_json_null(j);
    cr_assert_eq(sp_json_finish(j), SP_OK);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/vnd.api+json");
    ASSERT_STR(body_str(), "null");
}

Test(json_write, a_response_writer_refuses_a_bad_status)
{
    request("GET", "/");
    cr_assert_null(sp_json_response(&rs, 99));
    cr_assert_null(sp_json_response(&rs, 600));
    cr_assert_null(sp_json_response(NULL, 200));
}

Test(json_write, a_response_writer_streams_when_the_response_does)
{
    request("GET", "/");
    sp_json *j = sp_json_response(&rs, 200);
    cr_assert_eq(sp_stream_start(&rs), SP_OK);
    sp_json_array(j);
    sp_json_int(j, 1);
    sp_json_int(j, 2);
    sp_json_end(j);
    cr_assert_eq(sp_json_finish(j), SP_OK);
    cr_assert_eq(sink.out.len, 5);
    cr_assert(memcmp(sink.out.data, "[1,2]", 5) == 0);
    cr_assert_null(sp_json_response(&rs, 200), "headers went out");
}

Test(json_write, send_json_sets_type_unless_set)
{
    request("GET", "/");
    cr_assert_eq(sp_send_json(&rs, 200, "[1]", 3), SP_OK);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/json");
    ASSERT_STR(body_str(), "[1]");
    sp_set_header(&rs, "Content-Type", "application/problem+json");
    cr_assert_eq(sp_send_json(&rs, 404, "{}", 2), SP_OK);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/problem+json");
    cr_assert_eq(rs.status, 404);
    ASSERT_STR(body_str(), "{}");
    cr_assert_eq(sp_send_json(&rs, 200, NULL, 1), SP_EINVAL);
}

/* ---- the validator -------------------------------------------------------------- */

static bool valid(const char *s)
{
    return sp_json_valid(s, strlen(s));
}

Test(json_write, the_validator_accepts_the_grammar)
{
    const char *ok[] = {
        "0",
        "-0",
        "1.5",
        "-1.5e10",
        "1E+2",
        "1e-2",
        "0.0",
        "123",
        "\"\"",
        "\"a\\u00e9\\n\\/\"",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        " [ 1 , 2 ] ",
        "\t\r\n{\"a\" : {\"b\":[null]}}\n",
        "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
        "[\"\\ud83d\\ude00\"]",
        "{\"\":0}",
        "[[[[]]]]",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert(valid(ok[i]), "should be valid: %s", ok[i]);
}

Test(json_write, the_validator_refuses_the_traps)
{
    const char *bad[] = {
        "",
        " ",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "-",
        "0x10",
        "NaN",
        "Infinity",
        "'a'",
        "\"a",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"a\tb\"",
        "[1 2]",
        "{\"a\" 1}",
        "{a:1}",
        "{1:1}",
        "[",
        "]",
        "tru",
        "nul",
        "true false",
        "{} {}",
        "[1]]",
        "\"\xff\"",
        "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"",
        "{\"a\":}",
        "[,1]",
        "\"\\\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!valid(bad[i]), "should be invalid: %s", bad[i]);
    cr_assert(!sp_json_valid("1\0", 2), "a NUL after the value");
    cr_assert(!sp_json_valid("\"a\0b\"", 5), "a NUL inside a string");
    cr_assert(!sp_json_valid(NULL, 0));
    cr_assert(sp_json_valid("12", 1), "only len bytes are read");
}

Test(json_write, the_validator_bounds_nesting)
{
    char deep[200];
    for (int levels = 63; levels <= 66; levels++) {
        memset(deep, '[', (size_t)levels);
        memset(deep + levels, ']', (size_t)levels);
        cr_assert_eq(sp_json_valid(deep, 2 * (size_t)levels), levels <= 64, "%d levels", levels);
    }
    /* a hostile depth is refused, not a stack overflow */
    size_t n = 1 << 20;
    char *huge = malloc(n);
    cr_assert_not_null(huge);
    memset(huge, '[', n);
    cr_assert(!sp_json_valid(huge, n));
    free(huge);
}
