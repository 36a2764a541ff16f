/* The container's /etc/hosts as pyc-dns reads it: opened once (so the
 * server may drop its privileges), read again whenever the file changed
 * (the engine rewrites it in place, keeping the inode, as peers come and go). */
#ifndef PYC_DNS_HOSTS_H
#define PYC_DNS_HOSTS_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/stat.h>

#define HOSTS_MAX_ADDRS 32
#define HOSTS_MAX_SIZE (1 << 20)

struct hosts_addr { int family; unsigned char addr[16]; };

struct hosts {
    int fd;                 /* -1: it could not be opened (no names) */
    char *text;             /* NUL-terminated, or NULL */
    struct stat st;         /* what was read: ino, size, mtime */
};

void hosts_init(struct hosts *h, const char *path);
void hosts_free(struct hosts *h);

/* The addresses of NAME (lower case), each once, in file order, at most
 * MAX: their count, 0 when the name is not there. */
int hosts_lookup(struct hosts *h, const char *name, struct hosts_addr *out, int max);

/* The first name of IPv4 address A into NAME; -1 when it is not there. */
int hosts_name_of(struct hosts *h, const struct in_addr *a, char name[256]);

#endif
