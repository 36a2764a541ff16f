/* The stat of a whole tree in one call: what a no-op rebuild compares to
 * know that nothing in its context changed (build/memo.py), ~1 µs an
 * entry where a Python walk costs ~10; one level of it is what a listing
 * of 1,000 containers compares to its records at rest (engine/listing.py). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "pyc.h"
#include "internal.h"

#define TREE_DEPTH 128

struct out { char *buf; uint64_t cap, len; int64_t newest; };

static int put(struct out *o, const void *p, uint64_t n)
{
    if (o->len + n > o->cap)
        return -ERANGE;
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static int record(struct out *o, const char *name, const struct stat *st)
{
    uint16_t n = (uint16_t) strlen(name);
    int64_t ctime = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
    if (ctime > o->newest)
        o->newest = ctime;
    uint64_t f[7] = { st->st_mode, st->st_uid, st->st_gid, (uint64_t) st->st_size,
                      (uint64_t) st->st_mtim.tv_sec * 1000000000u + (uint64_t) st->st_mtim.tv_nsec,
                      (uint64_t) st->st_ctim.tv_sec * 1000000000u + (uint64_t) st->st_ctim.tv_nsec,
                      st->st_ino ^ ((uint64_t) st->st_dev << 48) };
    int rc = put(o, &n, sizeof n);
    if (!rc)
        rc = put(o, name, n);
    if (!rc)
        rc = put(o, f, sizeof f);
    return rc;
}

static int walk(int dfd, struct out *o, int depth, int levels)
{
    char dents[8192];          /* per level: at most ~1 MiB of stack */
    if (depth > TREE_DEPTH)
        return -ELOOP;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, dents, sizeof dents);
        if (n < 0)
            return neg_errno();
        if (n == 0)
            return put(o, "\xff\xff", 2);   /* the directory's end */
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *) (dents + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
                continue;
            struct stat st;
            if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                    continue;           /* gone meanwhile: the record says so anyway */
                return neg_errno();
            }
            int rc = record(o, name, &st);
            if (rc)
                return rc;
            if (S_ISDIR(st.st_mode) && depth + 1 < levels) {
                int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                    return neg_errno();
                rc = walk(sub, o, depth + 1, levels);
                close(sub);
                if (rc)
                    return rc;
            }
        }
    }
}

int64_t pyc_tree_stat(int dirfd, int levels, char *buf, uint64_t cap, int64_t *newest)
{
    struct out o = { buf, cap, 0, 0 };
    struct stat st;
    if (fstat(dirfd, &st) < 0)
        return neg_errno();
    int rc = record(&o, ".", &st);
    if (rc)
        return rc;
    if (S_ISDIR(st.st_mode) && levels > 0) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return neg_errno();
        rc = walk(fd, &o, 0, levels);
        close(fd);
        if (rc)
            return rc;
    }
    *newest = o.newest;
    return (int64_t) o.len;
}
