/* pyc-client: the `pycontainer` command's thin client, in C.
 *
 * The same client as pycontainer/cli/warm.py's `_remote`, without an
 * interpreter to start (~20 ms of every command): it hands its arguments,
 * environment, directory, umask, context and stdio fds to the warm
 * process, forwards signals to the command's child, and exits with its
 * status.  Whatever it cannot do (no warm process yet, a stale or
 * foreign one, a non-UTF-8 environment, --version, PYCONTAINER_WARM=0)
 * it leaves to the Python client, exec'd with the same arguments, which
 * runs the command itself and starts a warm process.
 *
 * The request is a `marshal` dump of (argv0, [args], {env}, cwd, umask,
 * context); context is warm.py's `context()`, compared by the server. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PYC_CLI_PYTHON
#define PYC_CLI_PYTHON "/usr/bin/python3"
#endif
#ifndef PYC_CLI_EXE              /* realpath(sys.executable) */
#define PYC_CLI_EXE PYC_CLI_PYTHON
#endif
#ifndef PYC_CLI_PREFIX           /* sys.prefix */
#define PYC_CLI_PREFIX "/usr"
#endif

extern char **environ;

/* -- the fallback: the Python client ------------------------------------- */

static int python_client(int argc, char **argv)
{
    char **args = calloc((size_t) argc + 5, sizeof *args);
    if (!args) {
        fprintf(stderr, "pycontainer: out of memory\n");
        return 125;
    }
    int i = 0;
    args[i++] = (char *) PYC_CLI_PYTHON;
    args[i++] = (char *) "-P";          /* no cwd on sys.path */
    args[i++] = (char *) "-c";
    args[i++] = (char *) "import sys; del sys.argv[0]\n"
                         "from pycontainer.cli.warm import client_main; client_main()";
    for (int k = 0; k < argc; k++)
        args[i++] = argv[k];
    execv(PYC_CLI_PYTHON, args);
    fprintf(stderr, "pycontainer: exec %s: %s\n", PYC_CLI_PYTHON, strerror(errno));
    return 125;
}

/* -- marshal, the few types the request has ------------------------------ */

struct buf { char *p; size_t len, cap; int bad; };

static void put(struct buf *b, const void *data, size_t n)
{
    if (b->bad)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 65536) + n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
    unsigned char le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
    put(b, le, 4);
}

static void put_type(struct buf *b, char t, uint32_t n)
{
    put(b, &t, 1);
    put_u32(b, n);
}

static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 0;
        if (!k || c == 0xc0 || c == 0xc1 || i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

static void put_str_n(struct buf *b, const char *s, size_t n)
{
    if (!utf8_ok((const unsigned char *) s, n))
        b->bad = 1;             /* os.environ's surrogates: Python's to send */
    put_type(b, 'u', (uint32_t) n);
    put(b, s, n);
}

static void put_str(struct buf *b, const char *s)
{
    put_str_n(b, s, strlen(s));
}

static void put_int(struct buf *b, long long v)
{
    if (v >= INT32_MIN && v <= INT32_MAX) {
        put_type(b, 'i', (uint32_t) (int32_t) v);
        return;
    }
    /* 'l': 15-bit digits, least significant first; the count carries the sign */
    unsigned long long m = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;
    uint16_t d[5];
    int n = 0;
    while (m) {
        d[n++] = (uint16_t) (m & 0x7fff);
        m >>= 15;
    }
    put_type(b, 'l', (uint32_t) (int32_t) (v < 0 ? -n : n));
    for (int i = 0; i < n; i++) {
        unsigned char le[2] = { d[i] & 0xff, d[i] >> 8 };
        put(b, le, 2);
    }
}

/* -- the request ------------------------------------------------------------ */

static int read_file(const char *path, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        put(out, chunk, (size_t) n);
    close(fd);
    return n < 0 ? -1 : 0;
}

static int cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *) a, y = *(const gid_t *) b;
    return x < y ? -1 : x > y;
}

static long long rlim(rlim_t v)
{
    return v == RLIM_INFINITY ? -1 : (long long) v;     /* resource.RLIM_INFINITY */
}

/* warm.py context(): namespaces, cgroups, ids and limits */
static void put_context(struct buf *b)
{
    static const char *ns[] = { "mnt", "net", "pid", "user", "uts", "ipc", "cgroup" };
    static const int limits[] = { RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CORE, RLIMIT_STACK,
                                  RLIMIT_MEMLOCK, RLIMIT_AS };
    put_type(b, '(', 6);
    put_type(b, '(', 7);
    for (int i = 0; i < 7; i++) {
        char path[64], link[256];
        snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
        ssize_t n = readlink(path, link, sizeof link);
        if (n < 0 || n == (ssize_t) sizeof link)
            b->bad = 1;
        put_str_n(b, link, n > 0 ? (size_t) n : 0);
    }
    struct buf cg = { 0 };
    if (read_file("/proc/self/cgroup", &cg) < 0 || cg.bad)
        b->bad = 1;
    put_str_n(b, cg.p ? cg.p : "", cg.len);
    free(cg.p);
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    put_type(b, '(', 3);
    put_int(b, r), put_int(b, e), put_int(b, s);
    put_type(b, '(', 3);
    put_int(b, gr), put_int(b, ge), put_int(b, gs);
    gid_t groups[NGROUPS_MAX];
    int ng = getgroups(NGROUPS_MAX, groups);
    if (ng < 0)
        b->bad = 1, ng = 0;
    qsort(groups, (size_t) ng, sizeof *groups, cmp_gid);
    put_type(b, '(', (uint32_t) ng);
    for (int i = 0; i < ng; i++)
        put_int(b, groups[i]);
    put_type(b, '(', 6);
    for (int i = 0; i < 6; i++) {
        struct rlimit rl;
        if (getrlimit(limits[i], &rl) < 0)
            b->bad = 1;
        put_type(b, '(', 2);
        put_int(b, rlim(rl.rlim_cur));
        put_int(b, rlim(rl.rlim_max));
    }
}

static void put_request(struct buf *b, int argc, char **argv)
{
    put_type(b, '(', 6);
    put_str(b, argv[0]);
    put_type(b, '[', (uint32_t) (argc - 1));
    for (int i = 1; i < argc; i++)
        put_str(b, argv[i]);
    put(b, "{", 1);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        put_str_n(b, *e, (size_t) (eq - *e));
        put_str(b, eq + 1);
    }
    put(b, "0", 1);                 /* TYPE_NULL: the dict's end */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        b->bad = 1, cwd[0] = '\0';
    put_str(b, cwd);
    mode_t mask = umask(0);
    umask(mask);
    put_int(b, mask);
    put_context(b);
}

/* warm.py socket_path(): per uid, interpreter and code location */
static uint32_t crc32(const char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char) p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static int socket_path(char *out, size_t cap)
{
    char pkg[PATH_MAX], key[3 * PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", pkg, sizeof pkg - 1);
    if (n < 0)
        return -1;
    pkg[n] = '\0';
    for (int up = 0; up < 2; up++) {        /* <pkg>/cli/pyc-client */
        char *slash = strrchr(pkg, '/');
        if (!slash)
            return -1;
        *slash = '\0';
    }
    int k = snprintf(key, sizeof key, "%u%c%s%c%s%c%s", (unsigned) getuid(), 0, PYC_CLI_EXE, 0,
                     PYC_CLI_PREFIX, 0, pkg);
    if (k < 0 || (size_t) k >= sizeof key)
        return -1;
    snprintf(out, cap, "/run/pyc-warm-%08x.sock", crc32(key, (size_t) k));
    return 0;
}

/* -- signals ---------------------------------------------------------------- */

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2 };
#define NFORWARDED (sizeof forwarded / sizeof *forwarded)
static volatile sig_atomic_t child_fd = -1;
static volatile sig_atomic_t pending[NSIG];

static void send_child(int sig)
{
    if (child_fd < 0)
        pending[sig] = 1;           /* sent once the child is known */
    else
        syscall(SYS_pidfd_send_signal, (int) child_fd, sig, NULL, 0);
}

static void on_signal(int sig)
{
    int saved = errno;
    send_child(sig);
    errno = saved;
}

static void on_stop(int sig)        /* ctrl-z: the child stops with us, continues with us */
{
    int saved = errno;
    (void) sig;
    int known = child_fd >= 0;      /* not yet: stop + continue would be nothing */
    if (known)
        send_child(SIGSTOP);
    kill(getpid(), SIGSTOP);
    if (known)
        send_child(SIGCONT);
    errno = saved;
}

static void handle(void (*fn)(int), int sig)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void all_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(set, forwarded[i]);
    sigaddset(set, SIGTSTP);
}

/* Back to the default handlers, and what came meanwhile is this process's own. */
static void give_back(void)
{
    sigset_t set;
    all_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (size_t i = 0; i < NFORWARDED; i++)
        signal(forwarded[i], SIG_DFL);
    signal(SIGTSTP, SIG_DFL);
    for (int s = 1; s < NSIG; s++)
        if (pending[s])
            kill(getpid(), s), pending[s] = 0;
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static ssize_t recv_all(int s, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(s, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t) r;
    }
    return (ssize_t) got;
}

static int32_t le32(const char *p)
{
    const unsigned char *u = (const unsigned char *) p;
    return (int32_t) ((uint32_t) u[0] | (uint32_t) u[1] << 8 | (uint32_t) u[2] << 16 |
                      (uint32_t) u[3] << 24);
}

int main(int argc, char **argv)
{
    const char *warm = getenv("PYCONTAINER_WARM");
#ifdef PYC_CLI_VERSION      /* the package's __version__, built in by setup.py */
    if (argc == 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version")))
        return printf("pycontainer version %s\n", PYC_CLI_VERSION) < 0 || fflush(stdout) ? 1 : 0;
#endif
    if (argc < 2 || (warm && !strcmp(warm, "0")) || !strcmp(argv[1], "-v") ||
        !strcmp(argv[1], "--version") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
        return python_client(argc, argv);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (socket_path(addr.sun_path, sizeof addr.sun_path) < 0)
        return python_client(argc, argv);
    struct buf req = { 0 };
    put_request(&req, argc, argv);
    if (req.bad)
        return python_client(argc, argv);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *) &addr, sizeof addr) < 0)
        return python_client(argc, argv);     /* none yet: Python starts one */

    for (size_t i = 0; i < NFORWARDED; i++)
        handle(on_signal, forwarded[i]);
    handle(on_stop, SIGTSTP);

    char head[4];
    int fds[3] = { 0, 1, 2 };
    char control[CMSG_SPACE(sizeof fds)] = { 0 };
    struct iovec iov[2] = { { head, 4 }, { req.p, req.len } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = control,
                          .msg_controllen = sizeof control };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET, cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    uint32_t n = (uint32_t) req.len;
    head[0] = n & 0xff, head[1] = (n >> 8) & 0xff, head[2] = (n >> 16) & 0xff;
    head[3] = (char) (n >> 24);
    ssize_t sent;
    do
        sent = sendmsg(s, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    size_t rest = sent > 0 ? req.len + 4 - (size_t) sent : 0;
    while (sent > 0 && rest > 0) {              /* a short write: the rest, no fds */
        ssize_t w = send(s, req.p + req.len - rest, rest, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sent = -1;
            break;
        }
        rest -= (size_t) w;
    }
    free(req.p);
    char first[5];
    if (sent < 0 || recv_all(s, first, 5) != 5 || first[0] != 'p') {
        /* stale (S), another context (C), or gone: nothing has run; Python's turn */
        close(s);
        give_back();
        return python_client(argc, argv);
    }
    sigset_t set, old;
    all_signals(&set);
    sigprocmask(SIG_BLOCK, &set, &old);
    int pidfd = (int) syscall(SYS_pidfd_open, (pid_t) le32(first + 1), 0);
    child_fd = pidfd;               /* -1 (done already): its status follows */
    if (pidfd >= 0)
        for (int sig = 1; sig < NSIG; sig++)
            if (pending[sig])
                pending[sig] = 0, syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    char end[5];
    if (recv_all(s, end, 5) != 5 || end[0] != 'x') {
        fprintf(stderr, "pycontainer: the warm process ended before the command did\n");
        return 125;
    }
    int code = le32(end + 1);
    if (code < 0) {                 /* killed by a signal: so are we, as the command was */
        signal(-code, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), -code);
        return 128 - code;
    }
    return code;
}
