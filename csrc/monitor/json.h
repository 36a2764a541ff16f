/* A JSON object built in a fixed buffer, for the monitor's state file. */
#ifndef PYC_MON_JSON_H
#define PYC_MON_JSON_H

#include <stddef.h>

struct json {
    char buf[2048];         /* run.json is ~400 bytes and a short Error */
    size_t len;
    int full;               /* something did not fit: the text is not valid */
    char *big;              /* if set, write there instead (cap bytes): health.json */
    size_t cap;
};

/* The text built so far (buf, or big). */
static inline char *json_text(struct json *j)
{
    return j->big ? j->big : j->buf;
}

/* Append text as it is (structure and numbers). */
void json_raw(struct json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append s as a JSON string: quotes, backslash and control characters
 * escaped, bytes that are not UTF-8 as U+FFFD.  A string too long for the
 * room left (keep bytes kept for what follows) is cut. */
void json_str(struct json *j, const char *s, size_t keep);

#endif
