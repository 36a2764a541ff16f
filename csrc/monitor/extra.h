/* The monitor's optional input, after the sections of monitor.h (at the
 * next 8-byte boundary): log rotation, the event journal and the
 * healthcheck.  Python packs it (runtime/monitor.py: pack_extra); absent,
 * the monitor logs without rotation, writes no events and runs no probe.
 * Fixed header, then the probe's plan and strings in this order. */
#ifndef PYC_MON_EXTRA_H
#define PYC_MON_EXTRA_H

#include <stdint.h>

#define PYC_MON_EXTRA_MAGIC 0x58435950u     /* "PYCX" */
#define PYC_MON_EXTRA_VERSION 2u

enum pyc_mon_log_driver { PYC_MON_LOG_FILE = 0, PYC_MON_LOG_NONE = 1 };

/* The strings of the paths section, in this order. */
enum pyc_mon_extra_path {
    PYC_MON_X_HEALTH,       /* health.json, written atomically ("" without a healthcheck) */
    PYC_MON_X_JOURNAL,      /* the store's event journal ("" for none) */
    PYC_MON_X_FROM,         /* the image, for the events' "from" */
    PYC_MON_X_ATTRS,        /* the events' Actor.Attributes, a JSON object's inside */
    PYC_MON_X_VOLUMES,      /* volume events: a line a volume, NAME TAB the mount's
                             * Attributes TAB the unmount's (each a JSON object's inside) */
    PYC_MON_X_NPATHS
};

struct pyc_mon_extra {
    uint32_t magic;
    uint32_t version;           /* PYC_MON_EXTRA_VERSION */
    uint64_t log_max_size;      /* rotate before the log would pass it; 0: never */
    uint32_t log_max_files;     /* files kept, the live one included */
    uint32_t log_driver;        /* enum pyc_mon_log_driver */
    uint64_t journal_max_size;  /* the journal's rotation size */
    /* the healthcheck: none when hc_nops is 0 */
    uint64_t hc_interval_ns;
    uint64_t hc_timeout_ns;
    uint64_t hc_start_period_ns;
    uint64_t hc_start_interval_ns;
    uint64_t hc_join_flags;     /* CLONE_NEW* the probe joins through the init's pidfd */
    uint32_t hc_retries;
    uint32_t hc_nops;           /* struct pyc_op[hc_nops]: the probe's exec plan */
    uint32_t hc_strs_len;       /* its string table */
    uint32_t hc_argv_len;       /* argv, NUL-separated */
    uint32_t hc_env_len;        /* envp, NUL-separated */
    uint32_t paths_len;         /* NUL-separated, enum pyc_mon_extra_path */
};

#endif
