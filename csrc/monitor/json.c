/* The monitor's JSON writer: small, and valid for any bytes it is given. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "json.h"

void json_raw(struct json *j, const char *fmt, ...)
{
    va_list ap;
    size_t room = (j->big ? j->cap : sizeof j->buf) - j->len;
    va_start(ap, fmt);
    int n = vsnprintf(json_text(j) + j->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= room)
        j->full = 1;
    else
        j->len += (size_t) n;
}

/* Length of the well-formed UTF-8 sequence at s (2..4 bytes), or 0: no
 * overlong forms, surrogates or code points above U+10FFFF, which
 * strict decoders refuse. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    for (size_t i = 1; i < n; i++, lo = 0x80, hi = 0xbf)
        if (s[i] < lo || s[i] > hi)     /* the NUL at the end stops here too */
            return 0;
    return n;
}

void json_str(struct json *j, const char *s, size_t keep)
{
    size_t end = (j->big ? j->cap : sizeof j->buf) - keep - 1;   /* 1: the closing quote */
    char *buf = json_text(j);
    if (j->full || j->len + 1 > end) {
        j->full = 1;
        return;
    }
    buf[j->len++] = '"';
    for (const unsigned char *p = (const unsigned char *) s; *p; ) {
        char esc[8];
        const char *out = esc;
        size_t used = *p < 0x80 ? 1 : utf8_len(p), n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char) *p;
            n = 2;
        } else if (*p < 0x20) {
            n = (size_t) snprintf(esc, sizeof esc, "\\u%04x", *p);
        } else if (used) {
            out = (const char *) p;
            n = used;
        } else {
            out = "\\ufffd";
            n = 6;
            used = 1;
        }
        if (j->len + n > end)
            break;
        memcpy(buf + j->len, out, n);
        j->len += n;
        p += used;
    }
    buf[j->len++] = '"';
}
