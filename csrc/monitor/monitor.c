/* pyc-monitor: the parent of one container (conmon's job), in C so each
 * costs well under 1 MiB.  It starts the init from the plan Python wrote,
 * moves it into its cgroups, holds its stdio and writes the log (CRI
 * format), reaps it, records exit code and time atomically in run.json,
 * restarts it as the input says and cleans up.  Every decision (paths,
 * restart codes, back-off) comes from the input; the Python process that
 * started it may exit at any time.
 *
 *   pyc-monitor SPEC_FILE [-- COMPANION...]
 *       fd 3, if open: "ok PID\n" or "err INDEX ERRNO [N]\n" (enum pyc_mon_step);
 *       fds 4 and 5 with a companion: its fds 3 and 5 (the embedded DNS
 *       server's sockets)
 *
 * A companion runs as our child while we live: its fd 4 is a pipe we hold
 * (EOF when we are gone, however we die), and it is stopped and reaped
 * before the hooks release the network.
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "extra.h"
#include "health.h"
#include "journal.h"
#include "json.h"
#include "io.h"
#include "logfile.h"
#include "monitor.h"
#include "shared.h"
#include "../internal.h"

#define MAX_PATHS 16
#define MAX_ATTACH 16
#define MAX_HOOK_ARGS 63

_Static_assert(sizeof(struct pyc_mon_header) % 8 == 0, "the ops that follow must be aligned");

struct mon {
    struct pyc_mon_header h;
    struct pyc_spawn spec;
    char *buf;
    char **argv, **envp;
    const char *attach[MAX_ATTACH];
    int nattach;
    const char *cleanup;
    const char *hooks;
    const char *paths[MAX_PATHS];
    int npaths;
    struct logfile log;
    struct journal jr;          /* the store's event journal (extra.h) */
    struct health hc;           /* the healthcheck's probes */
    const struct pyc_mon_extra *x;
    const char *xpaths[PYC_MON_X_NPATHS];
    int restarts;
    long long started_ns;
    struct io io;
    const char *input;          /* the input file: its restart policy is read again */
    pid_t companion;            /* 0: none */
    int lifeline;               /* the write end of the companion's fd 4 */
};

/* A failed start: the step (a plan op, or enum pyc_mon_step), its errno and,
 * for the attach step, the attach path's index. */
struct failure { int index, err, which; };

/* Is [s, s + len) empty or a run of NUL-terminated strings? */
static int strings_ok(const char *s, uint32_t len)
{
    return len == 0 || s[len - 1] == '\0';
}

/* NUL-separated strings -> pointers; -1 if there are more than max. */
static int split(const char *s, uint32_t len, const char **out, int max, int *n)
{
    *n = 0;
    for (const char *p = s; p < s + len; p += strlen(p) + 1) {
        if (*n == max)
            return -1;
        out[(*n)++] = p;
    }
    return 0;
}

static char **make_vec(const char *s, uint32_t len)
{
    size_t n = 0;
    for (const char *p = s; p < s + len; p += strlen(p) + 1)
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    n = 0;
    for (const char *p = s; p < s + len; p += strlen(p) + 1)
        v[n++] = (char *) p;
    return v;
}

/* The whole input file, NUL-terminated, in *buf; its size or -1. */
static ssize_t read_input(const char *file, char **buf)
{
    struct stat st;
    cleanup_fd int fd = open(file, O_RDONLY | O_CLOEXEC);
    *buf = NULL;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t) sizeof(struct pyc_mon_header) ||
        st.st_size > (64 << 20) || !(*buf = malloc((size_t) st.st_size + 1)))
        return -1;
    ssize_t got = 0;
    while (got < st.st_size) {
        ssize_t n = read(fd, *buf + got, (size_t) (st.st_size - got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(*buf);
            *buf = NULL;
            return -1;
        }
        got += n;
    }
    (*buf)[got] = '\0';
    return got;
}

/* Point the spec and the lists into the sections after the header. */
static int sections(struct mon *m)
{
    const struct pyc_mon_header *h = &m->h;
    char *p = m->buf + sizeof *h;
    m->spec.clone_flags = h->clone_flags;
    m->spec.ops = (const struct pyc_op *) p;
    m->spec.nops = h->nops;
    p += (size_t) h->nops * sizeof(struct pyc_op);
    m->spec.strs = p;
    m->spec.strs_len = h->strs_len;
    p += h->strs_len;
    if (!strings_ok(p, h->argv_len) || !(m->argv = make_vec(p, h->argv_len)))
        return -1;
    p += h->argv_len;
    if (!strings_ok(p, h->env_len) || !(m->envp = make_vec(p, h->env_len)))
        return -1;
    p += h->env_len;
    if (!strings_ok(p, h->attach_len) ||
        split(p, h->attach_len, m->attach, MAX_ATTACH, &m->nattach) < 0)
        return -1;
    p += h->attach_len;
    m->cleanup = p;
    p += h->cleanup_len;
    if (!strings_ok(p, h->paths_len) ||
        split(p, h->paths_len, m->paths, MAX_PATHS, &m->npaths) < 0)
        return -1;
    p += h->paths_len;
    m->hooks = p;
    m->spec.argv = (const char *const *) m->argv;
    m->spec.envp = (const char *const *) m->envp;
    return m->argv[0] && strings_ok(p, h->hooks_len) &&
           m->npaths > PYC_MON_ID + (h->join_pidns ? 1 : 0) ? 0 : -1;
}

/* The optional extra input (extra.h) at offset off: log rotation, the
 * journal, the healthcheck. */
static int load_extra(struct mon *m, uint64_t off, uint64_t size)
{
    static const char *none[PYC_MON_X_NPATHS] = { "", "", "", "", "" };
    const struct pyc_mon_extra *x = (const void *) (m->buf + off);
    memcpy(m->xpaths, none, sizeof none);
    if (off >= size)
        return health_init(&m->hc, NULL, NULL, NULL, NULL, NULL, 0);     /* none */
    if (size - off < sizeof *x || x->magic != PYC_MON_EXTRA_MAGIC ||
        x->version != PYC_MON_EXTRA_VERSION ||
        size - off != sizeof *x + (uint64_t) x->hc_nops * sizeof(struct pyc_op) +
                      x->hc_strs_len + x->hc_argv_len + x->hc_env_len + x->paths_len)
        return -1;
    const char *sec = (const char *) (x + 1);
    const char *paths = m->buf + size - x->paths_len;
    int n;
    if (!strings_ok(paths, x->paths_len) ||
        split(paths, x->paths_len, m->xpaths, PYC_MON_X_NPATHS, &n) < 0 ||
        n != PYC_MON_X_NPATHS)
        return -1;
    m->x = x;
    m->jr = (struct journal) { m->xpaths[PYC_MON_X_JOURNAL], x->journal_max_size,
                               m->paths[PYC_MON_ID], m->xpaths[PYC_MON_X_FROM],
                               m->xpaths[PYC_MON_X_ATTRS], m->xpaths[PYC_MON_X_VOLUMES] };
    return health_init(&m->hc, x, sec, m->xpaths[PYC_MON_X_HEALTH], &m->jr, m->attach,
                       m->nattach);
}

static int load(struct mon *m, const char *file)
{
    ssize_t size = read_input(file, &m->buf);
    if (size < 0)
        return -1;
    memcpy(&m->h, m->buf, sizeof m->h);
    const struct pyc_mon_header *h = &m->h;
    uint64_t need = sizeof *h + (uint64_t) h->nops * sizeof(struct pyc_op) + h->strs_len +
                    h->argv_len + h->env_len + h->attach_len + h->cleanup_len + h->paths_len +
                    h->hooks_len;
    if (h->magic != PYC_MON_MAGIC || h->version != PYC_MON_VERSION || need > (uint64_t) size)
        return -1;
    m->spec.cgroup_fd = -1;
    m->spec.keep_fds_from = 3;
    m->spec.join_pidfd = -1;
    m->spec.stack = NULL;           /* a small process: a plain fork is cheap */
    return sections(m) < 0 ? -1 : load_extra(m, (need + 7) & ~7ULL, (uint64_t) size);
}

static void unload(struct mon *m)
{
    free(m->argv);
    free(m->envp);
    free(m->buf);
    m->argv = m->envp = NULL;
    m->buf = NULL;
}

long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void rfc3339(long long ns, char *out, size_t len)
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
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size - 1);
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

void write_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    if (close(fd) == 0 && done == len && rename(tmp, path) == 0)
        return;
    unlink(tmp);
}

static void write_state(struct mon *m, const char *status, pid_t pid, int code, int oom,
                        long long finished, const char *error)
{
    struct json j = { .len = 0 };
    char started[64] = "", fin[64] = "";
    if (m->started_ns)
        rfc3339(m->started_ns, started, sizeof started);
    if (finished)
        rfc3339(finished, fin, sizeof fin);
    json_raw(&j, "{\"Status\": ");
    json_str(&j, status, 0);
    json_raw(&j, ", \"Pid\": %d, \"PidStartTime\": %llu, \"MonitorPid\": %d, "
                 "\"MonitorStartTime\": %llu, \"ExitCode\": %d, \"OOMKilled\": %s, "
                 "\"RestartCount\": %d, \"StartedAt\": ",
             (int) pid, pid > 0 ? start_time(pid) : 0ULL, (int) getpid(),
             start_time(getpid()), code, oom ? "true" : "false", m->restarts);
    json_str(&j, started, 0);
    json_raw(&j, ", \"FinishedAt\": ");
    json_str(&j, fin, 0);
    json_raw(&j, ", \"Error\": ");
    json_str(&j, error ? error : "", 3);     /* cut a long one: "}\n" and vsnprintf's NUL */
    json_raw(&j, "}\n");
    if (!j.full)
        write_atomic(m->paths[PYC_MON_RUNJSON], j.buf, j.len);
}

static void log_sink(void *m, const char *stream, const char *data, size_t len)
{
    log_chunk(&((struct mon *) m)->log, stream, data, len);
}

/* The healthcheck's fd is ready (io.c's loop polls it as its extra fd). */
static void health_ready(void *h)
{
    health_tick(h);
}

static int read_oom(const char *path)
{
    char buf[512];
    if (!path || !*path || !read_small(path, buf, sizeof buf))
        return 0;
    char *s = strstr(buf, "oom_kill ");
    return s ? atoi(s + 9) : 0;
}

/* Tell the starter (fd, if still open) and close it. */
static void report(int *fd, const char *text)
{
    if (*fd < 0)
        return;
    if (write(*fd, text, strlen(text)) < 0) {
        /* the starter went away: nothing to tell */
    }
    close(*fd);
    *fd = -1;
}

/* Write the pid to each attach path; -errno and the failing path's
 * index in *failed. */
static int attach(struct mon *m, pid_t pid, int *failed)
{
    char val[32];
    int n = snprintf(val, sizeof val, "%d", (int) pid);
    for (int i = 0; i < m->nattach; i++) {
        *failed = i;
        cleanup_fd int fd = open(m->attach[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return neg_errno();
        ssize_t w = write(fd, val, (size_t) n);
        if (w != n)
            return w < 0 ? neg_errno() : -EIO;
    }
    return 0;
}

/* Take the init through its setup to the exec: attach it to its cgroups,
 * let it past each sync, take the pty master it sends.  0, or -errno with
 * the failed step in f. */
static int setup(struct mon *m, struct init *in, int sock, struct failure *f)
{
    struct pyc_msg msg;
    int r = attach(m, in->pid, &f->which);
    if (r < 0) {
        f->index = PYC_MON_STEP_ATTACH;
        return r;
    }
    for (;;) {
        r = pyc_sync_wait(sock, &msg, -1);
        if (r == PYC_MSG_EXEC)
            return 0;
        if (r == PYC_MSG_ERROR) {
            f->index = msg.index;
            return msg.err > 0 ? -msg.err : -EPROTO;
        }
        if (r == PYC_MSG_FD && in->out < 0 && (m->io.flags & IO_TTY)) {
            io_take_pty(&m->io, in, msg.fd);
            continue;
        }
        if (r == PYC_MSG_FD)
            close(msg.fd);
        if (r == PYC_MSG_SYNC)
            r = pyc_sync_go(sock);
        else if (r >= 0)
            r = -EPROTO;
        if (r < 0)
            return r;
    }
}

/* Start the init once: 0 and *in, or -1 and f. */
static int start(struct mon *m, struct init *in, struct failure *f)
{
    int child[3], sock = -1;
    *f = (struct failure) { PYC_MON_STEP_START, 0, -1 };
    cleanup_fd int pidns = -1;
    if (m->h.join_pidns) {       /* pid_mode container:<id>: its namespace, each start */
        pidns = open(m->paths[m->npaths - 1], O_RDONLY | O_CLOEXEC);
        if (pidns < 0) {
            f->err = errno;
            return -1;
        }
    }
    int r = io_open(&m->io, in, child);
    if (r < 0) {
        f->err = -r;
        return -1;
    }
    memcpy(m->spec.stdio, child, sizeof child);
    m->spec.pdeathsig = SIGKILL;      /* the container never outlives its monitor */
    m->spec.join_pidfd = pidns;
    m->spec.join_flags = pidns >= 0 ? CLONE_NEWPID : 0;
    in->pid = pyc_container_spawn(&m->spec, &in->pidfd, &sock);
    m->spec.join_pidfd = -1;
    io_close_child(child);
    r = in->pid < 0 ? in->pid : setup(m, in, sock, f);
    if (sock >= 0)
        close(sock);
    if (r == 0 && (m->io.flags & IO_TTY) && in->out < 0)
        r = -EPROTO;                  /* the plan had no PTY op */
    if (r < 0) {
        f->err = -r;
        if (in->pid > 0) {
            kill(in->pid, SIGKILL);
            waitpid(in->pid, NULL, 0);
        }
        if (in->pidfd >= 0)
            close(in->pidfd);
        io_close(in);
        return -1;
    }
    return 0;
}

static int stop_asked(const struct mon *m)
{
    struct stat st;
    return stat(m->paths[PYC_MON_STOPMARK], &st) == 0;
}

/* The restart policy as the input file has it now: ``update`` writes the
 * file anew and renames it into place, so a running container takes a new
 * policy at its next exit.  A file that cannot be read keeps the old one. */
static void reload_restart(struct mon *m)
{
    struct pyc_mon_header h;
    cleanup_fd int fd = open(m->input, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && pread(fd, &h, sizeof h, 0) == (ssize_t) sizeof h &&
        h.magic == PYC_MON_MAGIC && h.version == PYC_MON_VERSION)
        m->h.restart = h.restart;
}

static int should_restart(struct mon *m, int code)
{
    reload_restart(m);
    const struct pyc_mon_restart *r = &m->h.restart;
    if (code < 0 || code > 255 || !(r->codes[code >> 3] & (1u << (code & 7))))
        return 0;
    if (r->max && (uint32_t) m->restarts >= r->max)
        return 0;
    return !stop_asked(m);                 /* stopped or killed on request */
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = { (time_t) (ms / 1000), (long) (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
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

/* A hook is a command, or one of these verbs, run here (no fork and exec
 * for the common cleanups):
 *   @if-exists FILE HOOK...      the rest only when FILE exists
 *   @unless-exists FILE HOOK...  the rest only when it does not
 *   @umount PATH                 umount2(PATH, MNT_DETACH)
 *   @rm PATH...                  unlink each (missing ones are fine) */
static void run_hook(char **argv)
{
    if (argv[0][0] == '@') {
        int when = strcmp(argv[0], "@if-exists") == 0;
        if (when || strcmp(argv[0], "@unless-exists") == 0) {
            if (argv[1] && argv[2] && (access(argv[1], F_OK) == 0) == when)
                run_hook(argv + 2);
        } else if (strcmp(argv[0], "@umount") == 0) {
            if (argv[1])
                umount2(argv[1], MNT_DETACH);
        } else if (strcmp(argv[0], "@rm") == 0) {
            for (char **a = argv + 1; *a; a++)
                unlink(*a);
        }
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* Python's cleanup for what the container owns beyond cgroups (network
 * endpoints, rules): each command runs once, in order; failures are left
 * for Python's recovery.  A command with too many arguments is not run
 * (Python refuses to pack one). */
static void run_hooks(struct mon *m)
{
    const char *s = m->hooks, *end = m->hooks + m->h.hooks_len;
    while (s < end) {
        char *argv[MAX_HOOK_ARGS + 1];
        int n = 0, whole = 1;
        for (; s < end && *s; s += strlen(s) + 1) {
            if (n < MAX_HOOK_ARGS)
                argv[n++] = (char *) s;
            else
                whole = 0;
        }
        argv[n] = NULL;
        s++;                     /* the empty string that ends it */
        if (n > 0 && whole)
            run_hook(argv);
    }
}

/* Release the name only if it is still ours (a rename may have moved it). */
static void release_name(const struct mon *m)
{
    char target[128];
    ssize_t n = readlink(m->paths[PYC_MON_NAME], target, sizeof target - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    if (strcmp(target, m->paths[PYC_MON_ID]) == 0)
        unlink(m->paths[PYC_MON_NAME]);
}

/* Start ARGV with our fd 4 as its fd 3, a lifeline as its fd 4 and our
 * fd 5 as its fd 5; our 4 and 5 are closed either way (the init must not
 * hold them).  Best effort: a container whose companion fails runs
 * without it. */
static void start_companion(struct mon *m, char **argv)
{
    int p[2];
    m->lifeline = -1;
    if (pipe2(p, O_CLOEXEC) < 0) {
        close(4);
        close(5);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int life = fcntl(p[0], F_DUPFD, 6);     /* not on 3..5, which dup2 overwrites */
        if (life < 0 || dup2(4, 3) < 0 || dup2(life, 4) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[0]);
    close(4);
    close(5);
    if (pid < 0) {
        close(p[1]);
        return;
    }
    m->companion = pid;
    m->lifeline = p[1];
}

static void stop_companion(struct mon *m)
{
    if (!m->companion)
        return;
    close(m->lifeline);
    kill(m->companion, SIGTERM);
    while (waitpid(m->companion, NULL, 0) < 0 && errno == EINTR)
        ;
    m->companion = 0;
}

static void finish(struct mon *m)
{
    int failed;
    stop_companion(m);
    run_hooks(m);
    if (m->h.cleanup_len)
        pyc_cgroup_apply(m->cleanup, m->h.cleanup_len, &failed);
    if (!m->h.auto_remove)
        return;
    release_name(m);
    /* config.json first: the container is gone for readers at once */
    int end = m->npaths - (m->h.join_pidns ? 1 : 0);
    for (int i = PYC_MON_RMDIRS; i < end; i++) {
        char cfg[4200];
        if ((size_t) snprintf(cfg, sizeof cfg, "%s/config.json", m->paths[i]) < sizeof cfg)
            unlink(cfg);
    }
    for (int i = PYC_MON_RMDIRS; i < end; i++)
        nftw(m->paths[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* run.json's Error for a failed start; like docker, name a program that
 * could not be exec'd. */
static void start_error(const struct mon *m, const struct failure *f, char *out, size_t len)
{
    const struct pyc_op *op = f->index >= 0 && (uint32_t) f->index < m->spec.nops
                              ? &m->spec.ops[f->index] : NULL;
    if (op && op->kind == PYC_OP_EXEC && op->s1 < m->spec.strs_len)
        snprintf(out, len, "exec: \"%s\": %s", m->spec.strs + op->s1, strerror(f->err));
    else
        snprintf(out, len, "%s", strerror(f->err));
}

/* A start that failed: run.json says so, then the starter (if it waits). */
static __attribute__((noinline)) void record_failure(struct mon *m, const struct failure *f,
                                                     int *rep)
{
    char text[64], error[1024];
    if (f->index == PYC_MON_STEP_ATTACH)
        snprintf(text, sizeof text, "err %d %d %d\n", f->index, f->err, f->which);
    else
        snprintf(text, sizeof text, "err %d %d\n", f->index, f->err);
    start_error(m, f, error, sizeof error);
    write_state(m, "exited", 0, 127, 0, now_ns(), error);
    report(rep, text);
}

/* One run of the init: start it (telling the starter the first time) and
 * follow it to its exit.  Its exit code, or -1 when it did not start. */
static int run_once(struct mon *m, int *rep)
{
    struct init in;
    struct failure f;
    char text[32];
    m->started_ns = now_ns();
    if (start(m, &in, &f) < 0) {
        record_failure(m, &f, rep);
        return -1;
    }
    write_state(m, "running", in.pid, 0, 0, 0, NULL);
    journal_emit_volumes(&m->jr, 1);               /* docker: mount, then start */
    journal_emit(&m->jr, "start", NULL, NULL);     /* before its die, always */
    snprintf(text, sizeof text, "ok %d\n", (int) in.pid);
    report(rep, text);
    health_start(&m->hc, in.pidfd, m->started_ns);
    int code = follow(&m->io, &in, log_sink, m);
    health_stop(&m->hc);
    return code;
}

/* docker's events for an exit: oom first, then die with the exit code. */
static void record_exit(struct mon *m, int code, int oom)
{
    char val[16];
    snprintf(val, sizeof val, "%d", code);
    if (oom)
        journal_emit(&m->jr, "oom", NULL, NULL);
    journal_emit(&m->jr, "die", "exitCode", val);
    journal_emit_volumes(&m->jr, 0);
}

/* Run the init until it exits for good, restarting it as the input says. */
static void supervise(struct mon *m, int rep)
{
    const struct pyc_mon_restart *r = &m->h.restart;
    uint64_t backoff = r->backoff_ms;
    for (;;) {
        int code = run_once(m, &rep);
        if (code < 0)
            return;
        long long ran = now_ns() - m->started_ns;
        int oom = read_oom(m->paths[PYC_MON_OOM]) > 0;
        if (!should_restart(m, code)) {
            write_state(m, "exited", 0, code, oom, now_ns(), NULL);
            record_exit(m, code, oom);          /* after: a reader of "die" sees it exited */
            return;
        }
        if (ran > (long long) r->reset_after_ms * 1000000LL)
            backoff = r->backoff_ms;
        write_state(m, "restarting", 0, code, oom, now_ns(), NULL);
        record_exit(m, code, oom);
        sleep_ms(backoff);
        backoff = backoff * r->backoff_factor > r->backoff_max_ms
                  ? r->backoff_max_ms : backoff * r->backoff_factor;
        m->restarts++;
        if (stop_asked(m)) {
            write_state(m, "exited", 0, code, oom, now_ns(), NULL);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    struct mon m = { .log = { .fd = -1 }, .io = { 0, -1, -1, NULL, NULL } };
    int rep = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
    int companion = argc > 3 && strcmp(argv[2], "--") == 0;
    m.input = argc >= 2 ? argv[1] : "";
    if ((argc != 2 && !companion) || load(&m, argv[1]) < 0) {
        char text[32];
        snprintf(text, sizeof text, "err %d %d\n", PYC_MON_STEP_START, EINVAL);
        report(&rep, text);
        unload(&m);
        return 2;
    }
    if (rep >= 0)
        fcntl(rep, F_SETFD, FD_CLOEXEC);
    /* Detach from the starter: it reaps the intermediate, we go on alone. */
    pid_t child = fork();
    if (child != 0)
        _exit(child < 0 ? 1 : 0);
    setsid();
    int null = open("/dev/null", O_RDWR);      /* stdio, also for the hooks */
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        if (null != fd)
            dup2(null, fd);
    if (null > 2)
        close(null);
    signal(SIGPIPE, SIG_IGN);
    if (companion)
        start_companion(&m, argv + 3);
    logfile_open(&m.log, m.paths[PYC_MON_LOG], m.x ? m.x->log_max_size : 0,
                 m.x ? m.x->log_max_files : 1, m.x && m.x->log_driver == PYC_MON_LOG_NONE);
    m.io.flags = m.h.stdio;
    m.io.listen = m.paths[PYC_MON_ATTACH][0] ? io_listen(m.paths[PYC_MON_ATTACH]) : -1;
    m.io.extra_fd = health_fd(&m.hc);
    m.io.extra_ready = health_ready;
    m.io.extra_ctx = &m.hc;
    m.io.jr = &m.jr;
    supervise(&m, rep);
    if (m.io.listen >= 0) {
        close(m.io.listen);
        unlink(m.paths[PYC_MON_ATTACH]);
    }
    finish(&m);
    logfile_close(&m.log);
    unload(&m);
    return 0;
}
