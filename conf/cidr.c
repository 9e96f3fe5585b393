/*
 * cidr.c - trusted-proxies lists (see cidr.h), and their option setter.
 *
 * Matching is a linear scan with a byte/bit compare: lists are a handful of
 * entries and the check runs once per connection (and once per forwarded
 * hop), where a trie would only add code.
 */
#include "conf/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conf/options.h"

#define SEPARATORS ", \t"

/* "10.0.0.0/8" -> entry; a phrase on error. */
static const char *parse_one(sp__cidr *c, const char *s, size_t len)
{
    char buf[64];
    const char *slash;
    unsigned max, prefix = 0;

    if (len >= sizeof buf)
        return "is too long to be an address";
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strcmp(buf, "unix") == 0) {
        *c = (sp__cidr){.family = AF_UNIX};
        return NULL;
    }
    slash = strchr(buf, '/');
    if (slash)
        buf[slash - buf] = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        max = 128;
    } else {
        return "is not an IPv4 or IPv6 address";
    }
    prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strspn(p, "0123456789");

        if (n == 0 || n > 3 || p[n] || (unsigned)atoi(p) > max)
            return max == 32 ? "needs a prefix length from 0 to 32"
                             : "needs a prefix length from 0 to 128";
        prefix = (unsigned)atoi(p);
    }
    c->prefix = prefix;
    return NULL;
}

int sp__cidr_parse(sp__cidr_list *out, const char *text, char *err, size_t errlen)
{
    const char *p = text;
    int rc = SP_ENOMEM;

    memset(out, 0, sizeof *out);
    for (int guard = 0; guard < 4096; guard++) {
        p += strspn(p, SEPARATORS);
        if (!*p)
            break;
        size_t len = strcspn(p, SEPARATORS);
        sp__cidr *v = realloc(out->v, (out->n + 1) * sizeof *v);
        const char *problem;

        if (!v) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        out->v = v;
        problem = parse_one(&v[out->n], p, len);
        if (problem) {
            snprintf(err, errlen, "'%.*s' %s", (int)(len > 60 ? 60 : len), p, problem);
            rc = SP_EINVAL;
            goto fail;
        }
        out->n++;
        p += len;
    }
    out->text = strdup(text);
    if (out->text)
        return 0;
    snprintf(err, errlen, "out of memory");
fail:
    sp__cidr_free(out);
    return rc;
}

void sp__cidr_free(sp__cidr_list *l)
{
    free(l->text);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* family/addr: AF_INET (4 bytes) or AF_INET6 (16); mapped v6 also tries v4. */
static int match_bytes(const sp__cidr_list *l, int family, const uint8_t *addr)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    for (size_t i = 0; l && i < l->n; i++) {
        const sp__cidr *c = &l->v[i];

        if (c->family == family && (family == AF_UNIX || prefix_eq(c->addr, addr, c->prefix)))
            return 1;
        if (c->family == AF_INET && family == AF_INET6 && memcmp(addr, mapped, 12) == 0 &&
            prefix_eq(c->addr, addr + 12, c->prefix))
            return 1;
    }
    return 0;
}

int sp__cidr_match(const sp__cidr_list *l, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return match_bytes(l, AF_INET,
                           (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return match_bytes(l, AF_INET6,
                           (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
    if (sa->sa_family == AF_UNIX)
        return match_bytes(l, AF_UNIX, NULL);
    return 0;
}

int sp__cidr_match_text(const sp__cidr_list *l, const char *addr, size_t len)
{
    char buf[64];
    uint8_t bin[16];

    if (len >= sizeof buf)
        return 0;
    memcpy(buf, addr, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, bin) == 1)
        return match_bytes(l, AF_INET, bin);
    if (inet_pton(AF_INET6, buf, bin) == 1)
        return match_bytes(l, AF_INET6, bin);
    return 0;
}

/* The option setter: a list replaces any earlier one (single-valued key). */
const char *sp__set_cidrs(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    sp__cidr_list *dst = (sp__cidr_list *)((char *)cfg + opt->offset), fresh;

    if (sp__cidr_parse(&fresh, arg->value, arg->msg, arg->msglen) != 0)
        return arg->msg;
    sp__cidr_free(dst);
    *dst = fresh;
    return NULL;
}
