/* The client side of pycontainer/forkserver.py: the request a warm process
 * takes (a marshal dump of argv0, args, environ, cwd, umask and context()),
 * and its sending with the stdio fds.  Shared by the command's client
 * (csrc/cli/client.c) and the OCI runtime's front end (csrc/oci/front.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "warm.h"

extern char **environ;

/* -- marshal, the few types the request has ------------------------------ */

static void put(struct pyc_buf *b, const void *data, size_t n)
{
    if (b->bad)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 65536) + n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u32(struct pyc_buf *b, uint32_t v)
{
    unsigned char le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
    put(b, le, 4);
}

static void put_type(struct pyc_buf *b, char t, uint32_t n)
{
    put(b, &t, 1);
    put_u32(b, n);
}

static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 0;
        if (!k || c == 0xc0 || c == 0xc1 || i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

static void put_str_n(struct pyc_buf *b, const char *s, size_t n)
{
    if (!utf8_ok((const unsigned char *) s, n))
        b->bad = 1;             /* os.environ's surrogates: Python's to send */
    put_type(b, 'u', (uint32_t) n);
    put(b, s, n);
}

static void put_str(struct pyc_buf *b, const char *s)
{
    put_str_n(b, s, strlen(s));
}

static void put_int(struct pyc_buf *b, long long v)
{
    if (v >= INT32_MIN && v <= INT32_MAX) {
        put_type(b, 'i', (uint32_t) (int32_t) v);
        return;
    }
    /* 'l': 15-bit digits, least significant first; the count carries the sign */
    unsigned long long m = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;
    uint16_t d[5];
    int n = 0;
    while (m) {
        d[n++] = (uint16_t) (m & 0x7fff);
        m >>= 15;
    }
    put_type(b, 'l', (uint32_t) (int32_t) (v < 0 ? -n : n));
    for (int i = 0; i < n; i++) {
        unsigned char le[2] = { d[i] & 0xff, d[i] >> 8 };
        put(b, le, 2);
    }
}

/* -- the request ------------------------------------------------------------ */

static int read_file(const char *path, struct pyc_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        put(out, chunk, (size_t) n);
    close(fd);
    return n < 0 ? -1 : 0;
}

static int cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *) a, y = *(const gid_t *) b;
    return x < y ? -1 : x > y;
}

static long long rlim(rlim_t v)
{
    return v == RLIM_INFINITY ? -1 : (long long) v;     /* resource.RLIM_INFINITY */
}

/* warm.py context(): namespaces, cgroups, ids and limits */
static void put_context(struct pyc_buf *b)
{
    static const char *ns[] = { "mnt", "net", "pid", "user", "uts", "ipc", "cgroup" };
    static const int limits[] = { RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CORE, RLIMIT_STACK,
                                  RLIMIT_MEMLOCK, RLIMIT_AS };
    put_type(b, '(', 6);
    put_type(b, '(', 7);
    for (int i = 0; i < 7; i++) {
        char path[64], link[256];
        snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
        ssize_t n = readlink(path, link, sizeof link);
        if (n < 0 || n == (ssize_t) sizeof link)
            b->bad = 1;
        put_str_n(b, link, n > 0 ? (size_t) n : 0);
    }
    struct pyc_buf cg = { 0 };
    if (read_file("/proc/self/cgroup", &cg) < 0 || cg.bad)
        b->bad = 1;
    put_str_n(b, cg.p ? cg.p : "", cg.len);
    free(cg.p);
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    put_type(b, '(', 3);
    put_int(b, r), put_int(b, e), put_int(b, s);
    put_type(b, '(', 3);
    put_int(b, gr), put_int(b, ge), put_int(b, gs);
    gid_t groups[NGROUPS_MAX];
    int ng = getgroups(NGROUPS_MAX, groups);
    if (ng < 0)
        b->bad = 1, ng = 0;
    qsort(groups, (size_t) ng, sizeof *groups, cmp_gid);
    put_type(b, '(', (uint32_t) ng);
    for (int i = 0; i < ng; i++)
        put_int(b, groups[i]);
    put_type(b, '(', 6);
    for (int i = 0; i < 6; i++) {
        struct rlimit rl;
        if (getrlimit(limits[i], &rl) < 0)
            b->bad = 1;
        put_type(b, '(', 2);
        put_int(b, rlim(rl.rlim_cur));
        put_int(b, rlim(rl.rlim_max));
    }
}

void pyc_warm_request(struct pyc_buf *b, int argc, char **argv)
{
    put_type(b, '(', 6);
    put_str(b, argv[0]);
    put_type(b, '[', (uint32_t) (argc - 1));
    for (int i = 1; i < argc; i++)
        put_str(b, argv[i]);
    put(b, "{", 1);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        put_str_n(b, *e, (size_t) (eq - *e));
        put_str(b, eq + 1);
    }
    put(b, "0", 1);                 /* TYPE_NULL: the dict's end */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        b->bad = 1, cwd[0] = '\0';
    put_str(b, cwd);
    mode_t mask = umask(0);
    umask(mask);
    put_int(b, mask);
    put_context(b);
}

uint32_t pyc_crc32(const char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char) p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}


ssize_t pyc_recv_all(int s, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(s, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t) r;
    }
    return (ssize_t) got;
}

int32_t pyc_le32(const char *p)
{
    const unsigned char *u = (const unsigned char *) p;
    return (int32_t) ((uint32_t) u[0] | (uint32_t) u[1] << 8 | (uint32_t) u[2] << 16 |
                      (uint32_t) u[3] << 24);
}

int pyc_warm_send(int s, const struct pyc_buf *req, const int fds[3])
{
    char head[4];
    char control[CMSG_SPACE(3 * sizeof(int))] = { 0 };
    struct iovec iov[2] = { { head, 4 }, { req->p, req->len } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = control,
                          .msg_controllen = sizeof control };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET, cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, 3 * sizeof(int));
    uint32_t n = (uint32_t) req->len;
    head[0] = n & 0xff, head[1] = (n >> 8) & 0xff, head[2] = (n >> 16) & 0xff;
    head[3] = (char) (n >> 24);
    ssize_t sent;
    do
        sent = sendmsg(s, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return -1;
    size_t rest = req->len + 4 - (size_t) sent;
    while (rest > 0) {                          /* a short write: the rest, no fds */
        ssize_t w = send(s, req->p + req->len - rest, rest, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        rest -= (size_t) w;
    }
    return 0;
}
