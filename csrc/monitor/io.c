/* pyc-monitor: the container's stdio and the attach socket (see io.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "io.h"
#include "journal.h"
#include "../internal.h"

#define MAX_CLIENTS 8
#define MAX_KEYS 16
#define CHUNK 65536

struct client {
    int fd;
    unsigned want;              /* IO_WANT_* */
    char keys[MAX_KEYS];        /* detach keys, matched against its stdin */
    int nkeys, matched;
    int hup;                    /* it closed: read what it sent, then drop it */
    long long stalled;          /* ms when its socket filled up; 0 when not */
};

/* The loop's state: one output chunk shared by every client (not read
 * again until each has it) and the input not yet written to the init. */
struct loop {
    const struct io *io;
    struct init in;
    struct client cl[MAX_CLIENTS];
    int ncl, npending, outputs;
    int pty_eof;                /* the master read EIO: kept open until the reap */
    size_t outlen, inlen, inoff;
    int close_stdin;            /* after inbuf is written */
    char out[CHUNK + 1];        /* type byte, then the chunk (the buffers last: */
    char inbuf[CHUNK + MAX_KEYS];   /* a start clears only what is before them) */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int io_open(const struct io *io, struct init *in, int child[3])
{
    int out[2] = { -1, -1 }, err[2] = { -1, -1 }, inp[2] = { -1, -1 };
    *in = (struct init) { .pid = -1, .pidfd = -1, .out = -1, .err = -1, .in = -1 };
    child[0] = child[1] = child[2] = -1;
    if (io->flags & IO_TTY)
        return 0;
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
        ((io->flags & IO_STDIN) && pipe2(inp, O_CLOEXEC) < 0)) {
        int e = neg_errno();
        int all[6] = { out[0], out[1], err[0], err[1], inp[0], inp[1] };
        for (int i = 0; i < 6; i++)
            if (all[i] >= 0)
                close(all[i]);
        return e;
    }
    child[0] = inp[0];
    child[1] = out[1];
    child[2] = err[1];
    in->out = out[0];
    in->err = err[0];
    in->in = inp[1];
    if (in->in >= 0)
        set_nonblock(in->in);
    return 0;
}

void io_take_pty(const struct io *io, struct init *in, int master)
{
    set_nonblock(master);
    in->out = master;
    in->in = (io->flags & IO_STDIN) ? master : -1;
}

void io_close_child(int child[3])
{
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0) {
            close(child[i]);
            child[i] = -1;
        }
}

void io_close(struct init *in)
{
    if (in->in >= 0 && in->in != in->out)
        close(in->in);
    if (in->out >= 0)
        close(in->out);
    if (in->err >= 0)
        close(in->err);
    in->in = in->out = in->err = -1;
}

int io_listen(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || strlen(slash + 1) > 64)
        return -EINVAL;
    char dir[4096];
    if ((size_t) (slash - path) >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, (size_t) (slash - path));
    dir[slash - path] = '\0';
    cleanup_fd int dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return neg_errno();
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dfd, slash + 1);
    unlinkat(dfd, slash + 1, 0);                /* a stale one of an earlier monitor */
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return neg_errno();
    mode_t old = umask(0177);                   /* 0600: root's only */
    int r = bind(fd, (struct sockaddr *) &sa, sizeof sa);
    umask(old);
    if (r < 0 || listen(fd, MAX_CLIENTS) < 0) {
        r = neg_errno();
        close(fd);
        return r;
    }
    return fd;
}

static void drop(struct loop *l, int i)
{
    if (l->cl[i].stalled)
        l->npending--;
    close(l->cl[i].fd);
    l->cl[i] = l->cl[--l->ncl];
}

static void flush_input(struct loop *l);

/* Client i leaves while the container runs (its detach keys, its socket
 * closed, or it stalled): docker's "detach", unless it wanted no stream
 * (a resize's connection); with IO_STDIN_ONCE a client that wrote stdin
 * takes it along once what it sent is written. */
static void leave(struct loop *l, int i)
{
    unsigned want = l->cl[i].want;
    if (want && l->io->jr)
        journal_emit(l->io->jr, "detach", NULL, NULL);
    drop(l, i);
    if ((want & IO_WANT_STDIN) && (l->io->flags & IO_STDIN_ONCE) &&
        !(l->io->flags & IO_TTY) && l->in.in >= 0) {
        l->close_stdin = 1;
        flush_input(l);
    }
}

static void send_small(int fd, char type, const void *data, size_t len)
{
    char pkt[32];
    pkt[0] = type;
    memcpy(pkt + 1, data, len);
    if (send(fd, pkt, len + 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* a client gone or full: it learns the end from the socket closing */
    }
}

/* Send the shared chunk to client i; 0 when sent or skipped, 1 when its
 * socket is full, -1 when the client is gone. */
static int send_chunk(struct loop *l, int i)
{
    struct client *c = &l->cl[i];
    unsigned want = l->out[0] == 1 ? IO_WANT_STDOUT : IO_WANT_STDERR;
    if (!(c->want & want))
        return 0;
    if (send(c->fd, l->out, l->outlen + 1, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        return 0;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 1 : -1;
}

static void broadcast(struct loop *l)
{
    for (int i = l->ncl - 1; i >= 0; i--) {
        int r = send_chunk(l, i);
        if (r < 0) {
            leave(l, i);
        } else if (r > 0) {
            l->cl[i].stalled = now_ms();
            l->npending++;
        }
    }
}

/* Read a chunk of output (out or err, 1 or 2), log it, hand it on. */
static void read_output(struct loop *l, int *fd, int type, io_sink sink, void *ctx)
{
    ssize_t n = read(*fd, l->out + 1, CHUNK);
    if (n > 0) {
        l->out[0] = (char) type;
        l->outlen = (size_t) n;
        sink(ctx, type == 1 ? "stdout" : "stderr", l->out + 1, (size_t) n);
        broadcast(l);
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    l->outputs--;
    if (l->io->flags & IO_TTY) {
        /* EIO: every holder of the slave closed it.  Closing the master now
         * would hang up the session and SIGHUP an init that closed its
         * stdio but has not exited yet: keep it until the reap. */
        l->pty_eof = 1;
        return;
    }
    close(*fd);
    *fd = -1;
}

static void close_stdin(struct loop *l)
{
    if (l->in.in >= 0 && l->in.in != l->in.out)
        close(l->in.in);
    l->in.in = -1;
    l->close_stdin = 0;
    l->inlen = l->inoff = 0;
}

static void flush_input(struct loop *l)
{
    while (l->inoff < l->inlen && l->in.in >= 0) {
        ssize_t n = write(l->in.in, l->inbuf + l->inoff, l->inlen - l->inoff);
        if (n > 0) {
            l->inoff += (size_t) n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;                           /* poll says when it takes more */
        } else {                              /* the init closed its stdin */
            close_stdin(l);
            return;
        }
    }
    l->inlen = l->inoff = 0;
    if (l->close_stdin)
        close_stdin(l);
}

/* Stdin from client c: its detach keys are held back while they match;
 * 1 when the client detached. */
static int take_stdin(struct loop *l, struct client *c, const char *data, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        char b = data[k];
        if (c->nkeys && b == c->keys[c->matched]) {
            if (++c->matched == c->nkeys)
                return 1;
            continue;
        }
        if (c->matched) {                      /* not the keys after all: let them through */
            memcpy(l->inbuf + l->inlen, c->keys, (size_t) c->matched);
            l->inlen += (size_t) c->matched;
            c->matched = 0;
            if (b == c->keys[0]) {
                c->matched = 1;
                continue;
            }
        }
        l->inbuf[l->inlen++] = b;
    }
    return 0;
}

static void take_eof(struct loop *l)
{
    if (l->in.in < 0)
        return;
    if (!(l->io->flags & IO_TTY)) {
        l->close_stdin = 1;
        return;
    }
    struct termios t;
    /* the line discipline's EOF character (^D unless the container changed it) */
    l->inbuf[l->inlen++] = tcgetattr(l->in.in, &t) == 0 && t.c_cc[VEOF] ? (char) t.c_cc[VEOF]
                                                                        : '\x04';
}

/* One packet from client i; -1 when the client is done. */
static int from_client(struct loop *l, int i, char *buf)
{
    struct client *c = &l->cl[i];
    ssize_t n = recv(c->fd, buf, CHUNK + 1, MSG_DONTWAIT);
    if (n < 0)      /* ECONNRESET: it closed with our packets unread; its own still come */
        return errno == EAGAIN || errno == EINTR || errno == ECONNRESET ? 0 : -1;
    if (n == 0)
        return -1;
    size_t len = (size_t) n - 1;
    switch (buf[0]) {
    case 0:
        if (take_stdin(l, c, buf + 1, len)) {
            send_small(c->fd, 'd', "", 0);
            return -1;
        }
        if (!(c->want & IO_WANT_STDIN) || l->in.in < 0)
            l->inlen = 0;
        break;
    case 'e':
        if (c->want & IO_WANT_STDIN)
            take_eof(l);
        break;
    case 'r':
        if (len == 4 && (l->io->flags & IO_TTY) && l->in.out >= 0) {
            struct winsize ws = { 0 };
            memcpy(&ws.ws_row, buf + 1, 2);
            memcpy(&ws.ws_col, buf + 3, 2);
            ioctl(l->in.out, TIOCSWINSZ, &ws);    /* the kernel signals SIGWINCH */
        }
        break;
    case 'o':
        if (len >= 1) {
            c->want = (unsigned char) buf[1];
            c->nkeys = (int) (len - 1 > MAX_KEYS ? MAX_KEYS : len - 1);
            memcpy(c->keys, buf + 2, (size_t) c->nkeys);
            c->matched = 0;
            send_small(c->fd, 'a', "", 0);     /* from here on it gets every chunk */
        }
        break;
    }
    return 0;
}

static void accept_client(struct loop *l)
{
    int fd = accept4(l->io->listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    if (l->ncl == MAX_CLIENTS) {
        close(fd);
        return;
    }
    l->cl[l->ncl++] = (struct client) {
        .fd = fd, .want = IO_WANT_STDIN | IO_WANT_STDOUT | IO_WANT_STDERR,
        .keys = { 0x10, 0x11 }, .nkeys = 2,
    };
}

enum { F_OUT, F_ERR, F_PID, F_IN, F_LISTEN, F_EXTRA, F_CLIENTS };

/* Service the clients' sockets after a poll. */
static void serve_clients(struct loop *l, struct pollfd *fds, char *buf)
{
    long long now = now_ms();
    for (int i = l->ncl - 1; i >= 0; i--) {
        struct client *c = &l->cl[i];
        short rev = fds[F_CLIENTS + i].revents;
        if (fds[F_CLIENTS + i].fd != c->fd)
            continue;                          /* accepted after this poll */
        if (c->stalled && (rev & POLLOUT)) {
            int r = send_chunk(l, i);
            if (r < 0) {
                leave(l, i);
                continue;
            }
            if (r == 0) {
                c->stalled = 0;
                l->npending--;
            }
        }
        if (c->stalled && now - c->stalled > IO_STALL_MS) {
            leave(l, i);                        /* reads nothing: it holds up the container */
            continue;
        }
        if (rev & (POLLHUP | POLLERR))
            c->hup = 1;
        /* POLLHUP comes even for a socket polled without POLLIN (stdin was
         * full then): only a poll that asked for POLLIN and got none says
         * that nothing of a closed client is left to read. */
        int asked = fds[F_CLIENTS + i].events & POLLIN;
        if ((rev & POLLIN) && l->inoff == l->inlen) {
            if (from_client(l, i, buf) < 0) {
                leave(l, i);
                continue;
            }
            flush_input(l);
        } else if (c->hup && asked && !(rev & POLLIN)) {
            leave(l, i);                        /* gone, and nothing of it left to read */
        }
    }
}

static void poll_set(struct loop *l, struct pollfd *fds, int exited)
{
    int reading = l->npending == 0;
    fds[F_OUT] = (struct pollfd) { reading && !l->pty_eof ? l->in.out : -1, POLLIN, 0 };
    fds[F_ERR] = (struct pollfd) { reading ? l->in.err : -1, POLLIN, 0 };
    fds[F_PID] = (struct pollfd) { exited ? -1 : l->in.pidfd, POLLIN, 0 };
    fds[F_IN] = (struct pollfd) { l->inoff < l->inlen ? l->in.in : -1, POLLOUT, 0 };
    fds[F_LISTEN] = (struct pollfd) { l->io->listen, POLLIN, 0 };
    fds[F_EXTRA] = (struct pollfd) { l->io->extra_fd, POLLIN, 0 };
    int taking = l->inoff == l->inlen;        /* room for a client's packet */
    for (int i = 0; i < l->ncl; i++) {
        const struct client *c = &l->cl[i];
        /* a closed one would report POLLHUP at once, over and over: left out
         * until its packets can be read */
        int skip = c->hup && !taking && !c->stalled;
        fds[F_CLIENTS + i] = (struct pollfd) {
            skip ? -1 : c->fd, (short) ((taking ? POLLIN : 0) | (c->stalled ? POLLOUT : 0)),
            0 };
    }
}

/* The exit code is the last packet; a client still reading the output may
 * have a full socket, so wait for room (as for any chunk, up to the stall
 * limit, shared by all) rather than lose it. */
static void finish_clients(struct loop *l, int code)
{
    int32_t c32 = code;
    long long deadline = now_ms() + IO_STALL_MS;
    while (l->ncl > 0) {
        struct client *c = &l->cl[l->ncl - 1];
        struct pollfd p = { c->fd, POLLOUT, 0 };
        long long left = deadline - now_ms();
        while (!c->stalled && left > 0 && poll(&p, 1, (int) left) < 0 && errno == EINTR)
            left = deadline - now_ms();
        if (!c->stalled && (p.revents & POLLOUT))
            send_small(c->fd, 'x', &c32, sizeof c32);
        drop(l, l->ncl - 1);
    }
}

int follow(const struct io *io, const struct init *in, io_sink sink, void *ctx)
{
    static struct loop l;                      /* one loop at a time; ~130 KiB off the stack */
    char buf[CHUNK + 1];
    memset(&l, 0, offsetof(struct loop, out));
    l.io = io;
    l.in = *in;
    l.outputs = (in->out >= 0) + (in->err >= 0);
    int exited = 0;
    while (l.outputs > 0 || !exited || l.npending > 0) {
        struct pollfd fds[F_CLIENTS + MAX_CLIENTS];
        poll_set(&l, fds, exited);
        int r = poll(fds, (nfds_t) (F_CLIENTS + l.ncl), l.npending ? 1000 : -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[F_OUT].fd >= 0 && fds[F_OUT].revents)
            read_output(&l, &l.in.out, 1, sink, ctx);
        if (fds[F_ERR].fd >= 0 && fds[F_ERR].revents && l.npending == 0)
            read_output(&l, &l.in.err, 2, sink, ctx);
        if (fds[F_PID].fd >= 0 && fds[F_PID].revents)
            exited = 1;
        if (fds[F_IN].fd >= 0 && fds[F_IN].revents)
            flush_input(&l);
        serve_clients(&l, fds, buf);
        if (fds[F_LISTEN].fd >= 0 && (fds[F_LISTEN].revents & POLLIN))
            accept_client(&l);
        if (fds[F_EXTRA].fd >= 0 && fds[F_EXTRA].revents)
            l.io->extra_ready(l.io->extra_ctx);
    }
    siginfo_t si = { 0 };
    while (waitid(P_PID, (id_t) in->pid, &si, WEXITED) < 0 && errno == EINTR)
        ;
    close(in->pidfd);
    int code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    io_close(&l.in);
    finish_clients(&l, code);
    return code;
}
