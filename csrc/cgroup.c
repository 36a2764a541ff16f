/* cgroup writes.  Python decides the paths and values (v1, v2, hybrid);
 * this file only carries out a batch of mkdir / write / rmdir, and of
 * the owner xattr a sweep reads (runtime.py sweep_cgroups). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

static int write_file(const char *path, const char *val, size_t len)
{
    cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return neg_errno();
    return write(fd, val, len) == (ssize_t) len ? 0 : neg_errno();
}

/* A cgroup whose last task just exited may still be busy for a moment. */
static int rmdir_retry(const char *path, int retry)
{
    struct timespec ts = { 0, 1000000 };
    for (int i = 0; ; i++) {
        if (rmdir(path) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY || !retry || i >= 200)
            return neg_errno();
        nanosleep(&ts, NULL);
    }
}

static int apply_one(char kind, const char *path, const char *val, size_t vlen)
{
    switch (kind) {
    case 'd':
        return mkdir(path, 0755) < 0 && errno != EEXIST ? neg_errno() : 0;
    case 'w':
        return write_file(path, val, vlen);
    case 'r':
        return rmdir_retry(path, 0);
    case 'R':
        return rmdir_retry(path, 1);
    case 'o':       /* trusted.* needs CAP_SYS_ADMIN: without it, no owner is recorded */
        if (setxattr(path, "trusted.pyc.owner", val, vlen, 0) < 0 && errno != EPERM &&
            errno != ENOTSUP)
            return neg_errno();
        return 0;
    }
    return -EINVAL;
}

int pyc_cgroup_apply(const char *batch, uint32_t len, int *failed)
{
    char path[4096];
    const char *s = batch, *end = batch + len;
    int index = 0;
    *failed = -1;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t) (end - s));
        const char *tab1 = memchr(s, '\t', (size_t) ((nl ? nl : end) - s));
        const char *tab2 = tab1 ? memchr(tab1 + 1, '\t', (size_t) ((nl ? nl : end) - tab1 - 1)) : NULL;
        if (!nl || !tab1 || !tab2 || tab1 != s + 1 || (size_t) (tab2 - tab1 - 1) >= sizeof path) {
            *failed = index;
            return -EINVAL;
        }
        size_t plen = (size_t) (tab2 - tab1 - 1);
        memcpy(path, tab1 + 1, plen);
        path[plen] = '\0';
        int r = apply_one(*s, path, tab2 + 1, (size_t) (nl - tab2 - 1));
        if (r < 0) {
            *failed = index;
            return r;
        }
        s = nl + 1;
        index++;
    }
    return index;
}
