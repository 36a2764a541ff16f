/* Shared between the C core's files; not exported to Python. */
#ifndef PYC_INTERNAL_H
#define PYC_INTERNAL_H

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "pyc.h"

/* Returns -errno from the last failed libc call, never 0. */
static inline int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

/* A system call that returns -errno and leaves errno alone.  The container's
 * child may share the caller's memory and its thread's TLS (CLONE_VM,
 * spawn.c), so errno is one variable for the child and a caller's thread
 * that runs on: a failure the child expects and acts on (ENOENT, then
 * create; EEXIST; EAGAIN; a PATH search) must come from the kernel's return,
 * never from errno, which that thread may have just overwritten (seen:
 * "mount devpts on /dev/pts: Invalid argument", 1 start in 350). */
#if defined(__x86_64__)
#define PYC_RAW_SYSCALLS 1
static inline long pyc_sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
#define PYC_RAW_SYSCALLS 1
static inline long pyc_sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory", "cc");
    return x0;
}
#else
/* Elsewhere the child never shares the caller's memory (spawn.c). */
#define PYC_RAW_SYSCALLS 0
#include <sys/syscall.h>
static inline long pyc_sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(n, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
}
#endif
#define PYC_SYS_(n, a, b, c, d, e, f, ...) \
    pyc_sys6((long) (n), (long) (a), (long) (b), (long) (c), (long) (d), (long) (e), (long) (f))
#define pyc_sys(...) PYC_SYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0)

/* Close an fd on scope exit (crun's cleanup_close). */
static inline void close_fdp(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
#define cleanup_fd __attribute__((cleanup(close_fdp)))

/* The plan's strings, bounds-checked. */
struct plan {
    const struct pyc_spawn *spec;
    int rootfd;
    int nsfd;       /* a namespace opened before pivot_root, joined later */
    int keepfd;     /* a file opened (O_PATH) before pivot_root, written later */
};
const char *plan_str(const struct plan *p, uint32_t off);

/* mount.c: everything that resolves or mounts inside the new root. */
int pyc_op_overlay(struct plan *p, const struct pyc_op *op);
int pyc_op_mount_in(struct plan *p, const struct pyc_op *op);
int pyc_op_remount_in(struct plan *p, const struct pyc_op *op);
int pyc_op_mkdir_in(struct plan *p, const struct pyc_op *op);
int pyc_op_mknod_in(struct plan *p, const struct pyc_op *op);
int pyc_op_symlink_in(struct plan *p, const struct pyc_op *op);
int pyc_op_pivot_root(struct plan *p, const struct pyc_op *op);
int pyc_op_remount_root(struct plan *p, const struct pyc_op *op);

/* proc.c: process attributes set just before exec. */
int pyc_op_groups(struct plan *p, const struct pyc_op *op);
int pyc_op_write(struct plan *p, const struct pyc_op *op);
int pyc_op_exec(struct plan *p, const struct pyc_op *op);
int pyc_op_loopback(struct plan *p, const struct pyc_op *op);
int pyc_op_setns(struct plan *p, const struct pyc_op *op);
int pyc_op_caps(struct plan *p, const struct pyc_op *op);
int pyc_op_capset(struct plan *p, const struct pyc_op *op);
int pyc_op_seccomp(struct plan *p, const struct pyc_op *op);
int pyc_op_idmap_layer(struct plan *p, const struct pyc_op *op);

#endif
