/* pyc-monitor: the container's stdio (see io.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include "io.h"
#include "../internal.h"

int open_pipes(int out[2], int err[2])
{
    if (pipe2(out, O_CLOEXEC) < 0)
        return neg_errno();
    if (pipe2(err, O_CLOEXEC) < 0) {
        int e = neg_errno();
        close(out[0]);
        close(out[1]);
        return e;
    }
    return 0;
}

/* Follow the init until it exits; returns its exit code (128+sig if
 * killed).  Closes its fds. */
int follow(const struct init *in, io_sink sink, void *ctx)
{
    struct pollfd fds[3] = { { in->out, POLLIN, 0 }, { in->err, POLLIN, 0 },
                             { in->pidfd, POLLIN, 0 } };
    char buf[65536];
    int open_pipes = 2, exited = 0;
    while (open_pipes > 0 || !exited) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sink(ctx, i == 0 ? "stdout" : "stderr", buf, (size_t) n);
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_pipes--;
            }
        }
        if (fds[2].revents) {
            exited = 1;
            fds[2].fd = -1;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    siginfo_t si = { 0 };
    while (waitid(P_PID, (id_t) in->pid, &si, WEXITED) < 0 && errno == EINTR)
        ;
    close(in->pidfd);
    return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}
