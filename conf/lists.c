/*
 * lists.c - setters for the repeatable options: listen, module, middleware
 * and route.  Each value appends one entry, so lines accumulate in file
 * order and the command line adds to what the file gave.
 *
 * Everything that can be checked without loading code is checked here, at
 * config time, so that "spindle -t" catches it: listen hosts are resolved
 * (getaddrinfo, first result) and route lines are split and checked field
 * by field.  Whether a module file loads, or a middleware name exists, is
 * only known in a worker and is left to app/.
 */
#include "conf/options.h"

#include <ctype.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* ---- listen ---------------------------------------------------------------- */

static const char *check_port(const sp__arg *arg, const char *port)
{
    size_t n = strlen(port);

    if (n == 0 || strspn(port, "0123456789") != n)
        return sp__phrase(arg, "'%.20s' is not a port number", port);
    if (n > 5 || atoi(port) < 1 || atoi(port) > 65535)
        return sp__phrase(arg, "port %.20s is out of range", port);
    return NULL;
}

static const char *resolve(sp__listen *l, const char *host, const char *port, int family,
                           const sp__arg *arg)
{
    struct addrinfo hints = {0}, *res;
    int rc;

    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (family == AF_UNSPEC && (!*host || strcmp(host, "*") == 0)) {
        host = NULL; /* every IPv4 address */
        hints.ai_family = AF_INET;
        hints.ai_flags |= AI_PASSIVE;
    }
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return sp__phrase(arg, "cannot resolve '%s': %s", host, gai_strerror(rc));
    memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
    l->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return NULL;
}

static const char *parse_tcp(sp__listen *l, const char *s, const sp__arg *arg)
{
    const char *h = s, *port, *p;
    int family = AF_UNSPEC;
    char host[256];
    size_t hl;

    if (*s == '[') {
        const char *close = strchr(s, ']');

        if (!close || close[1] != ':' || close == s + 1)
            return sp__phrase(arg, "'%.80s' is not [v6addr]:port", arg->value);
        h = s + 1;
        hl = (size_t)(close - h);
        port = close + 2;
        family = AF_INET6;
    } else {
        const char *colon = strrchr(s, ':');

        if (!colon)
            return sp__phrase(arg, "'%.80s' has no :port", arg->value);
        hl = (size_t)(colon - s);
        port = colon + 1;
        if (memchr(s, ':', hl))
            return sp__phrase(arg, "an IPv6 address needs brackets, like [::1]:8000");
    }
    if (hl >= sizeof host)
        return "the host name is too long";
    memcpy(host, h, hl);
    host[hl] = '\0';
    p = check_port(arg, port);
    return p ? p : resolve(l, host, port, family, arg);
}

static const char *parse_unix(sp__listen *l, const char *path, const sp__arg *arg)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&l->addr;

    if (!*path)
        return "unix: needs a socket path";
    l->path = sp__resolve(arg->base, path);
    if (!l->path)
        return "out of memory";
    if (strlen(l->path) >= sizeof sun->sun_path)
        return sp__phrase(arg, "the socket path is %zu bytes long, more than %zu", strlen(l->path),
                          sizeof sun->sun_path - 1);
    /* Filled for unix too, so the binder can treat both kinds alike. */
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path, l->path);
    l->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(l->path) + 1);
    return NULL;
}

const char *sp__add_listen(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    const char *s = arg->value, *problem;
    sp__listen l = {0}, *grown;

    if (strncmp(s, "uwsgi://", 8) == 0) {
        l.proto = SP__PROTO_UWSGI;
        s += 8;
    }
    if (strncmp(s, "unix:", 5) == 0) {
        l.kind = SP__LISTEN_UNIX;
        problem = parse_unix(&l, s + 5, arg);
    } else {
        l.kind = SP__LISTEN_TCP;
        problem = parse_tcp(&l, s, arg);
    }
    if (!problem) {
        l.text = strdup(arg->value);
        grown = realloc(cfg->listen, (cfg->n_listen + 1) * sizeof *grown);
        if (grown)
            cfg->listen = grown;
        if (!l.text || !grown || sp__origin_dup(&l.origin, &arg->origin))
            problem = "out of memory";
    }
    if (problem) {
        free(l.text);
        free(l.path);
        return problem;
    }
    cfg->listen[cfg->n_listen++] = l;
    return NULL;
}

/* ---- module, middleware ---------------------------------------------------- */

static const char *add_item(sp__item **items, size_t *n, char *value, const sp__arg *arg)
{
    sp__item *grown = value ? realloc(*items, (*n + 1) * sizeof *grown) : NULL;
    sp__item it = {value, {NULL, 0}};

    if (grown)
        *items = grown;
    if (!grown || sp__origin_dup(&it.origin, &arg->origin)) {
        free(value);
        return "out of memory";
    }
    (*items)[(*n)++] = it;
    return NULL;
}

const char *sp__add_module(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    if (!*arg->value)
        return "the path is empty";
    return add_item(&cfg->modules, &cfg->n_modules, sp__resolve(arg->base, arg->value), arg);
}

/* A C identifier: the symbol half of module:symbol, or a middleware name. */
static int is_ident(const char *s, size_t n)
{
    if (n == 0 || isdigit((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* "module:symbol": a module name or file stem, then a C identifier. */
static int is_handler(const char *s)
{
    const char *colon = strchr(s, ':');
    size_t mn = colon ? (size_t)(colon - s) : 0;

    if (!colon || mn == 0 ||
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789_.-") != mn)
        return 0;
    return is_ident(colon + 1, strlen(colon + 1));
}

const char *sp__add_middleware(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    const char *v = arg->value;

    if (!is_ident(v, strlen(v)) && !is_handler(v))
        return sp__phrase(arg, "'%.80s' is not a name or module:symbol", v);
    return add_item(&cfg->middleware, &cfg->n_middleware, strdup(v), arg);
}

/* ---- route ------------------------------------------------------------------ */

static int is_method(const char *s)
{
    if (strcmp(s, "*") == 0)
        return 1;
    if (!isupper((unsigned char)s[0]))
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(s);
}

static const char *check_route(char **f, size_t n, const sp__arg *arg)
{
    if (n > 3)
        return sp__phrase(arg, "'%.80s' has more than 3 fields", arg->value);
    if (n < 3)
        return sp__phrase(arg, "'%.80s' has %zu field%s, not 3", arg->value, n, n == 1 ? "" : "s");
    if (!is_method(f[0]))
        return sp__phrase(arg, "'%.40s' is not an uppercase method or *", f[0]);
    if (f[1][0] != '/')
        return sp__phrase(arg, "'%.80s' does not start with /", f[1]);
    if (!is_handler(f[2]))
        return sp__phrase(arg, "'%.80s' is not module:symbol", f[2]);
    return NULL;
}

static const char *store_route(sp__config *cfg, char **f, const sp__arg *arg)
{
    const char *colon = strchr(f[2], ':');
    sp__route_spec r = {strdup(f[0]),
                        strdup(f[1]),
                        strndup(f[2], (size_t)(colon - f[2])),
                        strdup(colon + 1),
                        {NULL, 0}};
    sp__route_spec *grown = realloc(cfg->routes, (cfg->n_routes + 1) * sizeof *grown);

    if (grown)
        cfg->routes = grown;
    if (!grown || !r.method || !r.pattern || !r.module || !r.symbol ||
        sp__origin_dup(&r.origin, &arg->origin)) {
        free(r.method);
        free(r.pattern);
        free(r.module);
        free(r.symbol);
        return "out of memory";
    }
    cfg->routes[cfg->n_routes++] = r;
    return NULL;
}

const char *sp__add_route(sp__config *cfg, const sp__option *opt, const sp__arg *arg)
{
    char *copy = strdup(arg->value), *f[4], *save = NULL, *tok;
    const char *problem;
    size_t n = 0;

    if (!copy)
        return "out of memory";
    for (tok = strtok_r(copy, " \t", &save); tok && n < 4; tok = strtok_r(NULL, " \t", &save))
        f[n++] = tok;
    problem = check_route(f, n, arg);
    if (!problem)
        problem = store_route(cfg, f, arg);
    free(copy);
    return problem;
}
