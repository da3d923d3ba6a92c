/* Fake plugins for the loader tests; FAKE_KIND selects the defect. */
#include <plugin.h>
#include <stddef.h>

static int fake_init(const struct sg_host *h, const sg_plugin_ref *self, const char *cfg,
                     void **state)
{
    *state = (void *)0x1;
#if FAKE_KIND == 3
    return SG_E_INVAL;
#else
    return SG_OK;
#endif
}

__attribute__((unused)) static const struct sg_plugin fake = {
    .size = sizeof(struct sg_plugin),
#if FAKE_KIND == 1
    .abi_major = SG_PLUGIN_ABI_MAJOR + 1,
#else
    .abi_major = SG_PLUGIN_ABI_MAJOR,
#endif
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .name = "fake",
    .version = "0",
    .init = fake_init,
};

#if FAKE_KIND != 2 /* 2: no entry symbol at all */
__attribute__((visibility("default"))) const struct sg_plugin *sg_plugin_entry(unsigned major,
                                                                                unsigned minor)
{
#if FAKE_KIND == 4
    return NULL;
#else
    return &fake;
#endif
}
#else
__attribute__((visibility("default"))) int not_an_entry(void) { return 0; }
#endif
