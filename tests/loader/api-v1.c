/*
 * A plugin built against API version 1 (before the per-vCPU tracking
 * services were appended): a version 2 QEMU must still load it.
 */
#include "migaccel.h"

MIGACCEL_EXPORT const uint32_t migaccel_plugin_version = 1;

MIGACCEL_EXPORT int migaccel_plugin_install(const MigAccelHost *host,
                                            MigAccelPlugin *plugin)
{
    /* The version 1 members are all there, whatever QEMU appended */
    if (host->api_version < 1 || !host->log || !host->ramblock_name) {
        return -1;
    }
    plugin->name = "api-v1 test plugin";
    return 0;
}
