/* clone the container init and run its op plan; parent/child sync. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "internal.h"

const char *plan_str(const struct plan *p, uint32_t off)
{
    if (off == PYC_NOSTR || off >= p->spec->strs_len)
        return NULL;
    return p->spec->strs + off;
}

static int send_msg(int sock, int kind, int index, int err)
{
    struct pyc_msg m = { .kind = kind, .index = index, .err = err, .fd = -1 };
    return send(sock, &m, sizeof m, MSG_NOSIGNAL) == sizeof m ? 0 : neg_errno();
}

/* PYC_OP_SYNC: the parent acts (cgroup attach, id maps...) while we wait. */
static int op_sync(int sock, int index)
{
    struct pyc_msg m;
    int r = send_msg(sock, PYC_MSG_SYNC, index, 0);
    if (r < 0)
        return r;
    ssize_t n = recv(sock, &m, sizeof m, 0);
    if (n == (ssize_t) sizeof m && m.kind == PYC_MSG_SYNC)
        return 0;
    return n < 0 ? neg_errno() : -ECANCELED;
}

/* PYC_OP_PTY.  TIOCGPTPEER opens the slave through the master, by no path
 * a process inside could swap (CVE-2016-9962's family); the device check
 * refuses a /dev/ptmx that is not a pty multiplexer. */
static int op_pty(struct plan *p, const struct pyc_op *op, int sock, int index)
{
    struct stat st;
    int unlock = 0;
    const char *ptmx = plan_str(p, op->s1);
    if (!ptmx)
        return -EINVAL;
    cleanup_fd int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || fstat(master, &st) < 0)
        return neg_errno();
    if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(5, 2))
        return -ENOTTY;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return neg_errno();
    cleanup_fd int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0 || setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        return neg_errno();
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            return neg_errno();
    struct pyc_msg m = { .kind = PYC_MSG_FD, .index = index, .fd = -1 };
    char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { &m, sizeof m };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                         .msg_controllen = sizeof ctl };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    return sendmsg(sock, &mh, MSG_NOSIGNAL) == sizeof m ? 0 : neg_errno();
}

static int run_op(struct plan *p, const struct pyc_op *op, int sock, int index)
{
    switch (op->kind) {
    case PYC_OP_OVERLAY:      return pyc_op_overlay(p, op);
    case PYC_OP_MOUNT_IN:     return pyc_op_mount_in(p, op);
    case PYC_OP_REMOUNT_IN:   return pyc_op_remount_in(p, op);
    case PYC_OP_MKNOD_IN:     return pyc_op_mknod_in(p, op);
    case PYC_OP_SYMLINK_IN:   return pyc_op_symlink_in(p, op);
    case PYC_OP_MKDIR_IN:     return pyc_op_mkdir_in(p, op);
    case PYC_OP_PIVOT_ROOT:   return pyc_op_pivot_root(p, op);
    case PYC_OP_REMOUNT_ROOT: return pyc_op_remount_root(p, op);
    case PYC_OP_GROUPS:       return pyc_op_groups(p, op);
    case PYC_OP_WRITE:        return pyc_op_write(p, op);
    case PYC_OP_EXEC:         return pyc_op_exec(p, op);
    case PYC_OP_LOOPBACK:     return pyc_op_loopback(p, op);
    case PYC_OP_SETNS:        return pyc_op_setns(p, op);
    case PYC_OP_CAPS:         return pyc_op_caps(p, op);
    case PYC_OP_CAPSET:       return pyc_op_capset(p, op);
    case PYC_OP_SECCOMP:      return pyc_op_seccomp(p, op);
    case PYC_OP_IDMAP_LAYER:  return pyc_op_idmap_layer(p, op);
    case PYC_OP_NO_NEW_PRIVS:
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? neg_errno() : 0;
    case PYC_OP_SYNC:         return op_sync(sock, index);
    case PYC_OP_PTY:          return op_pty(p, op, sock, index);
    case PYC_OP_MOUNT:
        return mount(plan_str(p, op->s1), plan_str(p, op->s2), plan_str(p, op->s3),
                     (unsigned long) op->a, plan_str(p, op->s4)) ? neg_errno() : 0;
    case PYC_OP_ROOTFS:
        p->rootfd = open(plan_str(p, op->s2), O_PATH | O_DIRECTORY | O_CLOEXEC);
        return p->rootfd < 0 ? neg_errno() : 0;
    case PYC_OP_UNSHARE:
        return unshare((int) op->a) ? neg_errno() : 0;
    case PYC_OP_HOSTNAME: {
        const char *h = plan_str(p, op->s1);
        return h && sethostname(h, strlen(h)) ? neg_errno() : 0;
    }
    case PYC_OP_RLIMIT: {
        struct rlimit rl = { .rlim_cur = (rlim_t) op->b, .rlim_max = (rlim_t) op->c };
        return setrlimit((int) op->a, &rl) ? neg_errno() : 0;
    }
    case PYC_OP_GID:        /* raw: see child_main */
        return syscall(SYS_setresgid, op->a, op->a, op->a) ? neg_errno() : 0;
    case PYC_OP_UID:
        return syscall(SYS_setresuid, op->a, op->a, op->a) ? neg_errno() : 0;
    case PYC_OP_CHDIR:
        return chdir(plan_str(p, op->s1)) ? neg_errno() : 0;
    }
    return -EINVAL;
}

/* Signals: Python ignores SIGPIPE and may handle others; exec keeps
 * ignored dispositions, so the container starts from defaults. */
static void reset_signals(void)
{
    struct sigaction sa = { .sa_handler = SIG_DFL };
    sigset_t none;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Only our sync socket and the requested stdio survive into the child's
 * setup, so nothing of the host can be reached through /proc/self/fd. */
static int setup_fds(const struct pyc_spawn *s, int *sock)
{
    int devnull = -1;
    for (int i = 0; i < 3; i++) {
        int fd = s->stdio[i];
        if (fd < 0) {
            if (devnull < 0 && (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
                return neg_errno();
            fd = devnull;
        }
        if (fd == i ? fcntl(fd, F_SETFD, 0) : dup2(fd, i) < 0)
            return neg_errno();
    }
    int keep = s->keep_fds_from > 3 ? s->keep_fds_from : 3;
    int want = keep + 64;   /* move the socket above any fd we keep */
    int moved = fcntl(*sock, F_DUPFD_CLOEXEC, want);
    if (moved < 0)
        return neg_errno();
    *sock = moved;
    if (close_range(keep, (unsigned) moved - 1, 0) || close_range((unsigned) moved + 1, ~0U, 0))
        return neg_errno();
    return 0;
}

/* exec: enter the container.  Not dumpable while host fds are still open,
 * so nothing inside can ptrace us or read /proc/<pid>/fd (CVE-2016-9962);
 * execve makes the process dumpable again. */
static int join(const struct pyc_spawn *s)
{
    if (prctl(PR_SET_DUMPABLE, 0) < 0)
        return neg_errno();
    uint64_t flags = s->join_flags & ~(uint64_t) (CLONE_NEWPID | CLONE_NEWUSER);
    if (flags && setns(s->join_pidfd, (int) flags) < 0)
        return neg_errno();
    /* The container's other namespaces belong to the host's user namespace:
     * join them first, the user namespace last. */
    if ((s->join_flags & CLONE_NEWUSER) && setns(s->join_pidfd, CLONE_NEWUSER) < 0)
        return neg_errno();
    return 0;
}

/* The child of a threaded caller: glibc still believes it has the caller's
 * threads, so a libc call that acts on "every thread" or takes a process-
 * wide lock must not run here.  glibc's setgroups/setres[ug]id do both
 * (__nptl_setxid: the stack-cache lock, then every thread descriptor, and a
 * wait for any thread still being created).  In a copy of the caller's
 * memory that waits for a thread that will never start (seen: execs hung
 * forever in setxid_mark_thread while another thread made threads); with
 * CLONE_VM it takes the caller's own lock and, if killed inside (its
 * container dying), leaves it taken, and the caller's next pthread_create
 * waits forever.  So ids are set by raw syscalls, which act on the calling
 * task only: the child is one task.  No malloc, stdio or locks either. */
static __attribute__((noreturn)) void child_main(const struct pyc_spawn *s, int sock)
{
    struct plan p = { .spec = s, .rootfd = -1, .nsfd = -1, .keepfd = -1 };
    uint32_t i = 0;
    int r;

    reset_signals();
    if (s->pdeathsig && prctl(PR_SET_PDEATHSIG, s->pdeathsig) < 0) {
        r = neg_errno();
        goto fail;
    }
    if (s->join_pidfd >= 0 && (r = join(s)) < 0)
        goto fail;
    if ((r = setup_fds(s, &sock)) < 0)
        goto fail;
    for (; i < s->nops; i++)
        if ((r = run_op(&p, &s->ops[i], sock, (int) i)) < 0)
            goto fail;
    r = -EINVAL;   /* the plan must end in an exec */
fail:
    send_msg(sock, PYC_MSG_ERROR, (int) i, -r);
    _exit(127);
}

static pid_t do_clone(const struct pyc_spawn *s, int *pidfd)
{
    struct clone_args args = {
        .flags = s->clone_flags | CLONE_PIDFD,
        .pidfd = (uint64_t) (uintptr_t) pidfd,
        .exit_signal = SIGCHLD,
    };
    if (s->cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t) s->cgroup_fd;
    }
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0 || errno != ENOSYS || s->cgroup_fd >= 0)
        return (pid_t) pid;
    /* Old kernel: clone(2) stores the pidfd at parent_tid. */
    return (pid_t) syscall(SYS_clone, (unsigned long) (s->clone_flags | CLONE_PIDFD | SIGCHLD),
                           NULL, pidfd, NULL, 0);
}

/* CLONE_VM: no copy of the caller's page tables (a Python process is tens
 * of MB) and no copy-on-write faults after.  The child only makes syscalls
 * on its own stack and reads the spec, which the caller keeps alive; its
 * arguments live at the bottom of that stack, not in our frame, which may be
 * gone before the child runs.  It shares the calling thread's TLS, so errno
 * is shared with a thread that runs on: a failure the child acts on is read
 * from the kernel's return (pyc_sys, internal.h), never from errno; errno
 * only words a failure that ends the child.
 * No CLONE_VFORK: the parent must run to attach cgroups during setup. */
struct vm_arg { const struct pyc_spawn *spec; int sock, peer; };

static int vm_child(void *p)
{
    struct vm_arg *a = p;
    close(a->peer);
    child_main(a->spec, a->sock);
}

static pid_t clone_vm(const struct pyc_spawn *s, int *pidfd, int sock, int peer)
{
    struct vm_arg *a = s->stack;
    a->spec = s;
    a->sock = sock;
    a->peer = peer;
    uintptr_t top = ((uintptr_t) s->stack + s->stack_size) & ~(uintptr_t) 15;
    int flags = (int) (s->clone_flags | CLONE_VM | CLONE_PIDFD) | SIGCHLD;
    return clone(vm_child, (void *) top, flags, a, pidfd, NULL, NULL);
}

int pyc_container_spawn(const struct pyc_spawn *s, int *pidfd, int *sockfd)
{
    int sv[2];
    sigset_t all, old;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return neg_errno();
    /* No signal handler of the parent may run in the child. */
    /* Joining a pid namespace only applies to children: enter it for the
     * clone, then return to our own. */
    int own_pidns = -1;
    if (s->join_pidfd >= 0 && (s->join_flags & CLONE_NEWPID)) {
        own_pidns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own_pidns < 0 || setns(s->join_pidfd, CLONE_NEWPID) < 0) {
            int err = neg_errno();
            if (own_pidns >= 0)
                close(own_pidns);
            close(sv[0]);
            close(sv[1]);
            return err;
        }
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    *pidfd = -1;
    int use_vm = PYC_RAW_SYSCALLS && s->stack && s->stack_size >= 65536 && s->cgroup_fd < 0;
    pid_t pid = use_vm ? clone_vm(s, pidfd, sv[1], sv[0]) : do_clone(s, pidfd);
    if (pid == 0) {
        close(sv[0]);
        child_main(s, sv[1]);
    }
    int err = pid < 0 ? neg_errno() : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (own_pidns >= 0) {
        setns(own_pidns, CLONE_NEWPID);
        close(own_pidns);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return err;
    }
    *sockfd = sv[0];
    return pid;
}

int pyc_sync_wait(int sockfd, struct pyc_msg *msg, int timeout_ms)
{
    struct pollfd pfd = { .fd = sockfd, .events = POLLIN };
    int r;
    do
        r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return neg_errno();
    if (r == 0)
        return -ETIMEDOUT;
    memset(msg, 0, sizeof *msg);
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { msg, sizeof *msg };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                         .msg_controllen = sizeof ctl };
    ssize_t n = recvmsg(sockfd, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return neg_errno();
    int fd = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if (n == (ssize_t) sizeof *msg && msg->kind == PYC_MSG_FD && fd >= 0) {
        msg->fd = fd;
        return msg->kind;
    }
    if (fd >= 0)
        close(fd);     /* an fd we did not ask for */
    msg->fd = -1;
    if (n == 0)
        msg->kind = PYC_MSG_EXEC;   /* the child's end closed at exec (or death) */
    else if (n != (ssize_t) sizeof *msg || msg->kind == PYC_MSG_FD)
        return -EPROTO;
    return msg->kind;
}

int pyc_sync_go(int sockfd)
{
    return send_msg(sockfd, PYC_MSG_SYNC, 0, 0);
}
