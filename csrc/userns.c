/* User namespaces: a prepared namespace the container joins last, and
 * idmapped layer mounts so shared image layers show the right owners. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "internal.h"

/* Runs in the parent (not a forked child): snprintf is fine here. */
static int write_proc(pid_t pid, const char *name, const char *data)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, name);
    cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    size_t dl = strlen(data);
    return write(fd, data, dl) == (ssize_t) dl ? 0 : neg_errno();
}

/* Make a user namespace with these maps and bind it onto bind_path (an
 * existing empty file), so containers can setns() into it by path. */
int pyc_userns_create(const char *uid_map, const char *gid_map, const char *bind_path)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return neg_errno();
    pid_t pid = (pid_t) syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        char c;
        close(pipefd[1]);
        while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    int r = pid < 0 ? neg_errno() : 0;
    close(pipefd[0]);
    if (r == 0)
        r = write_proc(pid, "uid_map", uid_map);
    if (r == 0)
        r = write_proc(pid, "gid_map", gid_map);
    if (r == 0) {
        char src[64];
        snprintf(src, sizeof src, "/proc/%d/ns/user", (int) pid);
        if (mount(src, bind_path, NULL, MS_BIND, NULL) < 0)
            r = neg_errno();
    }
    close(pipefd[1]);               /* lets the holder exit */
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    return r;
}

/* PYC_OP_IDMAP_LAYER: an idmapped, read-only clone of layer s1 attached at
 * s2 (inside our mount namespace only), mapped through the userns file s3. */
int pyc_op_idmap_layer(struct plan *p, const struct pyc_op *op)
{
    const char *layer = plan_str(p, op->s1), *target = plan_str(p, op->s2);
    const char *userns = plan_str(p, op->s3);
    if (!layer || !target || !userns)
        return -EINVAL;
    cleanup_fd int ufd = open(userns, O_RDONLY | O_CLOEXEC);
    if (ufd < 0)
        return neg_errno();
    cleanup_fd int tfd = open_tree(AT_FDCWD, layer, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tfd < 0)
        return neg_errno();
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY,
                               .userns_fd = (uint64_t) ufd };
    if (mount_setattr(tfd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
        return neg_errno();
    return move_mount(tfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? neg_errno() : 0;
}
