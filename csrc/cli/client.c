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
#include "../warm/warm.h"

#ifndef PYC_CLI_PYTHON
#define PYC_CLI_PYTHON "/usr/bin/python3"
#endif
#ifndef PYC_CLI_EXE              /* realpath(sys.executable) */
#define PYC_CLI_EXE PYC_CLI_PYTHON
#endif
#ifndef PYC_CLI_PREFIX           /* sys.prefix */
#define PYC_CLI_PREFIX "/usr"
#endif


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

/* warm.py socket_path(): per uid, interpreter and code location */
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
    snprintf(out, cap, "/run/pyc-warm-%08x.sock", pyc_crc32(key, (size_t) k));
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
    struct pyc_buf req = { 0 };
    pyc_warm_request(&req, argc, argv);
    if (req.bad)
        return python_client(argc, argv);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *) &addr, sizeof addr) < 0)
        return python_client(argc, argv);     /* none yet: Python starts one */

    for (size_t i = 0; i < NFORWARDED; i++)
        handle(on_signal, forwarded[i]);
    handle(on_stop, SIGTSTP);

    static const int stdio[3] = { 0, 1, 2 };
    int sent = pyc_warm_send(s, &req, stdio);
    free(req.p);
    char first[5];
    if (sent < 0 || pyc_recv_all(s, first, 5) != 5 || first[0] != 'p') {
        /* stale (S), another context (C), or gone: nothing has run; Python's turn */
        close(s);
        give_back();
        return python_client(argc, argv);
    }
    sigset_t set, old;
    all_signals(&set);
    sigprocmask(SIG_BLOCK, &set, &old);
    int pidfd = (int) syscall(SYS_pidfd_open, (pid_t) pyc_le32(first + 1), 0);
    child_fd = pidfd;               /* -1 (done already): its status follows */
    if (pidfd >= 0)
        for (int sig = 1; sig < NSIG; sig++)
            if (pending[sig])
                pending[sig] = 0, syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    char end[5];
    if (pyc_recv_all(s, end, 5) != 5 || end[0] != 'x') {
        fprintf(stderr, "pycontainer: the warm process ended before the command did\n");
        return 125;
    }
    int code = pyc_le32(end + 1);
    if (code < 0) {                 /* killed by a signal: so are we, as the command was */
        signal(-code, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), -code);
        return 128 - code;
    }
    return code;
}
