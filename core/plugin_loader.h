/* plugin_loader.h — dlopen plugins, check the ABI, call init/fini. */
#ifndef SSHGATE_PLUGIN_LOADER_H
#define SSHGATE_PLUGIN_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "plugin.h"

/* The host's record of one loaded plugin (opaque to plugins as sg_plugin_ref). */
struct sg_plugin_ref {
    const struct sg_plugin *desc;
    void *state;        /* what init stored */
    void *dl;           /* dlopen handle */
    char *name;         /* config name */
    char *path;
    size_t index;       /* position in the loaded array: the conn ctx slot */
    bool initialized;
};

struct sg_plugin_set {
    struct sg_plugin_ref *v;
    size_t n;
};

/* Load every plugin of cfg. With host != NULL, call init with its config.
 * On failure, unloads what was loaded and writes "plugin NAME (PATH): reason". */
int sg_plugins_load(const struct sg_config *cfg, const struct sg_host *host,
                    struct sg_plugin_set *out, char *err, size_t errlen);
/* Load one plugin file (used by the above and by tests). */
int sg_plugin_open(const char *name, const char *path, struct sg_plugin_ref *out, char *err,
                   size_t errlen);
/* fini (if initialized) and dlclose everything. */
void sg_plugins_unload(struct sg_plugin_set *set);
struct sg_plugin_ref *sg_plugins_find(const struct sg_plugin_set *set, const char *name);

#endif
