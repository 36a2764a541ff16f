/* Shared by the files of the layer extractor (untar.c, untar_tar.c,
 * untar_fs.c); not exported to Python.  Functions return 0, -errno, or a
 * PYC_UT_E_* reason (> 0). */
#ifndef PYC_UNTAR_H
#define PYC_UNTAR_H

#include <stddef.h>
#include <stdint.h>
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

static inline int ut_is_dir(const struct entry *e)
{
    return e->type == '5';
}

static inline int ut_is_reg(const struct entry *e)
{
    return e->type == '0' || e->type == 0 || e->type == '7';
}

/* untar_tar.c: buffers and the tar format */
int ut_buf_grow(struct buf *b, size_t extra);
int ut_buf_add(struct buf *b, const void *s, size_t n);
int ut_buf_set(struct buf *b, const void *s, size_t n);
int ut_buf_join(struct buf *b, const char *s, size_t n);   /* b += "/" + s */
void ut_buf_free(struct buf *b);
int ut_pax_next(const struct buf *b, size_t *pos, const char **key, size_t *klen,
                const char **val, size_t *vlen);
int ut_header(struct pyc_untar *ut);        /* the block in priv->hdr */
int ut_ext_done(struct pyc_untar_priv *P);  /* the extended header in priv->ext */

/* untar_fs.c: entries on the file system */
int ut_detail(struct pyc_untar *ut, int why, const struct buf *base, const char *s, size_t n);
int ut_do_entry(struct pyc_untar *ut);      /* create the entry parsed; sets the state */
int ut_file_done(struct pyc_untar *ut);     /* its content is written: metadata, close */

#endif
