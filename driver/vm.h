/* Lifecycle of one QEMU process: spawn (or attach to a running one),
 * QMP connection, liveness, orderly shutdown and forced kill. */
#pragma once

#include <glib.h>

#include "qmp.h"

typedef struct Vm {
    char *name;          /* "src", "dst", "dst-retry" (for messages) */
    GPid pid;            /* 0 when attached to a QEMU we did not start */
    gboolean reaped;
    int wait_status;
    char *qmp_path;
    char *serial_path;   /* NULL if unknown (attached without --*-serial) */
    char *stderr_path;   /* NULL when attached */
    QmpClient *qmp;
} Vm;

/* Spawns @argv with stdout+stderr to @stderr_path. Does not connect. */
Vm *vm_spawn(const char *name, const char *const *argv, const char *qmp_path,
             const char *serial_path, const char *stderr_path, GError **error);
/* Connects to an already running QEMU. */
Vm *vm_attach(const char *name, const char *qmp_path, const char *serial_path,
              GError **error);

/* Retries until QEMU has created its QMP socket; fails early (with the
 * tail of QEMU's stderr) if the process exits. */
gboolean vm_connect_qmp(Vm *vm, guint timeout_ms, GError **error);

gboolean vm_owned(Vm *vm);
/* Reaps without blocking; always TRUE for attached VMs. */
gboolean vm_alive(Vm *vm);
/* "exited with status 1" / "killed by signal 9" / "running". */
char *vm_describe_exit(Vm *vm);
/* Error text for a VM that died: exit status plus last stderr lines. */
char *vm_death_report(Vm *vm);

/* Sends SIGKILL and reaps (owned VMs only). */
void vm_kill(Vm *vm);
/* "quit" over QMP, waits up to @timeout_ms, then SIGKILL. Attached VMs are
 * only disconnected. Idempotent. */
void vm_shutdown(Vm *vm, guint timeout_ms);
/* Shuts down (if needed) and frees. */
void vm_free(Vm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Vm, vm_free)
