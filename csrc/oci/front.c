/* pycontainer-runtime: the front end of the OCI runtime (runc's CLI).
 *
 * The verbs callers run per container on the hot path (start, state, kill,
 * delete, ps --format json) act here on the files `create` left in
 * <root>/<id>/ (pycontainer/oci/state.py) with no Python started; any other
 * verb, flag or case (hooks to run, a container still being created) execs
 * the Python runtime, `python -I -S -c <boot> ARGS`, with the same arguments.
 * `create` goes to the warm process (warm.c), the init cloned here.
 * The status is read, never stored: the init's pid + start time, the exec
 * fifo, the freezer.  Errors: a line on stderr (and --log), exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "front.h"

#define MAX_CGROUPS 16
#define PYC_OCI_VERSION "0.1.0"

struct opts { const char *root, *log, *log_format; };

struct front {               /* the `front` file */
    long pid;
    unsigned long long start;
    int python;              /* 1: start/delete have hooks to run: Python's job */
    char freezer[PATH_MAX], userns[PATH_MAX];
    char umount[PATH_MAX];   /* the rootfs, when its mounts are in the caller's namespace */
    char cgroups[MAX_CGROUPS][PATH_MAX];
    int ncgroups;
};

static struct opts g = { "/run/pycontainer-runtime", NULL, "text" };

int fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);
    FILE *f = g.log && *g.log ? fopen(g.log, "ae") : NULL;
    if (f) {
        char ts[32];
        time_t t = time(NULL);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        if (!strcmp(g.log_format, "json")) {
            fprintf(f, "{\"level\": \"error\", \"msg\": \"");
            for (const char *s = msg; *s; s++)
                fprintf(f, (*s == '"' || *s == '\\') ? "\\%c" : (*s < 0x20 ? "\\u%04x" : "%c"),
                        *s);
            fprintf(f, "\", \"time\": \"%s\"}\n", ts);
        } else {
            fprintf(f, "time=\"%s\" level=error msg=\"%s\"\n", ts, msg);
        }
        fclose(f);
    }
    return 1;
}

/* <top>/pycontainer/oci/pycontainer-runtime: <top> holds the package. */
int package_top(char *top, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", top, cap - 1);
    if (n < 0)
        return -1;
    top[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(top, '/');
        if (slash)
            *slash = '\0';
    }
    return 0;
}

/* `python -I -S -c` code that finds the package and runs `tail`; 0 or -1. */
int boot_code(char *boot, size_t cap, const char *top, const char *tail)
{
    char *at = boot, *end = boot + cap;
    at += snprintf(at, (size_t) (end - at), "import sys; sys.path[:0] = ['%s'", top);
    for (const char *p = PYC_OCI_PATH; *p && at < end;) {
        const char *c = strchr(p, ':');
        int k = c ? (int) (c - p) : (int) strlen(p);
        at += snprintf(at, (size_t) (end - at), ", '%.*s'", k, p);
        p += k + (c ? 1 : 0);
    }
    /* The runtime needs neither the SDK's facade (pycontainer/__init__: the
     * client and its models) nor the security room's docker defaults: the
     * two packages are entered without their __init__, ~40 ms less per verb. */
    if (at >= end || snprintf(at, (size_t) (end - at),
                              "]; import types\n"
                              "for n in ('pycontainer', 'pycontainer.security'):\n"
                              " m = types.ModuleType(n); m.__path__ = ['%s/' + n.replace('.', '/')]"
                              "; sys.modules[n] = m\n%s", top, tail)
        >= end - at)
        return -1;
    return 0;
}

/* Hand the whole command line to the Python runtime. */
int python(int argc, char **argv)
{
    char top[PATH_MAX], boot[8192];
    if (package_top(top, sizeof top) < 0)
        return fail("readlink /proc/self/exe: %s", strerror(errno));
    if (boot_code(boot, sizeof boot, top,
                  "from pycontainer.oci.cli import main_exit; main_exit()") < 0)
        return fail("the Python paths are too long");
    char **args = calloc((size_t) argc + 5, sizeof *args);
    if (!args)
        return fail("out of memory");
    int i = 0;
    args[i++] = (char *) PYC_OCI_PYTHON;
    args[i++] = (char *) "-I";
    args[i++] = (char *) "-S";
    args[i++] = (char *) "-c";
    args[i++] = boot;
    for (int k = 1; k < argc; k++)
        args[i++] = argv[k];
    execv(PYC_OCI_PYTHON, args);
    return fail("exec %s: %s", PYC_OCI_PYTHON, strerror(errno));
}

static void cpath(char *out, size_t cap, const char *id, const char *file)
{
    snprintf(out, cap, "%s/%s/%s", g.root, id, file);
}

static int read_front(const char *id, struct front *f)
{
    char path[PATH_MAX], line[PATH_MAX + 16];
    cpath(path, sizeof path, id, "front");
    FILE *fp = fopen(path, "re");
    if (!fp)
        return -errno;
    memset(f, 0, sizeof *f);
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, ' ');
        if (!v)
            continue;
        *v++ = '\0';
        if (!strcmp(line, "pid"))
            f->pid = strtol(v, NULL, 10);
        else if (!strcmp(line, "start"))
            f->start = strtoull(v, NULL, 10);
        else if (!strcmp(line, "python"))
            f->python = atoi(v);
        else if (!strcmp(line, "freezer"))
            snprintf(f->freezer, sizeof f->freezer, "%s", v);
        else if (!strcmp(line, "userns"))
            snprintf(f->userns, sizeof f->userns, "%s", v);
        else if (!strcmp(line, "umount"))
            snprintf(f->umount, sizeof f->umount, "%s", v);
        else if (!strcmp(line, "cgroup") && f->ncgroups < MAX_CGROUPS)
            snprintf(f->cgroups[f->ncgroups++], PATH_MAX, "%s", v);
    }
    fclose(fp);
    return 0;
}

/* Is the init still the process create started (not a zombie, not a reused pid)? */
static int alive(const struct front *f)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", f->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p += 2;                             /* field 3: state; start time is field 22 */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p && strtoull(p + 1, NULL, 10) == f->start;
}

static const char *status_of(const char *id, const struct front *f)
{
    char path[PATH_MAX], buf[16] = "";
    if (!alive(f))
        return "stopped";
    cpath(path, sizeof path, id, "exec.fifo");
    if (access(path, F_OK) == 0)
        return "created";
    if (*f->freezer) {
        int fd = open(f->freezer, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n > 0 && (buf[0] == '1' || !strncmp(buf, "FR", 2)))
                return "paused";
        }
    }
    return "running";
}

static int load(const char *id, struct front *f, int argc, char **argv, int *delegate)
{
    *delegate = 0;
    if (!*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, ".."))
        return fail("invalid container id %s", id);
    int r = read_front(id, f);
    if (r == -ENOENT) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", g.root, id);
        if (access(dir, F_OK) == 0) {      /* being created: Python says so */
            *delegate = 1;
            return python(argc, argv);
        }
        return fail("container %s does not exist", id);
    }
    if (r < 0)
        return fail("read the state of %s: %s", id, strerror(-r));
    return 0;
}

static int verb_state(const char *id, const struct front *f)
{
    char path[PATH_MAX], tmpl[65536];
    cpath(path, sizeof path, id, "state.tmpl");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("read the state of %s: %s", id, strerror(errno));
    ssize_t n = read(fd, tmpl, sizeof tmpl - 1);
    close(fd);
    if (n <= 0)
        return fail("read the state of %s: empty", id);
    tmpl[n] = '\0';
    const char *status = status_of(id, f);
    long pid = strcmp(status, "stopped") ? f->pid : 0;
    for (char *s = tmpl; *s;) {
        if (!strncmp(s, "@PID@", 5)) {
            printf("%ld", pid);
            s += 5;
        } else if (!strncmp(s, "@STATUS@", 8)) {
            fputs(status, stdout);
            s += 8;
        } else {
            putchar(*s++);
        }
    }
    return fflush(stdout) ? 1 : 0;
}

static int procs(const struct front *f, long *out, int cap)
{
    for (int i = 0; i < f->ncgroups; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/cgroup.procs", f->cgroups[i]);
        FILE *fp = fopen(path, "re");
        if (!fp)
            continue;
        int n = 0;
        long pid;
        while (n < cap && fscanf(fp, "%ld", &pid) == 1)
            out[n++] = pid;
        fclose(fp);
        return n;
    }
    return 0;
}

static const struct { const char *name; int num; } SIGNALS[] = {
    {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL}, {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"IOT", SIGIOT}, {"BUS", SIGBUS}, {"FPE", SIGFPE}, {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},
    {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},
    {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"POLL", SIGPOLL}, {"PWR", SIGPWR}, {"SYS", SIGSYS},
};

static int parse_signal(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end)
        return n > 0 && n < NSIG ? (int) n : -1;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < sizeof SIGNALS / sizeof *SIGNALS; i++)
        if (!strcasecmp(s, SIGNALS[i].name))
            return SIGNALS[i].num;
    return -1;
}

/* Signal the init through a pidfd checked against its start time. */
static int signal_init(const struct front *f, int sig)
{
    int fd = (int) syscall(SYS_pidfd_open, (pid_t) f->pid, 0);
    if (fd < 0)
        return -errno;
    int r = alive(f) ? (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) ? -errno : 0) : -ESRCH;
    close(fd);
    return r;
}

static int verb_kill(const char *id, const struct front *f, int sig, int all)
{
    const char *status = status_of(id, f);
    if (!strcmp(status, "stopped"))
        return fail("container %s is not running", id);
    if (all) {
        long pids[4096];
        int n = procs(f, pids, 4096);
        for (int i = 0; i < n; i++)
            kill((pid_t) pids[i], sig);
        if (n)
            return 0;
    }
    int r = signal_init(f, sig);
    return r < 0 && r != -ESRCH ? fail("kill %s: %s", id, strerror(-r)) : 0;
}

static int verb_start(const char *id, const struct front *f)
{
    char fifo[PATH_MAX], c;
    const char *status = status_of(id, f);
    if (strcmp(status, "created"))
        return fail("cannot start a container that is %s", status);
    cpath(fifo, sizeof fifo, id, "exec.fifo");
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail("open %s: %s", fifo, strerror(errno));
    int pidfd = (int) syscall(SYS_pidfd_open, (pid_t) f->pid, 0);
    if (pidfd < 0) {
        close(fd);
        return fail("container %s: the init exited before it started", id);
    }
    /* The init writes one byte once our open lets its open return; its exit ends it too. */
    struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
    while (poll(p, 2, -1) < 0 && errno == EINTR)
        ;
    ssize_t n = read(fd, &c, 1);        /* non-blocking: the byte, or none */
    close(fd);
    close(pidfd);
    unlink(fifo);
    /* The byte says it went on; it may have run and exited since (`true`): started. */
    if (n != 1)
        return fail("container %s: the init exited before it started", id);
    return 0;
}

static int wait_gone(const struct front *f)
{
    int fd = (int) syscall(SYS_pidfd_open, (pid_t) f->pid, 0);
    if (fd < 0)
        return 0;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r = alive(f) ? poll(&p, 1, 10000) : 1;
    close(fd);
    return r == 0 ? -ETIMEDOUT : 0;
}

static int remove_dir(const char *id)
{
    static const char *FILES[] = { "exec.fifo", "state.tmpl", "config.json", "userns",
                                   "state.json", "front" };   /* front last: it says "exists" */
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) {
        cpath(path, sizeof path, id, FILES[i]);
        if (unlink(path) && errno != ENOENT)
            return fail("remove %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/%s", g.root, id);
    if (rmdir(path) && errno != ENOENT)
        return fail("remove %s: %s", path, strerror(errno));
    return 0;
}

static int verb_delete(const char *id, const struct front *f, int force)
{
    const char *status = status_of(id, f);
    /* The spec: deleting a container that is not stopped is an error (runc
     * deletes a created one; --force does that here). */
    if (strcmp(status, "stopped") && !force)
        return fail("cannot delete container %s that is not stopped: %s", id, status);
    if (strcmp(status, "stopped")) {
        long pids[4096];
        int n = procs(f, pids, 4096);
        for (int i = 0; i < n; i++)
            kill((pid_t) pids[i], SIGKILL);
        signal_init(f, SIGKILL);
        if (!strcmp(status, "paused") && *f->freezer) {
            int fd = open(f->freezer, O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                const char *thaw = strstr(f->freezer, "freezer.state") ? "THAWED" : "0";
                if (write(fd, thaw, strlen(thaw)) < 0)
                    fprintf(stderr, "thaw %s: %s\n", f->freezer, strerror(errno));
                close(fd);
            }
        }
        if (wait_gone(f) < 0)
            return fail("delete %s: the init did not die within 10 s", id);
    }
    for (int i = 0; i < f->ncgroups; i++) {
        /* The kernel drains an emptied cgroup briefly: EBUSY for a moment. */
        for (int tries = 0; rmdir(f->cgroups[i]) && errno == EBUSY && tries < 1000; tries++)
            usleep(1000);
        if (access(f->cgroups[i], F_OK) == 0)
            return fail("remove cgroup %s: %s", f->cgroups[i], strerror(errno));
    }
    if (*f->userns && umount2(f->userns, MNT_DETACH) && errno != EINVAL && errno != ENOENT)
        return fail("unmount %s: %s", f->userns, strerror(errno));
    if (*f->umount && umount2(f->umount, MNT_DETACH | UMOUNT_NOFOLLOW) && errno != EINVAL &&
        errno != ENOENT)
        return fail("unmount %s: %s", f->umount, strerror(errno));
    return remove_dir(id);
}

static int verb_ps_json(const struct front *f, const char *id)
{
    long pids[4096];
    int n = strcmp(status_of(id, f), "stopped") ? procs(f, pids, 4096) : 0;
    putchar('[');
    for (int i = 0; i < n; i++)
        printf(i ? ",%ld" : "%ld", pids[i]);
    puts("]");
    return 0;
}

/* The Python runtime's verb for id, as our child (hooks to run); its status. */
static int python_child(char **argv, int globals, const char *verb, const char *flag,
                        const char *id)
{
    char *args[64];
    int n = 0;
    for (int k = 0; k < globals && n < 60; k++)
        args[n++] = argv[k];
    args[n++] = (char *) verb;
    if (flag)
        args[n++] = (char *) flag;
    args[n++] = (char *) id;
    args[n] = NULL;
    pid_t pid = fork();
    if (pid == 0)
        _exit(python(n, args));
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return pid < 0 ? fail("fork: %s", strerror(errno)) : WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static volatile pid_t run_init;

static void pass_on(int sig)
{
    if (run_init > 0)
        kill(run_init, sig);
}

/* run: create through the warm process (the init is our child), start, and
 * unless -d wait for the init, passing on our signals as runc does, and
 * delete it unless --keep.  argv[verb_at] follows "run". */
static int verb_run(int argc, char **argv, int verb_at)
{
    char **args = calloc((size_t) argc + 2, sizeof *args);
    int n = 0, detach = 0, keep = 0;
    if (!args)
        return fail("out of memory");
    for (int k = 0; k < verb_at - 1; k++)
        args[n++] = argv[k];
    args[n++] = (char *) "create";
    int flags_at = n++;                     /* --pyc-foreground, or a no-op repeat */
    for (int k = verb_at; k < argc; k++) {
        const char *a = argv[k];
        if (!strcmp(a, "-d") || !strcmp(a, "--detach") || !strcmp(a, "-detach"))
            detach = 1;
        else if (!strcmp(a, "--keep") || !strcmp(a, "-keep"))
            keep = 1;
        else
            args[n++] = (char *) a;
    }
    const char *id = argv[argc - 1];
    if (n <= flags_at + 1 || id[0] == '-')
        return python(argc, argv);          /* Python words the mistake */
    if (detach) {                           /* close the gap: no extra flag */
        memmove(args + flags_at, args + flags_at + 1, (size_t) (n - flags_at - 1) * sizeof *args);
        n--;
    } else {
        args[flags_at] = (char *) "--pyc-foreground";
    }
    args[n] = NULL;
    pid_t init = 0;
    int code = warm_create(n, args, argc, argv, &init);
    free(args);
    if (code)
        return code;
    struct front f;
    int delegate, r = load(id, &f, argc, argv, &delegate);
    if (r || delegate)
        return r;
    r = f.python ? python_child(argv, verb_at - 1, "start", NULL, id) : verb_start(id, &f);
    if (!r && detach)
        return 0;
    if (!r) {
        static const int passed[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                      SIGWINCH };
        run_init = init;
        for (size_t k = 0; k < sizeof passed / sizeof *passed; k++) {
            struct sigaction sa = { .sa_handler = pass_on, .sa_flags = SA_RESTART };
            sigemptyset(&sa.sa_mask);
            sigaction(passed[k], &sa, NULL);
        }
        int st = 0;
        while (init > 0 && waitpid(init, &st, 0) < 0 && errno == EINTR)
            ;
        run_init = 0;
        code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    } else {
        code = r;
    }
    if (r || !keep) {
        int d = f.python ? python_child(argv, verb_at - 1, "delete", "--force", id)
                         : verb_delete(id, &f, 1);
        if (d && !code)
            code = d;
    }
    return code;
}

/* --name value or --name=value: the value, advancing *i; NULL when not this flag. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (a[0] == '-' && a[1] == '-')
        a++;
    if (strncmp(a, name, n))
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *v;
        if ((v = flag_value(argc, argv, &i, "-root")))
            g.root = v;
        else if ((v = flag_value(argc, argv, &i, "-log")))
            g.log = v;
        else if ((v = flag_value(argc, argv, &i, "-log-format")))
            g.log_format = v;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version")) {
            /* runc's three lines; keep in step with pycontainer/oci/cli.py */
            fputs("pycontainer-runtime version " PYC_OCI_VERSION "\ncommit: pycontainer\n"
                  "spec: 1.0.2\n", stdout);
            return 0;
        } else if (strcmp(argv[i], "--debug"))
            return python(argc, argv);        /* --systemd-cgroup, help... */
    }
    if (i >= argc)
        return python(argc, argv);
    const char *verb = argv[i++];
    int force = 0, all = 0, json = 0;
    if (!strcmp(verb, "create"))
        return warm_create(argc, argv, argc, argv, NULL);
    if (!strcmp(verb, "run"))
        return verb_run(argc, argv, i);
    if (strcmp(verb, "start") && strcmp(verb, "state") && strcmp(verb, "kill") &&
        strcmp(verb, "delete") && strcmp(verb, "ps"))
        return python(argc, argv);
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(verb, "delete") && (!strcmp(a, "-f") || !strcmp(a, "--force")))
            force = 1;
        else if (!strcmp(verb, "kill") && (!strcmp(a, "-a") || !strcmp(a, "--all")))
            all = 1;
        else if (!strcmp(verb, "ps") && ((v = flag_value(argc, argv, &i, "-format")) ||
                                         (v = flag_value(argc, argv, &i, "f"))) &&
                 !strcmp(v, "json"))
            json = 1;
        else
            return python(argc, argv);
    }
    if (i >= argc || (!strcmp(verb, "ps") && !json))
        return python(argc, argv);
    const char *id = argv[i++];
    int sig = SIGTERM;
    if (!strcmp(verb, "kill") && i < argc && (sig = parse_signal(argv[i++])) < 0)
        return fail("unknown signal %s", argv[i - 1]);
    if (i < argc)
        return python(argc, argv);
    if (!strcmp(verb, "delete") && force && !strchr(id, '/')) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", g.root, id);
        if (access(dir, F_OK) && errno == ENOENT)
            return 0;                       /* --force on a missing container: done */
    }
    struct front f;
    int delegate, r = load(id, &f, argc, argv, &delegate);
    if (r || delegate)
        return r;
    if (f.python && (!strcmp(verb, "start") || !strcmp(verb, "delete")))
        return python(argc, argv);
    if (!strcmp(verb, "state"))
        return verb_state(id, &f);
    if (!strcmp(verb, "kill"))
        return verb_kill(id, &f, sig, all);
    if (!strcmp(verb, "start"))
        return verb_start(id, &f);
    if (!strcmp(verb, "delete"))
        return verb_delete(id, &f, force);
    return verb_ps_json(&f, id);
}
