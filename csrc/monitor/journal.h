/* The store's event journal, as the monitor writes it: one JSON line per
 * event, docker's fields (engine/events.py reads and writes the same). */
#ifndef PYC_MON_JOURNAL_H
#define PYC_MON_JOURNAL_H

#include <stdint.h>

struct journal {
    const char *path;       /* "" or NULL: no journal */
    uint64_t max_size;      /* rotate to PATH.1 once past it */
    const char *id;         /* the container */
    const char *from;       /* its image */
    const char *attrs;      /* Actor.Attributes' members, JSON ("" for none) */
    const char *volumes;    /* its volumes' events (extra.h: PYC_MON_X_VOLUMES) */
};

/* A container event; key/value (may be NULL) is one more attribute. */
void journal_emit(const struct journal *jr, const char *action, const char *key,
                  const char *value);

/* docker's volume mount (at a start) or unmount (at an exit) events, one
 * per volume of the container. */
void journal_emit_volumes(const struct journal *jr, int mount);

#endif
