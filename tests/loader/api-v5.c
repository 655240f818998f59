/*
 * A plugin built for the unreleased API version 5, before the interface
 * became the stable version 6 contract: QEMU must refuse it by version,
 * before calling into it (its install has the old, shorter signature).
 */
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT const uint32_t migaccel_plugin_version = 5;

EXPORT int migaccel_plugin_install(const void *host, void *plugin);

EXPORT int migaccel_plugin_install(const void *host, void *plugin)
{
    (void)host;
    (void)plugin;
    return 0;
}
