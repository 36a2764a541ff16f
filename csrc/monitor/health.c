/* Healthcheck probes, with docker's semantics (moby daemon/health.go):
 * the first probe runs one interval after the start (start_interval
 * while starting within start_period), the next one interval after the
 * previous ended; exit 0 is healthy and clears the failing streak, any
 * other result (a timeout is -1) adds to it unless the container is still
 * starting within its start period, and retries failures in a row make
 * it unhealthy.  The last 5 results are kept, output cut at 4096 bytes.
 * A status change is a "health_status: <status>" event.
 *
 * The probe is spawned as an exec is (joined to the init's namespaces
 * through its pidfd, attached to its cgroups at its SYNC op), its stdout
 * and stderr on one pipe; everything is on one epoll fd, so the loop
 * that follows the init adds one poll entry. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include "health.h"
#include "json.h"
#include "shared.h"

enum { STARTING, HEALTHY, UNHEALTHY };
static const char *const STATUS[] = { "starting", "healthy", "unhealthy" };
#define TEXT_CAP (HEALTH_LOG * (HEALTH_OUTPUT * 6 + 256) + 256)   /* every byte escaped */

static char **vec(const char *s, uint32_t len)
{
    size_t n = 0;
    for (const char *p = s; p < s + len; p += strlen(p) + 1)
        n++;
    char **v = calloc(n + 1, sizeof *v);
    n = 0;
    for (const char *p = s; v && p < s + len; p += strlen(p) + 1)
        v[n++] = (char *) p;
    return v;
}

int health_init(struct health *h, const struct pyc_mon_extra *x, const char *sections,
                const char *path, const struct journal *jr, const char *const *attach,
                int nattach)
{
    memset(h, 0, sizeof *h);
    h->epfd = h->timerfd = h->pidfd = h->out = h->init_pidfd = -1;
    if (!x || !x->hc_nops || !path || !*path)
        return 0;
    const char *p = sections;
    h->spec.ops = (const struct pyc_op *) p;
    h->spec.nops = x->hc_nops;
    p += (size_t) x->hc_nops * sizeof(struct pyc_op);
    h->spec.strs = p;
    h->spec.strs_len = x->hc_strs_len;
    p += x->hc_strs_len;
    if ((x->hc_argv_len && p[x->hc_argv_len - 1]) || !(h->argv = vec(p, x->hc_argv_len)) ||
        !h->argv[0])
        return -1;
    p += x->hc_argv_len;
    if ((x->hc_env_len && p[x->hc_env_len - 1]) || !(h->envp = vec(p, x->hc_env_len)))
        return -1;
    h->spec.argv = (const char *const *) h->argv;
    h->spec.envp = (const char *const *) h->envp;
    h->spec.cgroup_fd = -1;
    h->spec.keep_fds_from = 3;
    h->spec.join_flags = x->hc_join_flags;
    h->spec.pdeathsig = SIGKILL;
    h->x = x;
    h->path = path;
    h->jr = jr;
    h->attach = attach;
    h->nattach = nattach;
    struct epoll_event ev = { .events = EPOLLIN };
    if (!(h->text = malloc(TEXT_CAP)) || (h->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (h->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0)
        return -1;
    ev.data.fd = h->timerfd;
    return epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->timerfd, &ev);
}

int health_fd(const struct health *h)
{
    return h->epfd;
}

static void arm(struct health *h, uint64_t ns)
{
    struct itimerspec it = { .it_value = { (time_t) (ns / 1000000000ULL),
                                           (long) (ns % 1000000000ULL) } };
    if (!ns)
        it.it_value.tv_nsec = 1;        /* 0 would disarm it */
    timerfd_settime(h->timerfd, 0, &it, NULL);
}

/* docker's getInterval: start_interval while starting within the start period. */
static uint64_t next_interval(const struct health *h)
{
    const struct pyc_mon_extra *x = h->x;
    long long ran = now_ns() - h->started_ns;
    if (h->status == STARTING && ran < (long long) x->hc_start_period_ns)
        return x->hc_start_interval_ns;
    return x->hc_interval_ns;
}

static void save(struct health *h)
{
    struct json j = { .big = h->text, .cap = TEXT_CAP };
    char start[64], end[64];
    json_raw(&j, "{\"Status\": \"%s\", \"FailingStreak\": %d, \"Log\": [", STATUS[h->status],
             h->streak);
    for (int i = 0; i < h->nlog; i++) {
        const struct health_result *r = &h->log[i];
        rfc3339(r->start, start, sizeof start);
        rfc3339(r->end, end, sizeof end);
        json_raw(&j, "%s{\"Start\": \"%s\", \"End\": \"%s\", \"ExitCode\": %d, \"Output\": ",
                 i ? ", " : "", start, end, r->code);
        json_str(&j, r->out, 4);
        json_raw(&j, "}");
    }
    json_raw(&j, "]}\n");
    if (!j.full)
        write_atomic(h->path, h->text, j.len);
}

void health_start(struct health *h, int init_pidfd, long long started_ns)
{
    if (h->epfd < 0)
        return;
    h->init_pidfd = init_pidfd;
    h->started_ns = started_ns;
    h->status = STARTING;
    h->streak = 0;
    save(h);
    arm(h, next_interval(h));
}

/* A result: docker's state machine, the log, the event, the next probe. */
static void record(struct health *h)
{
    int old = h->status;
    if (h->cur.code == 0) {
        h->streak = 0;
        h->status = HEALTHY;
    } else if (!(h->status == STARTING &&
                 h->cur.start - h->started_ns < (long long) h->x->hc_start_period_ns)) {
        if ((uint32_t) ++h->streak >= h->x->hc_retries)
            h->status = UNHEALTHY;
    }
    if (h->nlog == HEALTH_LOG)
        memmove(&h->log[0], &h->log[1], sizeof h->log[0] * (HEALTH_LOG - 1));
    else
        h->nlog++;
    h->log[h->nlog - 1] = h->cur;
    save(h);
    if (h->status != old) {
        char action[64];
        snprintf(action, sizeof action, "health_status: %s", STATUS[h->status]);
        journal_emit(h->jr, action, NULL, NULL);
    }
    arm(h, next_interval(h));
}

static void fail_start(struct health *h, int err)
{
    h->cur.end = now_ns();
    h->cur.code = -1;
    h->cur.len = (size_t) snprintf(h->cur.out, sizeof h->cur.out,
                                   "the healthcheck could not start: %s", strerror(err));
    record(h);
}

static void watch(struct health *h, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Attach the probe to the init's cgroups at its SYNC op, follow it to exec. */
static int probe_setup(struct health *h, pid_t pid, int sock)
{
    char val[32];
    int n = snprintf(val, sizeof val, "%d", (int) pid);
    for (int i = 0; i < h->nattach; i++) {
        int fd = open(h->attach[i], O_WRONLY | O_CLOEXEC);
        ssize_t w = fd < 0 ? -1 : write(fd, val, (size_t) n);
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (w != n)
            return w < 0 ? -err : -EIO;
    }
    int ms = (int) (h->x->hc_timeout_ns / 1000000ULL) + 1;
    for (;;) {
        struct pyc_msg msg;
        int r = pyc_sync_wait(sock, &msg, ms);
        if (r == PYC_MSG_EXEC)
            return 0;
        if (r == PYC_MSG_ERROR)
            return msg.err > 0 ? -msg.err : -EPROTO;
        if (r == PYC_MSG_SYNC)
            r = pyc_sync_go(sock);
        else if (r >= 0)
            r = -EPROTO;
        if (r < 0)
            return r;
    }
}

/* Is the container frozen (paused)?  A probe would freeze at its attach
 * and, on cgroup v1, not even die of SIGKILL until thawed. */
static int paused(const struct health *h)
{
    for (int i = 0; i < h->nattach; i++) {
        char path[4200], buf[256] = "";
        const char *slash = strrchr(h->attach[i], '/');
        if (!slash)
            continue;
        int n = (int) (slash - h->attach[i]);
        for (int v2 = 0; v2 < 2; v2++) {
            snprintf(path, sizeof path, "%.*s/%s", n, h->attach[i],
                     v2 ? "cgroup.events" : "freezer.state");
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t got = read(fd, buf, sizeof buf - 1);
            close(fd);
            buf[got > 0 ? got : 0] = '\0';
            if (v2 ? strstr(buf, "frozen 1") != NULL : strncmp(buf, "THAWED", 6) != 0)
                return 1;
        }
    }
    return 0;
}

static void launch(struct health *h)
{
    struct pollfd pfd = { h->init_pidfd, POLLIN, 0 };
    if (h->init_pidfd < 0 || poll(&pfd, 1, 0) != 0)
        return;                         /* the init is gone: no probe */
    if (paused(h)) {                    /* as docker: no probe while paused */
        arm(h, next_interval(h));
        return;
    }
    int out[2], sock = -1;
    memset(&h->cur, 0, sizeof h->cur);
    h->cur.start = now_ns();
    h->timed_out = 0;
    if (pipe2(out, O_CLOEXEC) < 0)
        return fail_start(h, errno);
    h->spec.stdio[0] = -1;
    h->spec.stdio[1] = h->spec.stdio[2] = out[1];
    h->spec.join_pidfd = h->init_pidfd;
    int pidfd = -1;
    pid_t pid = pyc_container_spawn(&h->spec, &pidfd, &sock);
    close(out[1]);
    int r = pid < 0 ? pid : probe_setup(h, pid, sock);
    if (sock >= 0)
        close(sock);
    if (r < 0) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        if (pidfd >= 0)
            close(pidfd);
        close(out[0]);
        return fail_start(h, -r);
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    h->pid = pid;
    h->pidfd = pidfd;
    h->out = out[0];
    watch(h, h->out);
    watch(h, h->pidfd);
    arm(h, h->x->hc_timeout_ns);        /* the deadline */
}

/* Read what the probe wrote; keep the first HEALTH_OUTPUT bytes. */
static void drain(struct health *h)
{
    char buf[8192];
    while (h->out >= 0) {
        ssize_t n = read(h->out, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->out, NULL);
            close(h->out);
            h->out = -1;
            return;
        }
        size_t keep = HEALTH_OUTPUT - h->cur.len < (size_t) n ? HEALTH_OUTPUT - h->cur.len
                                                               : (size_t) n;
        memcpy(h->cur.out + h->cur.len, buf, keep);
        h->cur.len += keep;
        h->cur.out[h->cur.len] = '\0';
    }
}

/* A duration as Go prints it, for docker's message: 30s, 1.5s, 300ms. */
static void go_duration(uint64_t ns, char *out, size_t len)
{
    if (ns >= 1000000000ULL && ns % 1000000ULL == 0) {
        snprintf(out, len, "%.3f", (double) ns / 1e9);
        char *end = out + strlen(out) - 1;
        while (*end == '0')
            *end-- = '\0';
        if (*end == '.')
            *end = '\0';
        strncat(out, "s", len - strlen(out) - 1);
    } else {
        snprintf(out, len, "%llums", (unsigned long long) (ns / 1000000ULL));
    }
}

static void reap(struct health *h)
{
    siginfo_t si = { 0 };
    drain(h);
    if (h->out >= 0) {                  /* a child of the probe holds the pipe: let it be */
        epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->out, NULL);
        close(h->out);
        h->out = -1;
    }
    while (waitid(P_PIDFD, (id_t) h->pidfd, &si, WEXITED) < 0 && errno == EINTR)
        ;
    epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->pidfd, NULL);
    close(h->pidfd);
    h->pidfd = -1;
    h->pid = 0;
    h->cur.end = now_ns();
    if (h->timed_out) {
        h->cur.code = -1;
        char took[32];
        go_duration(h->x->hc_timeout_ns, took, sizeof took);
        h->cur.len = (size_t) snprintf(h->cur.out, sizeof h->cur.out,
                                       "Health check exceeded timeout (%s)", took);
    } else {
        h->cur.code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    }
}

static void timer_fired(struct health *h)
{
    uint64_t n;
    if (read(h->timerfd, &n, sizeof n) < 0)
        return;
    if (h->pidfd < 0) {
        launch(h);
    } else if (!h->timed_out) {
        h->timed_out = 1;
        syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
    }
}

void health_tick(struct health *h)
{
    struct epoll_event evs[4];
    int n = epoll_wait(h->epfd, evs, 4, 0);
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == h->timerfd)
            timer_fired(h);
        else if (fd == h->out)
            drain(h);
        else if (fd == h->pidfd && h->pidfd >= 0) {
            reap(h);
            record(h);
        }
    }
}

void health_stop(struct health *h)
{
    if (h->epfd < 0)
        return;
    struct itimerspec off = { 0 };
    timerfd_settime(h->timerfd, 0, &off, NULL);
    if (h->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
        h->timed_out = 0;
        reap(h);            /* no result: the container stopped under it */
    }
    h->init_pidfd = -1;
}
