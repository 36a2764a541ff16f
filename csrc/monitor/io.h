/* The monitor's side of the container's stdio: the pipes or pty of a
 * start, the attach socket and the loop that follows the init to its exit.
 *
 * The attach socket is a SOCK_SEQPACKET UNIX socket (mode 0600) in the
 * container's run dir; each packet is one type byte and its payload:
 *
 *   client -> monitor   0 stdin data        'e' stdin EOF (closes the stdin
 *                       pipe; VEOF on a pty)  'r' resize: uint16 rows, cols
 *                       (native order)      'o' options: one byte of
 *                       IO_WANT_* flags, then the detach keys (0..16 bytes)
 *   monitor -> client   1 stdout data (the whole pty stream with a tty)
 *                       2 stderr data       'x' exit: int32 exit code
 *                       'd' detached (the client's detach keys were typed)
 *
 * A client starts wanting every stream and ctrl-p ctrl-q as detach keys.
 * Output to clients is lossless: while a client's socket is full the
 * container's output is not read (as docker's attach does), but a client
 * that reads nothing for IO_STALL_MS is dropped so the exit is recorded. */
#ifndef PYC_MON_IO_H
#define PYC_MON_IO_H

#include <stddef.h>
#include <sys/types.h>

struct journal;

#define IO_TTY   1u     /* stdio is a pty: the plan's PTY op sends the master */
#define IO_STDIN 2u     /* keep a stdin the attach clients write to */
#define IO_STDIN_ONCE 4u    /* close it when the first client that wrote it leaves
                             * (docker's StdinOnce; pipes only, as docker) */

#define IO_WANT_STDIN  1u
#define IO_WANT_STDOUT 2u
#define IO_WANT_STDERR 4u

#define IO_STALL_MS 10000

/* The stdio of every start of the init, from the input. */
struct io {
    unsigned flags;     /* IO_TTY, IO_STDIN */
    int listen;         /* the attach socket, or -1 */
    int extra_fd;       /* one more fd the loop polls (the healthcheck's), or -1 */
    void (*extra_ready)(void *ctx);     /* called when extra_fd is readable */
    void *extra_ctx;
    const struct journal *jr;   /* a client leaving (detach keys, close) is a "detach" */
};

/* One start of the init: its pid, pidfd, the read ends of its stdout and
 * stderr (with a tty both the master, err -1) and the write end of its
 * stdin (the master with a tty; -1 without IO_STDIN). */
struct init { pid_t pid; int pidfd, out, err, in; };

/* Where output goes: the stream name ("stdout", "stderr") and a chunk. */
typedef void (*io_sink)(void *ctx, const char *stream, const char *data, size_t len);

/* The fds of one start: child[] become the init's fds 0..2 (-1: /dev/null;
 * all -1 with a tty: the PTY op sets them), the parent's ends in *in.
 * 0 or -errno (nothing left open). */
int io_open(const struct io *io, struct init *in, int child[3]);

/* The master the child sent (PYC_MSG_FD): the init's stdio from now on. */
void io_take_pty(const struct io *io, struct init *in, int master);

/* Close the child's ends after the clone. */
void io_close_child(int child[3]);

/* Close the parent's ends (a start that failed). */
void io_close(struct init *in);

/* Bind and listen on the attach socket PATH (any length: bound through
 * its directory's fd).  The fd or -errno. */
int io_listen(const char *path);

/* Follow the init until it exits, serving attach clients; returns its
 * exit code (128+sig if killed).  Closes its fds. */
int follow(const struct io *io, const struct init *in, io_sink sink, void *ctx);

#endif
