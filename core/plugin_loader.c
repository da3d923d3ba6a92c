/* plugin_loader.c — refuses, with a message naming the file and the reason:
 * a missing file, a group/world-writable file or directory, a missing entry
 * symbol, an ABI mismatch, a failing init. */
#include "plugin_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

typedef const struct sg_plugin *(*entry_fn)(unsigned, unsigned);

static int check_perms(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "%s is writable by group or others (mode %04o): refusing to load it",
                 path, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    char *dup = strdup(path);
    if (!dup) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *dir = dirname(dup);
    int rc = 0;
    if (stat(dir, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        snprintf(err, errlen, "directory %s of %s is writable by group or others (mode %04o): refusing to load it",
                 dir, path, (unsigned)(st.st_mode & 07777));
        rc = -1;
    }
    free(dup);
    return rc;
}

int sg_plugin_open(const char *name, const char *path, struct sg_plugin_ref *out, char *err,
                   size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (check_perms(path, err, errlen) < 0)
        return -1;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
        return -1;
    }
    entry_fn entry;
    *(void **)&entry = dlsym(dl, SG_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s does not export %s (not an sshgate plugin?)", path,
                 SG_PLUGIN_ENTRY_SYMBOL);
        dlclose(dl);
        return -1;
    }
    const struct sg_plugin *d = entry(SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR);
    if (!d) {
        snprintf(err, errlen, "%s refused ABI %u.%u (built for another major version?)", path,
                 SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR);
        dlclose(dl);
        return -1;
    }
    if (d->abi_major != SG_PLUGIN_ABI_MAJOR) {
        snprintf(err, errlen, "%s has plugin ABI %u.%u, this sshgated has %u.%u (major differs)",
                 path, d->abi_major, d->abi_minor, SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR);
        dlclose(dl);
        return -1;
    }
    if (d->size < offsetof(struct sg_plugin, on_connection_request) || !d->name || !d->init) {
        snprintf(err, errlen, "%s returned a malformed descriptor (size %zu)", path, d->size);
        dlclose(dl);
        return -1;
    }
    out->desc = d;
    out->dl = dl;
    out->name = strdup(name ? name : d->name);
    out->path = strdup(path);
    if (!out->name || !out->path) {
        free(out->name);
        free(out->path);
        dlclose(dl);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int sg_plugins_load(const struct sg_config *cfg, const struct sg_host *host,
                    struct sg_plugin_set *out, char *err, size_t errlen)
{
    out->v = calloc(cfg->n_plugins ? cfg->n_plugins : 1, sizeof(*out->v));
    out->n = 0;
    if (!out->v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const struct sg_plugin_conf *pc = &cfg->plugins[i];
        char e[512];
        struct sg_plugin_ref *r = &out->v[out->n];
        if (sg_plugin_open(pc->name, pc->path, r, e, sizeof(e)) < 0) {
            snprintf(err, errlen, "plugin %s: %s", pc->name, e);
            goto fail;
        }
        r->index = out->n++;
        if (host) {
            int rc = r->desc->init(host, r, pc->config_json ? pc->config_json : "{}", &r->state);
            if (rc != SG_OK) {
                snprintf(err, errlen, "plugin %s (%s): init failed (%d)", pc->name, pc->path, rc);
                goto fail;
            }
            r->initialized = true;
            SG_VERB(0, "plugin %s %s loaded from %s", r->name,
                    r->desc->version ? r->desc->version : "?", r->path);
        }
    }
    return 0;
fail:
    sg_plugins_unload(out);
    return -1;
}

void sg_plugins_unload(struct sg_plugin_set *set)
{
    for (size_t i = set->n; i-- > 0;) {
        struct sg_plugin_ref *r = &set->v[i];
        if (r->initialized && r->desc->fini)
            r->desc->fini(r->state);
        if (r->dl && !getenv("SSHGATE_NO_DLCLOSE")) /* keep symbols for ASan/valgrind reports */
            dlclose(r->dl);
        free(r->name);
        free(r->path);
    }
    free(set->v);
    set->v = NULL;
    set->n = 0;
}

struct sg_plugin_ref *sg_plugins_find(const struct sg_plugin_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i].name, name) == 0)
            return &set->v[i];
    return NULL;
}
