/* A plugin whose install refuses this QEMU: the reason must reach the user. */
#include <errno.h>

#include "migaccel.h"

MIGACCEL_EXPORT const uint32_t migaccel_plugin_version = MIGACCEL_API_VERSION;

MIGACCEL_EXPORT int migaccel_plugin_install(const MigAccelHost *host,
                                            MigAccelPlugin *plugin)
{
    (void)plugin;
    host->log(MIGACCEL_LOG_ERROR, "test plugin refuses to install on purpose");
    return -EPERM;
}
