/* Small host calls Python's standard library has no wrapper for. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <sys/inotify.h>
#include <unistd.h>
#include "pyc.h"
#include "internal.h"

/* An inotify fd (non-blocking, close-on-exec) watching each of the n
 * directories for a file written, changed, moved, made or removed: the
 * warm command process sees its code change without stat-ing every file. */
int pyc_watch_dirs(const char *const *dirs, int n)
{
    const uint32_t mask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM |
                          IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    for (int i = 0; i < n; i++)
        if (inotify_add_watch(fd, dirs[i], mask) < 0) {
            int err = neg_errno();
            close(fd);
            return err;
        }
    return fd;
}

/* At most n malloc arenas (glibc makes up to 8 a core for threads, each
 * keeping freed memory): for a long-lived threaded server. */
int pyc_malloc_arenas(int n)
{
    return mallopt(M_ARENA_MAX, n) == 1 ? 0 : -EINVAL;
}

/* Give the heap's free pages back (what start-up allocated and freed):
 * glibc returns only the top of the heap on its own. */
void pyc_malloc_trim(void)
{
    malloc_trim(0);
}
