/*
 * http1.c - llhttp glue (see http1.h).
 *
 * llhttp runs with LLHTTP_STRICT_MODE=1 and no lenient flag: it refuses
 * CL+TE, duplicate or malformed Content-Length, non-final chunked and bad
 * chunk sizes itself.  What it cannot know is the server's policy, so the
 * callbacks below add: size limits, exactly one well-formed Host on 1.1,
 * Expect, the version, obs-fold, the 16 KiB chunk-extension cap, no
 * Transfer-Encoding on HTTP/1.0, one Content-Type, "*" for OPTIONS only,
 * chunk sizes against limit-body as soon as they are read, and trailers
 * that may not carry framing, routing or other fields that must be known
 * before the body (RFC 9110 6.5.1).
 * Every refusal sets h->status and a short reason for the log.
 */
#include "server/proto/http1.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/lib/fdio.h"
#include "spindle/spindle.h"

#define EXT_LIMIT (16 * 1024)

static sp__h1 *H(llhttp_t *p)
{
    return p->data;
}

static int fail(sp__h1 *h, int status, const char *reason)
{
    if (h->status == 0) {
        h->status = status;
        h->reason = reason;
    }
    return HPE_USER;
}

/* Grow span s to cover [at, at+len); spans of one item are contiguous. */
static void extend(sp__h1 *h, sp__span *s, const char *at, size_t len)
{
    size_t off = (size_t)(at - h->base);
    if (s->len == 0)
        s->off = off;
    s->len = off + len - s->off;
}

static bool head_size_ok(sp__h1 *h, const char *at, size_t len)
{
    return (size_t)(at - h->base) + len - h->start <= h->lim->headers;
}

static int on_message_begin(llhttp_t *p)
{
    H(p)->begun = 1;
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
    extend(H(p), &H(p)->method, at, len);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    sp__h1 *h = H(p);
    extend(h, &h->url, at, len);
    if (h->url.len > h->lim->uri)
        return fail(h, 414, "request target over limit-uri");
    return 0;
}

/* What every piece of a header line passes first.  Trailers (after a
 * chunked body) count against the head's limits and are dropped: 0.  A
 * piece over a limit: -1.  A piece of the head to record: 1. */
static int header_piece(sp__h1 *h, const char *at, size_t len)
{
    if (h->headers_done) {
        h->trailer_bytes += len;
        return h->trailer_bytes > h->lim->headers ? fail(h, 431, "trailers over limit-headers"),
               -1                                 : 0;
    }
    if (!head_size_ok(h, at, len))
        return fail(h, 431, "headers over limit-headers"), -1;
    return 1;
}

/* A piece of a trailer field's name: kept (lower-cased) for the check
 * once the name is complete; a name longer than tname is none of the
 * refused ones. */
static void trailer_name_piece(sp__h1 *h, const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++, h->tname_len++)
        if (h->tname_len < sizeof(h->tname))
            h->tname[h->tname_len] = (char)tolower((unsigned char)at[i]);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    sp__h1 *h = H(p);
    int verdict = header_piece(h, at, len);
    if (verdict == 0 && h->headers_done)
        trailer_name_piece(h, at, len);
    if (verdict <= 0)
        return verdict < 0 ? HPE_USER : 0;
    if (h->field_done || h->n_hdr == 0) {
        if ((int)(h->n_hdr / 2) >= h->lim->header_count)
            return fail(h, 431, "more header lines than limit-header-count");
        if (h->n_hdr + 2 > h->cap_hdr) {
            size_t cap = h->cap_hdr ? h->cap_hdr * 2 : 32;
            sp__span *n = realloc(h->hdr, cap * sizeof(*n));
            if (n == NULL)
                return fail(h, 503, "out of memory");
            h->hdr = n;
            h->cap_hdr = cap;
        }
        h->hdr[h->n_hdr] = h->hdr[h->n_hdr + 1] = (sp__span){0, 0};
        h->n_hdr += 2;
        h->field_done = 0;
        h->value_seen = 0;
    }
    extend(h, &h->hdr[h->n_hdr - 2], at, len);
    return 0;
}

/* A value's first piece sits after "name:" and optional blanks; after a
 * line break instead, the value was empty and this is a folded line. */
static int follows_colon(const sp__h1 *h, size_t off)
{
    while (off > h->start && (h->base[off - 1] == ' ' || h->base[off - 1] == '\t'))
        off--;
    return off > h->start && h->base[off - 1] == ':';
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    sp__h1 *h = H(p);
    int verdict = header_piece(h, at, len);
    if (verdict <= 0)
        return verdict < 0 ? HPE_USER : 0;
    /* llhttp passes a folded line (obs-fold) as a further piece of the same
     * value.  Pieces of one value are adjacent in the buffer, even across
     * feeds, so a gap after any earlier piece (even an empty one) is a fold. */
    sp__span *v = &h->hdr[h->n_hdr - 1];
    size_t off = (size_t)(at - h->base);
    if (len == 0)
        return 0; /* llhttp places empty pieces anywhere; they carry nothing */
    if (h->value_seen ? off != v->off + v->len : !follows_colon(h, off))
        return fail(h, 400, "obsolete line folding");
    if (!h->value_seen)
        v->off = off;
    h->value_seen = 1;
    v->len = off + len - v->off;
    return 0;
}

/* Fields a trailer may not carry: what frames or routes the message,
 * what controls how the request is handled, authentication, and what
 * says how to read the content.  A recipient that merged them into the
 * header section after the body would be acting on them too late. */
static bool trailer_refused(const char *name, size_t len)
{
    static const char *const refused[] = {"authorization",
                                          "cache-control",
                                          "connection",
                                          "content-encoding",
                                          "content-length",
                                          "content-range",
                                          "content-type",
                                          "cookie",
                                          "expect",
                                          "host",
                                          "keep-alive",
                                          "max-forwards",
                                          "proxy-authorization",
                                          "range",
                                          "te",
                                          "trailer",
                                          "transfer-encoding",
                                          "upgrade"};
    if (len > 3 && memcmp(name, "if-", 3) == 0)
        return true; /* conditionals */
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strlen(refused[i]) == len && memcmp(refused[i], name, len) == 0)
            return true;
    return false;
}

static int trailer_field_complete(sp__h1 *h)
{
    size_t len = h->tname_len;
    h->tname_len = 0;
    if (++h->trailer_lines > h->lim->header_count)
        return fail(h, 431, "more trailer lines than limit-header-count");
    if (len <= sizeof(h->tname) && trailer_refused(h->tname, len))
        return fail(h, 400, "a trailer field that must come before the body");
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    sp__h1 *h = H(p);
    h->field_done = 1;
    if (h->headers_done)
        return trailer_field_complete(h);
    if (h->hdr[h->n_hdr - 2].len == 0)
        return fail(h, 400, "empty header name");
    return 0;
}

static sp_str span_str(const sp__h1 *h, sp__span s)
{
    return (sp_str){h->base + s.off, s.len};
}

static bool name_is(const sp__h1 *h, size_t i, const char *name)
{
    sp_str n = span_str(h, h->hdr[i]);
    return n.len == strlen(name) && strncasecmp(n.ptr, name, n.len) == 0;
}

/* Whether a Host value may hold byte c: no controls, space or non-ASCII,
 * and none of the delimiters that would make it more than host[:port]. */
static bool host_byte_ok(unsigned char c)
{
    if (c <= ' ' || c >= 0x7f)
        return false;
    switch (c) {
    case '"':
    case '<':
    case '>':
    case '\\':
    case '^':
    case '`':
    case '{':
    case '|':
    case '}':
    case '/':
    case '?':
    case '#':
    case '@':
        return false;
    default:
        return true;
    }
}

static bool host_ok(sp_str v)
{
    /* "Host:" empty is allowed when the target has no authority */
    for (size_t i = 0; i < v.len; i++)
        if (!host_byte_ok((unsigned char)v.ptr[i]))
            return false;
    return true;
}

/* llhttp tolerates runs of spaces in the request line and fragments in the
 * target; neither is valid HTTP and both are parser-confusion vectors. */
static int check_request_line(sp__h1 *h)
{
    const char *b = h->base;
    size_t u = h->url.off, ue = h->url.off + h->url.len;
    if (h->url.len == 0 || u != h->method.off + h->method.len + 1 || b[ue] != ' ' ||
        b[ue + 1] != 'H')
        return fail(h, 400, "malformed request line");
    if (memchr(b + u, '#', h->url.len) != NULL)
        return fail(h, 400, "fragment in request target");
    /* The asterisk form names the server itself, and only OPTIONS asks
     * about it (RFC 9112 3.2.4). */
    if (h->url.len == 1 && b[u] == '*' &&
        !(h->method.len == 7 && memcmp(b + h->method.off, "OPTIONS", 7) == 0))
        return fail(h, 400, "'*' as the target of a method other than OPTIONS");
    return 0;
}

/* Values lose their trailing whitespace (it is not part of the value). */
static void trim_value(const sp__h1 *h, sp__span *v)
{
    while (v->len && (h->base[v->off + v->len - 1] == ' ' || h->base[v->off + v->len - 1] == '\t'))
        v->len--;
}

/* Host, Content-Type and Expect rules, checked once every header is in.
 * (llhttp itself refuses a second Content-Length.)  A second Content-Type
 * would let two readers of one request disagree on how to read its body. */
static int check_headers(sp__h1 *h)
{
    int hosts = 0, types = 0;
    for (size_t i = 0; i < h->n_hdr; i += 2) {
        trim_value(h, &h->hdr[i + 1]);
        sp_str v = span_str(h, h->hdr[i + 1]);
        if (name_is(h, i, "Content-Type") && ++types > 1)
            return fail(h, 400, "more than one Content-Type");
        if (name_is(h, i, "Host")) {
            if (++hosts > 1)
                return fail(h, 400, "more than one Host");
            if (!host_ok(v))
                return fail(h, 400, "malformed Host");
        } else if (name_is(h, i, "Expect")) {
            if (v.len != 12 || strncasecmp(v.ptr, "100-continue", 12) != 0)
                return fail(h, 417, "unsupported Expect");
            h->expect_continue = h->version == 11;
        }
    }
    if (hosts == 0 && h->version == 11)
        return fail(h, 400, "HTTP/1.1 request without Host");
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    sp__h1 *h = H(p);
    if (p->http_major != 1 || p->http_minor > 1)
        return fail(h, p->http_major == 1 || p->http_major == 2 ? 505 : 400,
                    "unsupported HTTP version");
    h->version = 10 + p->http_minor;
    /* HTTP/1.0 has no chunked coding; a 1.0 message that claims one is
     * faulty framing that an intermediary may have read otherwise
     * (RFC 9112 6.1). */
    if (h->version == 10 && (p->flags & F_TRANSFER_ENCODING))
        return fail(h, 400, "Transfer-Encoding in an HTTP/1.0 request");
    h->headers_done = 1;
    h->upgrade = p->upgrade ? 1 : 0; /* Upgrade or CONNECT: we answer, then close */
    if (check_request_line(h) != 0 || check_headers(h) != 0)
        return -1; /* llhttp: stop with HPE_USER */
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->lim->body)
        return fail(h, 413, "Content-Length over limit-body"), -1;
    if (!(p->flags & (F_CONTENT_LENGTH | F_CHUNKED)) || p->content_length == 0)
        h->expect_continue = h->expect_continue && (p->flags & F_CHUNKED);
    /* A body that will stay in memory gets its whole buffer at once, not
     * by doubling (a 1 MiB body: one allocation, not ten, and no copies);
     * pages it never receives are never touched.  If this fails, on_body
     * tries again and answers 503. */
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length <= h->lim->body_buffer)
        (void)sp__buf_reserve(h->body, (size_t)p->content_length);
    return 0;
}

/* An unnamed file: nothing to clean up if the worker dies mid-request. */
static int spill_open(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/spindle-body-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* Move the body to a temp file once it outgrows body-buffer-size. */
static int spill(sp__h1 *h)
{
    h->spill_fd = spill_open(h->lim->temp_dir);
    if (h->spill_fd < 0) {
        sp_log(SP_LOG_ERROR, "request body temp file in %s: %m", h->lim->temp_dir);
        return SP_EIO;
    }
    if (sp__write_all(h->spill_fd, h->body->data, h->body->len) != 0)
        return SP_EIO;
    h->body->len = 0;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    sp__h1 *h = H(p);
    if (h->body_len + len > h->lim->body)
        return fail(h, 413, "body over limit-body");
    h->body_len += len;
    if (h->direct) { /* already in place: sp__h1_feed_body */
        h->body->len += len;
        return 0;
    }
    if (h->spill_fd < 0 && h->body->len + len > h->lim->body_buffer && spill(h) != 0)
        return fail(h, 500, "cannot write the request body to a temp file");
    if (h->spill_fd >= 0) {
        if (sp__write_all(h->spill_fd, at, len) != 0)
            return fail(h, 500, "cannot write the request body to a temp file");
        return 0;
    }
    if (sp__buf_append(h->body, at, len) != SP_OK)
        return fail(h, 503, "out of memory");
    return 0;
}

/* llhttp has read a chunk's size line (the size is in content_length):
 * a chunk that would pass limit-body is refused now, not after its bytes
 * have arrived. */
static int on_chunk_header(llhttp_t *p)
{
    sp__h1 *h = H(p);
    h->ext_bytes = 0;
    if (p->content_length > h->lim->body - h->body_len)
        return fail(h, 413, "chunk size over limit-body");
    return 0;
}

static int on_chunk_ext(llhttp_t *p, const char *at, size_t len)
{
    sp__h1 *h = H(p);
    h->ext_bytes += len;
    return h->ext_bytes > EXT_LIMIT ? fail(h, 413, "chunk extension over 16 KiB") : 0;
}

static int on_message_complete(llhttp_t *p)
{
    sp__h1 *h = H(p);
    h->keep_alive = llhttp_should_keep_alive(p) && !h->upgrade ? 1 : 0;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_field_complete = on_header_field_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_message_complete = on_message_complete,
};

void sp__h1_init(sp__h1 *h, const sp__h1_limits *lim, sp__buf *body)
{
    memset(h, 0, sizeof(*h));
    h->lim = lim;
    h->body = body;
    h->spill_fd = -1;
    llhttp_init(&h->p, HTTP_REQUEST, &settings);
    h->p.data = h;
}

void sp__h1_recycle(sp__h1 *h)
{
    sp__span *hdr = h->hdr;
    size_t cap = h->cap_hdr;
    if (h->spill_fd >= 0)
        close(h->spill_fd);
    sp__h1_init(h, h->lim, h->body);
    h->hdr = hdr;
    h->cap_hdr = cap;
}

int sp__h1_take_spill(sp__h1 *h)
{
    int fd = h->spill_fd;
    h->spill_fd = -1;
    return fd;
}

void sp__h1_free(sp__h1 *h)
{
    if (h->spill_fd >= 0)
        close(h->spill_fd);
    h->spill_fd = -1;
    free(h->hdr);
    h->hdr = NULL;
    h->cap_hdr = 0;
}

void sp__h1_next(sp__h1 *h, size_t start)
{
    if (llhttp_get_errno(&h->p) == HPE_PAUSED)
        llhttp_resume(&h->p);
    h->start = start;
    h->method = h->url = (sp__span){0, 0};
    h->n_hdr = 0;
    h->body->len = 0;
    h->body_len = 0;
    if (h->spill_fd >= 0)
        close(h->spill_fd);
    h->spill_fd = -1;
    h->ext_bytes = h->trailer_bytes = 0;
    h->trailer_lines = 0;
    h->tname_len = 0;
    h->head_end = 0;
    h->finished = h->upgrade; /* nothing after an upgrade request is HTTP */
    h->upgrade = 0;
    h->headers_done = h->expect_continue = h->keep_alive = h->field_done = 0;
    h->begun = 0;
    h->value_seen = 0;
}

/* llhttp's own refusals.  Everything is a 400 except what the protocol
 * gives a better answer for. */
/* Only the bytes received so far count: the scan stops at len. */
static bool method_is_word(const sp__h1 *h, size_t len)
{
    const char *p = h->base + h->start;
    size_t n = 0, avail = len - h->start;
    while (n < avail && p[n] >= 'A' && p[n] <= 'Z')
        n++;
    return n > 0 && (n == avail || p[n] == ' ');
}

static int status_for(const sp__h1 *h, llhttp_errno_t err, size_t len)
{
    return err == HPE_INVALID_METHOD && method_is_word(h, len) ? 501 : 400;
}

enum sp__h1_state sp__h1_feed(sp__h1 *h, const char *buf, size_t *pos, size_t len)
{
    h->base = buf;
    if (h->finished || llhttp_get_errno(&h->p) == HPE_PAUSED_UPGRADE) {
        /* What follows an upgrade is not HTTP; we never switch protocols. */
        fail(h, 400, "bytes after an upgrade request");
        return SP__H1_ERROR;
    }
    llhttp_errno_t err = llhttp_execute(&h->p, buf + *pos, len - *pos);
    if (!h->headers_done && h->head_end == 0 && h->status == 0 &&
        len - h->start > h->lim->headers + 4)
        fail(h, h->url.len && h->n_hdr == 0 && h->url.len >= h->lim->uri ? 414 : 431,
             "request head over limit");
    if (h->headers_done && h->head_end == 0 && h->status == 0) {
        /* llhttp does not report where the head ended; the body starts
         * right after the blank line, which is at most here. */
        const char *e = err == HPE_OK ? buf + len : llhttp_get_error_pos(&h->p);
        h->head_end = (size_t)(e - buf);
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        *pos = (size_t)(llhttp_get_error_pos(&h->p) - buf);
        if (err == HPE_PAUSED_UPGRADE) {
            h->upgrade = 1;
            h->keep_alive = 0;
        }
        return SP__H1_DONE;
    }
    if (err != HPE_OK || h->status != 0) {
        if (h->status == 0) {
            h->status = status_for(h, err, len);
            h->reason = llhttp_get_error_reason(&h->p);
        }
        return SP__H1_ERROR;
    }
    *pos = len;
    return SP__H1_NEED_MORE;
}

size_t sp__h1_body_room(const sp__h1 *h)
{
    const llhttp_t *p = &h->p;
    if (!h->headers_done || h->status != 0 || h->spill_fd >= 0 || h->finished ||
        (p->flags & F_CHUNKED) || !(p->flags & F_CONTENT_LENGTH) || p->content_length == 0 ||
        llhttp_get_errno(p) != HPE_OK)
        return 0;
    if (h->body->len + p->content_length > h->lim->body_buffer ||
        h->body->cap - h->body->len < p->content_length)
        return 0; /* it will spill, or its room was not reserved */
    return (size_t)p->content_length;
}

enum sp__h1_state sp__h1_feed_body(sp__h1 *h, size_t n)
{
    h->direct = 1;
    llhttp_errno_t err = llhttp_execute(&h->p, h->body->data + h->body->len, n);
    h->direct = 0;
    if (err == HPE_PAUSED) /* the message's end: n never goes past the body */
        return SP__H1_DONE;
    if (err != HPE_OK || h->status != 0) {
        if (h->status == 0) {
            h->status = 400;
            h->reason = llhttp_get_error_reason(&h->p);
        }
        return SP__H1_ERROR;
    }
    return SP__H1_NEED_MORE;
}

int sp__h1_mid_request(const sp__h1 *h, size_t pos)
{
    return pos > h->start || h->method.len;
}
