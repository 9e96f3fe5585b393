/*
 * module.c - loading handler modules and checking their descriptors.
 *
 * A module is trusted code, but a module built against another spindle is
 * a crash waiting to happen, so the descriptor is checked before a single
 * hook runs: magic first (is this a spindle module at all?), then the ABI
 * major (same contract?), then its size (does it carry every field this
 * minor reads?).  Each refusal names the file and both versions.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "app/app.h"
#include "conf/ini.h"
#include "server/lib/crash.h"

/* True if the module's descriptor is long enough to carry the field that
 * ends at end: fields a module was not built with are absent, not read. */
#define HAS_FIELD(d, field) ((d)->size >= offsetof(sp_module, field) + sizeof((d)->field))

#define MIN_DESC_SIZE (offsetof(sp_module, exit_worker) + sizeof(void (*)(sp_app *)))

static int check_desc(const sp_module *d, const char *path, char *err, size_t errlen)
{
    if (d->magic != SP_MODULE_MAGIC) {
        snprintf(err, errlen, "%s: not a spindle module (magic 0x%08x, expected 0x%08x)", path,
                 d->magic, SP_MODULE_MAGIC);
        return SP_EINVAL;
    }
    if (d->abi_major != SP_ABI_MAJOR) {
        snprintf(err, errlen,
                 "%s: module built for spindle ABI %u.%u, this server speaks ABI %d.%d "
                 "(rebuild the module against this spindle.h)",
                 path, d->abi_major, d->abi_minor, SP_ABI_MAJOR, SP_ABI_MINOR);
        return SP_EINVAL;
    }
    if (d->size < MIN_DESC_SIZE) {
        snprintf(err, errlen, "%s: module descriptor is %u bytes, ABI %d.%d needs at least %zu",
                 path, d->size, SP_ABI_MAJOR, SP_ABI_MINOR, (size_t)MIN_DESC_SIZE);
        return SP_EINVAL;
    }
    if (d->name == NULL || d->name[0] == '\0') {
        snprintf(err, errlen, "%s: module descriptor has no name", path);
        return SP_EINVAL;
    }
    return 0;
}

/* Load a private copy of the module file, never the file itself.  A
 * shared object is mapped, not read: an operator who deploys with `cp
 * new.so loaded.so` rewrites the very pages a running worker executes, and
 * the worker dies mid-request.  So each process copies the file into an
 * anonymous memory file first and loads that; the file on disk may then be
 * replaced any way at all, and new workers (a reload) load the new one.
 * The copy stays open for the process's life: its /proc/self/fd path is
 * the library's name, and a reused descriptor number would make the
 * dynamic loader take a second module for the first. */
static void *dlopen_private(const char *path, int *fd_out, char *err, size_t errlen)
{
    int src = open(path, O_RDONLY | O_CLOEXEC);
    const char *base = strrchr(path, '/');
    int fd = src < 0 ? -1 : memfd_create(base ? base + 1 : path, MFD_CLOEXEC); /* for maps */
    char name[64];
    void *h = NULL;
    ssize_t n = fd < 0 ? -1 : 1;

    while (n > 0)
        n = sendfile(fd, src, NULL, 1 << 20); /* 0 at the end of the file */
    if (n < 0) {
        snprintf(err, errlen, "%s: cannot load module: %s", path, strerror(errno));
    } else {
        snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
        if ((h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) == NULL)
            snprintf(err, errlen, "%s: cannot load module: %s", path, dlerror());
        else
            sp__crash_object(name, path, fd); /* a crash names the file, not the copy */
    }
    if (src >= 0)
        close(src);
    if (h == NULL && fd >= 0)
        close(fd);
    *fd_out = h ? fd : -1;
    return h;
}

/* The master's modules under `preload = on`: loaded once, before any fork,
 * and kept for the master's life.  A process forked later takes a module
 * of the same path from here (the very code and data its preload hook set
 * up, copied by the fork) instead of loading a copy of its own. */
static sp__loaded *preloaded;
static size_t n_preloaded;

static const sp__loaded *preloaded_at(const char *path)
{
    for (size_t i = 0; i < n_preloaded; i++)
        if (preloaded[i].handle != NULL && strcmp(preloaded[i].path, path) == 0)
            return &preloaded[i];
    return NULL;
}

/* dlopen one module file and find its descriptor. */
static int open_one(sp__loaded *m, const char *path, char *err, size_t errlen)
{
    const sp__loaded *pre = preloaded_at(path);
    if (pre != NULL) {
        m->handle = pre->handle;
        m->desc = pre->desc;
        m->copy_fd = -1;
        m->shared = 1;
        m->path = strdup(path);
        return m->path ? 0 : -1;
    }
    void *h = dlopen_private(path, &m->copy_fd, err, errlen);
    if (h == NULL)
        return SP_EINVAL;
    const sp_module *d = dlsym(h, SP_MODULE_SYMBOL);
    if (d == NULL) {
        snprintf(err, errlen, "%s: no '%s' descriptor in the module (declare one with SP_MODULE)",
                 path, SP_MODULE_SYMBOL);
        dlclose(h);
        close(m->copy_fd);
        m->copy_fd = -1;
        return SP_EINVAL;
    }
    if (check_desc(d, path, err, errlen) != 0) {
        dlclose(h);
        close(m->copy_fd);
        m->copy_fd = -1;
        return SP_EINVAL;
    }
    m->handle = h;
    m->desc = d;
    m->path = strdup(path);
    return m->path ? 0 : -1;
}

static bool name_taken(const sp__loaded *mods, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(mods[i].desc->name, name) == 0)
            return true;
    return false;
}

/* The modules linked into the binary, handed over once by main() before
 * any fork (process-wide: every worker and spooler inherits the same
 * table, and nothing changes it after). */
static const sp_module *const *builtins;
static size_t n_builtins;

static char builtin_names[128];

void sp__modules_set_builtin(const sp_module *const *list, size_t n)
{
    size_t len = 0;
    builtins = list;
    n_builtins = n;
    builtin_names[0] = '\0';
    for (size_t i = 0; i < n && len < sizeof(builtin_names); i++)
        len += (size_t)snprintf(builtin_names + len, sizeof(builtin_names) - len, "%s%s",
                                i ? ", " : "", list[i]->name);
}

const char *sp__modules_builtin_names(void)
{
    return n_builtins ? builtin_names : "none";
}

/* Built-ins join when server.ini mentions them by name. */
static bool builtin_wanted(const sp__config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_middleware; i++)
        if (strcmp(cfg->middleware[i].value, name) == 0)
            return true;
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (strcmp(cfg->sections[i].name, name) == 0)
            return true;
    return false;
}

int sp__modules_open(sp__loaded **out, size_t *n_out, const sp__config *cfg, char *err,
                     size_t errlen)
{
    size_t cap = cfg->n_modules + n_builtins, n = 0;
    sp__loaded *mods = calloc(cap ? cap : 1, sizeof(*mods));

    if (mods == NULL) {
        snprintf(err, errlen, "out of memory loading modules");
        return SP_ENOMEM;
    }
    *out = mods;
    for (size_t i = 0; i < n_builtins; i++) {
        if (!builtin_wanted(cfg, builtins[i]->name))
            continue;
        mods[n].desc = builtins[i];
        mods[n].copy_fd = -1;
        mods[n++].path = strdup("(built-in)");
        *n_out = n;
    }
    for (size_t i = 0; i < cfg->n_modules; i++) {
        const sp__item *it = &cfg->modules[i];
        if (open_one(&mods[n], it->value, err, errlen) != 0)
            return SP_EINVAL;
        if (name_taken(mods, n, mods[n].desc->name)) {
            snprintf(err, errlen, "%s:%d: module: %s: a module named '%s' is already loaded",
                     it->origin.file, it->origin.line, it->value, mods[n].desc->name);
            n++;
            *n_out = n;
            return SP_EINVAL;
        }
        *n_out = ++n;
    }
    return 0;
}

static void free_section(struct sp_section *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_items; i++)
        free(s->items[i].value);
    free(s->items);
    free(s);
}

void sp__modules_close(sp__loaded *mods, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (mods[i].handle != NULL && !mods[i].shared)
            dlclose(mods[i].handle);
        if (mods[i].copy_fd >= 0)
            close(mods[i].copy_fd);
        free_section(mods[i].section);
        free(mods[i].path);
    }
    free(mods);
}

void sp__app_reopen_logs(sp_app *app)
{
    for (size_t i = 0; app != NULL && i < app->n_mods; i++) {
        const sp_module *d = app->mods[i].desc;
        if (app->mods[i].initialised && HAS_FIELD(d, reopen_logs) && d->reopen_logs)
            d->reopen_logs(app);
    }
}

void sp__app_harakiri(sp_app *app, int thread, const char *request)
{
    for (size_t i = 0; app != NULL && i < app->n_mods; i++) {
        const sp_module *d = app->mods[i].desc;
        if (app->mods[i].initialised && HAS_FIELD(d, harakiri) && d->harakiri)
            d->harakiri(app, thread, request);
    }
}

/* ---- a module's declared settings (ABI 1.5) ------------------------------ */

static const sp_conf_key *declared(const sp_module *d)
{
    return HAS_FIELD(d, conf_keys) ? d->conf_keys : NULL;
}

static const sp_conf_key *key_named(const sp_conf_key *keys, const char *name)
{
    for (; keys->name != NULL; keys++)
        if (strcmp(keys->name, name) == 0)
            return keys;
    return NULL;
}

static int unknown_key(const sp__loaded *m, const sp__kv *kv, char *err, size_t errlen)
{
    sp__nearest near = {.word = kv->key};
    int len =
        snprintf(err, errlen, "%s:%d: [module:%s]: %s: unknown key (accepted:", kv->origin.file,
                 kv->origin.line, m->desc->name, kv->key);
    for (const sp_conf_key *k = m->desc->conf_keys; k->name != NULL; k++) {
        sp__nearest_try(&near, k->name);
        if (len >= 0 && (size_t)len < errlen)
            len += snprintf(err + len, errlen - (size_t)len, "%s %s",
                            k == m->desc->conf_keys ? "" : ",", k->name);
    }
    const char *pick = sp__nearest_pick(&near);
    if (len >= 0 && (size_t)len < errlen)
        snprintf(err + len, errlen - (size_t)len, ")%s%s%s", pick ? "; did you mean '" : "",
                 pick ? pick : "", pick ? "'?" : "");
    return SP_EINVAL;
}

static struct sp_section *resolved(const struct sp_section *src, const sp_conf_key *keys)
{
    struct sp_section *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->items = calloc(src->n_items ? src->n_items : 1, sizeof(sp__kv))) == NULL) {
        free(s);
        return NULL;
    }
    *s = (struct sp_section){src->name, s->items, 0, src->origin};
    for (size_t i = 0; i < src->n_items; i++, s->n_items++) {
        const sp__kv *kv = &src->items[i];
        const sp_conf_key *k = key_named(keys, kv->key);
        char *dir = strdup(kv->origin.file), *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
            *slash = '\0';
        s->items[i] = *kv;
        s->items[i].value = k && k->type == SP_CONF_PATH && kv->value[0] && kv->value[0] != '/'
                                ? sp__path_join(slash ? dir : ".", kv->value)
                                : strdup(kv->value);
        free(dir);
        if (s->items[i].value == NULL) {
            free_section(s);
            return NULL;
        }
    }
    return s;
}

/* Every key of a module's section is one it declared; its own copy of the
 * section, with paths resolved, goes to its init_worker. */
static int check_keys(sp__loaded *m, const struct sp_section *sec, char *err, size_t errlen)
{
    const sp_conf_key *keys = declared(m->desc);
    if (keys == NULL || sec == NULL)
        return 0;
    for (size_t i = 0; i < sec->n_items; i++) {
        const sp__kv *kv = &sec->items[i];
        const sp_conf_key *k = key_named(keys, kv->key);
        char msg[256];
        if (k == NULL)
            return unknown_key(m, kv, err, errlen);
        if (sp__conf_value_check(k->type, kv->value, msg, sizeof(msg)) != SP_OK) {
            snprintf(err, errlen, "%s:%d: [module:%s]: %s: %s", kv->origin.file, kv->origin.line,
                     m->desc->name, kv->key, msg);
            return SP_EINVAL;
        }
    }
    if ((m->section = resolved(sec, keys)) == NULL) {
        snprintf(err, errlen, "out of memory reading [module:%s]", m->desc->name);
        return SP_ENOMEM;
    }
    return 0;
}

static bool loaded(const sp__loaded *mods, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(mods[i].desc->name, name) == 0)
            return true;
    return false;
}

/* The loaded or built-in module name closest to a misspelt one, or NULL. */
static const char *closest(const sp__loaded *mods, size_t n, const char *name)
{
    sp__nearest near = {.word = name};
    for (size_t i = 0; i < n + n_builtins; i++)
        sp__nearest_try(&near, i < n ? mods[i].desc->name : builtins[i - n]->name);
    return sp__nearest_pick(&near);
}

int sp__modules_preload(const sp__config *cfg, char *err, size_t errlen)
{
    if (sp__modules_open(&preloaded, &n_preloaded, cfg, err, errlen) != 0 ||
        sp__modules_check_sections(preloaded, n_preloaded, cfg, err, errlen) != 0)
        return SP_EINVAL;
    for (size_t i = 0; i < n_preloaded; i++) {
        const sp__loaded *m = &preloaded[i];
        if (!HAS_FIELD(m->desc, preload) || m->desc->preload == NULL)
            continue;
        const struct sp_section *sec =
            m->section ? m->section : sp__config_section(cfg, m->desc->name);
        int rc = m->desc->preload(sec);
        if (rc != SP_OK) {
            snprintf(err, errlen, "%s: module '%s': preload failed: %s", m->path, m->desc->name,
                     sp_strerror(rc));
            return SP_EIO;
        }
    }
    return 0;
}

int sp__modules_check_sections(sp__loaded *mods, size_t n, const sp__config *cfg, char *err,
                               size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = check_keys(&mods[i], sp__config_section(cfg, mods[i].desc->name), err, errlen);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < cfg->n_sections; i++) {
        const struct sp_section *s = &cfg->sections[i];
        if (loaded(mods, n, s->name))
            continue;
        const char *near = closest(mods, n, s->name);
        size_t len = (size_t)snprintf(err, errlen,
                                      "%s:%d: [module:%s]: no module named '%s' is loaded "
                                      "(loaded:",
                                      s->origin.file, s->origin.line, s->name, s->name);
        for (size_t j = 0; j < n && len < errlen; j++)
            len += (size_t)snprintf(err + len, errlen - len, "%s %s", j ? "," : "",
                                    mods[j].desc->name);
        if (len < errlen)
            snprintf(err + len, errlen - len, "%s)%s%s%s", n ? "" : " none",
                     near ? "; did you mean [module:" : "", near ? near : "", near ? "]?" : "");
        return SP_ENOENT;
    }
    return 0;
}
