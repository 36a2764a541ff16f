/* The container's log file and its rotation.  Rotation renames PATH.N-1
 * to PATH.N (the oldest goes), PATH to PATH.1, and opens a new PATH, so a
 * reader holding PATH open drains it and then moves on (engine/logs.py).
 * A record never makes a file pass max-size: a long line is cut into P
 * records that fit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "logfile.h"
#include "shared.h"

#define HEAD_MAX 96

static void reopen(struct logfile *l)
{
    struct stat st;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    l->size = l->fd >= 0 && fstat(l->fd, &st) == 0 ? (uint64_t) st.st_size : 0;
}

void logfile_open(struct logfile *l, const char *path, uint64_t max_size, uint32_t max_files,
                  int none)
{
    *l = (struct logfile) { .fd = -1, .path = path, .max_size = max_size,
                            .max_files = max_files ? max_files : 1 };
    if (!none)
        reopen(l);
}

void logfile_close(struct logfile *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

static void rotate(struct logfile *l)
{
    char from[4200], to[4200];
    if (l->max_files == 1) {        /* nothing kept: start the file again */
        if (ftruncate(l->fd, 0) == 0)
            l->size = 0;
        return;
    }
    for (uint32_t i = l->max_files - 1; i >= 1; i--) {
        if (i == 1)
            snprintf(from, sizeof from, "%s", l->path);
        else
            snprintf(from, sizeof from, "%s.%u", l->path, i - 1);
        snprintf(to, sizeof to, "%s.%u", l->path, i);
        if (rename(from, to) < 0 && errno != ENOENT)
            return;                 /* keep writing where we are */
    }
    reopen(l);
}

void log_chunk(struct logfile *l, const char *stream, const char *data, size_t len)
{
    char ts[64], head[HEAD_MAX];
    if (l->fd < 0)
        return;
    rfc3339(now_ns(), ts, sizeof ts);
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t) (nl - data) : len;
        int whole = nl != NULL;
        size_t head_len = strlen(ts) + strlen(stream) + 4;
        if (l->max_size && l->max_size > head_len + 1 && head_len + n + 1 > l->max_size) {
            n = l->max_size - head_len - 1;          /* the rest in the next record */
            whole = 0;
        }
        size_t rec = head_len + n + 1;
        if (l->max_size && l->size > 0 && l->size + rec > l->max_size)
            rotate(l);
        int h = snprintf(head, sizeof head, "%s %s %c ", ts, stream, whole ? 'F' : 'P');
        struct iovec iov[3] = { { head, (size_t) h }, { (void *) data, n }, { "\n", 1 } };
        ssize_t w = writev(l->fd, iov, 3);
        if (w < 0)
            return;
        l->size += (uint64_t) w;
        data += n + (whole ? 1 : 0);
        len -= n + (whole ? 1 : 0);
    }
}
