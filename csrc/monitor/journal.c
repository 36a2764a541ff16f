/* Appending to the event journal, shared with every writer of the store.
 *
 * A line is one write(2) with O_APPEND, under a shared flock of the file:
 * writers never interleave and never block each other.  Rotation (rename
 * PATH to PATH.1) takes the exclusive lock first, and a writer checks
 * after locking that PATH is still the file it opened, so once PATH names
 * a new file nobody writes to the old one: a reader that sees the rename
 * drains the old file and has every event. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "journal.h"
#include "json.h"

/* PATH opened and share-locked, still the file PATH names; -1 if not. */
static int open_current(const char *path)
{
    for (int tries = 0; tries < 8; tries++) {
        struct stat fst, pst;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        if (flock(fd, LOCK_SH) == 0 && fstat(fd, &fst) == 0 && stat(path, &pst) == 0 &&
            fst.st_ino == pst.st_ino && fst.st_dev == pst.st_dev)
            return fd;
        close(fd);          /* rotated meanwhile: open the new one */
    }
    return -1;
}

static void rotate_if_full(int fd, const char *path, uint64_t max_size)
{
    struct stat fst, pst;
    char old[4200];
    if (!max_size || fstat(fd, &fst) < 0 || (uint64_t) fst.st_size <= max_size)
        return;
    flock(fd, LOCK_UN);
    if (flock(fd, LOCK_EX) < 0)
        return;
    /* another writer may have rotated it between our locks */
    if (stat(path, &pst) == 0 && pst.st_ino == fst.st_ino && fstat(fd, &fst) == 0 &&
        (uint64_t) fst.st_size > max_size &&
        (size_t) snprintf(old, sizeof old, "%s.1", path) < sizeof old)
        rename(path, old);
}

static long long now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One whole line, or nothing. */
static void append_line(const struct journal *jr, const struct json *j)
{
    if (j->full)
        return;         /* Python keeps attributes short enough; never half a line */
    int fd = open_current(jr->path);
    if (fd < 0)
        return;
    if (write(fd, j->buf, j->len) == (ssize_t) j->len)
        rotate_if_full(fd, jr->path, jr->max_size);
    close(fd);
}

void journal_emit(const struct journal *jr, const char *action, const char *key,
                  const char *value)
{
    if (!jr->path || !*jr->path)
        return;
    long long ns = now_real_ns();
    struct json j = { .len = 0 };
    json_raw(&j, "{\"Type\": \"container\", \"Action\": ");
    json_str(&j, action, 0);
    json_raw(&j, ", \"Actor\": {\"ID\": \"%s\", \"Attributes\": {", jr->id);
    json_raw(&j, "%s", jr->attrs ? jr->attrs : "");
    if (key) {
        json_raw(&j, "%s", jr->attrs && *jr->attrs ? ", " : "");
        json_str(&j, key, 0);
        json_raw(&j, ": ");
        json_str(&j, value, 0);
    }
    json_raw(&j, "}}, \"scope\": \"local\", \"time\": %lld, \"timeNano\": %lld, \"status\": ",
             ns / 1000000000LL, ns);
    json_str(&j, action, 0);
    json_raw(&j, ", \"id\": \"%s\", \"from\": ", jr->id);
    json_str(&j, jr->from ? jr->from : "", 0);
    json_raw(&j, "}\n");
    append_line(jr, &j);
}

/* The volumes' lines (extra.h: PYC_MON_X_VOLUMES): NAME TAB MOUNT-ATTRS TAB
 * UNMOUNT-ATTRS, the attributes the inside of a JSON object. */
void journal_emit_volumes(const struct journal *jr, int mount)
{
    if (!jr->path || !*jr->path || !jr->volumes)
        return;
    for (const char *line = jr->volumes; *line; ) {
        const char *end = strchrnul(line, '\n');
        const char *t1 = memchr(line, '\t', (size_t) (end - line));
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t) (end - t1 - 1)) : NULL;
        if (t2) {
            const char *attrs = mount ? t1 + 1 : t2 + 1;
            int alen = (int) (mount ? t2 - t1 - 1 : end - t2 - 1);
            long long ns = now_real_ns();
            struct json j = { .len = 0 };
            json_raw(&j, "{\"Type\": \"volume\", \"Action\": \"%s\", \"Actor\": {\"ID\": ",
                     mount ? "mount" : "unmount");
            json_raw(&j, "\"%.*s\", \"Attributes\": {%.*s}}, \"scope\": \"local\", "
                     "\"time\": %lld, \"timeNano\": %lld}\n", (int) (t1 - line), line,
                     alen, attrs, ns / 1000000000LL, ns);
            append_line(jr, &j);
        }
        line = *end ? end + 1 : end;
    }
}
