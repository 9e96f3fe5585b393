/*
 * record.c - a task record's encoding, ids and names (see record.h).
 *
 * Kept apart from every backend so that the files and Redis stores hold
 * byte-for-byte the same records: a record written by one version is
 * read by the next (unknown header keys are skipped), and the strictness
 * that keeps a truncated spool file from running is written once.
 */
#include "app/tasks/record.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "spindle-task 1\n"

static char machine[SP__MACHINE_MAX];
static pthread_once_t machine_once = PTHREAD_ONCE_INIT;

static void read_machine(void)
{
    char boot[64] = "";
    struct stat st = {0};
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f != NULL) {
        if (fgets(boot, sizeof(boot), f) == NULL)
            boot[0] = '\0';
        boot[strcspn(boot, "\n")] = '\0';
        fclose(f);
    }
    if (stat("/proc/self/ns/pid", &st) != 0)
        st.st_ino = 0;
    snprintf(machine, sizeof(machine), "%s:%lu", boot[0] ? boot : "unknown",
             (unsigned long)st.st_ino);
}

const char *sp__machine_id(void)
{
    pthread_once(&machine_once, read_machine);
    return machine;
}

int64_t sp__unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sp__task_new_id(char id[SP_TASK_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* never in practice; still unique enough: time, pid and a counter */
        static atomic_uint n;
        uint64_t t = (uint64_t)sp__unix_ms();
        unsigned c = atomic_fetch_add(&n, 1);
        memcpy(b, &t, 8);
        memcpy(b + 8, &c, 4);
        int pid = getpid();
        memcpy(b + 12, &pid, 4);
    }
    for (int i = 0; i < 16; i++) {
        id[2 * i] = hex[b[i] >> 4];
        id[2 * i + 1] = hex[b[i] & 15];
    }
    id[32] = '\0';
}

bool sp__task_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= SP__TASK_NAME_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:") == n;
}

bool sp__task_id_ok(const char *id)
{
    return strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

/* What sp__machine_id makes: 1-79 of hex digits, '-', ':' and digits. */
static bool machine_ok(const char *m)
{
    size_t n = strlen(m);
    return n > 0 && n < SP__MACHINE_MAX && strspn(m, "0123456789abcdefunknow-:") == n;
}

int sp__rec_encode(const sp__taskrec *r, char **out, size_t *outlen)
{
    char head[1024], error[sizeof(r->error)];
    snprintf(error, sizeof(error), "%s", r->error);
    for (char *c = error; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    char flags[32] = "", where[SP__MACHINE_MAX + 16] = "";
    if (r->flags != 0)
        snprintf(flags, sizeof(flags), "flags %u\n", r->flags);
    if (machine_ok(r->machine))
        snprintf(where, sizeof(where), "machine %s\n", r->machine);
    int n = snprintf(head, sizeof(head),
                     MAGIC "id %s\nname %s\nstate %d\nattempts %d\nspooled %d\npid %d\n"
                           "%screated %" PRId64 "\nupdated %" PRId64 "\nerror %s\n%slength %zu\n\n",
                     r->id, r->name, r->state, r->attempts, r->spooled, r->pid, where,
                     r->created_ms, r->updated_ms, error, flags, r->len);
    if (n < 0 || (size_t)n >= sizeof(head))
        return SP_EINVAL;
    char *buf = malloc((size_t)n + r->len);
    if (buf == NULL)
        return SP_ENOMEM;
    memcpy(buf, head, (size_t)n);
    if (r->len)
        memcpy(buf + n, r->body, r->len);
    *out = buf;
    *outlen = (size_t)n + r->len;
    return SP_OK;
}

/* One "key value" header line into r; 0, or -1 if the value is bad. */
static int header(sp__taskrec *r, const char *key, const char *val, size_t *length, int *have)
{
    long long v = 0;
    char *end = NULL;
    if (strcmp(key, "id") == 0)
        return sp__task_id_ok(val) ? (memcpy(r->id, val, SP_TASK_ID_LEN), *have |= 1, 0) : -1;
    if (strcmp(key, "name") == 0)
        return sp__task_name_ok(val) ? (strcpy(r->name, val), *have |= 2, 0) : -1;
    if (strcmp(key, "error") == 0)
        return snprintf(r->error, sizeof(r->error), "%s", val), 0;
    if (strcmp(key, "machine") == 0)
        return machine_ok(val) ? (snprintf(r->machine, sizeof(r->machine), "%s", val), 0) : -1;
    if (*val)
        v = strtoll(val, &end, 10);
    if (*val == '\0' || *end != '\0' || v < 0)
        return strcmp(key, "state") && strcmp(key, "attempts") && strcmp(key, "spooled") &&
                       strcmp(key, "pid") && strcmp(key, "created") && strcmp(key, "updated") &&
                       strcmp(key, "length") && strcmp(key, "flags")
                   ? 0 /* a key from a later version: ignored */
                   : -1;
    if (strcmp(key, "state") == 0)
        r->state = v <= SP_TASK_EXPIRED ? (int)v : SP_TASK_FAILED;
    else if (strcmp(key, "attempts") == 0)
        r->attempts = (int)(v > 1000 ? 1000 : v);
    else if (strcmp(key, "spooled") == 0)
        r->spooled = v != 0;
    else if (strcmp(key, "pid") == 0)
        r->pid = (int)v;
    else if (strcmp(key, "created") == 0)
        r->created_ms = v;
    else if (strcmp(key, "updated") == 0)
        r->updated_ms = v;
    else if (strcmp(key, "flags") == 0)
        r->flags = (unsigned)(v & SP__REC_RESULT_JSON); /* later flags: not ours to keep */
    else if (strcmp(key, "length") == 0)
        *length = (size_t)v, *have |= 4;
    return 0;
}

int sp__rec_decode(const void *buf, size_t len, sp__taskrec *r)
{
    const char *p = buf, *end = p + len;
    size_t length = 0;
    int have = 0;
    char line[512];

    memset(r, 0, sizeof(*r));
    if (len < sizeof(MAGIC) - 1 || memcmp(p, MAGIC, sizeof(MAGIC) - 1) != 0)
        return SP_EINVAL;
    for (p += sizeof(MAGIC) - 1;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || (size_t)(nl - p) >= sizeof(line))
            return SP_EINVAL;
        if (nl == p) {
            p++;
            break;
        }
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        char *sp = strchr(line, ' ');
        if (sp == NULL)
            return SP_EINVAL;
        *sp = '\0';
        if (header(r, line, sp + 1, &length, &have) != 0)
            return SP_EINVAL;
    }
    if (have != 7 || (size_t)(end - p) != length)
        return SP_EINVAL; /* missing fields, or a body cut short (or too long) */
    r->body = malloc(length ? length : 1);
    if (r->body == NULL)
        return SP_ENOMEM;
    memcpy(r->body, p, length);
    r->len = length;
    return SP_OK;
}

void sp__rec_free(sp__taskrec *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
