/*
 * privs.c - users and groups (see privs.h).
 *
 * The order is the classic one: bind everything as root (ports below
 * 1024, sockets in /run), hand the unix socket files to their owner, then
 * drop the group first (a process that is no longer root cannot change
 * its groups), clear supplementary groups, and the user last.  It happens
 * in the master before the first fork, so no worker, and no module code,
 * ever runs as root.  The price, as with uWSGI and gunicorn: a reload
 * cannot bind new privileged ports, and the log files must be writable by
 * the new user to be reopened.
 */
#include "server/master/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A user name or number; its primary group in *gid when gid is not NULL. */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
    char *end;
    struct passwd *pw = getpwnam(name);
    if (pw == NULL) {
        unsigned long v = strtoul(name, &end, 10);
        if (*name == '\0' || *end != '\0')
            return SP_EINVAL;
        *uid = (uid_t)v;
        pw = getpwuid(*uid);
        if (gid)
            *gid = pw ? pw->pw_gid : (gid_t)v;
        return 0;
    }
    *uid = pw->pw_uid;
    if (gid)
        *gid = pw->pw_gid;
    return 0;
}

static int lookup_group(const char *name, gid_t *gid)
{
    char *end;
    struct group *gr = getgrnam(name);
    if (gr != NULL) {
        *gid = gr->gr_gid;
        return 0;
    }
    unsigned long v = strtoul(name, &end, 10);
    if (*name == '\0' || *end != '\0')
        return SP_EINVAL;
    *gid = (gid_t)v;
    return 0;
}

/* key's "user[:group]" -> ids; gid stays (gid_t)-1 when no group is given. */
static int parse_owner(const char *key, const char *spec, uid_t *uid, gid_t *gid, char *err,
                       size_t errlen)
{
    char user[128];
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);

    *gid = (gid_t)-1;
    snprintf(user, sizeof(user), "%.*s", (int)(n < sizeof(user) ? n : sizeof(user) - 1), spec);
    if (lookup_user(user, uid, NULL) != 0) {
        snprintf(err, errlen, "%s: no user '%s'", key, user);
        return SP_EINVAL;
    }
    if (colon && lookup_group(colon + 1, gid) != 0) {
        snprintf(err, errlen, "%s: no group '%s'", key, colon + 1);
        return SP_EINVAL;
    }
    return 0;
}

int sp__privs_socket_owner(const sp__config *cfg, const sp__listeners *ls, bool fresh_only,
                           char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    if (cfg->socket_owner == NULL)
        return 0;
    if (parse_owner("socket-owner", cfg->socket_owner, &uid, &gid, err, errlen) != 0)
        return SP_EINVAL;
    for (size_t i = 0; i < ls->n; i++) {
        const sp__listener *l = &ls->v[i];
        if (fresh_only && !l->fresh)
            continue;
        if (l->is_unix && l->path && l->fd >= 0 && chown(l->path, uid, gid) != 0) {
            snprintf(err, errlen, "socket-owner: chown %s: %s", l->path, strerror(errno));
            return SP_EIO;
        }
    }
    return 0;
}

static int target_ids(const sp__config *cfg, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (cfg->uid && lookup_user(cfg->uid, uid, gid) != 0) {
        snprintf(err, errlen, "uid: no user '%s'", cfg->uid);
        return SP_EINVAL;
    }
    if (cfg->gid && lookup_group(cfg->gid, gid) != 0) {
        snprintf(err, errlen, "gid: no group '%s'", cfg->gid);
        return SP_EINVAL;
    }
    return 0;
}

int sp__privs_check(const sp__config *cfg, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    if (target_ids(cfg, &uid, &gid, err, errlen) != 0)
        return SP_EINVAL;
    if (cfg->socket_owner &&
        parse_owner("socket-owner", cfg->socket_owner, &uid, &gid, err, errlen) != 0)
        return SP_EINVAL;
    if (cfg->control_owner &&
        parse_owner("control-owner", cfg->control_owner, &uid, &gid, err, errlen) != 0)
        return SP_EINVAL;
    return 0;
}

void sp__privs_give(const sp__config *cfg, const char *path)
{
    uid_t uid;
    gid_t gid;
    char err[256];
    if (path && (cfg->uid || cfg->gid) && target_ids(cfg, &uid, &gid, err, sizeof(err)) == 0 &&
        chown(path, uid, gid) != 0) {
        /* the master may then fail to remove it at exit: harmless */
    }
}

int sp__privs_control_owner(const sp__config *cfg, const char *path, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    if (path == NULL || cfg->control_owner == NULL) {
        sp__privs_give(cfg, path);
        return 0;
    }
    if (parse_owner("control-owner", cfg->control_owner, &uid, &gid, err, errlen) != 0)
        return SP_EINVAL;
    if (chown(path, uid, gid) != 0) {
        snprintf(err, errlen, "control-owner: chown %s: %s", path, strerror(errno));
        return SP_EIO;
    }
    return 0;
}

void sp__privs_warn(const sp__config *cfg)
{
    if (geteuid() == 0 && cfg->uid == NULL)
        sp_log(SP_LOG_WARN, "running as root: uid is not set, so the workers and every module "
                            "they load run as root (set uid and gid to an unprivileged user)");
}

int sp__privs_drop(const sp__config *cfg, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    if (cfg->uid == NULL && cfg->gid == NULL)
        return 0;
    if (target_ids(cfg, &uid, &gid, err, errlen) != 0)
        return SP_EINVAL;
    if (gid != (gid_t)-1 && (setgroups(1, &gid) != 0 || setgid(gid) != 0)) {
        snprintf(err, errlen, "gid: cannot switch to group %u: %s", (unsigned)gid, strerror(errno));
        return SP_EIO;
    }
    if (uid != (uid_t)-1 && setuid(uid) != 0) {
        snprintf(err, errlen, "uid: cannot switch to user %u: %s", (unsigned)uid, strerror(errno));
        return SP_EIO;
    }
    if (uid != (uid_t)-1 && uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "uid: could regain root after the switch; refusing to run");
        return SP_EINVAL;
    }
    return 0;
}
