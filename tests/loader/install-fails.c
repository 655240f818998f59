/* A plugin whose install refuses this QEMU: the reason must reach the user. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migaccel.h"

MIGACCEL_EXPORT const uint32_t migaccel_plugin_version = MIGACCEL_API_VERSION;

MIGACCEL_EXPORT int migaccel_plugin_install(const MigAccelHost *host,
                                            MigAccelPlugin *plugin,
                                            char **errmsg)
{
    (void)host;
    (void)plugin;
    *errmsg = strdup("test plugin refuses to install on purpose");
    return -EPERM;
}
