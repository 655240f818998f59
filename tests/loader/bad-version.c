/* A plugin built for an API version no QEMU speaks: must be refused. */
#include "migaccel.h"

MIGACCEL_EXPORT const uint32_t migaccel_plugin_version = 999;

MIGACCEL_EXPORT int migaccel_plugin_install(const MigAccelHost *host,
                                            MigAccelPlugin *plugin,
                                            char **errmsg)
{
    (void)host;
    (void)plugin;
    (void)errmsg;
    return 0;
}
