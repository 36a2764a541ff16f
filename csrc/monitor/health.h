/* The healthcheck: the monitor runs the probe Python compiled (an exec
 * plan) in the container on a timer, and keeps docker's health state in
 * health.json.  Every number comes from the input (extra.h). */
#ifndef PYC_MON_HEALTH_H
#define PYC_MON_HEALTH_H

#include <stdint.h>
#include <sys/types.h>
#include "../pyc.h"
#include "extra.h"
#include "journal.h"

#define HEALTH_LOG 5            /* results kept, docker's */
#define HEALTH_OUTPUT 4096      /* bytes of output kept per result, docker's */

struct health_result { long long start, end; int code; size_t len; char out[HEALTH_OUTPUT + 1]; };

struct health {
    int epfd;                   /* -1: no healthcheck; else the one fd the loop polls */
    int timerfd;
    struct pyc_spawn spec;
    char **argv, **envp;
    const char *const *attach;  /* cgroup.procs paths (the init's) */
    int nattach;
    const struct pyc_mon_extra *x;
    const char *path;           /* health.json */
    const struct journal *jr;
    int init_pidfd;
    long long started_ns;       /* this run of the init */
    /* the probe running now */
    pid_t pid;
    int pidfd, out, timed_out;
    struct health_result cur;
    /* docker's state */
    int status, streak, nlog;
    struct health_result log[HEALTH_LOG];
    char *text;                 /* health.json's buffer */
};

/* From the extra input: x and the sections after it (ops, strs, argv,
 * env).  0 (also when there is no healthcheck), or -1 for a bad input. */
int health_init(struct health *h, const struct pyc_mon_extra *x, const char *sections,
                const char *path, const struct journal *jr, const char *const *attach,
                int nattach);
/* The fd the I/O loop polls (POLLIN): call health_tick when ready; -1 for none. */
int health_fd(const struct health *h);
/* A new run of the init: state "starting", the first probe scheduled. */
void health_start(struct health *h, int init_pidfd, long long started_ns);
void health_tick(struct health *h);
/* The init exited: kill and reap a probe still running, schedule no more. */
void health_stop(struct health *h);

#endif
