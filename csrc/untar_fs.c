/* Entries of a layer on the file system: parents resolved as if the layer
 * root were "/" (walk), kept open for the next entry (parent), the last
 * component never followed, metadata set through fds. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include "untar.h"

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

int ut_detail(struct pyc_untar *ut, int why, const struct buf *base, const char *s, size_t n)
{
    struct buf *d = &ut->priv->detail;
    int rc = ut_buf_set(d, base ? base->p : "", base ? base->len : 0);
    if (!rc && s)
        rc = ut_buf_join(d, s, n);
    if (rc)
        return rc;
    ut->detail = d->p;
    ut->detail_len = (uint32_t) d->len;    /* names are at most 1 MiB */
    return why;
}

/* -- names ---------------------------------------------------------------- */

/* Clean a name like Go's filepath.Clean, then relative: components joined by '/'. */
static int clean(const char *s, size_t n, struct buf *out)
{
    int absolute = n && s[0] == '/';
    if (memchr(s, 0, n))
        return PYC_UT_E_NUL;
    int rc = ut_buf_set(out, "", 0);
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
        rc = ut_buf_join(out, c, cl);
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
    int links = 0, rc = ut_buf_set(pend, path, n);
    *linked = 0;
    if (!rc)
        rc = ut_buf_set(res, "", 0);
    while (!rc && pos < pend->len) {
        size_t j = pos;
        while (j < pend->len && pend->p[j] != '/')
            j++;
        rc = ut_buf_set(comp, pend->p + pos, j - pos);
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
                rc = ut_detail(ut, PYC_UT_E_MISSING, res, comp->p, comp->len);
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
                rc = ut_detail(ut, PYC_UT_E_NOTDIR, res, comp->p, comp->len);
                break;
            }
            if (!follow) {
                rc = ut_detail(ut, PYC_UT_E_THROUGH_LINK, res, comp->p, comp->len);
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
            rc = ut_buf_set(&P->tmp, target, (size_t) tl);
            if (!rc && pos < pend->len)
                rc = ut_buf_join(&P->tmp, pend->p + pos, pend->len - pos);
            if (!rc)
                rc = ut_buf_set(pend, P->tmp.p, P->tmp.len);
            pos = 0;
            continue;
        }
        if (fd < 0)
            goto fail;
        size_t off = res->len;
        rc = push_fd(P, nfd, fd, off);
        if (!rc) {
            nfd++;
            rc = ut_buf_join(res, comp->p, comp->len);
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
        rc = ut_buf_set(&P->comp, key + skip, n - skip);
        if (rc)
            return rc;
        int d = openat(P->cfd, P->comp.p, DIR_FLAGS);
        if (d >= 0) {
            close(P->cfd);
            P->cfd = d;
            if ((rc = ut_buf_set(&P->key, key, n)) || (rc = ut_buf_join(&P->res, P->comp.p, P->comp.len)))
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
    if ((rc = ut_buf_set(&P->key, key, n)))
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
    while ((rc = ut_pax_next(&P->pax, &pos, &k, &kl, &v, &vl)) == 1) {
        if (kl <= pl || memcmp(k, XATTR_PREFIX, pl) != 0)
            continue;
        k += pl, kl -= pl;
        /* overlay attributes are the whiteouts' only; capabilities and LSM
         * labels are not taken from images */
        if ((kl >= 16 && memcmp(k, "trusted.overlay.", 16) == 0)
                || (kl >= 9 && memcmp(k, "security.", 9) == 0))
            continue;
        if ((rc = ut_buf_set(&P->comp, k, kl)))
            return rc;
        if (fsetxattr(fd, P->comp.p, v, vl, 0) < 0) {
            ut->err = errno;
            return ut_detail(ut, PYC_UT_E_XATTR, NULL, P->comp.p, P->comp.len);
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
    int rc = ut_buf_set(t, res ? res->p : "", res ? res->len : 0);
    if (!rc && name)
        rc = ut_buf_join(t, name, strlen(name));
    struct { uint32_t len, mode; int64_t sec; uint32_t nsec, pad; } r = {
        (uint32_t) t->len, P->e.mode, P->e.sec, P->e.nsec, 0 };
    if (!rc && t->len > UINT32_MAX)
        rc = -ENAMETOOLONG;
    if (!rc)
        rc = ut_buf_add(&P->dirs, &r, sizeof r);
    if (!rc)
        rc = ut_buf_add(&P->dirs, t->p, t->len);
    ut->dirs = P->dirs.p;
    ut->dirs_len = P->dirs.len;
    return rc;
}
/* -- entries -------------------------------------------------------------- */

/* The path exists: an implicit parent may get its entry, anything else is refused. */
static int exists(struct pyc_untar *ut, int pfd, const char *base)
{
    struct pyc_untar_priv *P = ut->priv;
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return neg_errno();
    if (S_ISDIR(st.st_mode)) {
        if (ut_is_dir(&P->e) && idset_has(&P->implicit, &st, 1)) {
            int rc = apply_at(ut, pfd, base, O_RDONLY | O_DIRECTORY, 0);
            if (!rc)
                rc = record_dir(ut, &P->res, base);
            if (!rc)
                ut->files++;
            return rc;
        }
        if (!ut_is_dir(&P->e))
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
        return ut_detail(ut, PYC_UT_E_WH_NAME, NULL, name, strlen(name));
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
            rc = ut_detail(ut, PYC_UT_E_WH_CONFLICT, NULL, name, strlen(name));
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
int ut_do_entry(struct pyc_untar *ut)
{
    struct pyc_untar_priv *P = ut->priv;
    struct entry *e = &P->e;
    int rc;
    P->state = ST_SKIP;
    P->left = ut_is_reg(e) ? (uint64_t) e->size : 0;
    if (e->sparse || e->type == 'S')
        return PYC_UT_E_SPARSE;
    if ((rc = clean(e->name.p, e->name.len, &e->path)))
        return rc;
    char *path = e->path.p;
    if (!e->path.len) {                 /* the layer root */
        if (!ut_is_dir(e))
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
        return ut_detail(ut, PYC_UT_E_TYPE, NULL, &e->type, 1);
    }
    if (!rc)
        ut->files++;
    return rc;
}

int ut_file_done(struct pyc_untar *ut)
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
