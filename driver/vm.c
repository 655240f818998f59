#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define VM_STDERR_TAIL_LINES 15

static gboolean vm_cancel_cb(gpointer data)
{
    (void)data;
    return drv_interrupted();
}

static void vm_child_setup(gpointer data)
{
    (void)data;
    /* Own process group: a terminal Ctrl-C reaches only the driver, which
     * then quits the QEMUs in order. Should the driver die anyway, the
     * kernel kills its QEMUs. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_DFL);
}

static Vm *vm_new(const char *name, const char *qmp_path, const char *serial_path)
{
    Vm *vm = g_new0(Vm, 1);

    vm->name = g_strdup(name);
    vm->qmp_path = g_strdup(qmp_path);
    vm->serial_path = g_strdup(serial_path);
    return vm;
}

Vm *vm_spawn(const char *name, const char *const *argv, const char *qmp_path,
             const char *serial_path, const char *stderr_path, GError **error)
{
    g_autoptr(Vm) vm = vm_new(name, qmp_path, serial_path);
    int out_fd, null_fd;
    gboolean ok;

    vm->stderr_path = g_strdup(stderr_path);
    unlink(qmp_path);
    out_fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "%s: cannot create %s: %s",
                    name, stderr_path, g_strerror(errno));
        return NULL;
    }
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ok = g_spawn_async_with_fds(NULL, (char **)argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD, vm_child_setup, NULL,
                                &vm->pid, null_fd, out_fd, out_fd, error);
    close(out_fd);
    if (null_fd >= 0) {
        close(null_fd);
    }
    if (!ok) {
        g_prefix_error(error, "%s: cannot start %s: ", name, argv[0]);
        return NULL;
    }
    return g_steal_pointer(&vm);
}

Vm *vm_attach(const char *name, const char *qmp_path, const char *serial_path,
              GError **error)
{
    g_autoptr(Vm) vm = vm_new(name, qmp_path, serial_path);

    vm->qmp = qmp_client_connect(qmp_path, 5000, error);
    if (!vm->qmp) {
        g_prefix_error(error, "%s: ", name);
        return NULL;
    }
    qmp_client_set_cancel_func(vm->qmp, vm_cancel_cb, NULL);
    return g_steal_pointer(&vm);
}

gboolean vm_owned(Vm *vm)
{
    return vm->pid != 0;
}

gboolean vm_alive(Vm *vm)
{
    pid_t r;

    if (!vm_owned(vm)) {
        return TRUE;
    }
    if (vm->reaped) {
        return FALSE;
    }
    r = waitpid(vm->pid, &vm->wait_status, WNOHANG);
    if (r == vm->pid || (r < 0 && errno == ECHILD)) {
        vm->reaped = TRUE;
        return FALSE;
    }
    return TRUE;
}

char *vm_describe_exit(Vm *vm)
{
    if (vm_alive(vm)) {
        return g_strdup("running");
    }
    if (WIFEXITED(vm->wait_status)) {
        return g_strdup_printf("exited with status %d", WEXITSTATUS(vm->wait_status));
    }
    if (WIFSIGNALED(vm->wait_status)) {
        return g_strdup_printf("killed by signal %d (%s)", WTERMSIG(vm->wait_status),
                               g_strsignal(WTERMSIG(vm->wait_status)));
    }
    return g_strdup("ended");
}

/* "exited with status 1; last lines of X:\n..." */
static char *vm_exit_details(Vm *vm)
{
    g_autofree char *how = vm_describe_exit(vm);
    g_autofree char *tail = drv_file_tail(vm->stderr_path, VM_STDERR_TAIL_LINES);

    if (!*tail) {
        return g_strdup_printf("%s; its stderr (%s) is empty", how,
                               vm->stderr_path ? vm->stderr_path : "-");
    }
    return g_strdup_printf("%s; last lines of %s:\n%s", how, vm->stderr_path, tail);
}

char *vm_death_report(Vm *vm)
{
    g_autofree char *details = vm_exit_details(vm);

    return g_strdup_printf("QEMU (%s) %s", vm->name, details);
}

gboolean vm_connect_qmp(Vm *vm, guint timeout_ms, GError **error)
{
    gint64 deadline = drv_now_us() + (gint64)timeout_ms * 1000;
    g_autoptr(GError) last = NULL;

    while (!vm->qmp) {
        if (!vm_alive(vm)) {
            g_autofree char *why = vm_exit_details(vm);

            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "QEMU (%s) failed to start: %s", vm->name, why);
            return FALSE;
        }
        if (drv_now_us() > deadline) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "%s: no QMP socket at %s after %u ms (%s)", vm->name,
                        vm->qmp_path, timeout_ms, last ? last->message : "?");
            return FALSE;
        }
        if (g_file_test(vm->qmp_path, G_FILE_TEST_EXISTS)) {
            g_clear_error(&last);
            vm->qmp = qmp_client_connect(vm->qmp_path, 5000, &last);
            if (vm->qmp) {
                qmp_client_set_cancel_func(vm->qmp, vm_cancel_cb, NULL);
                break;
            }
        }
        if (!drv_sleep_ms(50, error)) {
            return FALSE;
        }
    }
    return TRUE;
}

void vm_kill(Vm *vm)
{
    if (!vm_owned(vm) || !vm_alive(vm)) {
        return;
    }
    kill(vm->pid, SIGKILL);
    if (waitpid(vm->pid, &vm->wait_status, 0) == vm->pid || errno == ECHILD) {
        vm->reaped = TRUE;
    }
}

void vm_shutdown(Vm *vm, guint timeout_ms)
{
    gint64 deadline = drv_now_us() + (gint64)timeout_ms * 1000;

    if (vm_owned(vm) && vm_alive(vm) && vm->qmp) {
        /* No cancel callback here: cleanup must proceed after a Ctrl-C. */
        qmp_client_set_cancel_func(vm->qmp, NULL, NULL);
        /* QEMU may exit before its reply arrives: wait for the exit either way. */
        qmp_client_execute_simple(vm->qmp, "quit", NULL, timeout_ms, NULL);
        while (vm_alive(vm) && drv_now_us() < deadline) {
            g_usleep(20000);
        }
    }
    g_clear_pointer(&vm->qmp, qmp_client_free);
    vm_kill(vm);
}

void vm_free(Vm *vm)
{
    if (!vm) {
        return;
    }
    vm_shutdown(vm, 3000);
    g_free(vm->name);
    g_free(vm->qmp_path);
    g_free(vm->serial_path);
    g_free(vm->stderr_path);
    g_free(vm);
}
