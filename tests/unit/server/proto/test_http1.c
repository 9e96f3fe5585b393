/*
 * test_http1.c - unit tests for server/proto/http1.c, the llhttp glue.
 *
 * Every input is parsed three ways and the answers must agree: fed whole,
 * fed one byte at a time, and (for inputs up to a few KiB) split in two at
 * every possible point.  The buffer is a connection's read buffer as the
 * server keeps it: one sp__buf that only grows, which here moves to a new
 * allocation on every append (the old one is scribbled over and freed), so
 * a span kept as a pointer instead of an offset reads garbage, and the
 * bytes past its end are poisoned, so a decision taken on bytes that have
 * not arrived yet shows up as a difference between the modes.  The whole
 * feed ends right at a PROT_NONE page, so any read past the data crashes.
 *
 * What the file proves: the framing, limit and syntax rules of TESTING.md
 * cases 1-14 hold at the parser, whatever the read boundaries; a refused
 * request yields no request before the error; pipelined requests come out
 * in order with the position exactly past each.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/proto/http1.h"
#include "spindle/spindle.h"

#define MAX_REQ     8
#define MAX_HDR     128
#define SLACK       64
#define POISON      0xA5
#define MOVE_BELOW  (16 * 1024) /* past this the buffer grows by doubling */
#define SPLIT_BELOW 2048        /* inputs this small are also split everywhere */

/* Literal with its length, embedded NULs included. */
#define LIT(s) s, sizeof(s) - 1

typedef struct blob {
    char *p;
    size_t n;
} blob;

/* One parser answer: a whole request (DONE) or a refusal (ERROR). */
typedef struct parsed {
    enum sp__h1_state st;
    int status;
    size_t end; /* *pos after DONE */
    blob method, url, body;
    size_t n_hdr;
    blob name[MAX_HDR], value[MAX_HDR];
    int version, keep_alive, expect_continue, upgrade;
} parsed;

/* Everything one parse of an input produced, in order. */
typedef struct outcome {
    size_t n;
    parsed r[MAX_REQ];
    int error;       /* r[n - 1] is the refusal */
    int closed;      /* r[n - 1] ends the connection */
    size_t leftover; /* bytes fed but not part of an answer */
} outcome;

static sp__h1_limits lim;

static void setup(void)
{
    /* The shipped defaults (conf/options.c). */
    lim = (sp__h1_limits){.uri = 8 * 1024,
                          .headers = 16 * 1024,
                          .header_count = 100,
                          .body = 1024 * 1024,
                          .body_buffer = 1024 * 1024,
                          .temp_dir = "/tmp"};
}

TestSuite(http1, .init = setup);

/* ---- the simulated connection --------------------------------------------- */

static void poison_slack(sp__buf *b)
{
    size_t n = b->cap - b->len < SLACK ? b->cap - b->len : SLACK;
    memset(b->data + b->len, POISON, n);
}

/* Append bytes as a read would.  While small, the buffer always moves. */
static void grow(sp__buf *b, const char *data, size_t n)
{
    if (b->len + n < MOVE_BELOW) {
        sp__buf nb = {malloc(b->len + n + SLACK), b->len, b->len + n + SLACK};
        cr_assert_not_null(nb.data);
        if (b->len)
            memcpy(nb.data, b->data, b->len);
        if (b->data != NULL)
            memset(b->data, 'X', b->cap);
        sp__buf_free(b);
        *b = nb;
    } else {
        cr_assert_eq(sp__buf_reserve(b, n + SLACK), SP_OK);
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    poison_slack(b);
}

/* n bytes that end where an unreadable page begins. */
typedef struct guarded {
    char *map;
    size_t map_len;
    char *data;
} guarded;

static guarded guarded_copy(const char *in, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (n + page - 1) / page + 1;
    guarded g;

    g.map_len = pages * page;
    g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(g.map != MAP_FAILED);
    cr_assert_eq(mprotect(g.map + g.map_len - page, page, PROT_NONE), 0);
    g.data = g.map + g.map_len - page - n;
    memcpy(g.data, in, n);
    return g;
}

static void guarded_free(guarded *g)
{
    munmap(g->map, g->map_len);
}

static blob copy(const char *p, size_t n)
{
    blob b = {malloc(n + 1), n};
    cr_assert_not_null(b.p);
    if (n)
        memcpy(b.p, p, n);
    b.p[n] = '\0';
    return b;
}

static blob span(const char *base, sp__span s)
{
    return copy(base + s.off, s.len);
}

static void snapshot(parsed *r, const sp__h1 *h, const char *base, enum sp__h1_state st, size_t pos)
{
    memset(r, 0, sizeof(*r));
    r->st = st;
    r->status = h->status;
    if (st != SP__H1_DONE)
        return;
    r->end = pos;
    r->method = span(base, h->method);
    r->url = span(base, h->url);
    r->body = copy(h->body->data ? h->body->data : "", h->body->len);
    r->n_hdr = h->n_hdr / 2;
    for (size_t i = 0; i < r->n_hdr && i < MAX_HDR; i++) {
        r->name[i] = span(base, h->hdr[2 * i]);
        r->value[i] = span(base, h->hdr[2 * i + 1]);
    }
    r->version = h->version;
    r->keep_alive = h->keep_alive;
    r->expect_continue = h->expect_continue;
    r->upgrade = h->upgrade;
}

static void outcome_free(outcome *o)
{
    for (size_t i = 0; i < o->n; i++) {
        parsed *r = &o->r[i];
        free(r->method.p);
        free(r->url.p);
        free(r->body.p);
        for (size_t j = 0; j < r->n_hdr && j < MAX_HDR; j++) {
            free(r->name[j].p);
            free(r->value[j].p);
        }
    }
    memset(o, 0, sizeof(*o));
}

/* After this request the server closes (serve.c): nothing more is parsed. */
static int closes(const sp__h1 *h)
{
    return !h->keep_alive || h->upgrade;
}

/* Feed all of in[0, n) at once from guarded memory; on DONE move to the
 * next request while bytes are left. */
static void feed_whole(const char *in, size_t n, outcome *o)
{
    sp__h1 h;
    sp__buf body = {0};
    guarded g = guarded_copy(in, n);
    size_t pos = 0;

    memset(o, 0, sizeof(*o));
    sp__h1_init(&h, &lim, &body);
    while (pos < n && o->n < MAX_REQ) {
        enum sp__h1_state st = sp__h1_feed(&h, g.data, &pos, n);
        if (st == SP__H1_NEED_MORE) {
            cr_assert_eq(pos, n, "NEED_MORE must consume everything");
            break;
        }
        snapshot(&o->r[o->n++], &h, g.data, st, pos);
        if (st == SP__H1_ERROR) {
            o->error = 1;
            break;
        }
        if (closes(&h)) {
            o->closed = 1;
            break;
        }
        cr_assert_leq(pos, n);
        sp__h1_next(&h, pos);
    }
    o->leftover = o->error ? 0 : n - pos;
    sp__h1_free(&h);
    sp__buf_free(&body);
    guarded_free(&g);
}

/* Feed in[0, n) arriving in segments that end at cut[0..ncut) and n, the
 * way conn.c does: feed after every read, on DONE move to the next request
 * and feed again only if bytes are already waiting, stop for good after a
 * request that ends the connection. */
static void feed_segments(const char *in, size_t n, const size_t *cut, size_t ncut, outcome *o)
{
    sp__h1 h;
    sp__buf rd = {0}, body = {0};
    size_t pos = 0, from = 0;

    memset(o, 0, sizeof(*o));
    sp__h1_init(&h, &lim, &body);
    for (size_t s = 0; s <= ncut && !o->error && !o->closed && o->n < MAX_REQ; s++) {
        size_t to = s < ncut ? cut[s] : n;
        grow(&rd, in + from, to - from);
        from = to;
        while (pos < rd.len && o->n < MAX_REQ) {
            enum sp__h1_state st = sp__h1_feed(&h, rd.data, &pos, rd.len);
            if (st == SP__H1_NEED_MORE) {
                cr_assert_eq(pos, rd.len, "NEED_MORE must consume everything");
                break;
            }
            snapshot(&o->r[o->n++], &h, rd.data, st, pos);
            if (st == SP__H1_ERROR) {
                o->error = 1;
                break;
            }
            if (closes(&h)) {
                o->closed = 1;
                break;
            }
            cr_assert_leq(pos, rd.len);
            sp__h1_next(&h, pos);
        }
    }
    o->leftover = o->error ? 0 : rd.len - pos;
    sp__h1_free(&h);
    sp__buf_free(&rd);
    sp__buf_free(&body);
}

static void blob_eq(blob a, blob b, const char *what, const char *mode)
{
    cr_assert(a.n == b.n && memcmp(a.p, b.p, a.n) == 0, "%s: %s '%.*s' != whole '%.*s'", mode, what,
              (int)a.n, a.p, (int)b.n, b.p);
}

/* The answers of mode m must be those of the whole feed w. */
static void same(const outcome *m, const outcome *w, const char *mode)
{
    cr_assert_eq(m->n, w->n, "%s: %zu answers, whole feed gave %zu", mode, m->n, w->n);
    cr_assert_eq(m->error, w->error, "%s: error %d, whole feed %d", mode, m->error, w->error);
    cr_assert_eq(m->closed, w->closed, "%s: closed %d, whole feed %d", mode, m->closed, w->closed);
    for (size_t i = 0; i < w->n; i++) {
        const parsed *a = &m->r[i], *b = &w->r[i];
        cr_assert_eq(a->st, b->st, "%s: answer %zu state %d != whole %d", mode, i, a->st, b->st);
        cr_assert_eq(a->status, b->status, "%s: answer %zu status %d != whole %d", mode, i,
                     a->status, b->status);
        if (a->st != SP__H1_DONE)
            continue;
        cr_assert_eq(a->end, b->end, "%s: request %zu ends at %zu, whole at %zu", mode, i, a->end,
                     b->end);
        blob_eq(a->method, b->method, "method", mode);
        blob_eq(a->url, b->url, "url", mode);
        blob_eq(a->body, b->body, "body", mode);
        cr_assert_eq(a->n_hdr, b->n_hdr, "%s: %zu headers != whole %zu", mode, a->n_hdr, b->n_hdr);
        for (size_t j = 0; j < a->n_hdr && j < MAX_HDR; j++) {
            blob_eq(a->name[j], b->name[j], "header name", mode);
            blob_eq(a->value[j], b->value[j], "header value", mode);
        }
        cr_assert_eq(a->version, b->version, "%s: version", mode);
        cr_assert_eq(a->keep_alive, b->keep_alive, "%s: keep_alive", mode);
        cr_assert_eq(a->expect_continue, b->expect_continue, "%s: expect_continue", mode);
        cr_assert_eq(a->upgrade, b->upgrade, "%s: upgrade", mode);
    }
}

/* Feed in[0, n) one byte per read. */
static void feed_bytes(const char *in, size_t n, outcome *o)
{
    static size_t *cut; /* kept and reused, so a failed assertion leaks nothing */
    static size_t cap;

    if (cap < n + 1) {
        cut = realloc(cut, (n + 1) * sizeof(*cut));
        cr_assert_not_null(cut);
        cap = n + 1;
    }
    for (size_t i = 1; i < n; i++)
        cut[i - 1] = i;
    feed_segments(in, n, cut, n ? n - 1 : 0, o);
}

static outcome whole;

/* Parse whole, byte by byte and (small inputs) split everywhere; all must
 * agree.  The whole feed's answers are left in `whole`. */
static void parse(const char *in, size_t n)
{
    static outcome other;

    outcome_free(&whole);
    feed_whole(in, n, &whole);

    feed_bytes(in, n, &other);
    same(&other, &whole, "byte by byte");
    outcome_free(&other);

    for (size_t k = 1; n <= SPLIT_BELOW && k < n; k++) {
        char mode[64];
        snprintf(mode, sizeof(mode), "split at %zu", k);
        feed_segments(in, n, &k, 1, &other);
        same(&other, &whole, mode);
        outcome_free(&other);
    }
}

static void parse_str(const char *s)
{
    parse(s, strlen(s));
}

/* The input is refused with status and nothing before it is a request. */
static void reject(const char *in, size_t n, int status)
{
    parse(in, n);
    cr_assert_eq(whole.n, 1, "%zu answers, wanted only the refusal; input: %.*s", whole.n, (int)n,
                 in);
    cr_assert_eq(whole.r[0].st, SP__H1_ERROR, "accepted, wanted %d; input: %.*s", status, (int)n,
                 in);
    cr_assert_eq(whole.r[0].status, status, "status %d, wanted %d; input: %.*s", whole.r[0].status,
                 status, (int)n, in);
}

/* As reject, where either of two statuses is right. */
static void reject_either(const char *in, size_t n, int s1, int s2)
{
    parse(in, n);
    cr_assert_eq(whole.n, 1, "%zu answers; input: %.*s", whole.n, (int)n, in);
    cr_assert_eq(whole.r[0].st, SP__H1_ERROR, "accepted; input: %.*s", (int)n, in);
    cr_assert(whole.r[0].status == s1 || whole.r[0].status == s2,
              "status %d, wanted %d or %d; input: %.*s", whole.r[0].status, s1, s2, (int)n, in);
}

static void reject_str(const char *s, int status)
{
    reject(s, strlen(s), status);
}

/* The input is exactly n_req whole requests and nothing else. */
static void ok_n(const char *in, size_t n, size_t n_req)
{
    parse(in, n);
    cr_assert_eq(whole.error, 0, "refused with %d; input: %.*s",
                 whole.n ? whole.r[whole.n - 1].status : 0, (int)n, in);
    cr_assert_eq(whole.n, n_req, "%zu requests, wanted %zu; input: %.*s", whole.n, n_req, (int)n,
                 in);
    cr_assert_eq(whole.leftover, 0, "%zu bytes left unparsed", whole.leftover);
    cr_assert_eq(whole.r[n_req - 1].end, n, "last request ends at %zu of %zu",
                 whole.r[n_req - 1].end, n);
}

static void ok_str(const char *s)
{
    ok_n(s, strlen(s), 1);
}

static const parsed *req(size_t i)
{
    return &whole.r[i];
}

static int blob_is(blob b, const char *s)
{
    return b.n == strlen(s) && memcmp(b.p, s, b.n) == 0;
}

/* Value of the first header called name in request i, or NULL. */
static const blob *header(size_t i, const char *name)
{
    const parsed *r = req(i);
    for (size_t j = 0; j < r->n_hdr && j < MAX_HDR; j++)
        if (r->name[j].n == strlen(name) && strncasecmp(r->name[j].p, name, r->name[j].n) == 0)
            return &r->value[j];
    return NULL;
}

/* Value of header name in request i, which must be there. */
static blob hval(size_t i, const char *name)
{
    const blob *v = header(i, name);
    cr_assert_not_null(v, "request %zu has no %s header", i, name);
    return *v;
}

#define ASSERT_BLOB(b, s)                                                                          \
    cr_assert(blob_is((b), (s)), "got '%.*s', wanted '%s'", (int)(b).n, (b).p, (s))

/* ---- a request, its pieces ---------------------------------------------------- */

Test(http1, simple_get_spans)
{
    ok_str("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Two: two words\r\n\r\n");
    ASSERT_BLOB(req(0)->method, "GET");
    ASSERT_BLOB(req(0)->url, "/a/b?x=1");
    cr_assert_eq(req(0)->version, 11);
    cr_assert_eq(req(0)->n_hdr, 2);
    ASSERT_BLOB(req(0)->name[0], "Host");
    ASSERT_BLOB(req(0)->value[0], "example.com");
    ASSERT_BLOB(req(0)->name[1], "X-Two");
    ASSERT_BLOB(req(0)->value[1], "two words");
    cr_assert_eq(req(0)->body.n, 0);
    cr_assert_eq(req(0)->keep_alive, 1);
    cr_assert_eq(req(0)->expect_continue, 0);
}

Test(http1, post_body_with_content_length)
{
    ok_str("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
    ASSERT_BLOB(req(0)->method, "POST");
    ASSERT_BLOB(req(0)->body, "hello world");
}

Test(http1, header_value_whitespace_trimmed)
{
    ok_str("GET / HTTP/1.1\r\nHost: a \t \r\nX-A:   inner  space\t \r\nX-Empty:\r\n"
           "X-Blank:    \r\n\r\n");
    ASSERT_BLOB(hval(0, "Host"), "a");
    ASSERT_BLOB(hval(0, "X-A"), "inner  space");
    ASSERT_BLOB(hval(0, "X-Empty"), "");
    ASSERT_BLOB(hval(0, "X-Blank"), "");
}

Test(http1, chunked_body_decoded)
{
    ok_str("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5;name=value\r\nhello\r\n1;flag;name=\"quoted;value\"\r\n \r\n"
           "5;a=1\r\nworld\r\n0;last\r\n\r\n");
    ASSERT_BLOB(req(0)->body, "hello world");
}

Test(http1, chunk_size_hex_any_case)
{
    ok_str("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
           "a\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n");
    ASSERT_BLOB(req(0)->body, "01234567890123456789a");
}

/* 0x80-0xFF are obs-text: allowed in a value and passed on byte for byte. */
Test(http1, high_bytes_in_value_untouched)
{
    const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9 \x80\xff\xfe end\r\n\r\n";
    ok_n(LIT(in), 1);
    ASSERT_BLOB(hval(0, "X-Name"), "caf\xc3\xa9 \x80\xff\xfe end");
}

/* ---- pipelining ------------------------------------------------------------------ */

Test(http1, three_pipelined_in_order)
{
    const char r1[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const char r2[] = "POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc";
    const char r3[] = "PUT /three HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "2\r\nxy\r\n0\r\n\r\n";
    char in[512];
    int n = snprintf(in, sizeof(in), "%s%s%s", r1, r2, r3);

    ok_n(in, (size_t)n, 3);
    cr_assert_eq(req(0)->end, strlen(r1));
    cr_assert_eq(req(1)->end, strlen(r1) + strlen(r2));
    cr_assert_eq(req(2)->end, (size_t)n);
    ASSERT_BLOB(req(0)->url, "/one");
    ASSERT_BLOB(req(1)->url, "/two");
    ASSERT_BLOB(req(2)->url, "/three");
    ASSERT_BLOB(req(1)->method, "POST");
    ASSERT_BLOB(req(2)->method, "PUT");
    ASSERT_BLOB(hval(1, "Host"), "b");
    ASSERT_BLOB(hval(2, "Host"), "c");
    cr_assert_eq(req(0)->body.n, 0);
    ASSERT_BLOB(req(1)->body, "abc");
    ASSERT_BLOB(req(2)->body, "xy");
    cr_assert_eq(req(0)->n_hdr, 1, "headers of one request leak into the next");
    cr_assert_eq(req(1)->n_hdr, 2);
    cr_assert_eq(req(2)->n_hdr, 2);
}

/* The next request starts exactly where the previous ended, and nothing
 * after a refusal in the middle of a pipeline is parsed. */
Test(http1, invalid_in_middle_of_pipeline)
{
    parse_str("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
              "GET /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"
              "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(whole.n, 2);
    cr_assert_eq(req(0)->st, SP__H1_DONE);
    ASSERT_BLOB(req(0)->url, "/1");
    cr_assert_eq(req(1)->st, SP__H1_ERROR);
    cr_assert_eq(req(1)->status, 400);
}

/* A partial request at the end stays pending; the parser reports it. */
Test(http1, partial_request_is_mid_request)
{
    sp__h1 h;
    sp__buf body = {0};
    const char first[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HT";
    size_t pos = 0;

    sp__h1_init(&h, &lim, &body);
    cr_assert_eq(sp__h1_mid_request(&h, 0), 0);
    cr_assert_eq(sp__h1_feed(&h, in, &pos, sizeof(in) - 1), SP__H1_DONE);
    cr_assert_eq(pos, sizeof(first) - 1);
    sp__h1_next(&h, pos);
    cr_assert_eq(sp__h1_mid_request(&h, pos), 0, "nothing of the next request read yet");
    cr_assert_eq(sp__h1_feed(&h, in, &pos, sizeof(in) - 1), SP__H1_NEED_MORE);
    cr_assert_eq(pos, sizeof(in) - 1);
    cr_assert(sp__h1_mid_request(&h, pos));
    sp__h1_free(&h);
    sp__buf_free(&body);
}

/* ---- case 1: request smuggling through CL + TE ----------------------------------- */

Test(http1, content_length_and_chunked_refused)
{
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
               "\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n",
               400);
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 35"
               "\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n",
               400);
}

/* ---- case 2: Content-Length ----------------------------------------------------- */

Test(http1, bad_content_length_refused)
{
    static const char *bad[] = {
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: 5\r\nContent-Length: 5", /* RFC 9112 6.3 allows refusing this */
        "Content-Length: 5, 5",
        "Content-Length: +5",
        "Content-Length: 0x5",
        "Content-Length: -1",
        "Content-Length: 1_0",
        "Content-Length: 1 0",
        "Content-Length: ",
        "Content-Length: 1234567890123456789012345",
        "Content-Length: 18446744073709551616",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in),
                 "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n\r\nhelloGET / HTTP/1.1\r\n"
                 "Host: a\r\n\r\n",
                 bad[i]);
        reject_str(in, 400);
    }
}

/* ---- case 3: Transfer-Encoding is chunked or refused -------------------------- */

Test(http1, bad_transfer_encoding_refused)
{
    static const char *bad[] = {
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: chunked, gzip",
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunkedx",
        "Transfer-Encoding : chunked",
        "Transfer-Encoding:\tchunked\r\n identity", /* folded continuation */
        "X-A: b\r\n Transfer-Encoding: chunked",    /* folded into X-A */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in),
                 "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n",
                 bad[i]);
        reject_either(in, strlen(in), 400, 501);
    }
}

/* ---- case 4: chunk framing ---------------------------------------------------------- */

Test(http1, bad_chunk_framing_refused)
{
    static const char *bad[] = {
        "FFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n", /* overflows 64 bits */
        "10000000000000000\r\nx\r\n0\r\n\r\n",
        "Z\r\nx\r\n0\r\n\r\n",
        "\r\nx\r\n0\r\n\r\n", /* empty size */
        "0x5\r\nhello\r\n0\r\n\r\n",
        "-1\r\nx\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n", /* data not followed by CRLF */
        "5\r\nhello0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n", /* bare LF after the size */
        "5\r\nhello\n0\r\n\r\n", /* bare LF after the data */
        "5\rhello\r\n0\r\n\r\n", /* bare CR */
        "5\r\nhello\r\n0\n\r\n", /* bare LF in the last chunk */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in),
                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "%sGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n",
                 bad[i]);
        reject_str(in, 400);
    }
}

/* ---- case 5: chunk extensions ------------------------------------------------------ */

static char *chunked_with_ext(size_t ext_len)
{
    const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;";
    const char tail[] = "\r\nx\r\n0\r\n\r\n";
    char *in = malloc(sizeof(head) + ext_len + sizeof(tail));
    cr_assert_not_null(in);
    memcpy(in, head, sizeof(head) - 1);
    memset(in + sizeof(head) - 1, 'e', ext_len);
    memcpy(in + sizeof(head) - 1 + ext_len, tail, sizeof(tail));
    return in;
}

Test(http1, chunk_extension_ignored)
{
    char *in = chunked_with_ext(8 * 1024);
    ok_str(in);
    ASSERT_BLOB(req(0)->body, "x");
    free(in);
}

Test(http1, chunk_extension_over_16k_is_413)
{
    char *in = chunked_with_ext(16 * 1024 + 1);
    reject_str(in, 413);
    free(in);
}

/* ---- case 6: trailers ---------------------------------------------------------------- */

Test(http1, trailers_do_not_frame_next_request)
{
    ok_n(LIT("POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n0\r\nX-Checksum: 40\r\nX-Trailer: t\r\n\r\n"
             "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"),
         2);
    ASSERT_BLOB(req(0)->body, "abc");
    cr_assert_eq(req(0)->n_hdr, 2, "trailers must not become request headers");
    ASSERT_BLOB(req(1)->method, "GET");
    ASSERT_BLOB(req(1)->url, "/2");
    cr_assert_eq(req(1)->body.n, 0);
    cr_assert_eq(req(1)->n_hdr, 1);
}

/* A trailer arrives after the body, too late to frame, route or qualify
 * it: such fields are refused (RFC 9110 6.5.1), and so is a trailer
 * section with more lines than a head may have. */
Test(http1, trailers_that_must_precede_the_body_refused)
{
    static const char *const fields[] = {"Content-Length: 40", "HOST: b",
                                         "Content-Type: a/b",  "Authorization: x",
                                         "If-None-Match: *",   "Trailer: X"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in),
                 "POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\n%s\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
                 fields[i]);
        reject_str(in, 400);
    }
}

Test(http1, trailer_lines_limited_like_header_lines)
{
    char *in = malloc(64 * 1024), *p = in;
    p += sprintf(p, "POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n0\r\n");
    for (int i = 0; i <= lim.header_count; i++)
        p += sprintf(p, "X-T%d: 1\r\n", i);
    p += sprintf(p, "\r\n");
    reject(in, (size_t)(p - in), 431);
    free(in);
}

/* llhttp refuses a second Transfer-Encoding even in the trailers; either
 * that refusal or ignoring it is fine, reading the next request as a body
 * is not. */
Test(http1, transfer_encoding_trailer_never_frames)
{
    parse_str("POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"
              "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    if (whole.error) {
        cr_assert_eq(whole.n, 1, "refused, but only after a request");
        cr_assert_eq(req(0)->status, 400);
    } else {
        cr_assert_eq(whole.n, 2);
        ASSERT_BLOB(req(1)->url, "/2");
        cr_assert_eq(req(1)->body.n, 0);
    }
}

/* A chunk whose size line already passes limit-body is refused before its
 * data: the answer does not wait for bytes that will be thrown away. */
Test(http1, chunk_size_over_limit_refused_at_size_line)
{
    char in[256];
    snprintf(in, sizeof(in),
             "POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%llx\r\n",
             (unsigned long long)lim.body + 1);
    reject_str(in, 413);
}

/* RFC 9112 6.1: chunked framing in an HTTP/1.0 request is faulty. */
Test(http1, transfer_encoding_on_http10_refused)
{
    reject_str("POST /1 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400);
}

Test(http1, second_content_type_refused)
{
    reject_str("POST /1 HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nContent-Length: 1\r\n"
               "Content-Type: c/d\r\n\r\nx",
               400);
}

/* Raw UTF-8 in the target (path, query) is taken as nginx takes it; it
 * cannot end the target, so framing is unchanged. */
Test(http1, raw_utf8_target_accepted)
{
    ok_str("GET /caf\xc3\xa9/\xe2\x82\xac?q=\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_BLOB(req(0)->url, "/caf\xc3\xa9/\xe2\x82\xac?q=\xc3\xa9");
}

/* The asterisk form is for OPTIONS only (RFC 9112 3.2.4). */
Test(http1, asterisk_target_only_for_options)
{
    reject_str("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ok_str("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
}

/* ---- case 7: header syntax --------------------------------------------------------- */

Test(http1, bad_header_syntax_refused)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
#define B(s) {s, sizeof(s) - 1}
        B("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n"),  /* obs-fold */
        B("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n"), /* obs-fold, tab */
        B("GET / HTTP/1.1\r\n Host: a\r\n\r\n"),                     /* leading space */
        B("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n"),                    /* leading tab */
        B("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),                     /* space before colon */
        B("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
        B("GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"), /* bad name bytes */
        B("GET / HTTP/1.1\r\nHost: a\r\nX@A: b\r\n\r\n"),
        B("GET / HTTP/1.1\r\nHost: a\r\nX\x01"
          "A: b\r\n\r\n"),
        B("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n"),
        B("GET / HTTP/1.1\r\nHost: a\r\nX-A b\r\n\r\n"),          /* no colon */
        B("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n"),      /* NUL in value */
        B("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n"),      /* CR in value */
        B("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\nX-B: c\r\n\r\n"), /* bare LF */
        B("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n"),     /* DEL */
#undef B
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        reject(bad[i].s, bad[i].n, 400);
}

/* RFC 9112 2.2 lets a recipient take a bare LF as a line end; llhttp does
 * after the request line and for the blank line (not after a field line,
 * see above).  Either way the request must be read as the client framed
 * it: refused, or the same request with the same end. */
Test(http1, bare_lf_line_end_refused_or_read_alike)
{
    static const char *in[] = {
        "GET /x HTTP/1.1\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: a\r\n\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        parse_str(in[i]);
        if (whole.error) {
            cr_assert_eq(whole.n, 1);
            cr_assert_eq(req(0)->status, 400);
            continue;
        }
        cr_assert_eq(whole.n, 2);
        ASSERT_BLOB(req(0)->url, "/x");
        ASSERT_BLOB(hval(0, "Host"), "a");
        cr_assert_eq(req(0)->end, strlen(in[i]) - strlen("GET /y HTTP/1.1\r\nHost: a\r\n\r\n"));
        ASSERT_BLOB(req(1)->url, "/y");
    }
}

/* field-name = token, which is at least one character (RFC 9110 5.1). */
Test(http1, empty_header_name_refused)
{
    reject_str("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400);
    reject_str("GET / HTTP/1.1\r\n: b\r\nHost: a\r\n\r\n", 400);
}

/* A folded line after an empty value is obs-fold all the same. */
Test(http1, obs_fold_after_empty_value_refused)
{
    reject_str("GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n two\r\n\r\n", 400);
    reject_str("GET / HTTP/1.1\r\nHost: a\r\nX-A:   \r\n two\r\n\r\n", 400);
}

/* ---- case 8: Host ---------------------------------------------------------------------- */

Test(http1, host_rules)
{
    reject_str("GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400);
    reject_str("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    reject_str("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    reject_str("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    reject_str("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    reject_str("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400);
    reject_str("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);

    ok_str("GET / HTTP/1.0\r\n\r\n");
    cr_assert_eq(req(0)->version, 10);
    ok_str("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
    ok_str("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n");
    ok_str("GET / HTTP/1.1\r\nHOST: a\r\n\r\n");
}

/* ---- case 9: the request line ------------------------------------------------------- */

Test(http1, bad_request_line_refused)
{
    static const char *bad[] = {
        "GET  / HTTP/1.1", "GET /  HTTP/1.1",      "GET / a HTTP/1.1",   "GET / HTTP/1.11",
        "GET / HTTP/1.1 ", "GET /a#frag HTTP/1.1", "GET /# HTTP/1.1",    " GET / HTTP/1.1",
        "GET\t/ HTTP/1.1", "GET / HTTP/1",         "GET / HTTP/1.",      "GET / http/1.1",
        "GET / HTTP/01.1", "GET /\x7f HTTP/1.1",   "GET / HTTP/1.1\r\r",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in), "%s\r\nHost: a\r\n\r\n", bad[i]);
        reject_str(in, 400);
    }
}

Test(http1, unsupported_version)
{
    reject_either(LIT("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505, 400);
    reject_either(LIT("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505, 400);
    reject_either(LIT("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505, 400);
}

/* Refused with s1 or s2 whole and byte by byte (the two may differ). */
static void reject_loose(const char *s, int s1, int s2)
{
    static outcome o;
    size_t n = strlen(s);

    for (int mode = 0; mode < 2; mode++) {
        if (mode == 0)
            feed_whole(s, n, &o);
        else
            feed_bytes(s, n, &o);
        cr_assert_eq(o.n, 1, "%s: %zu answers; input: %s", mode ? "bytes" : "whole", o.n, s);
        cr_assert_eq(o.r[0].st, SP__H1_ERROR, "accepted; input: %s", s);
        cr_assert(o.r[0].status == s1 || o.r[0].status == s2, "status %d; input: %s", o.r[0].status,
                  s);
        outcome_free(&o);
    }
}

Test(http1, unknown_method)
{
    reject_loose("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501, 400);
    reject_loose("BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501, 400);
    reject_loose("GETS / HTTP/1.1\r\nHost: a\r\n\r\n", 501, 400);
    reject_loose("get / HTTP/1.1\r\nHost: a\r\n\r\n", 501, 400);
    reject_loose("-GET / HTTP/1.1\r\nHost: a\r\n\r\n", 501, 400);
}

/* Whether an unknown method gets 501 or 400 must not depend on bytes past
 * those received so far (stale bytes of an earlier request, in the server). */
Test(http1, unknown_method_status_from_received_bytes_only)
{
    reject_either(LIT("FOO / HTTP/1.1\r\nHost: a\r\n\r\n"), 501, 400);
}

/* The 501-or-400 decision scans the method; it must stop at the end of the
 * data even when every byte received is a capital letter. */
Test(http1, unknown_method_scan_stays_in_buffer)
{
    size_t n = 4096;
    char *in = malloc(n);
    cr_assert_not_null(in);
    memset(in, 'A', n);
    guarded g = guarded_copy(in, n);
    sp__h1 h;
    sp__buf body = {0};
    size_t pos = 0;

    sp__h1_init(&h, &lim, &body);
    cr_assert_eq(sp__h1_feed(&h, g.data, &pos, n), SP__H1_ERROR);
    cr_assert(h.status == 400 || h.status == 501);
    sp__h1_free(&h);
    guarded_free(&g);
    free(in);
}

Test(http1, known_methods_accepted)
{
    static const char *ok[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char in[128];
        snprintf(in, sizeof(in), "%s /x HTTP/1.1\r\nHost: a\r\n\r\n", ok[i]);
        ok_str(in);
        ASSERT_BLOB(req(0)->method, ok[i]);
    }
    ok_str("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_BLOB(req(0)->url, "*");
}

/* ---- case 10: limits ----------------------------------------------------------------- */

static char *request_with_target(size_t target_len)
{
    char *in = malloc(target_len + 64);
    cr_assert_not_null(in);
    strcpy(in, "GET /");
    memset(in + 5, 'a', target_len - 1);
    strcpy(in + 4 + target_len, " HTTP/1.1\r\nHost: a\r\n\r\n");
    return in;
}

Test(http1, target_at_limit_accepted)
{
    char *in = request_with_target(lim.uri);
    ok_str(in);
    cr_assert_eq(req(0)->url.n, lim.uri);
    free(in);
}

Test(http1, target_over_limit_is_414)
{
    char *in = request_with_target(lim.uri + 1);
    reject_str(in, 414);
    free(in);
    in = request_with_target(64 * 1024);
    reject_str(in, 414);
    free(in);
}

/* A head of `lines` lines "X-N: <pad>" of about line_len bytes each. */
static char *request_with_headers(size_t lines, size_t line_len)
{
    size_t cap = 64 + lines * (line_len + 32);
    char *in = malloc(cap);
    size_t n = 0;
    cr_assert_not_null(in);
    n += (size_t)sprintf(in, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 0; i < lines; i++) {
        n += (size_t)sprintf(in + n, "X-%zu: ", i);
        memset(in + n, 'v', line_len);
        n += line_len;
        n += (size_t)sprintf(in + n, "\r\n");
    }
    strcpy(in + n, "\r\n");
    return in;
}

Test(http1, headers_under_limits_accepted)
{
    /* Host plus 99 more: exactly limit-header-count lines. */
    char *in = request_with_headers(99, 100);
    ok_str(in);
    cr_assert_eq(req(0)->n_hdr, 100);
    free(in);
}

Test(http1, more_header_lines_than_count_is_431)
{
    char *in = request_with_headers(100, 1);
    reject_str(in, 431);
    free(in);
    in = request_with_headers(10000, 1);
    reject_str(in, 431);
    free(in);
}

Test(http1, head_over_byte_limit_is_431)
{
    char *in = request_with_headers(1, 17 * 1024); /* one huge value */
    reject_str(in, 431);
    free(in);
    in = request_with_headers(40, 500); /* many lines, ~20 KiB */
    reject_str(in, 431);
    free(in);
    lim.header_count = 10000;
    in = request_with_headers(5000, 1); /* many tiny lines */
    reject_str(in, 431);
    free(in);
}

Test(http1, huge_header_name_is_431)
{
    size_t n = 20 * 1024;
    char *in = malloc(n + 64);
    cr_assert_not_null(in);
    strcpy(in, "GET / HTTP/1.1\r\nHost: a\r\n");
    size_t at = strlen(in);
    memset(in + at, 'N', n);
    strcpy(in + at + n, ": v\r\n\r\n");
    reject_str(in, 431);
    free(in);
}

Test(http1, content_length_over_limit_is_413_before_body)
{
    lim.body = 1000;
    /* No body bytes follow: the refusal comes from the head alone. */
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413);
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n"
               "Expect: 100-continue\r\n\r\n",
               413);
}

Test(http1, body_at_limit_accepted)
{
    lim.body = 10;
    ok_str("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
    ASSERT_BLOB(req(0)->body, "0123456789");
    ok_str("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n");
    ASSERT_BLOB(req(0)->body, "0123456789");
}

Test(http1, chunked_body_over_limit_is_413)
{
    lim.body = 10;
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\n01234\r\n6\r\n56789a\r\n0\r\n\r\n",
               413);
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               "FFFFFFFF\r\n0123456789abcdef",
               413);
}

/* The body buffer is reused: limits count one request's body only. */
Test(http1, body_limit_is_per_request)
{
    lim.body = 10;
    ok_n(LIT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "8\r\n01234567\r\n0\r\n\r\n"
             "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "8\r\nabcdefgh\r\n0\r\n\r\n"),
         2);
    ASSERT_BLOB(req(0)->body, "01234567");
    ASSERT_BLOB(req(1)->body, "abcdefgh");
}

/* ---- case 11: Expect ------------------------------------------------------------------- */

Test(http1, expect_continue_flag)
{
    ok_str("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
    cr_assert_eq(req(0)->expect_continue, 1);
    ASSERT_BLOB(req(0)->body, "ok");
    ok_str("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    cr_assert_eq(req(0)->expect_continue, 1);
    /* Nothing to wait for: no 100 needed. */
    ok_str("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
    cr_assert_eq(req(0)->expect_continue, 0);
    ok_str("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    cr_assert_eq(req(0)->expect_continue, 0);
    /* HTTP/1.0 clients do not know 100 Continue (RFC 9110 10.1.1). */
    ok_str("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
    cr_assert_eq(req(0)->expect_continue, 0);
}

/* The server sends 100 Continue once the head is in and before the body:
 * the flag is up at that point, while the parser still wants the body. */
Test(http1, expect_continue_known_before_body)
{
    sp__h1 h;
    sp__buf body = {0};
    const char in[] = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                      "Content-Length: 5\r\n\r\n";
    size_t pos = 0;

    sp__h1_init(&h, &lim, &body);
    cr_assert_eq(sp__h1_feed(&h, in, &pos, sizeof(in) - 1), SP__H1_NEED_MORE);
    cr_assert(h.headers_done);
    cr_assert(h.expect_continue);
    cr_assert_eq(h.head_end, sizeof(in) - 1);
    sp__h1_free(&h);
    sp__buf_free(&body);
}

Test(http1, expect_other_is_417)
{
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nContent-Length: 2\r\n\r\nok", 417);
    reject_str("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\nContent-Length: 2\r\n\r\nok",
               417);
}

/* ---- case 12: keep-alive ----------------------------------------------------------------- */

Test(http1, keep_alive_flag)
{
    ok_str("GET / HTTP/1.0\r\n\r\n");
    cr_assert_eq(req(0)->keep_alive, 0);
    ok_str("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cr_assert_eq(req(0)->keep_alive, 1);
    ok_str("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    cr_assert_eq(req(0)->keep_alive, 1);
    ok_str("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(req(0)->keep_alive, 1);
    ok_str("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    cr_assert_eq(req(0)->keep_alive, 0);
    ok_str("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n");
    cr_assert_eq(req(0)->keep_alive, 0);
}

/* Bytes after "Connection: close" are not this request; the parser stops
 * at its end like any other (the server then closes). */
Test(http1, connection_close_stops_at_request_end)
{
    const char first[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    parse_str("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
              "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(whole.n, 1);
    cr_assert_eq(req(0)->st, SP__H1_DONE);
    cr_assert_eq(req(0)->keep_alive, 0);
    cr_assert_eq(req(0)->end, sizeof(first) - 1);
    cr_assert(whole.closed);
}

/* ---- case 14: an unread body is never a request ---------------------------------- */

Test(http1, body_that_looks_like_a_request)
{
    const char inner[] = "GET /inner HTTP/1.1\r\nHost: a\r\n\r\n";
    char in[256];
    int n = snprintf(in, sizeof(in),
                     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n"
                     "%sGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
                     strlen(inner), inner);
    ok_n(in, (size_t)n, 2);
    ASSERT_BLOB(req(0)->body, inner);
    ASSERT_BLOB(req(1)->url, "/next");
}

/* ---- upgrade -------------------------------------------------------------------------- */

/* spindle serves no upgrades (nor CONNECT): such a request is answered and
 * the connection closes, so the parser must say so on that request. */
static const char *const upgrades[] = {
    "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"
    "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
};

Test(http1, upgrade_request_ends_the_connection)
{
    for (size_t i = 0; i < sizeof(upgrades) / sizeof(upgrades[0]); i++) {
        parse_str(upgrades[i]);
        cr_assert_geq(whole.n, 1);
        cr_assert_eq(req(0)->st, SP__H1_DONE);
        cr_assert(req(0)->upgrade || !req(0)->keep_alive,
                  "%.*s done with upgrade=%d keep_alive=%d: the connection would go on",
                  (int)req(0)->method.n, req(0)->method.p, req(0)->upgrade, req(0)->keep_alive);
    }
}

/* Every DONE is a request: it has a method and ends past the previous one. */
Test(http1, no_request_out_of_thin_air_after_upgrade)
{
    for (size_t i = 0; i < sizeof(upgrades) / sizeof(upgrades[0]); i++) {
        parse_str(upgrades[i]);
        for (size_t j = 0; j < whole.n; j++) {
            if (whole.r[j].st != SP__H1_DONE)
                continue;
            cr_assert_gt(whole.r[j].method.n, 0,
                         "answer %zu is a request with no method, ending at %zu (upgrade=%d)", j,
                         whole.r[j].end, whole.r[j].upgrade);
            cr_assert(j == 0 || whole.r[j].end > whole.r[j - 1].end,
                      "answer %zu ends where the previous one did (%zu)", j, whole.r[j].end);
        }
    }
}
