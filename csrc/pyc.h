/* pycontainer C core: mechanism only.
 *
 * Every exported function returns >= 0 on success or -errno on failure,
 * never prints, never exits, keeps no global state and picks no paths.
 * Python compiles the container's setup into a flat list of ops; the
 * child runs them between clone() and execve() with no Python in between.
 */
#ifndef PYC_H
#define PYC_H

#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/types.h>

/* cffi: begin. From here to "cffi: end" this header is also the cdef of the
 * Python module (pycontainer/_core/build.py reads it): only declarations and
 * #defines, no other preprocessor lines.  A #define whose value is not an
 * integer literal gets its value from the compiler. */

/* The kernel's namespace flags (values from <sched.h>), for Python's plans. */
#define PYC_CLONE_NEWNS     CLONE_NEWNS
#define PYC_CLONE_NEWCGROUP CLONE_NEWCGROUP
#define PYC_CLONE_NEWUTS    CLONE_NEWUTS
#define PYC_CLONE_NEWIPC    CLONE_NEWIPC
#define PYC_CLONE_NEWUSER   CLONE_NEWUSER
#define PYC_CLONE_NEWPID    CLONE_NEWPID
#define PYC_CLONE_NEWNET    CLONE_NEWNET

/* mount(2) flags (values from <sys/mount.h>), for pyc_mount. */
#define PYC_MS_RDONLY       MS_RDONLY
#define PYC_MS_NOSUID       MS_NOSUID
#define PYC_MS_NODEV        MS_NODEV
#define PYC_MS_REMOUNT      MS_REMOUNT
#define PYC_MS_BIND         MS_BIND
#define PYC_MS_REC          MS_REC
#define PYC_MS_PRIVATE      MS_PRIVATE

/* One setup step run in the child.  Strings are offsets into the plan's
 * string table (PYC_NOSTR when absent); paths under the new root are
 * relative to it and resolved with openat2(RESOLVE_IN_ROOT). */
#define PYC_NOSTR 0xffffffffu

enum pyc_op_kind {
    PYC_OP_MOUNT = 1,    /* s1 source, s2 target (host path), s3 fstype, s4 data; a = MS_ flags */
    PYC_OP_ROOTFS,       /* s2 = host dir that becomes the root; opened as the root fd */
    PYC_OP_OVERLAY,      /* s1 lowerdirs one per line, s2 upper, s3 work, s4 target (host);
                            a = MOUNT_ATTR_*, c = 1 for "volatile" */
    PYC_OP_MOUNT_IN,     /* new fs s3 (options s4, source s1) or bind of host path s1, onto
                            s2 in root; a = MOUNT_ATTR_*, b = PYC_MNT_*; c = a bind's
                            propagation (MS_PRIVATE or MS_SLAVE, with MS_REC: recursive) */
    PYC_OP_REMOUNT_IN,   /* s2 in root: set MOUNT_ATTR_* a, clear c; b = PYC_MNT_RECURSIVE */
    PYC_OP_MKNOD_IN,     /* s2 path in root, a = mode, b = dev; falls back to binding s1 */
    PYC_OP_SYMLINK_IN,   /* s1 link text, s2 path in root */
    PYC_OP_MKDIR_IN,     /* s2 path in root (mkdir -p), a = mode */
    PYC_OP_SYNC,         /* ask the parent to act, wait for its go-ahead */
    PYC_OP_UNSHARE,      /* a = CLONE_NEW* flags */
    PYC_OP_PIVOT_ROOT,   /* pivot into the root fd and detach the old root; a = 1: chroot */
    PYC_OP_REMOUNT_ROOT, /* after pivot: set MOUNT_ATTR_* a on / */
    PYC_OP_HOSTNAME,     /* s1 */
    PYC_OP_RLIMIT,       /* a = resource, b = soft, c = hard */
    PYC_OP_GROUPS,       /* s1 = gids as decimal text joined by ',' (may be empty) */
    PYC_OP_GID,          /* a */
    PYC_OP_UID,          /* a */
    PYC_OP_CHDIR,        /* s1, after pivot */
    PYC_OP_WRITE,        /* write s2 to file s1 (e.g. /proc/self/oom_score_adj); b = 1: only
                            open s1, b = 2: write to it later (proc.c) */
    PYC_OP_EXEC,         /* s1 = file, s2 = PATH to search when s1 has no '/' */
    PYC_OP_LOOPBACK,     /* bring "lo" up in the (new) network namespace */
    PYC_OP_SETNS,        /* join the namespace file s1 (e.g. a prepared netns), a = CLONE_NEW* */
    PYC_OP_CAPS,         /* keep caps in mask a in the bounding set (c = last cap);
                            inheritable and ambient cleared; b = 1: keep the permitted
                            set across the coming setuid (PYC_OP_CAPSET follows) */
    PYC_OP_NO_NEW_PRIVS, /* prctl(PR_SET_NO_NEW_PRIVS) */
    PYC_OP_SECCOMP,      /* install the BPF at string-table offset s1, a = bytes */
    PYC_OP_IDMAP_LAYER,  /* idmapped clone of layer s1 at s2 through the userns file s3 */
    PYC_OP_PTY,          /* open the ptmx s1 (the container's devpts, after the pivot), make
                            its slave our controlling terminal and stdio; the master goes
                            to the parent over the sync socket (PYC_MSG_FD) */
    PYC_OP_CAPSET,       /* after setuid (PYC_OP_CAPS with b = 1 kept them across it): the
                            OCI sets, a = effective, b = permitted, c = inheritable; s1 =
                            the ambient mask as decimal text */
};

/* PYC_OP_MOUNT_IN flags (b) */
#define PYC_MNT_NO_SYMLINKS 1u   /* the target must not be reached through any symlink */
#define PYC_MNT_MKDIR       2u   /* create the target directory (mkdir -p) when missing */
#define PYC_MNT_MKFILE      4u   /* create the target as an empty file when missing */
#define PYC_MNT_BIND_SRC    8u   /* s1 is a host path to bind (open_tree + move) */
#define PYC_MNT_RECURSIVE  16u   /* bind or set attributes on the whole subtree */
#define PYC_MNT_OPTIONAL   32u   /* a missing target is skipped, not an error */
#define PYC_MNT_BIND_SELF  64u   /* bind the target onto itself (to change its attributes) */

struct pyc_op {
    uint32_t kind;
    uint32_t s1, s2, s3, s4;
    uint32_t pad;
    int64_t a, b, c;
};

struct pyc_spawn {
    uint64_t clone_flags;          /* CLONE_NEW* */
    const struct pyc_op *ops;
    uint32_t nops;
    const char *strs;              /* string table, NUL-separated */
    uint32_t strs_len;
    const char *const *argv;       /* NULL-terminated */
    const char *const *envp;       /* NULL-terminated */
    int stdio[3];                  /* fds to become 0,1,2 in the child (-1: /dev/null) */
    int cgroup_fd;                 /* cgroup2 dir for CLONE_INTO_CGROUP, or -1 */
    int pdeathsig;                 /* signal when the parent thread dies, 0 for none */
    int keep_fds_from;             /* fds >= 3 below this stay open across exec (LISTEN_FDS-like); 3 = none */
    int join_pidfd;                /* exec: join this process's namespaces, or -1 */
    uint64_t join_flags;           /* CLONE_NEW* to join through join_pidfd */
    void *stack;                   /* non-NULL: share our memory (CLONE_VM) until exec,  */
    uint64_t stack_size;           /* running on this stack; the caller keeps it (and the
                                      spec) alive until the child exec'd or was reaped */
};

/* Messages the child sends on the sync socket. */
enum pyc_msg_kind { PYC_MSG_SYNC = 1, PYC_MSG_ERROR = 2, PYC_MSG_EXEC = 3, PYC_MSG_FD = 4 };

struct pyc_msg {
    int32_t kind;
    int32_t index;   /* op index */
    int32_t err;     /* errno for PYC_MSG_ERROR */
    int32_t fd;      /* PYC_MSG_FD: the fd received (CLOEXEC, the caller's now); else -1 */
};

/* Spawn the container init.  On success returns its pid and fills
 * *pidfd and *sockfd (the parent's end of the sync socket). */
int pyc_container_spawn(const struct pyc_spawn *spec, int *pidfd, int *sockfd);

/* Wait for the next message from the child; PYC_MSG_EXEC when it exec'd
 * (its end closed), PYC_MSG_FD with msg->fd (a pty master; the child goes
 * on without waiting).  timeout_ms < 0 waits forever. */
int pyc_sync_wait(int sockfd, struct pyc_msg *msg, int timeout_ms);

/* Let the child go on past a PYC_OP_SYNC. */
int pyc_sync_go(int sockfd);

/* cgroup writes: a batch of entries "K\tpath\tvalue\n" where K is
 * 'd' (mkdir, EEXIST ok), 'w' (write value), 'r' (rmdir, ENOENT ok),
 * 'R' (rmdir, retried briefly on EBUSY while the kernel drains).
 * Stops at the first failure and stores its index in *failed. */
int pyc_cgroup_apply(const char *batch, uint32_t len, int *failed);

/* mount(2), for host-side steps Python decides (e.g. a cgroup2 remount). */
int pyc_mount(const char *src, const char *target, const char *fstype, uint64_t flags,
              const char *data);

/* unshare(2) / setns(2) for the calling thread (used in forked helpers). */
int pyc_unshare(uint64_t flags);
int pyc_setns(int fd, uint64_t nstype);

/* A seccomp rule, already resolved by Python from a profile. */
#define PYC_SECCOMP_MAX_ARGS 6
struct pyc_seccomp_arg { uint32_t index, op; uint64_t value, value2; };
struct pyc_seccomp_rule {
    char name[48];
    uint32_t action;
    uint32_t nargs;
    struct pyc_seccomp_arg args[PYC_SECCOMP_MAX_ARGS];
};

/* Compile rules into BPF (struct sock_filter[]) with libseccomp. */
int pyc_seccomp_compile(uint32_t default_action, const char *arches, uint32_t arches_len,
                        const struct pyc_seccomp_rule *rules, uint32_t nrules,
                        uint8_t *out, uint32_t out_cap, uint32_t *out_len);

/* cgroup v2 devices: load a BPF_PROG_TYPE_CGROUP_DEVICE program, attach it. */
int pyc_bpf_device_load(const void *insns, uint32_t count, char *log, uint32_t log_size);
int pyc_bpf_device_attach(int cgroup_fd, int prog_fd);

/* umount2(MNT_DETACH), for host-side cleanup Python decides. */
int pyc_umount(const char *target);

/* A user namespace with these maps, bound onto the file bind_path. */
int pyc_userns_create(const char *uid_map, const char *gid_map, const char *bind_path);

/* openat2(2) with RESOLVE_* flags; returns an fd or -errno. */
int pyc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                uint64_t resolve);

/* Layer tar extraction (untar.c): one struct per layer, fed the decompressed
 * stream in chunks.  Python sets the "in" fields, reads the "out" ones. */
struct pyc_untar_priv;
struct pyc_untar {
    int root_fd;                /* in: the layer root (an empty dir) */
    int granted;                /* in: the entry stopped at PYC_UT_BUDGET is accounted */
    int64_t max_entries;        /* in */
    int64_t allow_content;      /* in: file content that may be taken without asking */
    int64_t allow_disk;         /* in: bytes that may be written without asking */
    int64_t entry_cost;         /* in: disk an entry takes besides its content */
    int64_t used_content;       /* out: taken since Python last zeroed it */
    int64_t used_disk;          /* out: likewise */
    int64_t size, files, entries;   /* out: content bytes, entries made, members seen */
    int64_t want;               /* out: PYC_UT_BUDGET / PYC_UT_E_EXTSIZE: the size asked */
    int why;                    /* out: PYC_UT_E_* with PYC_UT_IMAGE */
    int err;                    /* out: errno with PYC_UT_E_XATTR */
    const char *name;           /* out: the member's raw name, NULL between members */
    uint32_t name_len;
    const char *link;           /* out: its raw link target */
    uint32_t link_len;
    const char *detail;         /* out: the path or name a reason is about */
    uint32_t detail_len;
    const char *dirs;           /* out: {u32 len, u32 mode, i64 sec, u32 nsec, u32 0, path} */
    uint64_t dirs_len;
    struct pyc_untar_priv *priv;
};

/* Returns of pyc_untar_feed / pyc_untar_eof (or -errno, the member in name). */
#define PYC_UT_MORE    0        /* all taken: feed more */
#define PYC_UT_END     1        /* end of the archive; *used bytes were tar */
#define PYC_UT_BUDGET  2        /* the next entry needs want more bytes: grant, feed the rest */
#define PYC_UT_IMAGE   3        /* the layer is at fault: why */

/* Reasons (why); PYC_UT_E_HL_TARGET is or-ed to one about a hard link's target. */
#define PYC_UT_E_CHECKSUM     16
#define PYC_UT_E_HEADER       17
#define PYC_UT_E_TRUNCATED    18
#define PYC_UT_E_EMPTY        19
#define PYC_UT_E_EXTSIZE      20
#define PYC_UT_E_EXTBAD       21
#define PYC_UT_E_ENTRIES      22
#define PYC_UT_E_SPARSE       23
#define PYC_UT_E_CLIMB        24
#define PYC_UT_E_NUL          25
#define PYC_UT_E_ROOT_TYPE    26
#define PYC_UT_E_ROOT_DUP     27
#define PYC_UT_E_NOTDIR       28
#define PYC_UT_E_THROUGH_LINK 29
#define PYC_UT_E_LOOP         30
#define PYC_UT_E_MISSING      31
#define PYC_UT_E_REPLACE_DIR  32
#define PYC_UT_E_DUP          33
#define PYC_UT_E_EMPTY_LINK   34
#define PYC_UT_E_LINK_NUL     35
#define PYC_UT_E_HL_ROOT      36
#define PYC_UT_E_HL_MISSING   37
#define PYC_UT_E_HL_NOTREG    38
#define PYC_UT_E_WH_META      39
#define PYC_UT_E_WH_NAME      40
#define PYC_UT_E_WH_CONFLICT  41
#define PYC_UT_E_DEVICE       42
#define PYC_UT_E_TYPE         43
#define PYC_UT_E_XATTR        44
#define PYC_UT_E_OWNER        45
#define PYC_UT_E_MTIME        46
#define PYC_UT_E_HL_TARGET    4096

int pyc_untar_init(struct pyc_untar *ut);
/* Parse and create what buf holds; *used: how much was taken. */
int pyc_untar_feed(struct pyc_untar *ut, const uint8_t *buf, uint64_t len, uint64_t *used);
/* The stream ended: PYC_UT_END, or what is wrong with where it stopped. */
int pyc_untar_eof(struct pyc_untar *ut);
/* Close and free what init and feed made (the caller removes the files). */
void pyc_untar_free(struct pyc_untar *ut);

/* watch.c: an inotify fd watching n directories, or -errno; at most n
 * malloc arenas; the heap's free pages given back. */
int pyc_watch_dirs(const char *const *dirs, int n);
int pyc_malloc_arenas(int n);
void pyc_malloc_trim(void);

/* tree.c: the lstat of every entry below dirfd (dirfd's own first) down to
 * `levels` levels (0: dirfd's own only, 1: its entries too), as records
 * (name length u16, name, 7 u64: mode uid gid size mtime ctime ino^dev) in
 * getdents order, 0xffff ending each directory; nothing is followed;
 * *newest: the latest ctime (ns) seen. The length written, -ERANGE when
 * cap is too small, or -errno. */
int64_t pyc_tree_stat(int dirfd, int levels, char *buf, uint64_t cap, int64_t *newest);

/* cffi: end */

#endif
