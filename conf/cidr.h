/*
 * cidr.h - address lists for trusted-proxies: "127.0.0.1/32, ::1/128,
 * 10.0.0.0/8, unix".
 *
 * The list lives in conf/ (not beside the code that consults it) so that a
 * bad entry is a config error with file:line at load time and "spindle -t"
 * catches it; conf/ may include nothing outside itself, so the parser and
 * the matcher are here, pure, and the server only calls sp__cidr_match().
 *
 * An address without /N means the one address (/32 or /128).  An IPv4
 * entry also matches the IPv4-mapped IPv6 form (::ffff:a.b.c.d) of its
 * addresses, so a dual-stack socket does not silently lose trust.  The
 * word "unix" trusts peers on unix sockets, which have no address.
 */
#ifndef SPINDLE_CONF_CIDR_H
#define SPINDLE_CONF_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct sp__cidr {
    int family;       /* AF_INET, AF_INET6 or AF_UNIX ("unix") */
    uint8_t addr[16]; /* network byte order; v4 in the first 4 */
    unsigned prefix;  /* bits that must match */
} sp__cidr;

typedef struct sp__cidr_list {
    char *text; /* first: -T prints the field as the string it was given */
    sp__cidr *v;
    size_t n;
} sp__cidr_list;

/* Parse a comma- or space-separated list into *out (replacing nothing: out
 * must be empty).  0, or -1 with a short phrase in err naming the entry. */
int sp__cidr_parse(sp__cidr_list *out, const char *text, char *err, size_t errlen);
void sp__cidr_free(sp__cidr_list *l);

/* True if the socket address sa is in the list. */
int sp__cidr_match(const sp__cidr_list *l, const struct sockaddr *sa);
/* True if the textual address (v4 or v6, no port) is in the list;
 * false for anything that is not an address. */
int sp__cidr_match_text(const sp__cidr_list *l, const char *addr, size_t len);

#endif
