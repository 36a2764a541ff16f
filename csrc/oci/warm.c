/* `create` through the OCI runtime's warm process (pycontainer/oci/warm.py).
 *
 * The request is forkserver's (csrc/warm/client.c); the warm child makes the
 * container and, for the init's clone, sends 'd' with one end of a channel:
 * on it a spawn (oci/warm.py's HEAD, the plan, argv, env, fds) that we run
 * with the C core's pyc_container_spawn, so the init is our child (then the
 * caller's subreaper's), as runc's is.  We answer with the pid (or -errno),
 * the pidfd and the sync socket, and wait for 'x' and the status.  If the
 * create failed after the clone, the init is killed and reaped here.
 *
 * Our own fds sit at or above 3 + --preserve-fds, so the range the caller
 * passes into the container holds only the caller's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../pyc.h"
#include "../warm/warm.h"
#include "front.h"

#define HEAD_SIZE 48            /* struct.Struct("<IQQiiIIIII") */
#define MAX_FDS 5               /* stdio 0-2, cgroup dir, join pidfd */
#define MAX_PAYLOAD (64u << 20)

static int low_fd = 3;          /* ours start here */

static int high(int fd)
{
    if (fd < 0 || fd >= low_fd)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, low_fd);
    close(fd);
    return moved;
}

static int preserve_fds(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--preserve-fds=", 15))
            return atoi(a + 15);
        if (!strcmp(a, "--preserve-fds") && i + 1 < argc)
            return atoi(argv[i + 1]);
    }
    return 0;
}

/* Per uid, interpreter and package: another venv or checkout has its own. */
static int socket_path(char *out, size_t cap, const char *top)
{
    char key[2 * PATH_MAX + 64];
    int k = snprintf(key, sizeof key, "oci%c%u%c%s%c%s", 0, (unsigned) getuid(), 0,
                     PYC_OCI_PYTHON, 0, top);
    if (k < 0 || (size_t) k >= sizeof key)
        return -1;
    int n = snprintf(out, cap, "/run/pyc-warm-oci-%08x.sock", pyc_crc32(key, (size_t) k));
    return n < 0 || (size_t) n >= cap ? -1 : 0;
}

/* Start the warm process, detached (its own session, stdio on /dev/null,
 * none of our fds).  One at a time: it holds the lock until it listens. */
static void start_warm(const char *path, const char *top)
{
    char lock[PATH_MAX + 8], boot[8192];
    snprintf(lock, sizeof lock, "%s.lock", path);
    if (boot_code(boot, sizeof boot, top,
                  "from pycontainer.oci.warm import serve; serve(sys.argv[1], 3)") < 0)
        return;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);              /* one is starting */
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);           /* the grandchild is nobody's child of ours */
        int null = open("/dev/null", O_RDWR);
        /* the lock becomes fd 3, inherited (dup2 onto itself would keep CLOEXEC) */
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
            (fd == 3 ? fcntl(fd, F_SETFD, 0) : dup2(fd, 3)) < 0 ||
            syscall(SYS_close_range, 4, ~0U, 0) < 0 || chdir("/") < 0)
            _exit(127);
        char *args[] = { (char *) PYC_OCI_PYTHON, (char *) "-I", (char *) "-S", (char *) "-c",
                         boot, (char *) path, NULL };
        static const char path_env[] =
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        char *env[] = { (char *) path_env, NULL };
        execve(PYC_OCI_PYTHON, args, env);
        _exit(127);
    }
    close(fd);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* n bytes and the fds that came with them (CLOEXEC, moved high); what was read. */
static ssize_t recv_with_fds(int s, char *buf, size_t n, int *fds, int *nfds, int max)
{
    char control[CMSG_SPACE(MAX_FDS * sizeof(int))];
    struct iovec iov = { buf, n };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                          .msg_controllen = sizeof control };
    ssize_t got;
    *nfds = 0;
    do
        got = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); got >= 0 && cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int) ((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (*nfds < max)
                fds[(*nfds)++] = high(fd);
            else
                close(fd);
        }
    }
    if (got <= 0)
        return got;
    if ((size_t) got < n)
        got += pyc_recv_all(s, buf + got, n - (size_t) got);
    return got;
}

static uint32_t u32_at(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;                   /* little-endian hosts (x86_64, aarch64) */
}

static uint64_t u64_at(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* NUL-ended strings from *at; NULL when they overrun end. */
static const char **strings(const char **at, const char *end, uint32_t count)
{
    const char **out = calloc((size_t) count + 1, sizeof *out);
    for (uint32_t i = 0; out && i < count; i++) {
        const char *nul = memchr(*at, '\0', (size_t) (end - *at));
        if (!nul) {
            free(out);
            return NULL;
        }
        out[i] = *at;
        *at = nul + 1;
    }
    return out;
}

/* Run one spawn from the channel; the init's pid, or -errno (answered too). */
static int clone_for(int ch)
{
    char head[HEAD_SIZE];
    int fds[MAX_FDS], nfds, pid = -EPROTO, pidfd = -1, sock = -1;
    char *payload = NULL;
    const char **argv = NULL, **envp = NULL;
    if (recv_with_fds(ch, head, sizeof head, fds, &nfds, MAX_FDS) != (ssize_t) sizeof head)
        goto answer;
    uint32_t len = u32_at(head), nops = u32_at(head + 28), strs_len = u32_at(head + 32);
    uint32_t argc = u32_at(head + 36), envc = u32_at(head + 40), mask = u32_at(head + 44);
    if (len > MAX_PAYLOAD || (uint64_t) nops * sizeof(struct pyc_op) + strs_len > len ||
        __builtin_popcount(mask & 0x1f) != nfds || !(payload = malloc(len ? len : 1)) ||
        pyc_recv_all(ch, payload, len) != (ssize_t) len)
        goto answer;
    const char *at = payload + (size_t) nops * sizeof(struct pyc_op) + strs_len;
    if (!(argv = strings(&at, payload + len, argc)) || !(envp = strings(&at, payload + len, envc)))
        goto answer;
    struct pyc_spawn sp = {
        .clone_flags = u64_at(head + 4),
        .join_flags = u64_at(head + 12),
        .pdeathsig = (int) u32_at(head + 20),
        .keep_fds_from = (int) u32_at(head + 24),
        .ops = (const struct pyc_op *) payload,
        .nops = nops,
        .strs = payload + (size_t) nops * sizeof(struct pyc_op),
        .strs_len = strs_len,
        .argv = argv,
        .envp = envp,
        .cgroup_fd = -1,
        .join_pidfd = -1,
    };
    int k = 0, *slot[MAX_FDS] = { &sp.stdio[0], &sp.stdio[1], &sp.stdio[2], &sp.cgroup_fd,
                                   &sp.join_pidfd };
    for (int i = 0; i < MAX_FDS; i++)
        *slot[i] = (mask & (1u << i)) ? fds[k++] : -1;
    pid = pyc_container_spawn(&sp, &pidfd, &sock);
answer:;
    int32_t v = pid;
    char control[CMSG_SPACE(2 * sizeof(int))] = { 0 };
    struct iovec iov = { &v, sizeof v };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (pid > 0) {
        int pass[2] = { pidfd, sock };
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET, cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof pass);
        memcpy(CMSG_DATA(cm), pass, sizeof pass);
    }
    if (sendmsg(ch, &msg, MSG_NOSIGNAL) < 0 && pid > 0) {
        kill(pid, SIGKILL);     /* nobody follows its setup: it must not go on */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        pid = -EPIPE;
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    if (pidfd >= 0)
        close(pidfd);
    if (sock >= 0)
        close(sock);
    free(argv);
    free(envp);
    free(payload);
    return pid;
}

int warm_create(int argc, char **argv, int fb_argc, char **fb_argv, pid_t *cloned)
{
    const char *w = getenv("PYCONTAINER_WARM");
    char top[PATH_MAX];
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if ((w && !strcmp(w, "0")) || package_top(top, sizeof top) < 0 ||
        socket_path(addr.sun_path, sizeof addr.sun_path, top) < 0)
        return python(fb_argc, fb_argv);
    int keep = preserve_fds(argc, argv);
    low_fd = 3 + (keep > 0 && keep < 4096 ? keep : 0);
    struct pyc_buf req = { 0 };
    pyc_warm_request(&req, argc, argv);
    int s = high(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (req.bad || s < 0 || connect(s, (struct sockaddr *) &addr, sizeof addr) < 0) {
        if (!req.bad && s >= 0 && (errno == ENOENT || errno == ECONNREFUSED))
            start_warm(addr.sun_path, top);     /* for the next create */
        if (s >= 0)
            close(s);
        free(req.p);
        return python(fb_argc, fb_argv);
    }
    static const int stdio[3] = { 0, 1, 2 };
    char m[5] = "";
    int sent = pyc_warm_send(s, &req, stdio);
    free(req.p);
    if (sent < 0 || pyc_recv_all(s, m, 5) != 5 || m[0] != 'p') {
        /* stale (S): it leaves, a new one for the next; another context (C) */
        close(s);
        if (m[0] == 'S')
            start_warm(addr.sun_path, top);
        return python(fb_argc, fb_argv);
    }
    pid_t init = 0;
    for (;;) {
        int fd, nfd;
        if (recv_with_fds(s, m, 5, &fd, &nfd, 1) != 5) {
            if (nfd)
                close(fd);
            break;
        }
        if (m[0] == 'd' && nfd == 1 && init <= 0) {
            init = clone_for(fd);
            close(fd);
            continue;
        }
        if (nfd)
            close(fd);
        if (m[0] != 'x')
            break;
        int code = pyc_le32(m + 1);
        if (code && init > 0) {     /* failed after the clone: killed there, reaped here */
            kill(init, SIGKILL);
            while (waitpid(init, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        if (cloned)
            *cloned = code ? 0 : init;
        return code < 0 ? 128 - code : code;
    }
    if (init > 0) {
        kill(init, SIGKILL);
        while (waitpid(init, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return fail("create: the warm process ended before the command did");
}
