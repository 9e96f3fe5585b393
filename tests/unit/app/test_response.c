/*
 * test_response.c - unit tests for app/response.c, the response a handler
 * fills: status, headers, a body from buffers, printf, static bytes or
 * error pages, and a stream through the server's sink.
 *
 * What the file proves: the response refuses any header that could break
 * framing or smuggle a line (and logs it); set/add/del keep the order and
 * multiplicity a handler asked for; bodies grow past any buffer size byte
 * for byte; static bodies are not copied until appended to; once a stream
 * has started the head can no longer change.  The fixture is
 * app_fixture.h; its sink records what would go to the socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_fixture.h"

TestSuite(response, .init = setup, .fini = teardown);

/* ---- response: headers -------------------------------------------------------------- */

Test(response, header_injection_refused)
{
    static const char *values[] = {"a\r\nb", "a\nb", "a\rb", "\r\n", "ok\r\nSet-Cookie: x=1"};
    static const char *names[] = {"X Y", "", "X:Y", "X\r\nY", "X\nY", "X-\xc3\xa9", "(x)", "X\t"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        cr_assert_eq(sp_set_header(&rs, "X-A", values[i]), SP_EHEADER, "value #%zu", i);
        cr_assert_eq(sp_add_header(&rs, "X-A", values[i]), SP_EHEADER, "value #%zu", i);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cr_assert_eq(sp_set_header(&rs, names[i], "v"), SP_EHEADER, "name '%s'", names[i]);
        cr_assert_eq(sp_add_header(&rs, names[i], "v"), SP_EHEADER, "name '%s'", names[i]);
    }
    cr_assert_eq(rs.n_headers, 0, "a refused header was stored");
    cr_assert(logged("refused response header X-A"), "a refusal is logged");
    cr_assert_eq(sp_set_header(&rs, NULL, "v"), SP_EINVAL);
    cr_assert_eq(sp_set_header(&rs, "X", NULL), SP_EINVAL);
}

/* Controls other than tab, and DEL, in a value: a proxy in front may read
 * them as line ends.  Tab and obs-text (0x80-0xFF) are field-value bytes. */
Test(response, control_bytes_in_values_refused)
{
    static const char *bad[] = {"a\x01"
                                "b",
                                "a\x7f", "\x1b[31m",
                                "a\x0b"
                                "b",
                                "a\x0c"
                                "b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(sp_set_header(&rs, "X-A", bad[i]), SP_EHEADER, "value #%zu", i);
        cr_assert_eq(sp_add_header(&rs, "X-A", bad[i]), SP_EHEADER, "value #%zu", i);
    }
    cr_assert_eq(rs.n_headers, 0, "a refused header was stored");
    cr_assert_eq(sp_set_header(&rs, "X-A", "a\tb J\xc3\xb6rg ~!"), SP_OK);
    /* Long values are looked at eight bytes at a time: a bad byte at any
     * offset, in any word, is still found; tabs and obs-text anywhere pass. */
    char v[48];
    for (size_t at = 0; at < sizeof(v) - 1; at++) {
        static const unsigned char bytes[] = {0x01, 0x1f, 0x7f, '\r', '\n'};
        for (size_t b = 0; b < sizeof(bytes); b++) {
            memset(v, 'a', sizeof(v) - 1);
            v[sizeof(v) - 1] = '\0';
            v[at] = (char)bytes[b];
            cr_assert_eq(sp_set_header(&rs, "X-B", v), SP_EHEADER, "0x%02x at %zu", bytes[b], at);
            v[at] = at % 2 ? '\t' : (char)0xe9;
            cr_assert_eq(sp_set_header(&rs, "X-B", v), SP_OK, "allowed byte at %zu", at);
        }
    }
}

/* Only final statuses: a 1xx would be sent as the answer and the next
 * pipelined response would follow it (a desync); past 599 is no status. */
Test(response, only_final_statuses)
{
    static const int bad[] = {0, 99, 100, 101, 103, 199, 600, 999, -1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(sp_set_status(&rs, bad[i]), SP_EINVAL, "status %d", bad[i]);
    cr_assert_eq(sp_status(&rs), 200, "a refused status changed the response");
    cr_assert_eq(sp_set_status(&rs, 599), SP_OK);
    cr_assert_eq(sp_set_status(&rs, 204), SP_OK);
    cr_assert_eq(sp_status(&rs), 204);
}

Test(response, framing_headers_refused)
{
    static const char *names[] = {"Content-Length",    "content-length", "Transfer-Encoding",
                                  "TRANSFER-ENCODING", "Connection",     "connection"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cr_assert_eq(sp_set_header(&rs, names[i], "5"), SP_EINVAL, "%s", names[i]);
        cr_assert_eq(sp_add_header(&rs, names[i], "5"), SP_EINVAL, "%s", names[i]);
    }
    cr_assert_eq(rs.n_headers, 0);
}

Test(response, header_set_add_del)
{
    request("GET", "/");
    cr_assert_eq(sp_add_header(&rs, "X-A", "1"), SP_OK);
    cr_assert_eq(sp_add_header(&rs, "x-a", "2"), SP_OK);
    cr_assert_eq(sp_add_header(&rs, "Other", "o"), SP_OK);
    cr_assert_eq(sp_set_header(&rs, "X-A", "3"), SP_OK);
    cr_assert_eq(rs.n_headers, 2, "set replaces every header of that name");
    ASSERT_STR(sp_response_header(&rs, "x-A"), "3");
    ASSERT_STR(sp_response_header(&rs, "other"), "o");

    cr_assert_eq(sp_add_header(&rs, "Set-Cookie", "a=1"), SP_OK);
    cr_assert_eq(sp_add_header(&rs, "Set-Cookie", "b=2"), SP_OK);
    cr_assert_eq(rs.n_headers, 4);
    ASSERT_STR(rs.headers[2].value, "a=1");
    ASSERT_STR(rs.headers[3].value, "b=2");

    cr_assert_eq(sp_del_header(&rs, "set-cookie"), 2);
    cr_assert_eq(sp_del_header(&rs, "Set-Cookie"), 0);
    cr_assert_eq(rs.n_headers, 2);
    ASSERT_STR(sp_response_header(&rs, "X-A"), "3");
    cr_assert(!sp_str_is_set(sp_response_header(&rs, "Set-Cookie")));
}

Test(response, header_strings_are_copied)
{
    char name[] = "X-Name", value[] = "value";
    cr_assert_eq(sp_set_header(&rs, name, value), SP_OK);
    name[0] = 'Y';
    value[0] = 'W';
    ASSERT_STR(sp_response_header(&rs, "X-Name"), "value");
}

Test(response, many_headers_grow)
{
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "X-%d", i);
        cr_assert_eq(sp_add_header(&rs, name, name), SP_OK);
    }
    cr_assert_eq(rs.n_headers, 100);
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "X-%d", i);
        ASSERT_STR(sp_response_header(&rs, name), name);
    }
}

/* ---- response: body ----------------------------------------------------------------- */

Test(response, printf_grows_past_64k)
{
    char line[1000];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    for (int i = 0; i < 100; i++)
        cr_assert_eq(sp_printf(&rs, "%04d%s\n", i, line), SP_OK);
    size_t each = 4 + strlen(line) + 1;
    cr_assert_eq(sp_body_size(&rs), 100 * each);
    for (int i = 0; i < 100; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%04d", i);
        cr_assert_eq(memcmp(rs.body->data + (size_t)i * each, want, 4), 0, "line %d", i);
        cr_assert_eq(rs.body->data[(size_t)i * each + each - 1], '\n');
    }
}

Test(response, one_printf_over_64k)
{
    size_t n = 100 * 1024;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    cr_assert_eq(sp_write(&rs, "<", 1), SP_OK);
    cr_assert_eq(sp_printf(&rs, "%s>", big), SP_OK);
    cr_assert_eq(sp_body_size(&rs), n + 2);
    cr_assert_eq(rs.body->data[0], '<');
    cr_assert_eq(memcmp(rs.body->data + 1, big, n), 0);
    cr_assert_eq(rs.body->data[n + 1], '>');
    free(big);
}

Test(response, send_and_send_text)
{
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "old", 3), SP_OK);
    cr_assert_eq(sp_send(&rs, 201, "application/json", "{}", 2), SP_OK);
    cr_assert_eq(rs.status, 201);
    ASSERT_STR(body_str(), "{}");
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/json");
    /* The handler chose application/json: sp_send_text keeps it. */
    cr_assert_eq(sp_send_text(&rs, 202, "n=%d %s", 7, "ok"), SP_OK);
    cr_assert_eq(rs.status, 202);
    ASSERT_STR(body_str(), "n=7 ok");
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/json");
    /* Without one, text/plain is the default. */
    cr_assert_eq(sp_del_header(&rs, "Content-Type"), 1);
    cr_assert_eq(sp_send_text(&rs, 202, "plain"), SP_OK);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/plain; charset=utf-8");
    /* The core's error page is text whatever was set before. */
    cr_assert_eq(sp_set_header(&rs, "Content-Type", "application/json"), SP_OK);
    cr_assert_eq(sp_send_error(&rs, 404), SP_OK);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_eq(sp_set_status(&rs, 202), SP_OK);
    cr_assert_eq(sp_set_status(&rs, 99), SP_EINVAL);
    cr_assert_eq(sp_set_status(&rs, 1000), SP_EINVAL);
    cr_assert_eq(rs.status, 202);
}

/* Every call that can set a Content-Type: a content_type argument is the
 * handler's choice and is set; NULL, and every default (text, JSON), keep
 * the one the handler set before. */
Test(response, a_content_type_the_handler_set_is_never_replaced_by_a_default)
{
    static const char page[] = "x";
    char path[] = "/tmp/spindle-ct-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    request("GET", "/");
#define SET_CT() cr_assert_eq(sp_set_header(&rs, "Content-Type", "application/x-mine"), SP_OK)
#define KEPT()   ASSERT_STR(sp_response_header(&rs, "Content-Type"), "application/x-mine")
    SET_CT();
    cr_assert_eq(sp_send(&rs, 200, NULL, "a", 1), SP_OK);
    KEPT();
    cr_assert_eq(sp_send_static(&rs, 200, NULL, page, 1), SP_OK);
    KEPT();
    cr_assert_eq(sp_send_file(&rs, 200, NULL, path), SP_OK);
    KEPT();
    sp_clear_body(&rs);
    cr_assert_eq(sp_send_text(&rs, 200, "t"), SP_OK);
    KEPT();
    cr_assert_eq(sp_send_json(&rs, 200, "1", 1), SP_OK);
    KEPT();
    cr_assert_not_null(sp_json_response(&rs, 200));
    KEPT();
    /* An explicit argument is the handler choosing again: it is set. */
    cr_assert_eq(sp_send(&rs, 200, "text/html", "a", 1), SP_OK);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/html");
    SET_CT();
    cr_assert_eq(sp_send_file(&rs, 200, "image/png", path), SP_OK);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "image/png");
    /* One Content-Type line, whatever the path. */
    size_t n = 0;
    for (size_t i = 0; i < rs.n_headers; i++)
        n += sp__str_ieq(rs.headers[i].name, "Content-Type");
    cr_assert_eq(n, 1);
#undef SET_CT
#undef KEPT
    unlink(path);
}

Test(response, send_static_is_not_copied)
{
    static const char page[] = "<html>static</html>";
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "old", 3), SP_OK);
    cr_assert_eq(sp_send_static(&rs, 200, "text/html", page, sizeof(page) - 1), SP_OK);
    cr_assert_eq(rs.status, 200);
    cr_assert_eq(sp__response_body(&rs).ptr, page, "the module's own bytes, not a copy");
    cr_assert_eq(sp_body_size(&rs), sizeof(page) - 1);
    ASSERT_STR(sp_response_header(&rs, "Content-Type"), "text/html");
    /* Appending copies it into the response first. */
    cr_assert_eq(sp_printf(&rs, "<!--%d-->", 1), SP_OK);
    cr_assert_neq(sp__response_body(&rs).ptr, page);
    ASSERT_STR(sp__response_body(&rs), "<html>static</html><!--1-->");
    cr_assert_eq(sp_write(&rs, "!", 1), SP_OK);
    ASSERT_STR(sp__response_body(&rs), "<html>static</html><!--1-->!");
    /* A new one replaces the body; clearing drops it; empty is empty. */
    cr_assert_eq(sp_send_static(&rs, 201, NULL, page, 6), SP_OK);
    ASSERT_STR(sp__response_body(&rs), "<html>");
    cr_assert_eq(sp_clear_body(&rs), SP_OK);
    cr_assert_eq(sp_body_size(&rs), 0);
    cr_assert_eq(sp_send_static(&rs, 204, NULL, NULL, 0), SP_OK);
    cr_assert_eq(sp_body_size(&rs), 0);
}

Test(response, send_error_pages)
{
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "junk", 4), SP_OK);
    cr_assert_eq(sp_send_error(&rs, 204), SP_OK);
    cr_assert_eq(rs.status, 204);
    cr_assert_eq(sp_body_size(&rs), 0, "204 carries no body");
    cr_assert_eq(sp_send_error(&rs, 304), SP_OK);
    cr_assert_eq(sp_body_size(&rs), 0, "304 carries no body");
    cr_assert_eq(sp_send_error(&rs, 413), SP_OK);
    assert_page(413, "413 Content Too Large\n");
    cr_assert_eq(sp_send_error(&rs, 599), SP_OK);
    assert_page(599, "599 Unknown\n");
}

Test(response, stream_goes_through_sink)
{
    request("GET", "/");
    cr_assert_eq(sp_write(&rs, "before ", 7), SP_OK);
    cr_assert_eq(sp_headers_sent(&rs), 0);
    cr_assert_eq(sp_stream_start(&rs), SP_OK);
    cr_assert_eq(sink.starts, 1);
    cr_assert(sp_headers_sent(&rs));
    cr_assert_eq(sp_printf(&rs, "%s", "after"), SP_OK);
    cr_assert_eq(sink.out.len, 12);
    cr_assert_eq(memcmp(sink.out.data, "before after", 12), 0);
    cr_assert_eq(sp_body_size(&rs), 12);
    /* Headers went out: nothing about them can change any more. */
    cr_assert_eq(sp_set_header(&rs, "X-Late", "1"), SP_ESTATE);
    cr_assert_eq(sp_add_header(&rs, "X-Late", "1"), SP_ESTATE);
    cr_assert_eq(sp_del_header(&rs, "X-Late"), SP_ESTATE);
    cr_assert_eq(sp_set_status(&rs, 500), SP_ESTATE);
    cr_assert_eq(sp_stream_start(&rs), SP_ESTATE);
    cr_assert_eq(sink.starts, 1);
}

Test(response, stream_write_needs_a_stream)
{
    cr_assert_eq(sp_stream_write(&rs, "x", 1), SP_ESTATE);
    cr_assert_eq(sink.writes, 0);
}
