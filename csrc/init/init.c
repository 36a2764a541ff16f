/* pyc-init: the container's pid 1 for run(init=True), as docker-init (tini).
 *
 * Usage: pyc-init -- PROGRAM [ARGS...]
 * Starts PROGRAM as its only child, forwards every signal it gets to it,
 * reaps every process that is reparented to it (zombies of daemons that
 * do not wait), and exits with the child's status: its exit code, or
 * 128 + the signal that killed it.  A static binary, bound read-only into
 * the container, so it runs in any image (no libc needed there).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_of(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

/* Reap every exited child; returns the main child's status once it is gone, else -1. */
static int reap(pid_t child)
{
    int st, result = -1;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        if (pid == child)
            result = status_of(st);
    return result;
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (first >= argc) {
        fprintf(stderr, "usage: %s -- PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    /* The runtime execs us with every signal blocked already (one sent
     * before this would be dropped: we are pid 1); block them in any case. */
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &all, NULL);
    /* Not pid 1 (pid_mode host): still reap orphans of our child. */
    if (getpid() != 1)
        prctl(PR_SET_CHILD_SUBREAPER, 1);
    pid_t child = fork();
    if (child < 0) {
        perror("pyc-init: fork");
        return 1;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &none, NULL);      /* the program starts from none */
        execvp(argv[first], argv + first);
        fprintf(stderr, "pyc-init: exec %s: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0)
            continue;               /* EINTR */
        if (sig == SIGCHLD) {
            int st = reap(child);
            if (st >= 0)
                return st;
            continue;
        }
        /* Stop signals from a tty would stop pid 1 itself: pass them on. */
        kill(child, sig);
    }
}
