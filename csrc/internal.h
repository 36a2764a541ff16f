/* Shared between the C core's files; not exported to Python. */
#ifndef PYC_INTERNAL_H
#define PYC_INTERNAL_H

#include <errno.h>
#include <unistd.h>
#include "pyc.h"

/* Returns -errno from the last failed libc call, never 0. */
static inline int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

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
