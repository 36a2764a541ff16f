/* pyc-dns: the DNS server of one container on user networks (docker's
 * embedded DNS at 127.0.0.11), beside its monitor.
 *
 *   pyc-dns HOSTS [UPSTREAM...]     (UPSTREAM: "IP" or "IP#PORT")
 *
 * fd 3: a UDP socket bound to 127.0.0.11:53 in the container's network
 * namespace (Python makes it); fd 4: the lifeline, a pipe whose write end
 * the monitor (or an attached run) holds: EOF ends us, however it died.
 *
 * Names are answered from HOSTS, the container's /etc/hosts, which the
 * engine keeps current (the peers on the user networks it shares, their
 * aliases, links): A, AAAA, and PTR of the IPv4 addresses in it.  Other
 * names go to the upstreams in turn, from this process's network
 * namespace (the host's: a loopback resolver works, as with docker);
 * without upstreams (internal networks) they get SERVFAIL.  fd 5, when
 * open, listens for TCP on the same address: a child serves each
 * connection (glibc asks again over TCP when an answer is truncated).
 * Every query is untrusted input: bounded parsing, no state a container
 * can grow past MAX_PENDING forwards, and once HOSTS is open the server
 * runs as nobody, with no capabilities and no way to gain any.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "hosts.h"

#define SOCK_FD 3
#define LIFE_FD 4
#define TCP_FD 5                /* optional: a listening TCP socket on the same address */
#define MAX_TCP 16
#define TCP_IDLE_MS 10000
#define MAX_UPSTREAMS 8
#define MAX_PENDING 64
#define MAX_QUERY 1232          /* EDNS's safe UDP size: bigger queries are refused */
#define MAX_REPLY 512           /* what a client without EDNS takes */
#define TRY_MS 2000             /* per upstream */
#define TTL 600
#define NOBODY 65534

enum { T_A = 1, T_PTR = 12, T_AAAA = 28, T_ANY = 255, C_IN = 1 };
enum { RC_OK = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3, RC_NOTIMP = 4 };

struct upstream { struct sockaddr_storage sa; socklen_t len; };

/* A query forwarded upstream: its own connected socket, so the answer's
 * source is checked by the kernel. */
struct pending {
    int fd;                     /* -1: free */
    int up;                     /* the upstream tried now */
    uint64_t deadline;
    struct sockaddr_storage client;
    socklen_t clen;
    size_t len;
    unsigned char q[MAX_QUERY];
};

static struct upstream ups[MAX_UPSTREAMS];
static int nups;
static struct pending pend[MAX_PENDING];

/* nobody: what the server needs (its fds, sockets to upstreams) needs no privilege. */
static int drop_privileges(void)
{
    if (getuid() != 0 && geteuid() != 0)
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
        return -1;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int parse_upstream(const char *arg, struct upstream *u)
{
    char ip[64];
    unsigned port = 53;
    const char *hash = strchr(arg, '#');
    size_t n = hash ? (size_t) (hash - arg) : strlen(arg);
    if (n == 0 || n >= sizeof ip)
        return -1;
    memcpy(ip, arg, n);
    ip[n] = 0;
    if (hash) {
        char *end;
        unsigned long p = strtoul(hash + 1, &end, 10);
        if (*end || p == 0 || p > 65535)
            return -1;
        port = (unsigned) p;
    }
    memset(u, 0, sizeof *u);
    struct sockaddr_in *v4 = (struct sockaddr_in *) &u->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &u->sa;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t) port);
        u->len = sizeof *v4;
    } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t) port);
        u->len = sizeof *v6;
    } else {
        return -1;
    }
    return 0;
}

/* The question of query M: its name (lower case, dotted, no final dot),
 * type, class and where it ends.  -1: malformed (compression is not
 * allowed in a question). */
static int question(const unsigned char *m, size_t len, char name[256], size_t *end,
                    unsigned *type, unsigned *class)
{
    size_t p = 12, n = 0;
    for (;;) {
        if (p >= len)
            return -1;
        unsigned l = m[p++];
        if (l == 0)
            break;
        if (l > 63 || p + l > len || n + l + 1 > 254)
            return -1;
        if (n)
            name[n++] = '.';
        for (unsigned i = 0; i < l; i++) {
            unsigned char c = m[p + i];
            if (c == 0 || c == '.' || c <= ' ')
                return -1;
            name[n++] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        p += l;
    }
    name[n] = 0;
    if (p + 4 > len)
        return -1;
    *type = (unsigned) m[p] << 8 | m[p + 1];
    *class = (unsigned) m[p + 2] << 8 | m[p + 3];
    *end = p + 4;
    return 0;
}

/* A reply's header and question (the query's, up to QEND) into OUT. */
static size_t head(unsigned char *out, const unsigned char *q, size_t qend, unsigned rcode)
{
    memcpy(out, q, qend);
    out[2] = (unsigned char) (0x80 | (q[2] & 0x79) | 0x04);  /* QR, opcode, RD; AA */
    out[3] = (unsigned char) ((nups ? 0x80 : 0) | rcode);    /* RA */
    out[4] = 0;
    out[5] = qend > 12;
    memset(out + 6, 0, 6);
    return qend;
}

static size_t add_rr(unsigned char *out, size_t at, unsigned type, const void *rdata,
                     size_t rdlen)
{
    if (at + 12 + rdlen > MAX_REPLY)
        return 0;
    unsigned char *p = out + at;
    p[0] = 0xc0; p[1] = 12;                 /* the question's name */
    p[2] = (unsigned char) (type >> 8); p[3] = (unsigned char) type;
    p[4] = 0; p[5] = C_IN;
    p[6] = 0; p[7] = 0; p[8] = TTL >> 8; p[9] = TTL & 0xff;
    p[10] = (unsigned char) (rdlen >> 8); p[11] = (unsigned char) rdlen;
    memcpy(p + 12, rdata, rdlen);
    unsigned an = (unsigned) out[6] << 8 | out[7];
    an++;
    out[6] = (unsigned char) (an >> 8); out[7] = (unsigned char) an;
    return at + 12 + rdlen;
}

/* A name in wire format; 0 when it does not fit. */
static size_t wire_name(const char *name, unsigned char *out, size_t size)
{
    size_t n = 0;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t) (dot - s) : strlen(s);
        if (l == 0 || l > 63 || n + l + 2 > size)
            return 0;
        out[n++] = (unsigned char) l;
        memcpy(out + n, s, l);
        n += l;
        s += l + (dot ? 1 : 0);
    }
    if (n + 1 > size)
        return 0;
    out[n++] = 0;
    return n;
}

static void send_to(const unsigned char *m, size_t len, const struct sockaddr_storage *to,
                    socklen_t tlen)
{
    sendto(SOCK_FD, m, len, MSG_DONTWAIT, (const struct sockaddr *) to, tlen);
}

/* "d.c.b.a.in-addr.arpa" -> the address; -1 for anything else. */
static int reverse_v4(const char *name, struct in_addr *a)
{
    unsigned o[4];
    char tail[32];
    int used = 0;
    if (sscanf(name, "%3u.%3u.%3u.%3u.%31s%n", &o[3], &o[2], &o[1], &o[0], tail, &used) != 5 ||
        name[used] || strcmp(tail, "in-addr.arpa") || o[0] > 255 || o[1] > 255 ||
        o[2] > 255 || o[3] > 255)
        return -1;
    a->s_addr = htonl(o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3]);
    return 0;
}

/* The answer from the hosts file into OUT: its length, 0 when the name is
 * not in it (forward it). */
static size_t answer_local(struct hosts *h, const unsigned char *q, size_t qend,
                           const char *name, unsigned type, unsigned char out[MAX_REPLY])
{
    struct in_addr rev;
    if (type == T_PTR && reverse_v4(name, &rev) == 0) {
        char host[256];
        unsigned char rd[256];
        size_t rdlen;
        if (hosts_name_of(h, &rev, host) < 0 || !(rdlen = wire_name(host, rd, sizeof rd))) {
            /* loopback's reverse names are local (RFC 6761): never asked upstream */
            if ((ntohl(rev.s_addr) >> 24) == 127)
                return head(out, q, qend, RC_NXDOMAIN);
            return 0;
        }
        size_t n = head(out, q, qend, RC_OK);
        return add_rr(out, n, T_PTR, rd, rdlen);
    }
    struct hosts_addr a[HOSTS_MAX_ADDRS];
    int found = hosts_lookup(h, name, a, HOSTS_MAX_ADDRS);
    if (found <= 0)
        return 0;
    size_t n = head(out, q, qend, RC_OK);
    unsigned start = ((unsigned) q[0] << 8 | q[1]) % (unsigned) found;    /* round robin */
    for (int k = 0; k < found; k++) {
        const struct hosts_addr *e = &a[(start + (unsigned) k) % (unsigned) found];
        unsigned t = e->family == AF_INET ? T_A : T_AAAA;
        if (type != t && type != T_ANY)
            continue;
        size_t m = add_rr(out, n, t, e->addr, e->family == AF_INET ? 4 : 16);
        if (!m)
            break;
        n = m;
    }
    return n;           /* NODATA when none is of the asked type */
}

static size_t failure(unsigned char out[MAX_REPLY], const unsigned char *q, size_t qend,
                      unsigned rcode)
{
    return head(out, q, qend > MAX_REPLY ? 12 : qend, rcode);
}

static void fail(const unsigned char *q, size_t qend, unsigned rcode,
                 const struct sockaddr_storage *to, socklen_t tlen)
{
    unsigned char out[MAX_REPLY];
    send_to(out, failure(out, q, qend, rcode), to, tlen);
}

/* The reply to query Q (LEN bytes) made here, into OUT: its length; 0 to
 * forward it (*QEND: where its question ends); -1 to drop it. */
static ssize_t reply(struct hosts *h, const unsigned char *q, size_t len,
                     unsigned char out[MAX_REPLY], size_t *qend)
{
    if (len < 12 || (q[2] & 0x80))
        return -1;                              /* too short, or a response */
    unsigned opcode = (q[2] >> 3) & 0xf;
    unsigned qd = (unsigned) q[4] << 8 | q[5];
    char name[256];
    unsigned type, class;
    if (opcode != 0)
        return (ssize_t) failure(out, q, 12, RC_NOTIMP);
    if (qd != 1 || question(q, len, name, qend, &type, &class) < 0)
        return (ssize_t) failure(out, q, 12, RC_FORMERR);
    if ((class == C_IN || class == T_ANY) && name[0])
        return (ssize_t) answer_local(h, q, *qend, name, type, out);
    return 0;
}

/* Send pending P to upstream P->up or the next that takes it; -1: none left. */
static int try_upstream(struct pending *p)
{
    for (; p->up < nups; p->up++) {
        if (p->fd >= 0)
            close(p->fd);
        const struct upstream *u = &ups[p->up];
        p->fd = socket(u->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->fd < 0)
            return -1;
        if (connect(p->fd, (const struct sockaddr *) &u->sa, u->len) == 0 &&
            send(p->fd, p->q, p->len, 0) == (ssize_t) p->len) {
            p->deadline = now_ms() + TRY_MS;
            return 0;
        }
    }
    return -1;
}

static void drop(struct pending *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void give_up(struct pending *p)
{
    size_t end;
    char name[256];
    unsigned type, class;
    fail(p->q, question(p->q, p->len, name, &end, &type, &class) == 0 ? end : 12,
         RC_SERVFAIL, &p->client, p->clen);
    drop(p);
}

static void forward(const unsigned char *q, size_t len, size_t qend,
                    const struct sockaddr_storage *from, socklen_t flen)
{
    if (!nups || len > MAX_QUERY) {
        fail(q, qend, nups ? RC_FORMERR : RC_SERVFAIL, from, flen);
        return;
    }
    struct pending *p = NULL;
    for (int i = 0; i < MAX_PENDING && !p; i++)
        if (pend[i].fd < 0)
            p = &pend[i];
    if (!p)
        return;                 /* full: the client asks again */
    memcpy(p->q, q, len);
    p->len = len;
    p->client = *from;
    p->clen = flen;
    p->up = 0;
    if (try_upstream(p) < 0)
        give_up(p);
}

static void query(struct hosts *h, const unsigned char *q, size_t len,
                  const struct sockaddr_storage *from, socklen_t flen)
{
    unsigned char out[MAX_REPLY];
    size_t end = 12;
    ssize_t n = reply(h, q, len, out, &end);
    if (n > 0)
        send_to(out, (size_t) n, from, flen);
    else if (n == 0)
        forward(q, len, end, from, flen);
}

static void answered(struct pending *p)
{
    unsigned char m[4096];
    ssize_t n = recv(p->fd, m, sizeof m, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        p->up++;                                /* refused: the next one */
        if (try_upstream(p) < 0)
            give_up(p);
        return;
    }
    if (n < 12 || m[0] != p->q[0] || m[1] != p->q[1] || !(m[2] & 0x80))
        return;                                 /* not the answer: wait on */
    send_to(m, (size_t) n, &p->client, p->clen);
    drop(p);
}

/* -- TCP: a child per connection (a truncated UDP answer is asked again
 * over TCP), blocking, with timeouts; at most MAX_TCP at once. */

static pid_t tcp_kids[MAX_TCP];

static int io_full(int fd, void *buf, size_t n, int writing)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t) r;
    }
    return 0;
}

static void timeouts(int fd, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* One message with its 2-byte length: its length, -1 at the end or on error. */
static ssize_t read_msg(int fd, unsigned char *buf, size_t size)
{
    unsigned char l[2];
    if (io_full(fd, l, 2, 0) < 0)
        return -1;
    size_t n = (size_t) l[0] << 8 | l[1];
    if (n == 0 || n > size || io_full(fd, buf, n, 0) < 0)
        return -1;
    return (ssize_t) n;
}

static int write_msg(int fd, const unsigned char *m, size_t n)
{
    unsigned char l[2] = { (unsigned char) (n >> 8), (unsigned char) n };
    return io_full(fd, l, 2, 1) < 0 ? -1 : io_full(fd, (void *) m, n, 1);
}

/* Query Q over TCP to the upstreams in turn: the answer's length in ANS, or -1. */
static ssize_t forward_tcp(const unsigned char *q, size_t len, unsigned char *ans, size_t size)
{
    for (int i = 0; i < nups; i++) {
        int fd = socket(ups[i].sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        timeouts(fd, TRY_MS);           /* the send timeout bounds connect too */
        ssize_t n = -1;
        if (connect(fd, (const struct sockaddr *) &ups[i].sa, ups[i].len) == 0 &&
            write_msg(fd, q, len) == 0)
            n = read_msg(fd, ans, size);
        close(fd);
        if (n >= 12 && ans[0] == q[0] && ans[1] == q[1])
            return n;
    }
    return -1;
}

static void serve_tcp(struct hosts *h, int c)
{
    static unsigned char q[65535], ans[65535];
    timeouts(c, TCP_IDLE_MS);
    for (;;) {
        ssize_t n = read_msg(c, q, sizeof q);
        if (n < 0)
            return;
        unsigned char out[MAX_REPLY];
        size_t end = 12;
        ssize_t r = reply(h, q, (size_t) n, out, &end);
        if (r < 0)
            return;
        if (r > 0) {
            if (write_msg(c, out, (size_t) r) < 0)
                return;
            continue;
        }
        ssize_t a = nups ? forward_tcp(q, (size_t) n, ans, sizeof ans) : -1;
        if (a < 0 ? write_msg(c, out, failure(out, q, end, RC_SERVFAIL)) < 0
                  : write_msg(c, ans, (size_t) a) < 0)
            return;
    }
}

static void accept_tcp(struct hosts *h)
{
    int c = accept4(TCP_FD, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    int slot = -1;
    for (int i = 0; i < MAX_TCP && slot < 0; i++)
        if (!tcp_kids[i])
            slot = i;
    if (slot >= 0) {
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(0);
            serve_tcp(h, c);
            _exit(0);
        }
        if (pid > 0)
            tcp_kids[slot] = pid;
    }
    close(c);               /* full: the client asks again */
}

static void reap_tcp(int all)
{
    for (int i = 0; i < MAX_TCP; i++) {
        if (!tcp_kids[i])
            continue;
        if (all)
            kill(tcp_kids[i], SIGKILL);
        if (waitpid(tcp_kids[i], NULL, all ? 0 : WNOHANG) != 0)
            tcp_kids[i] = 0;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pyc-dns HOSTS [UPSTREAM...] (fd 3: socket, fd 4: lifeline)\n");
        return 2;
    }
    for (int i = 2; i < argc && nups < MAX_UPSTREAMS; i++)
        if (parse_upstream(argv[i], &ups[nups]) == 0)
            nups++;
    if (fcntl(SOCK_FD, F_SETFL, O_NONBLOCK) < 0 || fcntl(LIFE_FD, F_GETFD) < 0)
        return 2;
    fcntl(SOCK_FD, F_SETFD, FD_CLOEXEC);
    fcntl(LIFE_FD, F_SETFD, FD_CLOEXEC);
    int tcp = fcntl(TCP_FD, F_SETFD, FD_CLOEXEC) == 0;
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAX_PENDING; i++)
        pend[i].fd = -1;
    struct hosts h;
    hosts_init(&h, argv[1]);
    if (drop_privileges() < 0)
        return 1;
    for (;;) {
        struct pollfd fds[3 + MAX_PENDING];
        int who[MAX_PENDING], nfds = 3;
        uint64_t now = now_ms(), next = UINT64_MAX;
        reap_tcp(0);
        fds[0] = (struct pollfd) { SOCK_FD, POLLIN, 0 };
        fds[1] = (struct pollfd) { LIFE_FD, POLLIN, 0 };
        fds[2] = (struct pollfd) { tcp ? TCP_FD : -1, POLLIN, 0 };
        for (int i = 0; i < MAX_PENDING; i++) {
            if (pend[i].fd < 0)
                continue;
            if (pend[i].deadline <= now) {      /* this upstream is silent: the next */
                pend[i].up++;
                if (try_upstream(&pend[i]) < 0) {
                    give_up(&pend[i]);
                    continue;
                }
            }
            if (pend[i].deadline < next)
                next = pend[i].deadline;
            who[nfds - 3] = i;
            fds[nfds++] = (struct pollfd) { pend[i].fd, POLLIN, 0 };
        }
        int timeout = next == UINT64_MAX ? -1 : (int) (next > now ? next - now : 0);
        if (poll(fds, (nfds_t) nfds, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents) {
            char b[64];
            ssize_t r = read(LIFE_FD, b, sizeof b);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
                break;
        }
        for (int k = 3; k < nfds; k++)
            if (fds[k].revents && pend[who[k - 3]].fd == fds[k].fd)
                answered(&pend[who[k - 3]]);
        if (fds[2].revents & POLLIN)
            accept_tcp(&h);
        for (int burst = 0; burst < 64 && (fds[0].revents & POLLIN); burst++) {
            unsigned char q[4096];
            struct sockaddr_storage from;
            socklen_t flen = sizeof from;
            ssize_t n = recvfrom(SOCK_FD, q, sizeof q, 0, (struct sockaddr *) &from, &flen);
            if (n < 0)
                break;
            query(&h, q, (size_t) n, &from, flen);
        }
    }
    for (int i = 0; i < MAX_PENDING; i++)
        drop(&pend[i]);
    reap_tcp(1);
    hosts_free(&h);
    return 0;
}
