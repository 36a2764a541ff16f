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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include "untar.h"

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
        ut_buf_free(bufs[i]);
    free(P->fds);
    free(P->offs);
    free(P->implicit.k);
    free(P->regular.k);
    free(P);
    ut->priv = NULL;
    ut->name = ut->link = ut->detail = ut->dirs = NULL;
}

/* Count the entry against what Python allowed; past that, stop before making
 * anything so the Budget can raise its cap's error or grant more (2 * size:
 * the file and its copy in the layer's blob, as Budget.take checks). */
static int ready(struct pyc_untar *ut)
{
    struct entry *e = &ut->priv->e;
    if (!ut->granted) {
        int64_t size = ut_is_reg(e) ? e->size : 0;
        if (size > ut->allow_content - ut->used_content
                || ut->entry_cost + 2 * size > ut->allow_disk - ut->used_disk) {
            ut->want = size;
            return PYC_UT_BUDGET;
        }
        ut->used_content += size;
        ut->used_disk += ut->entry_cost + size;
    }
    ut->granted = 0;
    return ut_do_entry(ut);
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
            rc = ut_header(ut);
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
                rc = ut_ext_done(P);
            }
            break;
        case ST_READY:
            P->pad = (BLOCK - (ut_is_reg(&P->e) ? (uint64_t) P->e.size : 0) % BLOCK) % BLOCK;
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
            rc = ut_file_done(ut);
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
