/* The tar format for the layer extractor: ustar, GNU (L/K long names,
 * base-256 numbers) and PAX ("x" records; "g" is checked and ignored, as
 * docker does) headers, parsed into priv->e. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include "untar.h"

/* -- buffers -------------------------------------------------------------- */

int ut_buf_grow(struct buf *b, size_t extra)
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

int ut_buf_add(struct buf *b, const void *s, size_t n)
{
    int rc = ut_buf_grow(b, n);
    if (rc)
        return rc;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int ut_buf_set(struct buf *b, const void *s, size_t n)
{
    b->len = 0;
    return ut_buf_add(b, s, n);
}

/* b += "/" + s (no slash when b is empty) */
int ut_buf_join(struct buf *b, const char *s, size_t n)
{
    int rc = b->len ? ut_buf_add(b, "/", 1) : 0;
    return rc ? rc : ut_buf_add(b, s, n);
}

void ut_buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

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

/* The next PAX record "LEN KEY=VALUE\n" at *pos: 1, 0 at the end, or an error. */
int ut_pax_next(const struct buf *b, size_t *pos, const char **key, size_t *klen,
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
    while ((rc = ut_pax_next(&P->pax, &pos, &k, &kl, &v, &vl)) == 1) {
        int r = 0;
        if (key_is(k, kl, "path"))
            r = ut_buf_set(&e->name, v, vl);
        else if (key_is(k, kl, "linkpath"))
            r = ut_buf_set(&e->link, v, vl);
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
/* -- headers -------------------------------------------------------------- */

static int nts(struct buf *b, const uint8_t *f, size_t n)
{
    const uint8_t *nul = memchr(f, 0, n);
    return ut_buf_set(b, f, nul ? (size_t) (nul - f) : n);
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

int ut_header(struct pyc_untar *ut)
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
        P->ext_pad = (uint64_t) ((BLOCK - size % BLOCK) % BLOCK);
        P->ext.len = 0;
        P->state = ST_EXT;
        return ut_buf_grow(&P->ext, (size_t) size);
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
        rc = ut_buf_set(&e->name, P->longname.p, P->longname.len);
    else if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345]) {    /* POSIX prefix */
        rc = nts(&e->name, h + 345, 155);
        if (!rc)
            rc = ut_buf_add(&e->name, "/", 1);
        if (!rc) {
            const uint8_t *nul = memchr(h, 0, 100);
            rc = ut_buf_add(&e->name, h, nul ? (size_t) (nul - h) : 100);
        }
    } else
        rc = nts(&e->name, h, 100);
    if (!rc)
        rc = P->has_longlink ? ut_buf_set(&e->link, P->longlink.p, P->longlink.len)
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
    ut->name_len = (uint32_t) e->name.len;     /* at most 1 MiB (MAX_EXT) */
    ut->link = e->link.p;
    ut->link_len = (uint32_t) e->link.len;
    if (++ut->entries > ut->max_entries)
        return PYC_UT_E_ENTRIES;
    P->state = ST_READY;
    return 0;
}

int ut_ext_done(struct pyc_untar_priv *P)
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
        while ((rc = ut_pax_next(x, &pos, &k, &kl, &v, &vl)) == 1)
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
