/* Any shared object that is not a migaccel plugin: must be refused. */
#include "migaccel.h"

MIGACCEL_EXPORT int unrelated_function(void);

MIGACCEL_EXPORT int unrelated_function(void)
{
    return 42;
}
