/* The container's log: CRI records, rotated by size as docker's json-file
 * and local drivers do (max-size, max-file). */
#ifndef PYC_MON_LOGFILE_H
#define PYC_MON_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

struct logfile {
    int fd;                 /* -1: not open (or the none driver) */
    const char *path;
    uint64_t max_size;      /* 0: no rotation */
    uint32_t max_files;     /* PATH and PATH.1 .. PATH.<max_files - 1> */
    uint64_t size;          /* of the live file */
};

/* Open (append) PATH; none: keep no log at all. */
void logfile_open(struct logfile *l, const char *path, uint64_t max_size, uint32_t max_files,
                  int none);
/* CRI log lines: "<time> <stream> <F|P> <text>\n". */
void log_chunk(struct logfile *l, const char *stream, const char *data, size_t len);
void logfile_close(struct logfile *l);

#endif
