/*
 * crash.c - a crashing worker says where: the stack, with module files and
 * function names (see crash.h).
 *
 * On SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT the handler writes one log
 * line per frame, then restores the default action and re-raises, so the
 * master still sees the worker die of that signal and logs the request it
 * was running.  Names come from the symbol tables of the very bytes that
 * were loaded (the private copy of each module, /proc/self/exe for the
 * server), read with pread into fixed buffers: so static functions of a
 * module are named too, unless it was stripped, and the handler allocates
 * nothing.  Only write, pread, dladdr and backtrace run in it; backtrace is
 * called once at install, so its library is loaded before any crash.
 */
#include "server/lib/crash.h"

#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/lib/log.h"
#include "spindle/spindle.h"

#define MAX_OBJECTS 64
#define MAX_FRAMES  32
#define ALT_STACK   (64 * 1024)

/* Objects whose symbols we can read: the loader's name for it, the name to
 * show, and a descriptor on the bytes that were loaded.  Filled before any
 * request runs and only appended to; the handler reads it as it stands. */
static struct object {
    char loaded[64];
    char shown[256];
    int fd;
} objects[MAX_OBJECTS];
static atomic_int n_objects;
static char role[64] = "";

void sp__crash_object(const char *loaded_name, const char *shown, int fd)
{
    int i = atomic_load(&n_objects);
    if (i >= MAX_OBJECTS || fd < 0)
        return;
    strncpy(objects[i].loaded, loaded_name, sizeof(objects[i].loaded) - 1);
    strncpy(objects[i].shown, shown, sizeof(objects[i].shown) - 1);
    objects[i].fd = fd;
    atomic_store(&n_objects, i + 1);
}

/* ---- writing without stdio ------------------------------------------------ */

typedef struct line {
    char b[512];
    size_t n;
} line;

static void put(line *l, const char *s)
{
    while (s && *s && l->n < sizeof(l->b) - 1)
        l->b[l->n++] = *s++;
}

static void put_hex(line *l, uintptr_t v)
{
    char tmp[2 + 16];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v && i > 2);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    for (; i < (int)sizeof(tmp) && l->n < sizeof(l->b) - 1; i++)
        l->b[l->n++] = tmp[i];
}

static void emit(line *l)
{
    l->b[l->n++] = '\n';
    if (write(sp__log_fd(), l->b, l->n) < 0) {
        /* dying anyway */
    }
    l->n = 0;
}

/* ---- symbols from an ELF file ------------------------------------------- */

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
    return pread(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

/* The function symbol of fd's .symtab (or .dynsym) that holds offset off:
 * its name into name, its start into *start.  0 when found. */
static int symbol_at(int fd, uint64_t off, char *name, size_t len, uint64_t *start)
{
    Elf64_Ehdr eh;
    Elf64_Shdr sh, strh;
    Elf64_Sym sym;
    uint64_t best = 0, best_name = 0, best_tab = 0;
    int found = 0;

    if (read_at(fd, &eh, sizeof(eh), 0) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64)
        return -1;
    for (int pass = 0; pass < 2 && !found; pass++) {
        for (unsigned i = 0; i < eh.e_shnum; i++) {
            if (read_at(fd, &sh, sizeof(sh), eh.e_shoff + (uint64_t)i * eh.e_shentsize) != 0 ||
                sh.sh_type != (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM) || sh.sh_entsize == 0)
                continue;
            for (uint64_t j = 0; j < sh.sh_size / sh.sh_entsize; j++) {
                if (read_at(fd, &sym, sizeof(sym), sh.sh_offset + j * sh.sh_entsize) != 0)
                    break;
                if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_value == 0 ||
                    off < sym.st_value || off >= sym.st_value + (sym.st_size ? sym.st_size : 1))
                    continue;
                if (!found || sym.st_value > best)
                    best = sym.st_value, best_name = sym.st_name, best_tab = sh.sh_link, found = 1;
            }
        }
    }
    if (!found || read_at(fd, &strh, sizeof(strh), eh.e_shoff + best_tab * eh.e_shentsize) != 0)
        return -1;
    ssize_t got = pread(fd, name, len - 1, (off_t)(strh.sh_offset + best_name));
    if (got <= 0)
        return -1;
    name[got] = '\0';
    name[strnlen(name, (size_t)got)] = '\0';
    *start = best;
    return 0;
}

static const struct object *object_named(const char *loaded)
{
    int n = atomic_load(&n_objects);
    for (int i = 0; i < n; i++)
        if (loaded && strcmp(objects[i].loaded, loaded) == 0)
            return &objects[i];
    return NULL;
}

static void frame(line *l, int i, void *addr)
{
    Dl_info info;
    char name[128];
    uint64_t start;

    put(l, "crash:   #");
    char num[4] = {(char)('0' + i / 10), (char)('0' + i % 10), ' ', '\0'};
    put(l, num);
    if (dladdr(addr, &info) == 0 || info.dli_fname == NULL) {
        put_hex(l, (uintptr_t)addr);
        emit(l);
        return;
    }
    const struct object *o = object_named(info.dli_fname);
    uint64_t off = (uint64_t)((uintptr_t)addr - (uintptr_t)info.dli_fbase);
    put(l, o ? o->shown : info.dli_fname);
    put(l, ": ");
    if (o && symbol_at(o->fd, off, name, sizeof(name), &start) == 0) {
        put(l, name);
        put(l, "+");
        put_hex(l, (uintptr_t)(off - start));
    } else if (info.dli_sname) {
        put(l, info.dli_sname);
        put(l, "+");
        put_hex(l, (uintptr_t)addr - (uintptr_t)info.dli_saddr);
    } else {
        put(l, "?");
    }
    put(l, " (");
    put_hex(l, (uintptr_t)off);
    put(l, ")");
    emit(l);
}

static void on_crash(int sig, siginfo_t *si, void *uc)
{
    static atomic_flag once = ATOMIC_FLAG_INIT;
    void *frames[MAX_FRAMES];
    line l = {.n = 0};

    if (!atomic_flag_test_and_set(&once)) {
        int n = backtrace(frames, MAX_FRAMES);
        put(&l, "crash: ");
        put(&l, role);
        put(&l, " killed by ");
        put(&l, sigdescr_np(sig));
        put(&l, " at ");
        put_hex(&l, (uintptr_t)si->si_addr);
        put(&l, "; stack, innermost first:");
        emit(&l);
        for (int i = 2; i < n; i++) /* 0 is this handler, 1 the signal trampoline */
            frame(&l, i - 2, frames[i]);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Under a sanitizer, its own report is the stack (and its runtime does not
 * want a second handler calling into the loader). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

void sp__crash_thread(void)
{
    if (SANITIZED)
        return;
    stack_t ss = {.ss_size = ALT_STACK, .ss_flags = 0};
    if ((ss.ss_sp = malloc(ALT_STACK)) != NULL && sigaltstack(&ss, NULL) != 0)
        free(ss.ss_sp);
}

void sp__crash_install(const char *who)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    void *warm[2];
    Dl_info self;
    struct sigaction sa = {.sa_sigaction = on_crash, .sa_flags = SA_SIGINFO | SA_ONSTACK};

    if (SANITIZED)
        return;
    strncpy(role, who, sizeof(role) - 1);
    backtrace(warm, 2); /* loads libgcc now, not in the handler */
    /* The server's own frames: the loader names the main program as it
     * was started, so register it under that name. */
    if (dladdr((void *)sp__crash_install, &self) != 0 && self.dli_fname != NULL)
        sp__crash_object(self.dli_fname, "spindle", open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    sp__crash_thread();
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}
