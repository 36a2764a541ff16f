/* The per-container monitor's input: one file Python writes before
 * starting it.  Fixed header, then the sections in this order. */
#ifndef PYC_MONITOR_H
#define PYC_MONITOR_H

#include <stdint.h>

#define PYC_MON_MAGIC 0x4d435950u   /* "PYCM" */
#define PYC_MON_VERSION 4u

/* The report "err INDEX ERRNO [N]": INDEX >= 0 is the plan op that failed;
 * below 0 it is a step of the monitor's own. */
enum pyc_mon_step {
    PYC_MON_STEP_START = -1,    /* reading the input, making pipes, the clone */
    PYC_MON_STEP_ATTACH = -2,   /* writing the pid to attach path N */
};

/* The strings of the paths section, in this order; the directories to
 * remove (auto-remove) follow, then (join_pidns) the pid namespace file
 * each start of the init is cloned into.  PYC_MON_ATTACH: the attach
 * socket ("" for none). */
enum pyc_mon_path { PYC_MON_RUNJSON, PYC_MON_LOG, PYC_MON_OOM, PYC_MON_STOPMARK,
                    PYC_MON_NAME, PYC_MON_ATTACH, PYC_MON_ID, PYC_MON_RMDIRS };

/* What to do when the init exits, decided by Python: start it again when
 * its exit code (0..255) has its bit set in codes, the stop marker is
 * absent and fewer than max restarts were made (0: no limit).  Each
 * restart waits first: backoff_ms, multiplied by backoff_factor after
 * each restart up to backoff_max_ms, and back to backoff_ms after a run
 * longer than reset_after_ms. */
struct pyc_mon_restart {
    uint8_t codes[32];      /* bit (code & 7) of byte (code >> 3) */
    uint32_t max;
    uint32_t backoff_ms;
    uint32_t backoff_factor;
    uint32_t backoff_max_ms;
    uint32_t reset_after_ms;
    uint32_t pad;
};

struct pyc_mon_header {
    uint32_t magic;
    uint32_t version;       /* PYC_MON_VERSION */
    uint64_t clone_flags;
    uint32_t nops;          /* struct pyc_op[nops] */
    uint32_t strs_len;      /* the plan's string table */
    uint32_t argv_len;      /* argv, NUL-separated */
    uint32_t env_len;       /* envp, NUL-separated */
    uint32_t attach_len;    /* NUL-separated cgroup.procs paths to write the init's pid to */
    uint32_t cleanup_len;   /* cgroup batch run when the container is done */
    uint32_t paths_len;     /* NUL-separated, enum pyc_mon_path */
    uint32_t hooks_len;     /* commands run when the container is done: argv
                               strings NUL-separated, an empty string ends each
                               (or an @ verb the monitor runs itself: run_hook) */
    uint32_t auto_remove;
    uint32_t stdio;         /* IO_TTY, IO_STDIN (io.h) */
    uint32_t join_pidns;    /* 1: the last path is a pid namespace to clone the init into */
    uint32_t pad;
    struct pyc_mon_restart restart;
};

#endif
