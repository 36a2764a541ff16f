/* The monitor's side of the container's stdio: the pipes it makes for a
 * start and the loop that follows the init to its exit. */
#ifndef PYC_MON_IO_H
#define PYC_MON_IO_H

#include <stddef.h>
#include <sys/types.h>

/* One start of the init: its pid, pidfd and the read ends of its stdout and stderr. */
struct init { pid_t pid; int pidfd, out, err; };

/* Where output goes: the stream name ("stdout", "stderr") and a chunk. */
typedef void (*io_sink)(void *ctx, const char *stream, const char *data, size_t len);

/* Two CLOEXEC pipes; 0 or -errno (nothing left open). */
int open_pipes(int out[2], int err[2]);

/* Follow the init until it exits; returns its exit code (128+sig if
 * killed).  Closes its fds. */
int follow(const struct init *in, io_sink sink, void *ctx);

#endif
