/*
 * router.c - method + path to handler, as a segment trie.
 *
 * A pattern is split at '/' into segments and stored along a path of trie
 * nodes.  Each node has
 *   - literal children, kept sorted by segment text (binary search),
 *   - at most one param child, shared by every "{name}" at that position
 *     (names belong to routes, not nodes, so "/u/{id}" and "/u/{uid}/posts"
 *     can live side by side),
 *   - two route sets: "exact" for patterns that end at the node, "mount"
 *     for mounts: patterns that go on with a trailing "/" "*" (spelt
 *     apart in comments, where -Wcomment rejects the pair).
 * A route set holds one entry per method, sorted, each with its handler and
 * its own copy of the pattern, which the matched param names point into.
 *
 * Matching walks the path a segment at a time, depth first: the literal
 * child, then the param child, then the node's own mount.  The first route
 * set found wins, and that order is the documented precedence: at the first
 * position where two patterns differ a literal beats a param beats a mount,
 * and a deeper mount (a longer prefix) beats a shallower one because it is
 * found before the walk unwinds.  The unwinding is the backtracking that
 * lets "/a/{x}/c" match "/a/b/c" after "/a/b/d" led the walk into "b".
 * Every trie node is visited at most once per match, so a match costs at
 * most the size of the trie; it allocates nothing and takes no lock.
 *
 * The path alone picks the route set; the method is looked at afterwards.
 * When the most specific match has no entry for the method the answer is
 * 405 with that set's Allow list, never a fall-through to a less specific
 * route that happens to take the method: with "GET /files/{name}" and
 * "* /files/" "*", "DELETE /files/x" gets 405.  The specific route owns its
 * URL, which is what users of Flask- or Django-like routers expect.
 *
 * Paths are matched raw (still percent-encoded).  Empty segments are plain
 * literals ("//" is not folded) and a trailing slash is one more, empty,
 * segment, so "/hello" and "/hello/" differ.  A param never matches an
 * empty segment: "/u/" is not "/u/{id}" with an empty id.
 */
#include "app/router.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct route {
    char *method;  /* "GET", ... or "*"; owned */
    char *pattern; /* owned copy; sp__param.name points into it */
    sp_handler_fn fn;
};

struct rset {
    struct route *v; /* sorted by method (strcmp) */
    size_t n;
};

struct node {
    struct node **lits; /* literal children, sorted by seg */
    size_t n_lits;
    struct node *param; /* the "{name}" child, or NULL */
    struct rset exact;  /* patterns ending here */
    struct rset mount;  /* mounts of this prefix */
    size_t seg_len;
    char seg[]; /* literal text (empty for the root and param nodes) */
};

struct sp__router {
    struct node *root;
};

#define STR(lit) ((sp_str){(lit), sizeof(lit) - 1})

/* A match in progress: where the path ends and the param values so far. */
struct walk {
    const char *end;
    sp_str vals[SP__MAX_PARAMS];
    size_t n;
};

/* ---- segments ------------------------------------------------------------ */

/* Step to the segment after *p, which points at a '/' before end. */
static sp_str next_seg(const char **p, const char *end)
{
    const char *s = *p + 1;
    const char *slash = memchr(s, '/', (size_t)(end - s));
    const char *e = slash ? slash : end;

    *p = e;
    return (sp_str){s, (size_t)(e - s)};
}

static bool is_param(sp_str seg)
{
    return seg.len >= 2 && seg.ptr[0] == '{' && seg.ptr[seg.len - 1] == '}';
}

static bool is_name(const char *s, size_t len)
{
    if (len == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* A literal may hold any byte a raw path can, but no braces or '*' (those
 * are pattern syntax) and nothing a path never holds: such a route could
 * never match, so it is a mistake worth reporting. */
static bool is_literal(sp_str seg)
{
    for (size_t i = 0; i < seg.len; i++) {
        unsigned char c = (unsigned char)seg.ptr[i];
        if (c <= ' ' || c == 0x7f || strchr("{}*?#", c))
            return false;
    }
    return true;
}

static bool same_str(sp_str a, sp_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* Orders (a, alen) against b like strcmp would, for strings with no NUL. */
static int bytes_cmp(const char *a, size_t alen, sp_str b)
{
    size_t len = alen < b.len ? alen : b.len;
    int c = len ? memcmp(a, b.ptr, len) : 0;

    return c ? c : (alen > b.len) - (alen < b.len);
}

/* The one binary search, over the methods of a route set and the literal
 * children of a node: index of key among the n entries of v, which
 * key_at reads, sorted by bytes_cmp; or where it would go (*found says
 * which). */
static size_t sorted_find(const void *v, size_t n, sp_str (*key_at)(const void *, size_t),
                          sp_str key, int *found)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        sp_str k = key_at(v, mid);
        int c = bytes_cmp(k.ptr, k.len, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static char *copy(const char *s)
{
    size_t len = strlen(s) + 1;
    char *c = malloc(len);

    return c ? memcpy(c, s, len) : NULL;
}

/* Checks every segment of pattern[0, end); counts the params. */
static int check_segs(const char *pattern, const char *end)
{
    sp_str names[SP__MAX_PARAMS];
    size_t n = 0;

    for (const char *p = pattern; p < end;) {
        sp_str seg = next_seg(&p, end);
        if (!is_param(seg)) {
            if (!is_literal(seg))
                return SP_EINVAL;
            continue;
        }
        sp_str name = {seg.ptr + 1, seg.len - 2};
        if (!is_name(name.ptr, name.len) || n == SP__MAX_PARAMS)
            return SP_EINVAL;
        for (size_t i = 0; i < n; i++)
            if (same_str(names[i], name))
                return SP_EINVAL;
        names[n++] = name;
    }
    return SP_OK;
}

/* Where the segments of pattern end: before the trailing "/" "*" of a
 * mount, if it is one. */
static const char *segs_end(const char *pattern, int *mount)
{
    size_t len = strlen(pattern);

    *mount = len >= 2 && strcmp(pattern + len - 2, "/*") == 0;
    return pattern + len - (*mount ? 2 : 0);
}

static int check_method(const char *m)
{
    if (strcmp(m, "*") == 0)
        return SP_OK;
    if (*m == '\0')
        return SP_EINVAL;
    for (; *m; m++)
        if (!((*m >= 'A' && *m <= 'Z') || *m == '-' || *m == '_'))
            return SP_EINVAL;
    return SP_OK;
}

/* ---- route sets ---------------------------------------------------------- */

static sp_str method_at(const void *v, size_t i)
{
    const char *m = ((const struct route *)v)[i].method;

    return (sp_str){m, strlen(m)};
}

/* Index of method in s, or where it would go (*found says which). */
static size_t rset_find(const struct rset *s, sp_str m, int *found)
{
    return sorted_find(s->v, s->n, method_at, m, found);
}

static const struct route *rset_get(const struct rset *s, sp_str m)
{
    int found;
    size_t i = rset_find(s, m, &found);

    return found ? &s->v[i] : NULL;
}

/* An Allow list being written: len bytes are in buf, full is how long the
 * whole list is so far.  They part once an entry does not fit, and from
 * then on only full grows, so buf keeps whole entries only. */
struct allow {
    char *buf;
    size_t cap, len, full;
};

static void allow_add(struct allow *a, const char *m)
{
    const char *sep = a->full ? ", " : "";
    size_t slen = strlen(sep), mlen = strlen(m);

    if (a->len == a->full && a->len + slen + mlen < a->cap) {
        memcpy(a->buf + a->len, sep, slen);
        memcpy(a->buf + a->len + slen, m, mlen + 1);
        a->len += slen + mlen;
    }
    a->full += slen + mlen;
}

/* Writes s's Allow list into buf: sorted, HEAD added beside GET, "*" left
 * out.  Returns the list's full length (>= cap means it was cut short). */
static size_t allow_list(const struct rset *s, char *buf, size_t cap)
{
    struct allow a = {buf, cap, 0, 0};
    int head = rset_get(s, STR("GET")) && !rset_get(s, STR("HEAD"));

    buf[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        const char *m = s->v[i].method;
        if (head && strcmp(m, "HEAD") > 0) {
            allow_add(&a, "HEAD");
            head = 0;
        }
        if (strcmp(m, "*") != 0)
            allow_add(&a, m);
    }
    if (head)
        allow_add(&a, "HEAD");
    return a.full;
}

static void rset_remove(struct rset *s, size_t i)
{
    free(s->v[i].method);
    free(s->v[i].pattern);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
    s->n--;
}

/* Adds a route.  A method that would make the Allow list overflow
 * sp__match.allow is refused, so a 405 never carries a cut-short list. */
static int rset_add(struct rset *s, const char *method, const char *pattern, sp_handler_fn fn)
{
    char allow[sizeof(((sp__match *)0)->allow)];
    int found;
    size_t i = rset_find(s, (sp_str){method, strlen(method)}, &found);

    if (found)
        return SP_EEXIST;
    struct route *v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (!v)
        return SP_ENOMEM;
    s->v = v;
    struct route rt = {copy(method), copy(pattern), fn};
    if (!rt.method || !rt.pattern) {
        free(rt.method);
        free(rt.pattern);
        return SP_ENOMEM;
    }
    memmove(&v[i + 1], &v[i], (s->n - i) * sizeof(*v));
    v[i] = rt;
    s->n++;
    if (allow_list(s, allow, sizeof(allow)) >= sizeof(allow)) {
        rset_remove(s, i);
        return SP_EINVAL;
    }
    return SP_OK;
}

static void rset_free(struct rset *s)
{
    while (s->n > 0)
        rset_remove(s, s->n - 1);
    free(s->v);
}

/* ---- nodes --------------------------------------------------------------- */

static struct node *node_new(sp_str seg)
{
    struct node *n = calloc(1, sizeof(*n) + seg.len);

    if (n && seg.len > 0) {
        memcpy(n->seg, seg.ptr, seg.len);
        n->seg_len = seg.len;
    }
    return n;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_lits; i++)
        node_free(n->lits[i]);
    free(n->lits);
    node_free(n->param);
    rset_free(&n->exact);
    rset_free(&n->mount);
    free(n);
}

static sp_str seg_at(const void *v, size_t i)
{
    const struct node *c = ((struct node *const *)v)[i];

    return (sp_str){c->seg, c->seg_len};
}

/* Index of the literal child seg, or where it would go. */
static size_t lit_find(const struct node *n, sp_str seg, int *found)
{
    return sorted_find(n->lits, n->n_lits, seg_at, seg, found);
}

static struct node *lit_child(struct node *n, sp_str seg)
{
    int found;
    size_t i = lit_find(n, seg, &found);

    if (found)
        return n->lits[i];
    struct node **v = realloc(n->lits, (n->n_lits + 1) * sizeof(*v));
    if (!v)
        return NULL;
    n->lits = v;
    struct node *c = node_new(seg);
    if (!c)
        return NULL;
    memmove(&v[i + 1], &v[i], (n->n_lits - i) * sizeof(*v));
    v[i] = c;
    n->n_lits++;
    return c;
}

static struct node *param_child(struct node *n)
{
    if (!n->param)
        n->param = node_new(SP_STR_NULL);
    return n->param;
}

/* The node for pattern[0, end), created as needed; NULL when out of memory
 * (nodes made on the way stay: empty, they match nothing). */
static struct node *node_for(struct node *n, const char *pattern, const char *end)
{
    for (const char *p = pattern; n && p < end;) {
        sp_str seg = next_seg(&p, end);
        n = is_param(seg) ? param_child(n) : lit_child(n, seg);
    }
    return n;
}

/* ---- building ------------------------------------------------------------ */

sp__router *sp__router_new(void)
{
    sp__router *r = malloc(sizeof(*r));

    if (r && !(r->root = node_new(SP_STR_NULL))) {
        free(r);
        r = NULL;
    }
    return r;
}

void sp__router_free(sp__router *r)
{
    if (!r)
        return;
    node_free(r->root);
    free(r);
}

int sp__router_add(sp__router *r, const char *method, const char *pattern, sp_handler_fn fn)
{
    int mount;

    if (!r || !method || !pattern || !fn || pattern[0] != '/')
        return SP_EINVAL;
    const char *end = segs_end(pattern, &mount);
    if (check_method(method) != SP_OK || check_segs(pattern, end) != SP_OK)
        return SP_EINVAL;
    struct node *n = node_for(r->root, pattern, end);
    if (!n)
        return SP_ENOMEM;
    return rset_add(mount ? &n->mount : &n->exact, method, pattern, fn);
}

/* ---- matching ------------------------------------------------------------ */

static const struct rset *walk(const struct node *n, const char *p, struct walk *w);

/* Tries the rest of the path, from the '/' at p, below n's children. */
static const struct rset *walk_children(const struct node *n, const char *p, struct walk *w)
{
    const struct rset *s;
    sp_str seg = next_seg(&p, w->end);
    int found;
    size_t i = lit_find(n, seg, &found);

    if (found && (s = walk(n->lits[i], p, w)))
        return s;
    /* The trie is never deeper in params than SP__MAX_PARAMS; the bound
     * check only keeps the array safe should that ever change. */
    if (n->param && seg.len > 0 && w->n < SP__MAX_PARAMS) {
        w->vals[w->n++] = seg;
        if ((s = walk(n->param, p, w)))
            return s;
        w->n--;
    }
    return NULL;
}

/* The most specific route set for the path from p on, below node n. */
static const struct rset *walk(const struct node *n, const char *p, struct walk *w)
{
    const struct rset *s;

    if (p == w->end && n->exact.n > 0)
        return &n->exact;
    if (p < w->end && (s = walk_children(n, p, w)))
        return s;
    return n->mount.n > 0 ? &n->mount : NULL;
}

/* The route for method: its own entry, else GET for HEAD, else "*". */
static const struct route *pick(const struct rset *s, sp_str method)
{
    const struct route *rt = rset_get(s, method);

    if (!rt && same_str(method, STR("HEAD")))
        rt = rset_get(s, STR("GET"));
    return rt ? rt : rset_get(s, STR("*"));
}

/* Pairs the walk's values with the "{name}"s of rt's pattern, in order. */
static void fill_params(const struct route *rt, const struct walk *w, sp__match *m)
{
    const char *end = rt->pattern + strlen(rt->pattern);
    size_t i = 0;

    for (const char *p = rt->pattern; p < end && i < w->n;) {
        sp_str seg = next_seg(&p, end);
        if (is_param(seg)) {
            m->params[i].name = (sp_str){seg.ptr + 1, seg.len - 2};
            m->params[i].value = w->vals[i];
            i++;
        }
    }
    m->n_params = i;
}

enum sp__route_result sp__router_match(const sp__router *r, sp_str method, sp_str path,
                                       sp__match *m)
{
    struct walk w = {.end = NULL, .n = 0};
    const struct rset *s = NULL;

    m->fn = NULL;
    m->pattern = NULL;
    m->n_params = 0;
    m->allow[0] = '\0';
    if (path.len > 0 && path.ptr[0] == '/') {
        w.end = path.ptr + path.len;
        s = walk(r->root, path.ptr, &w);
    }
    if (!s)
        return SP__ROUTE_NOT_FOUND;
    const struct route *rt = pick(s, method);
    if (!rt) {
        allow_list(s, m->allow, sizeof(m->allow));
        return SP__ROUTE_BAD_METHOD;
    }
    m->fn = rt->fn;
    m->pattern = rt->pattern;
    fill_params(rt, &w, m);
    return SP__ROUTE_FOUND;
}
