/* Shared by the OCI runtime's front end (front.c) and its warm create (warm.c). */
#ifndef PYC_OCI_FRONT_H
#define PYC_OCI_FRONT_H

#include <stddef.h>
#include <sys/types.h>

#ifndef PYC_OCI_PYTHON
#define PYC_OCI_PYTHON "/usr/bin/python3"
#endif
#ifndef PYC_OCI_PATH          /* site dirs for `python -S`, ':'-separated */
#define PYC_OCI_PATH ""
#endif

/* An error line on stderr (and --log); returns the exit status, 1. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Exec the Python runtime with the same arguments (returns only on failure). */
int python(int argc, char **argv);

/* The directory holding the package, from /proc/self/exe; 0 or -1. */
int package_top(char *top, size_t cap);

/* `python -I -S -c` code that finds the package and runs `tail`; 0 or -1. */
int boot_code(char *boot, size_t cap, const char *top, const char *tail);

/* `create` (argv) through the warm process (pycontainer/oci/warm.py),
 * cloning the init here (*cloned: its pid, when not NULL); when there is
 * none, starts one and execs python() with fb_argv.  The exit status. */
int warm_create(int argc, char **argv, int fb_argc, char **fb_argv, pid_t *cloned);

#endif
