/* Declares a version but lacks the install entry point: must be refused. */
#include "migaccel.h"

MIGACCEL_EXPORT const uint32_t migaccel_plugin_version = MIGACCEL_API_VERSION;
