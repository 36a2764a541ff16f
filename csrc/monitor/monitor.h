/* The per-container monitor's input: one file Python writes before
 * starting it.  Fixed header, then the sections in this order. */
#ifndef PYC_MONITOR_H
#define PYC_MONITOR_H

#include <stdint.h>

#define PYC_MON_MAGIC 0x4d435950u   /* "PYCM" */

enum pyc_restart { PYC_RESTART_NO, PYC_RESTART_ALWAYS, PYC_RESTART_ON_FAILURE,
                   PYC_RESTART_UNLESS_STOPPED };

/* The report "err INDEX ERRNO [N]": INDEX >= 0 is the plan op that failed;
 * below 0 it is a step of the monitor's own. */
enum pyc_mon_step {
    PYC_MON_STEP_START = -1,    /* reading the input, making pipes, the clone */
    PYC_MON_STEP_ATTACH = -2,   /* writing the pid to attach path N */
};

struct pyc_mon_header {
    uint32_t magic;
    uint32_t version;
    uint64_t clone_flags;
    uint32_t nops;          /* struct pyc_op[nops] */
    uint32_t strs_len;      /* the plan's string table */
    uint32_t argv_len;      /* argv, NUL-separated */
    uint32_t env_len;       /* envp, NUL-separated */
    uint32_t attach_len;    /* cgroup batch; "@PID@" stands for the init's pid */
    uint32_t cleanup_len;   /* cgroup batch run when the container is done */
    uint32_t paths_len;     /* NUL-separated: run.json, log, oom file, stop marker, remove dirs... */
    uint32_t restart;       /* enum pyc_restart */
    int32_t restart_max;    /* on-failure:N, 0 = unlimited */
    uint32_t auto_remove;
    uint32_t hooks_len;     /* commands run when the container is done: argv
                               strings NUL-separated, an empty string ends each */
    uint32_t pad;
};

#endif
