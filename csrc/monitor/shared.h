/* What monitor.c shares with its parts (health.c, logfile.c). */
#ifndef PYC_MON_SHARED_H
#define PYC_MON_SHARED_H

#include <stddef.h>

long long now_ns(void);                                 /* CLOCK_REALTIME */
void rfc3339(long long ns, char *out, size_t len);
/* Written to PATH.tmp and renamed, so readers never see half a file. */
void write_atomic(const char *path, const char *data, size_t len);

#endif
