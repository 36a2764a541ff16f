#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "hosts.h"

void hosts_init(struct hosts *h, const char *path)
{
    memset(h, 0, sizeof *h);
    h->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

static void drop_text(struct hosts *h)
{
    free(h->text);
    h->text = NULL;
}

void hosts_free(struct hosts *h)
{
    drop_text(h);
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}

static int same(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read the file again when it changed; a file that cannot be read is empty. */
static void refresh(struct hosts *h)
{
    struct stat st;
    if (h->fd < 0 || fstat(h->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > HOSTS_MAX_SIZE) {
        drop_text(h);
        return;
    }
    if (h->text && same(&st, &h->st))
        return;
    char *text = malloc((size_t) st.st_size + 1);
    size_t n = 0;
    while (text && n < (size_t) st.st_size) {
        ssize_t r = pread(h->fd, text + n, (size_t) st.st_size - n, (off_t) n);
        if (r <= 0)
            break;
        n += (size_t) r;
    }
    if (!text)
        return;
    text[n] = 0;
    drop_text(h);
    h->text = text;
    h->st = st;
}

/* The next line with an address and names, split in BUF (comments and
 * lines too long for BUF skipped); 0 at the end. */
struct line { struct hosts_addr addr; char *words[64]; int nwords; };

static int next_line(const char **at, struct line *l, char *buf, size_t size)
{
    while (**at) {
        const char *s = *at, *e = strchr(s, '\n');
        size_t len = e ? (size_t) (e - s) : strlen(s);
        *at = s + len + (e ? 1 : 0);
        if (len >= size)
            continue;
        memcpy(buf, s, len);
        buf[len] = 0;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = 0;
        char *save = NULL, *ip = strtok_r(buf, " \t\r", &save);
        if (!ip)
            continue;
        if (inet_pton(AF_INET, ip, l->addr.addr) == 1)
            l->addr.family = AF_INET;
        else if (inet_pton(AF_INET6, ip, l->addr.addr) == 1)
            l->addr.family = AF_INET6;
        else
            continue;
        l->nwords = 0;
        char *w;
        while (l->nwords < 64 && (w = strtok_r(NULL, " \t\r", &save)))
            l->words[l->nwords++] = w;
        if (l->nwords)
            return 1;
    }
    return 0;
}

int hosts_lookup(struct hosts *h, const char *name, struct hosts_addr *out, int max)
{
    refresh(h);
    if (!h->text)
        return 0;
    const char *at = h->text;
    char buf[4096];
    struct line l;
    int n = 0;
    while (n < max && next_line(&at, &l, buf, sizeof buf)) {
        int hit = 0;
        for (int i = 0; i < l.nwords && !hit; i++)
            hit = strcasecmp(l.words[i], name) == 0;
        if (!hit)
            continue;
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = out[k].family == l.addr.family &&
                  !memcmp(out[k].addr, l.addr.addr, l.addr.family == AF_INET ? 4 : 16);
        if (!dup)
            out[n++] = l.addr;
    }
    return n;
}

int hosts_name_of(struct hosts *h, const struct in_addr *a, char name[256])
{
    refresh(h);
    if (!h->text)
        return -1;
    const char *at = h->text;
    char buf[4096];
    struct line l;
    while (next_line(&at, &l, buf, sizeof buf)) {
        if (l.addr.family != AF_INET || memcmp(l.addr.addr, a, 4))
            continue;
        size_t len = strlen(l.words[0]);
        if (len > 253)
            return -1;
        memcpy(name, l.words[0], len + 1);
        return 0;
    }
    return -1;
}
