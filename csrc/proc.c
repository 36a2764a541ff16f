/* Process attributes set in the child just before exec. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

#define PYC_MAX_GROUPS 256

int pyc_op_groups(struct plan *p, const struct pyc_op *op)
{
    const char *s = plan_str(p, op->s1);
    gid_t gids[PYC_MAX_GROUPS];
    size_t n = 0;
    while (s && *s) {
        if (n == PYC_MAX_GROUPS)
            return -E2BIG;
        gid_t g = 0;
        for (; *s >= '0' && *s <= '9'; s++)
            g = g * 10 + (gid_t) (*s - '0');
        gids[n++] = g;
        if (*s == ',')
            s++;
        else if (*s)
            return -EINVAL;
    }
    /* raw: glibc's wrapper walks the caller's threads (spawn.c: child_main) */
    return syscall(SYS_setgroups, n, gids) < 0 ? neg_errno() : 0;
}

/* b = 0: write s2 to file s1; b = 1: only open s1 (O_PATH: a host path
 * that vanishes at pivot_root); b = 2: write s2 to what b = 1 opened,
 * reopened through /proc/self/fd (the OCI exec fifo: the open blocks until
 * `start` reads, and needs only the fifo's own permission bits). */
int pyc_op_write(struct plan *p, const struct pyc_op *op)
{
    const char *path = plan_str(p, op->s1), *data = plan_str(p, op->s2);
    char self[32];
    if (op->b == 1) {
        if (!path || p->keepfd >= 0)
            return -EINVAL;
        p->keepfd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
        return p->keepfd < 0 ? neg_errno() : 0;
    }
    if (op->b == 2) {
        if (p->keepfd < 0)
            return -EBADF;
        snprintf(self, sizeof self, "/proc/self/fd/%d", p->keepfd);
        path = self;
    }
    if (!path || !data)
        return -EINVAL;
    cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC | (op->b == 2 ? 0 : O_NOFOLLOW));
    if (fd < 0)
        return neg_errno();
    size_t n = strlen(data);
    return write(fd, data, n) == (ssize_t) n ? 0 : neg_errno();
}

/* execvpe() searches the caller's PATH; a container searches its own.
 * a = 1: exec with every signal blocked, for an init that takes them over
 * (pyc-init): pid 1 drops a signal it has no handler for, so one sent before
 * it is set up would be lost; a blocked one waits for it. */
int pyc_op_exec(struct plan *p, const struct pyc_op *op)
{
    const char *file = plan_str(p, op->s1), *path = plan_str(p, op->s2);
    char *const *argv = (char *const *) p->spec->argv;
    char *const *envp = (char *const *) p->spec->envp;
    if (!file || !*file)
        return -ENOENT;
    if (op->a) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
    }
    if (strchr(file, '/') || !path) {
        return (int) pyc_sys(SYS_execve, file, argv, envp);
    }
    char buf[4096];
    size_t flen = strlen(file);
    int err = -ENOENT;
    for (const char *dir = path; ; ) {
        const char *end = strchrnul(dir, ':');
        size_t dlen = (size_t) (end - dir);
        if (dlen == 0)
            dlen = 1, dir = ".";
        if (dlen + flen + 2 <= sizeof buf) {
            memcpy(buf, dir, dlen);
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, file, flen + 1);
            int r = (int) pyc_sys(SYS_execve, buf, argv, envp);
            if (r == -EACCES)
                err = r;
            else if (r != -ENOENT && r != -ENOTDIR)
                return r;
        }
        if (!*end)
            return err;
        dir = end + 1;
    }
}

/* ioctl rather than netlink: one socket, two calls. */
int pyc_op_loopback(struct plan *p, const struct pyc_op *op)
{
    (void) p; (void) op;
    struct ifreq ifr = { 0 };
    cleanup_fd int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return neg_errno();
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return neg_errno();
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ? neg_errno() : 0;
}

/* b = 0: open s1 and join it now; b = 1: only open it (host paths vanish
 * at pivot_root); b = 2: join what b = 1 opened. */
int pyc_op_setns(struct plan *p, const struct pyc_op *op)
{
    const char *path = plan_str(p, op->s1);
    if (op->b == 2) {
        if (p->nsfd < 0)
            return -EBADF;
        int r = setns(p->nsfd, (int) op->a) < 0 ? neg_errno() : 0;
        close(p->nsfd);
        p->nsfd = -1;
        return r;
    }
    if (!path)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    if (op->b == 1) {
        p->nsfd = fd;
        return 0;
    }
    int r = setns(fd, (int) op->a) < 0 ? neg_errno() : 0;
    close(fd);
    return r;
}

/* Bounding set: drop what the container must not get (root's exec gains
 * exactly the bounding set); inheritable and ambient empty (CVE-2022-24769). */
int pyc_op_caps(struct plan *p, const struct pyc_op *op)
{
    (void) p;
    uint64_t keep = (uint64_t) op->a;
    for (int cap = 0; cap <= (int) op->c && cap < 64; cap++)
        if (!(keep & (1ULL << cap))) {
            int r = (int) pyc_sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
            if (r < 0 && r != -EINVAL)      /* past the kernel's last cap */
                return r;
        }
    int r = (int) pyc_sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (r < 0 && r != -EINVAL)
        return r;
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0)
        return neg_errno();
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) < 0)
        return neg_errno();
    return op->b == 1 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ? neg_errno() : 0;
}

/* The OCI process's own sets (runc's order: after setuid, then ambient, which
 * needs each cap in permitted and inheritable).  A root exec gains the
 * bounding set anyway; a non-root one keeps only what is ambient. */
int pyc_op_capset(struct plan *p, const struct pyc_op *op)
{
    const char *amb = plan_str(p, op->s1);
    uint64_t e = (uint64_t) op->a, pm = (uint64_t) op->b, i = (uint64_t) op->c;
    uint64_t ambient = amb ? strtoull(amb, NULL, 10) : 0;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return neg_errno();
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2] = {
        { (uint32_t) e, (uint32_t) pm, (uint32_t) i },
        { (uint32_t) (e >> 32), (uint32_t) (pm >> 32), (uint32_t) (i >> 32) },
    };
    if (syscall(SYS_capset, &hdr, data) < 0)
        return neg_errno();
    for (int cap = 0; cap < 64; cap++)
        if ((ambient & (1ULL << cap)) &&
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return neg_errno();
    return 0;
}

int pyc_op_seccomp(struct plan *p, const struct pyc_op *op)
{
    const char *bpf = plan_str(p, op->s1);
    if (!bpf || op->a <= 0 || op->a % 8)
        return -EINVAL;
    struct sock_fprog prog = { .len = (unsigned short) (op->a / 8),
                               .filter = (struct sock_filter *) bpf };
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0 ? neg_errno() : 0;
}

int pyc_unshare(uint64_t flags)
{
    return unshare((int) flags) < 0 ? neg_errno() : 0;
}

int pyc_setns(int fd, uint64_t nstype)
{
    return setns(fd, (int) nstype) < 0 ? neg_errno() : 0;
}
