/*
 * test_json.c - unit tests for app/json.c: JSON string escaping, the
 * UTF-8 check and base64, into buffers and into a response body.
 *
 * What the file proves: quotes, backslashes, controls and 0x7F are
 * escaped, with the short forms where JSON has them; well-formed UTF-8
 * passes through except the C1 controls and U+2028/U+2029; every byte of
 * an ill-formed sequence (overlong, surrogate, past U+10FFFF, cut short,
 * stray continuation) becomes \u00XX, so the output is valid JSON for any
 * input; a buffer never receives more than cap bytes and the return is
 * the whole length, as snprintf's; base64 matches RFC 4648's test
 * vectors; the response writers produce the same bytes as the buffer
 * functions for inputs longer than their stack buffers, and a short
 * string reaches a streaming response as one chunk.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "app/response.h"
#include "server/lib/arena.h"
#include "server/lib/buf.h"
#include "spindle/spindle.h"

/* ---- helpers ------------------------------------------------------------------------ */

/* The escape of the C string in, NUL-terminated in a static buffer. */
static const char *esc(const char *in, size_t len)
{
    static char out[512];
    size_t n = sp_json_escape(out, sizeof(out) - 1, in, len);
    cr_assert_lt(n, sizeof(out), "escape too long for the test buffer");
    out[n] = '\0';
    return out;
}

#define ESC(lit) esc((lit), sizeof(lit) - 1)

#define ASSERT_ESC(in, want)                                                                       \
    cr_assert_str_eq(ESC(in), (want));                                                             \
    cr_assert_eq(sp_json_escape(NULL, 0, (in), sizeof(in) - 1), strlen(want), "length of " #in)

static const char *b64(const char *in, size_t len)
{
    static char out[512];
    size_t n = sp_base64_encode(out, sizeof(out) - 1, in, len);
    cr_assert_lt(n, sizeof(out));
    out[n] = '\0';
    return out;
}

/* A response as the server sets one up, with a sink that records the
 * stream writes it would send. */
static sp__arena arena;
static sp_request rq;
static sp_response rs;
static sp__buf body, streamed;
static int stream_writes;

static int sink_start(void *ctx, sp_response *res)
{
    return SP_OK;
}

static int sink_write(void *ctx, const void *data, size_t len)
{
    stream_writes++;
    return sp__buf_append(&streamed, data, len);
}

static const sp__sink_ops sink_ops = {sink_start, sink_write};

static void setup(void)
{
    sp__arena_init(&arena, 0);
    memset(&rq, 0, sizeof(rq));
    rq.arena = &arena;
    memset(&body, 0, sizeof(body));
    memset(&streamed, 0, sizeof(streamed));
    stream_writes = 0;
    sp__response_init(&rs, &rq, &body, &sink_ops, NULL);
}

static void teardown(void)
{
    sp__response_release(&rs);
    sp__buf_free(&body);
    sp__buf_free(&streamed);
    sp__arena_free(&arena);
}

TestSuite(json, .init = setup, .fini = teardown);

static int body_is(const void *want, size_t len)
{
    return body.len == len && memcmp(body.data, want, len) == 0;
}

/* ---- escaping: ASCII ------------------------------------------------------------------ */

Test(json, plain_ascii_passes)
{
    ASSERT_ESC("hello, world ~ {}[]/", "hello, world ~ {}[]/");
    cr_assert_eq(sp_json_escape(NULL, 0, NULL, 0), 0, "empty in, empty out");
}

Test(json, quote_and_backslash)
{
    ASSERT_ESC("a\"b\\c", "a\\\"b\\\\c");
    ASSERT_ESC("\"\\", "\\\"\\\\");
}

Test(json, short_forms_for_controls)
{
    ASSERT_ESC("\b\f\n\r\t", "\\b\\f\\n\\r\\t");
}

Test(json, other_controls_and_del)
{
    ASSERT_ESC("\x01", "\\u0001");
    ASSERT_ESC("a\x1f"
               "b",
               "a\\u001fb");
    ASSERT_ESC("\x0b\x1b", "\\u000b\\u001b");
    ASSERT_ESC("\x7f", "\\u007f");
    cr_assert_str_eq(esc("a\0b", 3), "a\\u0000b", "a NUL is a byte like any other");
}

/* ---- escaping: UTF-8 ------------------------------------------------------------------ */

Test(json, wellformed_utf8_passes)
{
    ASSERT_ESC("caf\xc3\xa9", "caf\xc3\xa9");           /* U+00E9, 2 bytes */
    ASSERT_ESC("\xc2\xa0", "\xc2\xa0");                 /* U+00A0, first past C1 */
    ASSERT_ESC("\xe2\x82\xac", "\xe2\x82\xac");         /* U+20AC, 3 bytes */
    ASSERT_ESC("\xef\xbf\xbf", "\xef\xbf\xbf");         /* U+FFFF */
    ASSERT_ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* U+1F600, 4 bytes */
    ASSERT_ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last */
}

Test(json, c1_controls_and_line_separators_escaped)
{
    ASSERT_ESC("\xc2\x80", "\\u0080");
    ASSERT_ESC("\xc2\x85", "\\u0085"); /* NEL */
    ASSERT_ESC("\xc2\x9f", "\\u009f");
    ASSERT_ESC("a\xe2\x80\xa8"
               "b\xe2\x80\xa9",
               "a\\u2028b\\u2029");
    ASSERT_ESC("\xe2\x80\xa7", "\xe2\x80\xa7"); /* U+2027, a neighbour, passes */
}

Test(json, illformed_bytes_as_latin1_escapes)
{
    ASSERT_ESC("\xff", "\\u00ff");
    ASSERT_ESC("\x80", "\\u0080");                       /* stray continuation */
    ASSERT_ESC("ab\xc3", "ab\\u00c3");                   /* cut short at the end */
    ASSERT_ESC("\xc3(", "\\u00c3(");                     /* lead without continuation */
    ASSERT_ESC("\xe2\x82", "\\u00e2\\u0082");            /* 3-byte cut short */
    ASSERT_ESC("\xc0\xaf", "\\u00c0\\u00af");            /* overlong '/' */
    ASSERT_ESC("\xc1\xbf", "\\u00c1\\u00bf");            /* overlong */
    ASSERT_ESC("\xe0\x80\xaf", "\\u00e0\\u0080\\u00af"); /* overlong, 3 bytes */
    ASSERT_ESC("\xf0\x80\x80\xaf", "\\u00f0\\u0080\\u0080\\u00af");
    ASSERT_ESC("\xed\xa0\x80", "\\u00ed\\u00a0\\u0080");            /* surrogate U+D800 */
    ASSERT_ESC("\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080"); /* U+110000 */
    ASSERT_ESC("\xf5\x80\x80\x80", "\\u00f5\\u0080\\u0080\\u0080");
    ASSERT_ESC("\xfe\xc3\xa9", "\\u00fe\xc3\xa9"); /* the good sequence after it survives */
}

Test(json, utf8_valid)
{
    cr_assert(sp_utf8_valid(NULL, 0));
    cr_assert(sp_utf8_valid("plain\n\x01\x7f", 8), "controls are valid UTF-8");
    cr_assert(sp_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    cr_assert(sp_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    static const char *bad[] = {"\xff",
                                "\x80",
                                "a\xc3",
                                "\xc0\xaf",
                                "\xe0\x80\xaf",
                                "\xed\xa0\x80",
                                "\xf4\x90\x80\x80",
                                "\xf8\x88\x80\x80\x80",
                                "\xe2\x82",
                                "\xc3("};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(sp_utf8_valid(bad[i], strlen(bad[i])), "bad #%zu", i);
}

/* ---- escaping: the buffer's bounds ---------------------------------------------------- */

Test(json, cut_at_cap_and_whole_length_returned)
{
    char out[16];
    memset(out, '#', sizeof(out));
    /* "a\"b\n" escapes to the 6 bytes a \" b \n */
    size_t n = sp_json_escape(out, 3, "a\"b\n", 4);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(out, "a\\\"", 3), 0);
    cr_assert_eq(out[3], '#', "nothing past cap, and no NUL");
    n = sp_json_escape(out, 4, "\x01", 1);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(out, "\\u00#", 5), 0, "an escape is cut like any other text");
    n = sp_json_escape(out, 6, "\x01", 1);
    cr_assert_eq(memcmp(out, "\\u0001#", 7), 0, "exactly cap fits");
    n = sp_json_escape(out, 2, "caf\xc3\xa9", 5);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(out, "ca", 2), 0);
    cr_assert_eq(sp_json_escape(out, 0, "xyz", 3), 3);
}

/* ---- base64 ----------------------------------------------------------------------------- */

Test(json, base64_rfc4648_vectors)
{
    static const char *vec[][2] = {{"", ""},
                                   {"f", "Zg=="},
                                   {"fo", "Zm8="},
                                   {"foo", "Zm9v"},
                                   {"foob", "Zm9vYg=="},
                                   {"fooba", "Zm9vYmE="},
                                   {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        cr_assert_str_eq(b64(vec[i][0], strlen(vec[i][0])), vec[i][1]);
        cr_assert_eq(sp_base64_encode(NULL, 0, vec[i][0], strlen(vec[i][0])), strlen(vec[i][1]));
    }
}

Test(json, base64_binary_and_alphabet_ends)
{
    cr_assert_str_eq(b64("hello \0 bytes\xff", 14), "aGVsbG8gACBieXRlc/8=");
    cr_assert_str_eq(b64("\xfb\xff\xbf", 3), "+/+/");
    cr_assert_str_eq(b64("\0\0\0", 3), "AAAA");
}

Test(json, base64_cut_at_cap)
{
    char out[8];
    memset(out, '#', sizeof(out));
    cr_assert_eq(sp_base64_encode(out, 6, "foobar", 6), 8);
    cr_assert_eq(memcmp(out, "Zm9vYm##", 8), 0);
    cr_assert_eq(sp_base64_encode(out, 3, "f", 1), 4);
    cr_assert_eq(memcmp(out, "Zg=", 3), 0);
}

/* ---- into a response ------------------------------------------------------------------ */

Test(json, write_json_str_quotes)
{
    cr_assert_eq(sp_write_json_str(&rs, (sp_str){"a\"\xff", 3}), SP_OK);
    cr_assert_eq(sp_write_json_str(&rs, SP_STR_NULL), SP_OK);
    cr_assert(body_is("\"a\\\"\\u00ff\"\"\"", 13), "%.*s", (int)body.len, body.data);
}

/* Longer than the writer's stack buffer, escapes across its edges: the
 * same bytes as the buffer function. */
Test(json, write_json_str_long)
{
    size_t len = 5000;
    char *in = malloc(len);
    for (size_t i = 0; i < len; i++)
        in[i] = "ab\"\n\xc3\xa9\x01\xff"[i % 8];
    size_t n = sp_json_escape(NULL, 0, in, len);
    char *want = malloc(n + 2);
    want[0] = want[n + 1] = '"';
    sp_json_escape(want + 1, n, in, len);
    cr_assert_eq(sp_write_json_str(&rs, (sp_str){in, len}), SP_OK);
    cr_assert(body_is(want, n + 2));
    free(in);
    free(want);
}

Test(json, write_json_str_one_chunk_when_streaming)
{
    cr_assert_eq(sp_stream_start(&rs), SP_OK);
    cr_assert_eq(sp_write_json_str(&rs, (sp_str){"x\ny\"z", 5}), SP_OK);
    cr_assert_eq(stream_writes, 1, "one chunk, not one per escape");
    cr_assert_eq(streamed.len, 9, "%zu: %.*s", streamed.len, (int)streamed.len, streamed.data);
    cr_assert_eq(memcmp(streamed.data, "\"x\\ny\\\"z\"", 9), 0);
}

Test(json, write_base64_in_pieces)
{
    size_t len = 3001; /* several of the writer's pieces, not a multiple of 3 */
    unsigned char *in = malloc(len);
    for (size_t i = 0; i < len; i++)
        in[i] = (unsigned char)(i * 7 + 3);
    size_t n = sp_base64_encode(NULL, 0, in, len);
    char *want = malloc(n);
    sp_base64_encode(want, n, in, len);
    cr_assert_eq(sp_write_base64(&rs, in, len), SP_OK);
    cr_assert(body_is(want, n));
    cr_assert_eq(sp_write_base64(&rs, NULL, 0), SP_OK);
    cr_assert_eq(body.len, n, "nothing in, nothing out");
    free(in);
    free(want);
}
