/* Mounts inside the new root.  Every target is opened with
 * openat2(RESOLVE_IN_ROOT) from the root fd, and mounts are attached to
 * that fd with move_mount(), so a symlink in the image can never point a
 * mount at the host. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "internal.h"

int pyc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    int fd;
    /* RESOLVE_IN_ROOT/BENEATH fail with EAGAIN when any mount or rename on the
     * host raced the lookup (other containers starting): openat2(2) says retry. */
    for (int tries = 0; tries < 64; tries++) {
        fd = (int) pyc_sys(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd != -EAGAIN)
            break;
    }
    return fd;
}

static int open_in_root(struct plan *p, const char *rel, uint64_t extra_resolve)
{
    if (p->rootfd < 0)
        return -EBADF;
    /* Symlinks are followed, but only inside the root (docker follows a
     * mount target that is a link); RESOLVE_NO_SYMLINKS refuses them all. */
    return pyc_openat2(p->rootfd, rel, O_PATH | O_CLOEXEC, 0,
                       RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve);
}

/* Split "a/b/c" into the fd of "a/b" (resolved in root) and "c". */
static int open_parent(struct plan *p, const char *rel, char *buf, size_t len,
                       const char **base)
{
    size_t n = strlen(rel);
    if (n == 0 || n >= len)
        return -ENAMETOOLONG;
    memcpy(buf, rel, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) {
        *base = buf;
        return open_in_root(p, ".", 0);
    }
    *slash = '\0';
    *base = slash + 1;
    return open_in_root(p, buf[0] ? buf : "/", 0);
}

/* mkdir -p inside the root, never leaving it. */
static int mkdir_p_in_root(struct plan *p, const char *rel, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(rel);
    if (n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, rel, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        int fd = open_in_root(p, buf, 0);
        if (fd == -ENOENT) {
            const char *base;
            char pbuf[4096];
            cleanup_fd int pfd = open_parent(p, buf, pbuf, sizeof pbuf, &base);
            if (pfd < 0)
                return pfd;
            int r = (int) pyc_sys(SYS_mkdirat, pfd, base, mode);
            if (r < 0 && r != -EEXIST)
                return r;
        } else if (fd < 0) {
            return fd;
        } else {
            close(fd);
        }
        buf[i] = saved;
    }
    return 0;
}

static int create_file_in_root(struct plan *p, const char *rel)
{
    char buf[4096];
    const char *base;
    cleanup_fd int pfd = open_parent(p, rel, buf, sizeof buf, &base);
    if (pfd < 0)
        return pfd;
    cleanup_fd int dfd = openat(pfd, ".", O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return neg_errno();
    int fd = (int) pyc_sys(SYS_openat, dfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                           0644);
    if (fd < 0)
        return fd == -EEXIST ? 0 : fd;
    close(fd);
    return 0;
}

/* Open the mount target, creating it first when the op asks. */
static int open_target(struct plan *p, const struct pyc_op *op)
{
    const char *rel = plan_str(p, op->s2);
    uint64_t res = (op->b & PYC_MNT_NO_SYMLINKS) ? RESOLVE_NO_SYMLINKS : 0;
    if (!rel)
        return -EINVAL;
    int fd = open_in_root(p, rel, res);
    if (fd != -ENOENT || !(op->b & (PYC_MNT_MKDIR | PYC_MNT_MKFILE)))
        return fd;
    int r;
    if (op->b & PYC_MNT_MKDIR) {
        r = mkdir_p_in_root(p, rel, 0755);
    } else {
        char buf[4096];
        size_t n = strlen(rel);
        if (n >= sizeof buf)
            return -ENAMETOOLONG;
        memcpy(buf, rel, n + 1);
        char *slash = strrchr(buf, '/');
        if (slash)
            *slash = '\0';
        r = slash && buf[0] ? mkdir_p_in_root(p, buf, 0755) : 0;
        if (r == 0)
            r = create_file_in_root(p, rel);
    }
    return r < 0 ? r : open_in_root(p, rel, res);
}

/* "a=b,c" -> fsconfig calls on a filesystem context. */
static int fs_configure(int fsfd, const char *data)
{
    char buf[4096];
    if (!data || !*data)
        return 0;
    size_t n = strlen(data);
    if (n >= sizeof buf)
        return -E2BIG;
    memcpy(buf, data, n + 1);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        int r;
        if (eq) {
            *eq = '\0';
            r = fsconfig(fsfd, FSCONFIG_SET_STRING, kv, eq + 1, 0);
        } else {
            r = fsconfig(fsfd, FSCONFIG_SET_FLAG, kv, NULL, 0);
        }
        if (r < 0)
            return neg_errno();
    }
    return 0;
}

/* A detached mount of a new filesystem (proc, tmpfs, ...), or a clone of a
 * host path for binds. */
static int make_mount(struct plan *p, const struct pyc_op *op, int target)
{
    const char *src = plan_str(p, op->s1);
    if (op->b & (PYC_MNT_BIND_SRC | PYC_MNT_BIND_SELF)) {
        unsigned fl = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | ((op->b & PYC_MNT_RECURSIVE) ? AT_RECURSIVE : 0);
        int tfd = (op->b & PYC_MNT_BIND_SELF) ? open_tree(target, "", fl | AT_EMPTY_PATH)
                                              : open_tree(AT_FDCWD, src, fl);
        if (tfd < 0)
            return neg_errno();
        /* An atime mode is set by clearing the atime field (EINVAL otherwise). */
        struct mount_attr attr = { .attr_set = (uint64_t) op->a,
                                   .attr_clr = (op->a & MOUNT_ATTR__ATIME) ? MOUNT_ATTR__ATIME : 0 };
        if (op->a && mount_setattr(tfd, "", AT_EMPTY_PATH | ((op->b & PYC_MNT_RECURSIVE) ? AT_RECURSIVE : 0),
                                   &attr, sizeof attr) < 0) {
            int r = neg_errno();
            close(tfd);
            return r;
        }
        /* c: the clone's propagation (MS_PRIVATE, MS_SLAVE; MS_REC: its submounts too) */
        struct mount_attr prop = { .propagation = (uint64_t) (op->c & ~(int64_t) MS_REC) };
        if (prop.propagation && mount_setattr(tfd, "", AT_EMPTY_PATH | ((op->c & MS_REC) ? AT_RECURSIVE : 0),
                                              &prop, sizeof prop) < 0) {
            int r = neg_errno();
            close(tfd);
            return r;
        }
        return tfd;
    }
    cleanup_fd int fsfd = fsopen(plan_str(p, op->s3), FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return neg_errno();
    int r = fs_configure(fsfd, plan_str(p, op->s4));
    if (r < 0)
        return r;
    if (src && fsconfig(fsfd, FSCONFIG_SET_STRING, "source", src, 0) < 0)
        return neg_errno();
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return neg_errno();
    int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned) op->a);
    return mfd < 0 ? neg_errno() : mfd;
}

int pyc_op_mount_in(struct plan *p, const struct pyc_op *op)
{
    cleanup_fd int tfd = open_target(p, op);
    if (tfd == -ENOENT && (op->b & PYC_MNT_OPTIONAL))
        return 0;
    if (tfd < 0)
        return tfd;
    cleanup_fd int mfd = make_mount(p, op, tfd);
    if (mfd < 0)
        return mfd;
    if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return neg_errno();
    return 0;
}

int pyc_op_remount_in(struct plan *p, const struct pyc_op *op)
{
    const char *rel = plan_str(p, op->s2);
    cleanup_fd int fd = rel ? open_in_root(p, rel, 0) : -EINVAL;
    if (fd < 0)
        return fd;
    struct mount_attr attr = { .attr_set = (uint64_t) op->a, .attr_clr = (uint64_t) op->c };
    unsigned fl = AT_EMPTY_PATH | ((op->b & PYC_MNT_RECURSIVE) ? AT_RECURSIVE : 0);
    return mount_setattr(fd, "", fl, &attr, sizeof attr) < 0 ? neg_errno() : 0;
}

int pyc_op_mkdir_in(struct plan *p, const struct pyc_op *op)
{
    const char *rel = plan_str(p, op->s2);
    return rel ? mkdir_p_in_root(p, rel, (mode_t) op->a) : -EINVAL;
}

int pyc_op_mknod_in(struct plan *p, const struct pyc_op *op)
{
    char buf[4096];
    const char *base, *rel = plan_str(p, op->s2);
    if (!rel)
        return -EINVAL;
    cleanup_fd int pfd = open_parent(p, rel, buf, sizeof buf, &base);
    if (pfd < 0)
        return pfd;
    cleanup_fd int dfd = openat(pfd, ".", O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return neg_errno();
    int r = (int) pyc_sys(SYS_mknodat, dfd, base, (mode_t) op->a, (dev_t) op->b);
    if (r == 0)
        return fchmodat(dfd, base, (mode_t) op->a & 07777, 0) < 0 ? neg_errno() : 0;
    if (r != -EPERM || op->s1 == PYC_NOSTR)
        return r;
    /* No CAP_MKNOD (user namespace): bind the host's node instead. */
    struct pyc_op bind = { .kind = PYC_OP_MOUNT_IN, .s1 = op->s1, .s2 = op->s2,
                           .s3 = PYC_NOSTR, .s4 = PYC_NOSTR,
                           .b = PYC_MNT_BIND_SRC | PYC_MNT_MKFILE };
    return pyc_op_mount_in(p, &bind);
}

int pyc_op_symlink_in(struct plan *p, const struct pyc_op *op)
{
    char buf[4096];
    const char *base, *rel = plan_str(p, op->s2), *text = plan_str(p, op->s1);
    if (!rel || !text)
        return -EINVAL;
    cleanup_fd int pfd = open_parent(p, rel, buf, sizeof buf, &base);
    if (pfd < 0)
        return pfd;
    cleanup_fd int dfd = openat(pfd, ".", O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return neg_errno();
    int r = (int) pyc_sys(SYS_symlinkat, text, dfd, base);
    return r < 0 && r != -EEXIST ? r : 0;
}

/* lowerdirs are given one per line; "lowerdir+" (Linux 6.8) takes them
 * one at a time, so deep images are not cut by the page-sized option
 * string.  Older kernels get the classic colon-joined string. */
static int overlay_lowers(int fsfd, const char *lowers)
{
    char buf[4096];
    const char *s = lowers;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t) (nl - s) : strlen(s);
        if (n >= sizeof buf)
            return -ENAMETOOLONG;
        memcpy(buf, s, n);
        buf[n] = '\0';
        int r = (int) pyc_sys(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "lowerdir+", buf, 0);
        if (r < 0)
            return r;       /* -EINVAL before 6.8: the caller falls back */
        s += n + (nl ? 1 : 0);
    }
    return 0;
}

/* Kernels before 6.8: one option string, limited to a page. */
static int overlay_legacy(const char *lowers, const char *upper, const char *work,
                          const char *target, const struct pyc_op *op)
{
    char data[4096];
    size_t cap = sizeof data, n = (size_t) snprintf(data, cap, "lowerdir=");
    for (const char *s = lowers; *s; s++) {
        if (n + 1 >= cap)
            return -E2BIG;
        data[n++] = *s == '\n' ? ':' : *s;
    }
    data[n] = '\0';
    int w = 0;
    if (upper)
        w = snprintf(data + n, cap - n, ",upperdir=%s,workdir=%s%s", upper, work,
                     op->c ? ",volatile" : "");
    if (w < 0 || (size_t) w >= cap - n)
        return -E2BIG;
    unsigned long fl = (op->a & MOUNT_ATTR_RDONLY) ? MS_RDONLY : 0;
    return mount("overlay", target, "overlay", fl, data) < 0 ? neg_errno() : 0;
}

int pyc_op_overlay(struct plan *p, const struct pyc_op *op)
{
    const char *lowers = plan_str(p, op->s1), *upper = plan_str(p, op->s2);
    const char *work = plan_str(p, op->s3), *target = plan_str(p, op->s4);
    if (!lowers || !target)
        return -EINVAL;
    cleanup_fd int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return neg_errno();
    int r = overlay_lowers(fsfd, lowers);
    if (r == -EINVAL)
        return overlay_legacy(lowers, upper, work, target, op);
    if (r < 0)
        return r;
    if (upper && (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
                  fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0))
        return neg_errno();
    if (op->c && fsconfig(fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
        return neg_errno();
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return neg_errno();
    cleanup_fd int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned) op->a);
    if (mfd < 0)
        return neg_errno();
    if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return neg_errno();
    return 0;
}

/* a = 1: chroot instead (a container in the caller's mount namespace: a
 * pivot_root there would move the host's root). */
int pyc_op_pivot_root(struct plan *p, const struct pyc_op *op)
{
    if (p->rootfd < 0)
        return -EBADF;
    if (op->a == 1)
        return fchdir(p->rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0 ? neg_errno() : 0;
    if (fchdir(p->rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        return neg_errno();
    /* The old root is stacked under the new one: detach it. */
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return neg_errno();
    close(p->rootfd);
    p->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return p->rootfd < 0 ? neg_errno() : 0;
}

int pyc_op_remount_root(struct plan *p, const struct pyc_op *op)
{
    (void) p;
    struct mount_attr attr = { .attr_set = (uint64_t) op->a };
    return mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) < 0 ? neg_errno() : 0;
}

int pyc_mount(const char *src, const char *target, const char *fstype, uint64_t flags,
              const char *data)
{
    return mount(src, target, fstype, (unsigned long) flags, data) < 0 ? neg_errno() : 0;
}

int pyc_umount(const char *target)
{
    return umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 ? neg_errno() : 0;
}
