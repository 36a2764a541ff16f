/* Layer tar extraction: the per-entry loop (the rules are written at the top
 * of pycontainer/image/extract.py; Python keeps the policy: caps, messages).
 *
 * The caller feeds the decompressed tar stream in chunks; this parses
 * ustar/GNU/PAX headers and creates each entry with the *at calls relative to
 * directory fds, never following the last component, resolving the parents
 * as if the layer root were "/".  All state lives in struct pyc_untar (one
 * per layer, so layers can be extracted in parallel threads).
 *
 * Internal functions return 0, -errno, or a PYC_UT_E_* reason (> 0). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include "internal.h"

#define BLOCK 512
#define MAX_EXT (1u << 20)
#define MAX_LINKS 40
#define DIR_FLAGS (O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC)
#define RDIR (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define WH ".wh."
#define WH_META ".wh..wh."
#define WH_OPQ ".wh..wh..opq"
#define XATTR_PREFIX "SCHILY.xattr."

enum { ST_HEADER, ST_EXT, ST_READY, ST_DATA, ST_SKIP, ST_END };

struct buf {
    char *p;
    size_t len, cap;
};

/* (dev, ino) pairs, open addressing; ino 0 marks a free slot. */
struct idset {
    uint64_t *k;
    size_t cap, n;
};

struct entry {
    char type;
    uint32_t mode;
    int64_t uid, gid, size, sec, major, minor;
    uint32_t nsec;
    int sparse, pax;
    struct buf name, link, path;
};

struct pyc_untar_priv {
    int state;
    uint8_t hdr[BLOCK];
    uint32_t fill;
    int seen;
    char ext_type;
    uint64_t ext_size, ext_pad;
    struct buf ext, longname, longlink, pax;
    int has_longname, has_longlink, has_pax;
    struct entry e;
    uint64_t left, pad;
    int out;
    /* the last parent dir: its key (clean path), fd, resolved path */
    struct buf key, res;
    int cfd, clinked;
    /* scratch */
    struct buf tpath, wres, pend, tmp, comp, detail, dirs;
    int *fds;
    size_t *offs;
    size_t nfds_cap;
    struct idset implicit, regular;
    int root_seen;
};

/* -- small helpers ------------------------------------------------------ */

static int buf_grow(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_add(struct buf *b, const void *s, size_t n)
{
    int rc = buf_grow(b, n);
    if (rc)
        return rc;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static int buf_set(struct buf *b, const void *s, size_t n)
{
    b->len = 0;
    return buf_add(b, s, n);
}

/* b += "/" + s (no slash when b is empty) */
static int buf_join(struct buf *b, const char *s, size_t n)
{
    int rc = b->len ? buf_add(b, "/", 1) : 0;
    return rc ? rc : buf_add(b, s, n);
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static size_t hash_id(uint64_t dev, uint64_t ino)
{
    uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xff51afd7ed558ccdull);
    return (size_t) (h ^ (h >> 29));
}

static uint64_t *idset_slot(struct idset *s, uint64_t dev, uint64_t ino)
{
    size_t mask = s->cap - 1;
    for (size_t i = hash_id(dev, ino) & mask;; i = (i + 1) & mask) {
        uint64_t *k = s->k + 2 * i;
        if (k[1] == 0 || (k[0] == dev && k[1] == ino))
            return k;
    }
}

static int idset_add(struct idset *s, const struct stat *st)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct idset g = { calloc(cap, 2 * sizeof(uint64_t)), cap, 0 };
        if (!g.k)
            return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[2 * i + 1]) {
                uint64_t *k = idset_slot(&g, s->k[2 * i], s->k[2 * i + 1]);
                k[0] = s->k[2 * i];
                k[1] = s->k[2 * i + 1];
                g.n++;
            }
        free(s->k);
        *s = g;
    }
    uint64_t *k = idset_slot(s, st->st_dev, st->st_ino);
    if (!k[1]) {
        k[0] = st->st_dev;
        k[1] = st->st_ino;
        s->n++;
    }
    return 0;
}

/* Found: 1, and with drop the pair is kept as a tombstone that matches nothing. */
static int idset_has(struct idset *s, const struct stat *st, int drop)
{
    if (!s->cap)
        return 0;
    uint64_t *k = idset_slot(s, st->st_dev, st->st_ino);
    if (!k[1])
        return 0;
    if (drop)
        k[0] = UINT64_MAX, k[1] = UINT64_MAX;
    return 1;
}

static int detail(struct pyc_untar *ut, int why, const struct buf *base, const char *s, size_t n)
{
    struct buf *d = &ut->priv->detail;
    int rc = buf_set(d, base ? base->p : "", base ? base->len : 0);
    if (!rc && s)
        rc = buf_join(d, s, n);
    if (rc)
        return rc;
    ut->detail = d->p;
    ut->detail_len = d->len;
    return why;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

/* -- numbers and names ---------------------------------------------------- */

/* A header number: octal text (spaces/NUL around it) or base-256. */
static int number(const uint8_t *f, size_t n, int64_t *out)
{
    if (f[0] == 0x80 || f[0] == 0xff) {
        uint64_t v = f[0] == 0xff ? UINT64_MAX : 0;
        for (size_t i = 1; i < n; i++) {
            if ((f[0] == 0x80 && v >> 55) || (f[0] == 0xff && ~v >> 55))
                return PYC_UT_E_HEADER;
            v = v << 8 | f[i];
        }
        *out = (int64_t) v;
        return 0;
    }
    size_t i = 0, end = n;
    const uint8_t *nul = memchr(f, 0, n);
    if (nul)
        end = (size_t) (nul - f);
    while (i < end && f[i] == ' ')
        i++;
    while (end > i && f[end - 1] == ' ')
        end--;
    int64_t v = 0;
    for (; i < end; i++) {
        if (f[i] < '0' || f[i] > '7')
            return PYC_UT_E_HEADER;
        v = v * 8 + (f[i] - '0');   /* at most 11 digits: no overflow */
    }
    *out = v;
    return 0;
}

/* A PAX decimal: [-]digits[.digits]; the fraction (mtime) only with nsec. */
static int decimal(const char *s, size_t n, int64_t *out, uint32_t *nsec)
{
    size_t i = 0;
    int neg = 0;
    if (nsec && i < n && s[i] == '-')
        neg = 1, i++;
    if (i == n)
        return PYC_UT_E_EXTBAD;
    int64_t v = 0;
    uint32_t frac = 0;
    for (; i < n && s[i] != '.'; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - 9) / 10)
            return PYC_UT_E_EXTBAD;
        v = v * 10 + (s[i] - '0');
    }
    if (i < n) {
        if (!nsec)
            return PYC_UT_E_EXTBAD;
        int digits = 0;
        for (i++; i < n; i++, digits++) {
            if (s[i] < '0' || s[i] > '9')
                return PYC_UT_E_EXTBAD;
            if (digits < 9)
                frac = frac * 10 + (uint32_t) (s[i] - '0');
        }
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (neg && frac) {      /* -1.5 is 2 seconds back, then 0.5 on */
        v += 1;
        frac = 1000000000u - frac;
    }
    *out = neg ? -v : v;
    if (nsec)
        *nsec = frac;
    return 0;
}

/* Clean a name like Go's filepath.Clean, then relative: components joined by '/'. */
static int clean(const char *s, size_t n, struct buf *out)
{
    int absolute = n && s[0] == '/';
    if (memchr(s, 0, n))
        return PYC_UT_E_NUL;
    int rc = buf_set(out, "", 0);
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i;
        while (j < n && s[j] != '/')
            j++;
        const char *c = s + i;
        size_t cl = j - i;
        i = j + 1;
        if (cl == 0 || (cl == 1 && c[0] == '.'))
            continue;
        if (cl == 2 && c[0] == '.' && c[1] == '.') {
            if (!out->len && !absolute)
                return PYC_UT_E_CLIMB;
            char *slash = memrchr(out->p, '/', out->len);
            out->len = slash ? (size_t) (slash - out->p) : 0;
            out->p[out->len] = 0;
            continue;
        }
        rc = buf_join(out, c, cl);
    }
    return rc;
}

/* The next PAX record "LEN KEY=VALUE\n" at *pos: 1, 0 at the end, or an error. */
static int pax_next(const struct buf *b, size_t *pos, const char **key, size_t *klen,
                    const char **val, size_t *vlen)
{
    const char *p = b->p;
    size_t at = *pos, n = b->len;
    if (at >= n || p[at] == 0)
        return 0;
    size_t i = at, len = 0;
    while (i < n && i - at < 19 && p[i] >= '0' && p[i] <= '9')
        len = len * 10 + (size_t) (p[i++] - '0');
    if (i == at || i >= n || p[i] != ' ' || len < 5 || len > n - at)
        return PYC_UT_E_EXTBAD;
    size_t last = at + len - 1;
    const char *kv = p + i + 1, *eq = memchr(kv, '=', last > i + 1 ? last - (i + 1) : 0);
    if (last <= i + 1 || p[last] != '\n' || !eq || eq == kv)
        return PYC_UT_E_EXTBAD;
    *key = kv;
    *klen = (size_t) (eq - kv);
    *val = eq + 1;
    *vlen = (size_t) (p + last - (eq + 1));
    *pos = at + len;
    return 1;
}

static int key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

static int apply_pax(struct pyc_untar_priv *P)
{
    struct entry *e = &P->e;
    size_t pos = 0, kl, vl;
    const char *k, *v;
    int rc;
    while ((rc = pax_next(&P->pax, &pos, &k, &kl, &v, &vl)) == 1) {
        int r = 0;
        if (key_is(k, kl, "path"))
            r = buf_set(&e->name, v, vl);
        else if (key_is(k, kl, "linkpath"))
            r = buf_set(&e->link, v, vl);
        else if (key_is(k, kl, "size"))
            r = decimal(v, vl, &e->size, NULL);
        else if (key_is(k, kl, "uid"))
            r = decimal(v, vl, &e->uid, NULL);
        else if (key_is(k, kl, "gid"))
            r = decimal(v, vl, &e->gid, NULL);
        else if (key_is(k, kl, "mtime"))
            r = decimal(v, vl, &e->sec, &e->nsec);
        else if (kl > 11 && memcmp(k, "GNU.sparse.", 11) == 0)
            e->sparse = 1;
        if (r)
            return r;
    }
    return rc;
}

/* -- resolution ----------------------------------------------------------- */

static int push_fd(struct pyc_untar_priv *P, size_t n, int fd, size_t off)
{
    if (n == P->nfds_cap) {
        size_t cap = P->nfds_cap ? P->nfds_cap * 2 : 64;
        int *f = realloc(P->fds, cap * sizeof *f);
        if (f)
            P->fds = f;
        size_t *o = f ? realloc(P->offs, cap * sizeof *o) : NULL;
        if (!o) {
            close(fd);
            return -ENOMEM;
        }
        P->offs = o;
        P->nfds_cap = cap;
    }
    P->fds[n] = fd;
    P->offs[n] = off;
    return 0;
}

/* Open the directory ``path`` (clean) inside the root: an O_PATH fd in *out,
 * the link-free path it resolved to in res, *linked when a link was met.
 * Links resolve as if the root were "/"; missing dirs are made with create. */
static int walk(struct pyc_untar *ut, const char *path, size_t n, int create, int follow,
                int *out, struct buf *res, int *linked)
{
    struct pyc_untar_priv *P = ut->priv;
    struct buf *pend = &P->pend, *comp = &P->comp;
    size_t nfd = 0, pos = 0;
    int links = 0, rc = buf_set(pend, path, n);
    *linked = 0;
    if (!rc)
        rc = buf_set(res, "", 0);
    while (!rc && pos < pend->len) {
        size_t j = pos;
        while (j < pend->len && pend->p[j] != '/')
            j++;
        rc = buf_set(comp, pend->p + pos, j - pos);
        pos = j < pend->len ? j + 1 : j;
        if (rc || !comp->len || strcmp(comp->p, ".") == 0)
            continue;
        if (strcmp(comp->p, "..") == 0) {
            if (nfd) {      /* ".." stops at the layer root */
                close(P->fds[--nfd]);
                res->len = P->offs[nfd];
                res->p[res->len] = 0;
            }
            continue;
        }
        int cur = nfd ? P->fds[nfd - 1] : ut->root_fd;
        int fd = openat(cur, comp->p, DIR_FLAGS);
        if (fd < 0 && errno == ENOENT) {
            if (!create) {
                rc = detail(ut, PYC_UT_E_MISSING, res, comp->p, comp->len);
                break;
            }
            struct stat st;
            if (mkdirat(cur, comp->p, 0755) < 0)
                goto fail;
            int d = openat(cur, comp->p, RDIR);
            if (d < 0)
                goto fail;
            rc = fchmod(d, 0755) < 0 || fstat(d, &st) < 0 ? neg_errno() : 0;  /* whatever the umask */
            close(d);
            if (!rc)
                rc = idset_add(&P->implicit, &st);
            if (rc)
                break;
            fd = openat(cur, comp->p, DIR_FLAGS);
        } else if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
            struct stat st;
            if (fstatat(cur, comp->p, &st, AT_SYMLINK_NOFOLLOW) < 0)
                goto fail;
            if (!S_ISLNK(st.st_mode)) {
                rc = detail(ut, PYC_UT_E_NOTDIR, res, comp->p, comp->len);
                break;
            }
            if (!follow) {
                rc = detail(ut, PYC_UT_E_THROUGH_LINK, res, comp->p, comp->len);
                break;
            }
            if (++links > MAX_LINKS) {
                rc = PYC_UT_E_LOOP;
                break;
            }
            char target[PATH_MAX + 1];
            ssize_t tl = readlinkat(cur, comp->p, target, sizeof target);
            if (tl < 0)
                goto fail;
            if (tl == (ssize_t) sizeof target) {
                rc = -ENAMETOOLONG;
                break;
            }
            *linked = 1;
            if (tl && target[0] == '/') {   /* absolute link text: the layer root */
                while (nfd)
                    close(P->fds[--nfd]);
                res->len = 0;
                res->p[0] = 0;
            }
            rc = buf_set(&P->tmp, target, (size_t) tl);
            if (!rc && pos < pend->len)
                rc = buf_join(&P->tmp, pend->p + pos, pend->len - pos);
            if (!rc)
                rc = buf_set(pend, P->tmp.p, P->tmp.len);
            pos = 0;
            continue;
        }
        if (fd < 0)
            goto fail;
        size_t off = res->len;
        rc = push_fd(P, nfd, fd, off);
        if (!rc) {
            nfd++;
            rc = buf_join(res, comp->p, comp->len);
        }
        continue;
fail:
        rc = neg_errno();
    }
    if (!rc) {
        if (nfd)
            *out = P->fds[--nfd];
        else if ((*out = fcntl(ut->root_fd, F_DUPFD_CLOEXEC, 0)) < 0)
            rc = neg_errno();
    }
    while (nfd)
        close(P->fds[--nfd]);
    return rc;
}

/* The parent dir ``key`` of an entry (created when missing), kept open for
 * the next entry: no entry removes or replaces a directory, so a resolved
 * dir stays put.  One level below the last one costs one openat. */
static int parent(struct pyc_untar *ut, const char *key, size_t n, int *fd, int *linked)
{
    struct pyc_untar_priv *P = ut->priv;
    int rc;
    if (P->cfd >= 0 && P->key.len == n && (!n || memcmp(P->key.p, key, n) == 0))
        goto hit;
    size_t kl = P->key.len, skip = kl ? kl + 1 : 0;
    if (P->cfd >= 0 && n > skip && (!kl || (memcmp(P->key.p, key, kl) == 0 && key[kl] == '/'))
            && !memchr(key + skip, '/', n - skip)) {
        rc = buf_set(&P->comp, key + skip, n - skip);
        if (rc)
            return rc;
        int d = openat(P->cfd, P->comp.p, DIR_FLAGS);
        if (d >= 0) {
            close(P->cfd);
            P->cfd = d;
            if ((rc = buf_set(&P->key, key, n)) || (rc = buf_join(&P->res, P->comp.p, P->comp.len)))
                return rc;
            goto hit;
        }   /* missing or a link: the full walk decides */
    }
    int d, l;
    rc = walk(ut, key, n, 1, 1, &d, &P->wres, &l);
    if (rc)
        return rc;
    if (P->cfd >= 0)
        close(P->cfd);
    P->cfd = d;
    P->clinked = l;
    struct buf t = P->res;
    P->res = P->wres;
    P->wres = t;
    if ((rc = buf_set(&P->key, key, n)))
        return rc;
hit:
    *fd = P->cfd;
    *linked = P->clinked;
    return 0;
}

/* -- metadata ------------------------------------------------------------- */

static int check_ids(struct pyc_untar *ut)
{
    struct entry *e = &ut->priv->e;
    if (e->uid >= 0 && e->uid < 0xffffffffll && e->gid >= 0 && e->gid < 0xffffffffll)
        return 0;
    return PYC_UT_E_OWNER;
}

static int times(const struct entry *e, struct timespec ts[2])
{
    /* as nanoseconds in an int64 (what Python's os.utime took) */
    if (e->sec > INT64_MAX / 1000000000 - 1 || e->sec < INT64_MIN / 1000000000 + 1)
        return PYC_UT_E_MTIME;
    ts[0].tv_sec = ts[1].tv_sec = e->sec;
    ts[0].tv_nsec = ts[1].tv_nsec = e->nsec;
    return 0;
}

static int set_xattrs(struct pyc_untar *ut, int fd)
{
    struct pyc_untar_priv *P = ut->priv;
    size_t pos = 0, kl, vl, pl = strlen(XATTR_PREFIX);
    const char *k, *v;
    int rc;
    if (!P->e.pax)
        return 0;
    while ((rc = pax_next(&P->pax, &pos, &k, &kl, &v, &vl)) == 1) {
        if (kl <= pl || memcmp(k, XATTR_PREFIX, pl) != 0)
            continue;
        k += pl, kl -= pl;
        /* overlay attributes are the whiteouts' only; capabilities and LSM
         * labels are not taken from images */
        if ((kl >= 16 && memcmp(k, "trusted.overlay.", 16) == 0)
                || (kl >= 9 && memcmp(k, "security.", 9) == 0))
            continue;
        if ((rc = buf_set(&P->comp, k, kl)))
            return rc;
        if (fsetxattr(fd, P->comp.p, v, vl, 0) < 0) {
            ut->err = errno;
            return detail(ut, PYC_UT_E_XATTR, NULL, P->comp.p, P->comp.len);
        }
    }
    return rc;
}

static int owner(struct pyc_untar *ut, int fd)
{
    int rc = check_ids(ut);
    if (rc)
        return rc;
    if (fchown(fd, (uid_t) ut->priv->e.uid, (gid_t) ut->priv->e.gid) < 0)
        return neg_errno();
    return set_xattrs(ut, fd);
}

/* chown first: it clears setuid/setgid, which fchmod then restores. */
static int meta(struct pyc_untar *ut, int fd)
{
    struct timespec ts[2];
    int rc = owner(ut, fd);
    if (!rc)
        rc = times(&ut->priv->e, ts);
    if (!rc && (fchmod(fd, ut->priv->e.mode) < 0 || futimens(fd, ts) < 0))
        rc = neg_errno();
    return rc;
}

static int apply_at(struct pyc_untar *ut, int dirfd, const char *name, int flags, int full)
{
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    int rc = full ? meta(ut, fd) : owner(ut, fd);
    close(fd);
    return rc;
}

/* A directory whose mode and mtime are set at the end: ``res``/``name``. */
static int record_dir(struct pyc_untar *ut, const struct buf *res, const char *name)
{
    struct pyc_untar_priv *P = ut->priv;
    struct buf *t = &P->tmp;
    int rc = buf_set(t, res ? res->p : "", res ? res->len : 0);
    if (!rc && name)
        rc = buf_join(t, name, strlen(name));
    struct { uint32_t len, mode; int64_t sec; uint32_t nsec, pad; } r = {
        (uint32_t) t->len, P->e.mode, P->e.sec, P->e.nsec, 0 };
    if (!rc && t->len > UINT32_MAX)
        rc = -ENAMETOOLONG;
    if (!rc)
        rc = buf_add(&P->dirs, &r, sizeof r);
    if (!rc)
        rc = buf_add(&P->dirs, t->p, t->len);
    ut->dirs = P->dirs.p;
    ut->dirs_len = P->dirs.len;
    return rc;
}

/* -- entries -------------------------------------------------------------- */

static int is_dir(const struct entry *e)
{
    return e->type == '5';
}

static int is_reg(const struct entry *e)
{
    return e->type == '0' || e->type == 0 || e->type == '7';
}

/* The path exists: an implicit parent may get its entry, anything else is refused. */
static int exists(struct pyc_untar *ut, int pfd, const char *base)
{
    struct pyc_untar_priv *P = ut->priv;
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return neg_errno();
    if (S_ISDIR(st.st_mode)) {
        if (is_dir(&P->e) && idset_has(&P->implicit, &st, 1)) {
            int rc = apply_at(ut, pfd, base, O_RDONLY | O_DIRECTORY, 0);
            if (!rc)
                rc = record_dir(ut, &P->res, base);
            if (!rc)
                ut->files++;
            return rc;
        }
        if (!is_dir(&P->e))
            return PYC_UT_E_REPLACE_DIR;
    }
    return PYC_UT_E_DUP;
}

static int whiteout_node(struct pyc_untar *ut, int dirfd, const char *name)
{
    int rc = check_ids(ut);
    if (rc)
        return rc;
    if (mknodat(dirfd, name, S_IFCHR, makedev(0, 0)) < 0)
        return errno == EEXIST ? exists(ut, dirfd, name) : neg_errno();
    if (fchownat(dirfd, name, (uid_t) ut->priv->e.uid, (gid_t) ut->priv->e.gid,
                 AT_SYMLINK_NOFOLLOW) < 0)
        return neg_errno();
    return 0;
}

static int whiteout(struct pyc_untar *ut, const char *key, size_t kl, const char *base)
{
    struct pyc_untar_priv *P = ut->priv;
    int opaque = strcmp(base, WH_OPQ) == 0;
    if (!opaque && strncmp(base, WH_META, strlen(WH_META)) == 0)
        return PYC_UT_E_WH_META;
    const char *name = base + strlen(WH);
    if (!opaque && (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
        return detail(ut, PYC_UT_E_WH_NAME, NULL, name, strlen(name));
    /* Never through a link: it would hide or mark another dir than the one named. */
    int fd, linked, own = -1, rc = parent(ut, key, kl, &fd, &linked);
    if (!rc && linked && !(rc = walk(ut, key, kl, 1, 0, &own, &P->wres, &linked)))
        fd = own;
    if (!rc && opaque) {
        int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d < 0 || fsetxattr(d, "trusted.overlay.opaque", "y", 1, 0) < 0)
            rc = neg_errno();
        if (d >= 0)
            close(d);
    } else if (!rc) {
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            rc = detail(ut, PYC_UT_E_WH_CONFLICT, NULL, name, strlen(name));
        else if (errno != ENOENT)
            rc = neg_errno();
        else
            rc = whiteout_node(ut, fd, name);
    }
    if (own >= 0)
        close(own);
    if (!rc)
        ut->files++;
    return rc;
}

static int hardlink(struct pyc_untar *ut, int pfd, const char *base)
{
    struct pyc_untar_priv *P = ut->priv;
    struct buf *t = &P->tpath;
    int rc = clean(P->e.link.p, P->e.link.len, t);
    if (rc)
        return rc;
    if (!t->len)
        return PYC_UT_E_HL_ROOT;
    char *slash = memrchr(t->p, '/', t->len);
    const char *last = slash ? slash + 1 : t->p;
    int tfd, linked;
    rc = walk(ut, t->p, slash ? (size_t) (slash - t->p) : 0, 0, 1, &tfd, &P->wres, &linked);
    if (rc > 0)
        return rc | PYC_UT_E_HL_TARGET;
    if (rc)
        return rc;
    struct stat st;
    if (fstatat(tfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
        rc = errno == ENOENT ? PYC_UT_E_HL_MISSING : neg_errno();
    else if (!S_ISREG(st.st_mode) || !idset_has(&P->regular, &st, 0))
        rc = PYC_UT_E_HL_NOTREG;
    else if (linkat(tfd, last, pfd, base, 0) < 0)
        rc = errno == EEXIST ? exists(ut, pfd, base) : neg_errno();
    close(tfd);
    return rc;
}

/* Create the entry just parsed; sets the state for its data. */
static int do_entry(struct pyc_untar *ut)
{
    struct pyc_untar_priv *P = ut->priv;
    struct entry *e = &P->e;
    int rc;
    P->state = ST_SKIP;
    P->left = is_reg(e) ? (uint64_t) e->size : 0;
    if (e->sparse || e->type == 'S')
        return PYC_UT_E_SPARSE;
    if ((rc = clean(e->name.p, e->name.len, &e->path)))
        return rc;
    char *path = e->path.p;
    if (!e->path.len) {                 /* the layer root */
        if (!is_dir(e))
            return PYC_UT_E_ROOT_TYPE;
        if (P->root_seen)
            return PYC_UT_E_ROOT_DUP;
        P->root_seen = 1;
        rc = apply_at(ut, ut->root_fd, ".", O_RDONLY | O_DIRECTORY, 0);
        return rc ? rc : record_dir(ut, NULL, NULL);
    }
    size_t meta_len = strlen(WH_META);
    if (strncmp(path, WH_META, meta_len) == 0 && strcmp(path, WH_OPQ) != 0)
        return 0;   /* old AUFS metadata (.wh..wh.plnk/...), meaningless for overlay */
    char *slash = memrchr(path, '/', e->path.len);
    const char *base = slash ? slash + 1 : path;
    size_t kl = slash ? (size_t) (slash - path) : 0;
    if (strncmp(base, WH, strlen(WH)) == 0)
        return whiteout(ut, path, kl, base);
    int pfd, linked;
    if ((rc = parent(ut, path, kl, &pfd, &linked)))
        return rc;
    switch (e->type) {
    case '0': case 0: case '7':
        P->out = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (P->out < 0)
            return errno == EEXIST ? exists(ut, pfd, base) : neg_errno();
        P->state = ST_DATA;
        return 0;
    case '5':
        if (mkdirat(pfd, base, 0700) < 0)
            return errno == EEXIST ? exists(ut, pfd, base) : neg_errno();
        rc = apply_at(ut, pfd, base, O_RDONLY | O_DIRECTORY, 0);
        if (!rc)
            rc = record_dir(ut, &P->res, base);
        break;
    case '2': {
        struct timespec ts[2];
        if (!e->link.len)
            return PYC_UT_E_EMPTY_LINK;
        if (memchr(e->link.p, 0, e->link.len))
            return PYC_UT_E_LINK_NUL;
        if ((rc = check_ids(ut)) || (rc = times(e, ts)))
            return rc;
        if (symlinkat(e->link.p, pfd, base) < 0)
            return errno == EEXIST ? exists(ut, pfd, base) : neg_errno();
        if (fchownat(pfd, base, (uid_t) e->uid, (gid_t) e->gid, AT_SYMLINK_NOFOLLOW) < 0
                || utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
            return neg_errno();
        break;
    }
    case '1':
        rc = hardlink(ut, pfd, base);
        break;
    case '6':
        if (mkfifoat(pfd, base, 0600) < 0)
            return errno == EEXIST ? exists(ut, pfd, base) : neg_errno();
        rc = apply_at(ut, pfd, base, O_RDONLY | O_NONBLOCK, 1);
        break;
    case '3': case '4':
        if (e->type != '3' || e->major || e->minor)
            return PYC_UT_E_DEVICE;
        rc = whiteout_node(ut, pfd, base);
        break;
    default:
        return detail(ut, PYC_UT_E_TYPE, NULL, &e->type, 1);
    }
    if (!rc)
        ut->files++;
    return rc;
}

static int file_done(struct pyc_untar *ut)
{
    struct pyc_untar_priv *P = ut->priv;
    struct stat st;
    int rc = meta(ut, P->out);
    if (!rc && fstat(P->out, &st) < 0)
        rc = neg_errno();
    if (!rc)
        rc = idset_add(&P->regular, &st);
    close(P->out);
    P->out = -1;
    if (!rc) {
        ut->size += P->e.size;
        ut->files++;
    }
    return rc;
}

/* -- headers -------------------------------------------------------------- */

static int nts(struct buf *b, const uint8_t *f, size_t n)
{
    const uint8_t *nul = memchr(f, 0, n);
    return buf_set(b, f, nul ? (size_t) (nul - f) : n);
}

static int checksum_ok(const uint8_t *h)
{
    int64_t want;
    if (number(h + 148, 8, &want))
        return 0;
    int64_t u = 0, s = 0;
    for (int i = 0; i < BLOCK; i++) {
        uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
        u += c;
        s += (int8_t) c;
    }
    return want == u || want == s;
}

static int header(struct pyc_untar *ut)
{
    struct pyc_untar_priv *P = ut->priv;
    const uint8_t *h = P->hdr;
    struct entry *e = &P->e;
    int64_t size, v;
    int rc, pending = P->has_longname || P->has_longlink || P->has_pax;
    size_t i = 0;
    while (i < BLOCK && !h[i])
        i++;
    if (i == BLOCK) {
        if (pending)
            return PYC_UT_E_EXTBAD;
        P->state = ST_END;
        return 0;
    }
    if (!checksum_ok(h))
        return PYC_UT_E_CHECKSUM;
    if ((rc = number(h + 124, 12, &size)))
        return rc;
    if (size < 0)
        return PYC_UT_E_HEADER;
    char type = (char) h[156];
    if (type == 'L' || type == 'K' || type == 'x' || type == 'X' || type == 'g') {
        if ((uint64_t) size > MAX_EXT) {
            ut->want = size;
            return PYC_UT_E_EXTSIZE;
        }
        P->ext_type = type;
        P->ext_size = (uint64_t) size;
        P->ext_pad = (BLOCK - size % BLOCK) % BLOCK;
        P->ext.len = 0;
        P->state = ST_EXT;
        return buf_grow(&P->ext, (size_t) size);
    }
    memset(e, 0, offsetof(struct entry, name));
    e->type = type;
    e->size = size;
    if ((rc = number(h + 100, 8, &v)))
        return rc;
    e->mode = (uint32_t) v & 07777;
    if ((rc = number(h + 108, 8, &e->uid)) || (rc = number(h + 116, 8, &e->gid))
            || (rc = number(h + 136, 12, &e->sec)) || (rc = number(h + 329, 8, &e->major))
            || (rc = number(h + 337, 8, &e->minor)))
        return rc;
    if (P->has_longname)
        rc = buf_set(&e->name, P->longname.p, P->longname.len);
    else if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345]) {    /* POSIX prefix */
        rc = nts(&e->name, h + 345, 155);
        if (!rc)
            rc = buf_add(&e->name, "/", 1);
        if (!rc) {
            const uint8_t *nul = memchr(h, 0, 100);
            rc = buf_add(&e->name, h, nul ? (size_t) (nul - h) : 100);
        }
    } else
        rc = nts(&e->name, h, 100);
    if (!rc)
        rc = P->has_longlink ? buf_set(&e->link, P->longlink.p, P->longlink.len)
                             : nts(&e->link, h + 157, 100);
    e->pax = P->has_pax;
    if (!rc && e->pax)
        rc = apply_pax(P);
    P->has_longname = P->has_longlink = P->has_pax = 0;
    if (rc)
        return rc;
    if (e->size < 0)
        return PYC_UT_E_HEADER;
    if (e->type == 0 && e->name.len && e->name.p[e->name.len - 1] == '/')
        e->type = '5';      /* an old tar's directory */
    ut->name = e->name.p;
    ut->name_len = e->name.len;
    ut->link = e->link.p;
    ut->link_len = e->link.len;
    if (++ut->entries > ut->max_entries)
        return PYC_UT_E_ENTRIES;
    P->state = ST_READY;
    return 0;
}

static int ext_done(struct pyc_untar_priv *P)
{
    struct buf *x = &P->ext;
    size_t pos = 0, kl, vl;
    const char *k, *v;
    int rc;
    switch (P->ext_type) {
    case 'L':
        P->has_longname = 1;
        return nts(&P->longname, (const uint8_t *) x->p, x->len);
    case 'K':
        P->has_longlink = 1;
        return nts(&P->longlink, (const uint8_t *) x->p, x->len);
    default:    /* x, X; g is checked and ignored, as docker does */
        while ((rc = pax_next(x, &pos, &k, &kl, &v, &vl)) == 1)
            ;
        if (rc || P->ext_type == 'g')
            return rc;
        P->has_pax = 1;
        struct buf t = P->pax;
        P->pax = P->ext;
        P->ext = t;
        return 0;
    }
}

/* -- the entry points ----------------------------------------------------- */

int pyc_untar_init(struct pyc_untar *ut)
{
    struct pyc_untar_priv *P = calloc(1, sizeof *P);
    if (!P)
        return -ENOMEM;
    P->out = P->cfd = -1;
    ut->priv = P;
    return 0;
}

void pyc_untar_free(struct pyc_untar *ut)
{
    struct pyc_untar_priv *P = ut->priv;
    if (!P)
        return;
    if (P->out >= 0)
        close(P->out);
    if (P->cfd >= 0)
        close(P->cfd);
    struct buf *bufs[] = { &P->ext, &P->longname, &P->longlink, &P->pax, &P->e.name, &P->e.link,
                           &P->e.path, &P->key, &P->res, &P->tpath, &P->wres, &P->pend, &P->tmp,
                           &P->comp, &P->detail, &P->dirs };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        buf_free(bufs[i]);
    free(P->fds);
    free(P->offs);
    free(P->implicit.k);
    free(P->regular.k);
    free(P);
    ut->priv = NULL;
    ut->name = ut->link = ut->detail = ut->dirs = NULL;
}

static int ready(struct pyc_untar *ut)
{
    struct entry *e = &ut->priv->e;
    if (!ut->granted) {
        int64_t size = is_reg(e) ? e->size : 0;
        if (size > ut->allow_content - ut->used_content
                || ut->entry_cost + 2 * size > ut->allow_disk - ut->used_disk) {
            ut->want = size;
            return PYC_UT_BUDGET;
        }
        ut->used_content += size;
        ut->used_disk += ut->entry_cost + size;
    }
    ut->granted = 0;
    return do_entry(ut);
}

static int status(struct pyc_untar *ut, int rc)
{
    if (rc <= 0 || rc == PYC_UT_BUDGET)
        return rc;
    ut->why = rc;
    return PYC_UT_IMAGE;
}

int pyc_untar_feed(struct pyc_untar *ut, const uint8_t *buf, uint64_t len, uint64_t *used)
{
    struct pyc_untar_priv *P = ut->priv;
    uint64_t pos = 0, n;
    int rc = 0;
    if (len)
        P->seen = 1;
    while (!rc) {
        switch (P->state) {
        case ST_END:
            *used = pos;
            return PYC_UT_END;
        case ST_HEADER:
            if (pos == len)
                goto more;
            ut->name = ut->link = NULL;
            n = BLOCK - P->fill < len - pos ? BLOCK - P->fill : len - pos;
            memcpy(P->hdr + P->fill, buf + pos, n);
            P->fill += (uint32_t) n;
            pos += n;
            if (P->fill < BLOCK)
                goto more;
            P->fill = 0;
            rc = header(ut);
            break;
        case ST_EXT:
            if (pos == len)
                goto more;
            if (P->ext.len < P->ext_size) {
                n = P->ext_size - P->ext.len < len - pos ? P->ext_size - P->ext.len : len - pos;
                memcpy(P->ext.p + P->ext.len, buf + pos, n);
                P->ext.len += n;
            } else {
                n = P->ext_pad < len - pos ? P->ext_pad : len - pos;
                P->ext_pad -= n;
            }
            pos += n;
            if (P->ext.len == P->ext_size && !P->ext_pad) {
                P->ext.p[P->ext.len] = 0;
                P->state = ST_HEADER;
                rc = ext_done(P);
            }
            break;
        case ST_READY:
            P->pad = (BLOCK - (is_reg(&P->e) ? (uint64_t) P->e.size : 0) % BLOCK) % BLOCK;
            rc = ready(ut);
            break;
        case ST_DATA:
            if (P->left) {
                if (pos == len)
                    goto more;
                n = P->left < len - pos ? P->left : len - pos;
                rc = write_all(P->out, buf + pos, n);
                pos += n;
                P->left -= n;
                break;
            }
            P->state = ST_SKIP;
            rc = file_done(ut);
            break;
        case ST_SKIP:
            if (P->left + P->pad == 0) {
                P->state = ST_HEADER;
                break;
            }
            if (pos == len)
                goto more;
            if (P->left) {
                n = P->left < len - pos ? P->left : len - pos;
                P->left -= n;
            } else {
                n = P->pad < len - pos ? P->pad : len - pos;
                P->pad -= n;
            }
            pos += n;
            break;
        }
    }
    *used = pos;
    return status(ut, rc);
more:
    *used = pos;
    return PYC_UT_MORE;
}

int pyc_untar_eof(struct pyc_untar *ut)
{
    struct pyc_untar_priv *P = ut->priv;
    if (P->state == ST_END)
        return PYC_UT_END;
    if (P->state == ST_HEADER && !P->fill && !P->has_longname && !P->has_longlink && !P->has_pax)
        return P->seen ? PYC_UT_END : status(ut, PYC_UT_E_EMPTY);   /* no end blocks: fine */
    if (P->state == ST_HEADER || P->state == ST_EXT)
        ut->name = NULL;
    return status(ut, PYC_UT_E_TRUNCATED);
}
