/* pyc-monitor: the parent of one container (conmon's job), in C so each
 * costs well under 1 MiB.  It starts the init from the plan Python wrote,
 * moves it into its cgroups, holds its stdio and writes the log (CRI
 * format), reaps it, records exit code and time atomically in run.json,
 * applies the restart policy and cleans up.  The Python process that
 * started it may exit at any time.
 *
 *   pyc-monitor SPEC_FILE     (fd 3, if open: "ok PID\n" or "err INDEX ERRNO [N]\n",
 *                              see enum pyc_mon_step)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "monitor.h"
#include "../pyc.h"

enum { P_RUNJSON, P_LOG, P_OOM, P_STOPMARK, P_NAME, P_RMDIRS };
#define MAX_PATHS 16
#define MAX_ATTACH 16

struct mon {
    struct pyc_mon_header h;
    struct pyc_spawn spec;
    char *buf;
    const char *attach[MAX_ATTACH];
    int nattach;
    const char *cleanup;
    const char *hooks;
    const char *paths[MAX_PATHS];
    int npaths;
    int logfd;
    int restarts;
    long long started_ns;
};

/* NUL-separated strings -> pointers (at most max); returns the end. */
static const char *split(const char *s, uint32_t len, const char **out, int max, int *n)
{
    *n = 0;
    for (const char *p = s; p < s + len && *n < max; p += strlen(p) + 1)
        out[(*n)++] = p;
    return s + len;
}

static char **make_vec(const char *s, uint32_t len)
{
    int n = 0;
    for (const char *p = s; p < s + len; p += strlen(p) + 1)
        n++;
    char **v = calloc((size_t) n + 1, sizeof *v);
    if (!v)
        return NULL;
    n = 0;
    for (const char *p = s; p < s + len; p += strlen(p) + 1)
        v[n++] = (char *) p;
    return v;
}

static int load(struct mon *m, const char *file)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t) sizeof m->h || st.st_size > (64 << 20))
        return -1;
    m->buf = malloc((size_t) st.st_size + 1);
    if (!m->buf || read(fd, m->buf, (size_t) st.st_size) != st.st_size)
        return -1;
    close(fd);
    m->buf[st.st_size] = '\0';
    memcpy(&m->h, m->buf, sizeof m->h);
    const struct pyc_mon_header *h = &m->h;
    uint64_t need = sizeof *h + (uint64_t) h->nops * sizeof(struct pyc_op) + h->strs_len +
                    h->argv_len + h->env_len + h->attach_len + h->cleanup_len + h->paths_len +
                    h->hooks_len;
    if (h->magic != PYC_MON_MAGIC || need != (uint64_t) st.st_size)
        return -1;
    char *p = m->buf + sizeof *h;
    m->spec.clone_flags = h->clone_flags;
    m->spec.ops = (const struct pyc_op *) p;
    m->spec.nops = h->nops;
    p += (size_t) h->nops * sizeof(struct pyc_op);
    m->spec.strs = p;
    m->spec.strs_len = h->strs_len;
    p += h->strs_len;
    m->spec.argv = (const char *const *) make_vec(p, h->argv_len);
    p += h->argv_len;
    m->spec.envp = (const char *const *) make_vec(p, h->env_len);
    p += h->env_len;
    p = (char *) split(p, h->attach_len, m->attach, MAX_ATTACH, &m->nattach);
    m->cleanup = p;
    p += h->cleanup_len;
    split(p, h->paths_len, m->paths, MAX_PATHS, &m->npaths);
    p += h->paths_len;
    m->hooks = p;
    m->spec.cgroup_fd = -1;
    m->spec.keep_fds_from = 3;
    m->spec.join_pidfd = -1;
    m->spec.stack = NULL;           /* a small process: a plain fork is cheap */
    return m->spec.argv && m->spec.envp && m->npaths > P_NAME ? 0 : -1;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void rfc3339(long long ns, char *out, size_t len)
{
    time_t sec = (time_t) (ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%09lldZ", ns % 1000000000LL);
}

/* A small kernel file as a string; 0 when it cannot be read. */
static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return 1;
}

static unsigned long long start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    if (!read_small(path, buf, sizeof buf))
        return 0;
    char *s = strrchr(buf, ')');   /* the command name may hold spaces */
    for (int field = 2; s && *s; s++)
        if (*s == ' ' && ++field == 22)
            return strtoull(s + 1, NULL, 10);
    return 0;
}

/* run.json: written to a temp file and renamed, so readers never see half. */
static void write_state(struct mon *m, const char *status, pid_t pid, int code, int oom,
                        long long finished, const char *error)
{
    char tmp[4200], started[64] = "", fin[64] = "";
    const char *path = m->paths[P_RUNJSON];
    if (m->started_ns)
        rfc3339(m->started_ns, started, sizeof started);
    if (finished)
        rfc3339(finished, fin, sizeof fin);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    fprintf(f, "{\"Status\": \"%s\", \"Pid\": %d, \"PidStartTime\": %llu, \"MonitorPid\": %d, "
               "\"MonitorStartTime\": %llu, \"ExitCode\": %d, \"OOMKilled\": %s, "
               "\"RestartCount\": %d, \"StartedAt\": \"%s\", \"FinishedAt\": \"%s\", "
               "\"Error\": \"%s\"}\n",
            status, (int) pid, pid > 0 ? start_time(pid) : 0ULL, (int) getpid(),
            start_time(getpid()), code, oom ? "true" : "false", m->restarts, started, fin,
            error ? error : "");
    if (fclose(f) == 0)
        rename(tmp, path);
    else
        unlink(tmp);
}

/* CRI log lines: "<time> <stream> <F|P> <text>\n". */
static void log_chunk(struct mon *m, const char *stream, const char *data, size_t len)
{
    char ts[64], head[96];
    rfc3339(now_ns(), ts, sizeof ts);
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t) (nl - data) : len;
        int h = snprintf(head, sizeof head, "%s %s %c ", ts, stream, nl ? 'F' : 'P');
        struct iovec iov[3] = { { head, (size_t) h }, { (void *) data, n }, { "\n", 1 } };
        if (writev(m->logfd, iov, 3) < 0)
            return;
        data += n + (nl ? 1 : 0);
        len -= n + (nl ? 1 : 0);
    }
}

static int read_oom(const char *path)
{
    char buf[512];
    if (!path || !*path || !read_small(path, buf, sizeof buf))
        return 0;
    char *s = strstr(buf, "oom_kill ");
    return s ? atoi(s + 9) : 0;
}

static void report(int fd, const char *text)
{
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0) {
            /* the starter went away: nothing to tell */
        }
        close(fd);
    }
}

/* Write the pid to each attach path; -errno and the failing path's
 * index in *failed. */
static int attach(struct mon *m, pid_t pid, int *failed)
{
    char val[32];
    int n = snprintf(val, sizeof val, "%d", (int) pid);
    for (int i = 0; i < m->nattach; i++) {
        *failed = i;
        int fd = open(m->attach[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        ssize_t w = write(fd, val, (size_t) n);
        int err = w < 0 ? errno : EIO;
        close(fd);
        if (w != n)
            return -err;
    }
    return 0;
}

/* Start the init once; returns its pid and fds, or -1 with the failed step
 * in *index (a plan op, or enum pyc_mon_step), its errno in *err and, for
 * the attach step, the attach path's index in *which. */
static pid_t start(struct mon *m, int *pidfd, int *out_r, int *err_r, int *index, int *err,
                   int *which)
{
    int out[2], errp[2], sock;
    struct pyc_msg msg;
    *index = PYC_MON_STEP_START;
    *which = -1;
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        *err = errno;
        return -1;
    }
    m->spec.stdio[0] = -1;
    m->spec.stdio[1] = out[1];
    m->spec.stdio[2] = errp[1];
    m->spec.pdeathsig = SIGKILL;      /* the container never outlives its monitor */
    pid_t pid = pyc_container_spawn(&m->spec, pidfd, &sock);
    close(out[1]);
    close(errp[1]);
    if (pid < 0) {
        *err = -pid;
        close(out[0]);
        close(errp[0]);
        return -1;
    }
    int r = attach(m, pid, which);
    if (r < 0)
        *index = PYC_MON_STEP_ATTACH;
    while (r == 0) {
        r = pyc_sync_wait(sock, &msg, -1);
        if (r == PYC_MSG_SYNC) {
            r = pyc_sync_go(sock);
        } else if (r == PYC_MSG_ERROR) {
            *index = msg.index;
            r = -msg.err;
        } else if (r == PYC_MSG_EXEC) {
            break;
        }
    }
    close(sock);
    if (r < 0) {
        *err = -r;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(*pidfd);
        close(out[0]);
        close(errp[0]);
        return -1;
    }
    *out_r = out[0];
    *err_r = errp[0];
    return pid;
}

/* Follow the init until it exits; returns its exit code (128+sig if killed). */
static int follow(struct mon *m, pid_t pid, int pidfd, int out_r, int err_r)
{
    struct pollfd fds[3] = { { out_r, POLLIN, 0 }, { err_r, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
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
                log_chunk(m, i == 0 ? "stdout" : "stderr", buf, (size_t) n);
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
    siginfo_t si = { 0 };
    while (waitid(P_PID, (id_t) pid, &si, WEXITED) < 0 && errno == EINTR)
        ;
    close(pidfd);
    return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

static int should_restart(struct mon *m, int code)
{
    struct stat st;
    if (stat(m->paths[P_STOPMARK], &st) == 0)
        return 0;                       /* stopped or killed on request */
    switch (m->h.restart) {
    case PYC_RESTART_ALWAYS:
    case PYC_RESTART_UNLESS_STOPPED:
        return 1;
    case PYC_RESTART_ON_FAILURE:
        return code != 0 && (m->h.restart_max == 0 || m->restarts < m->h.restart_max);
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;   /* best effort: Python's recovery removes what is left */
}

/* Python's cleanup for what the container owns beyond cgroups (network
 * endpoints, rules): each command runs once, in order; failures are left
 * for Python's recovery. */
static void run_hooks(struct mon *m)
{
    const char *s = m->hooks, *end = m->hooks + m->h.hooks_len;
    char *argv[64];
    while (s < end) {
        int n = 0;
        for (; s < end && *s && n < 63; s += strlen(s) + 1)
            argv[n++] = (char *) s;
        argv[n] = NULL;
        s += strlen(s) + 1;      /* the empty terminator */
        if (n == 0)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[0], argv);
            _exit(127);
        }
        if (pid > 0)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
    }
}

static void finish(struct mon *m)
{
    int failed;
    run_hooks(m);
    if (m->h.cleanup_len)
        pyc_cgroup_apply(m->cleanup, m->h.cleanup_len, &failed);
    if (!m->h.auto_remove)
        return;
    /* Release the name only if it is still ours (a rename may have moved it). */
    char target[128], dir[4096];
    const char *cid;
    ssize_t n = readlink(m->paths[P_NAME], target, sizeof target - 1);
    snprintf(dir, sizeof dir, "%s", m->paths[P_RUNJSON]);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    cid = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (n > 0) {
        target[n] = '\0';
        if (strcmp(target, cid) == 0)
            unlink(m->paths[P_NAME]);
    }
    /* config.json first: the container is gone for readers at once */
    for (int i = P_RMDIRS; i < m->npaths; i++) {
        char cfg[4200];
        snprintf(cfg, sizeof cfg, "%s/config.json", m->paths[i]);
        unlink(cfg);
    }
    for (int i = P_RMDIRS; i < m->npaths; i++)
        nftw(m->paths[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
    struct mon m = { 0 };
    int rep = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
    if (argc != 2 || load(&m, argv[1]) < 0) {
        char text[32];
        snprintf(text, sizeof text, "err %d %d\n", PYC_MON_STEP_START, EINVAL);
        report(rep, text);
        return 2;
    }
    if (rep >= 0)
        fcntl(rep, F_SETFD, FD_CLOEXEC);
    /* Detach from the starter: it reaps the intermediate, we go on alone. */
    pid_t child = fork();
    if (child != 0)
        _exit(child < 0 ? 1 : 0);
    setsid();
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        if (null != fd)
            dup2(null, fd);
    signal(SIGPIPE, SIG_IGN);
    m.logfd = open(m.paths[P_LOG], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    long long backoff_ms = 100;
    for (;;) {
        int pidfd, out_r, err_r, index, err, which;
        m.started_ns = now_ns();
        pid_t pid = start(&m, &pidfd, &out_r, &err_r, &index, &err, &which);
        if (pid < 0) {
            char text[64];
            if (index == PYC_MON_STEP_ATTACH)
                snprintf(text, sizeof text, "err %d %d %d\n", index, err, which);
            else
                snprintf(text, sizeof text, "err %d %d\n", index, err);
            write_state(&m, "exited", 0, 127, 0, now_ns(), strerror(err));
            report(rep, text);
            break;
        }
        write_state(&m, "running", pid, 0, 0, 0, NULL);
        if (rep >= 0) {
            char text[32];
            snprintf(text, sizeof text, "ok %d\n", (int) pid);
            report(rep, text);
            rep = -1;
        }
        int code = follow(&m, pid, pidfd, out_r, err_r);
        long long ran = now_ns() - m.started_ns;
        int oom = read_oom(m.paths[P_OOM]) > 0;
        if (!should_restart(&m, code)) {
            write_state(&m, "exited", 0, code, oom, now_ns(), NULL);
            break;
        }
        /* docker's back-off: 100 ms doubling, reset after 10 s of running */
        if (ran > 10000000000LL)
            backoff_ms = 100;
        write_state(&m, "restarting", 0, code, oom, now_ns(), NULL);
        struct timespec ts = { backoff_ms / 1000, (backoff_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        backoff_ms = backoff_ms * 2 > 60000 ? 60000 : backoff_ms * 2;
        m.restarts++;
        struct stat st;
        if (stat(m.paths[P_STOPMARK], &st) == 0) {
            write_state(&m, "exited", 0, code, oom, now_ns(), NULL);
            break;
        }
    }
    finish(&m);
    return 0;
}
