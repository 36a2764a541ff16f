"""cffi build script for the C core (API mode, compiled at install time)."""
import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.normpath(os.path.join(HERE, "..", "..", "csrc"))

CDEF = """
#define PYC_NOSTR 0xffffffff
enum pyc_op_kind {
    PYC_OP_MOUNT = 1, PYC_OP_ROOTFS, PYC_OP_OVERLAY, PYC_OP_MOUNT_IN,
    PYC_OP_REMOUNT_IN, PYC_OP_MKNOD_IN, PYC_OP_SYMLINK_IN, PYC_OP_MKDIR_IN,
    PYC_OP_SYNC, PYC_OP_UNSHARE, PYC_OP_PIVOT_ROOT, PYC_OP_REMOUNT_ROOT,
    PYC_OP_HOSTNAME, PYC_OP_RLIMIT, PYC_OP_GROUPS, PYC_OP_GID, PYC_OP_UID,
    PYC_OP_CHDIR, PYC_OP_WRITE, PYC_OP_EXEC, PYC_OP_LOOPBACK, PYC_OP_SETNS, PYC_OP_CAPS, PYC_OP_NO_NEW_PRIVS,
    PYC_OP_SECCOMP, PYC_OP_IDMAP_LAYER, ...
};
#define PYC_MNT_NO_SYMLINKS ...
#define PYC_MNT_MKDIR ...
#define PYC_MNT_MKFILE ...
#define PYC_MNT_BIND_SRC ...
#define PYC_MNT_RECURSIVE ...
#define PYC_MNT_OPTIONAL ...
#define PYC_MNT_BIND_SELF ...
struct pyc_op {
    uint32_t kind;
    uint32_t s1, s2, s3, s4;
    uint32_t pad;
    int64_t a, b, c;
};
struct pyc_spawn {
    uint64_t clone_flags;
    const struct pyc_op *ops;
    uint32_t nops;
    const char *strs;
    uint32_t strs_len;
    const char *const *argv;
    const char *const *envp;
    int stdio[3];
    int cgroup_fd;
    int pdeathsig;
    int keep_fds_from;
    int join_pidfd;
    uint64_t join_flags;
    void *stack;
    uint64_t stack_size;
};
enum pyc_msg_kind { PYC_MSG_SYNC = 1, PYC_MSG_ERROR = 2, PYC_MSG_EXEC = 3 };
struct pyc_msg { int32_t kind; int32_t index; int32_t err; int32_t pad; };
int pyc_container_spawn(const struct pyc_spawn *spec, int *pidfd, int *sockfd);
int pyc_sync_wait(int sockfd, struct pyc_msg *msg, int timeout_ms);
int pyc_sync_go(int sockfd);
int pyc_cgroup_apply(const char *batch, uint32_t len, int *failed);
int pyc_mount(const char *src, const char *target, const char *fstype, uint64_t flags,
              const char *data);
int pyc_unshare(uint64_t flags);
int pyc_setns(int fd, uint64_t nstype);
struct pyc_seccomp_arg { uint32_t index, op; uint64_t value, value2; };
struct pyc_seccomp_rule {
    char name[48];
    uint32_t action;
    uint32_t nargs;
    struct pyc_seccomp_arg args[6];
};
int pyc_seccomp_compile(uint32_t default_action, const char *arches, uint32_t arches_len,
                        const struct pyc_seccomp_rule *rules, uint32_t nrules,
                        uint8_t *out, uint32_t out_cap, uint32_t *out_len);
int pyc_umount(const char *target);
int pyc_bpf_device_load(const void *insns, uint32_t count, char *log, uint32_t log_size);
int pyc_bpf_device_attach(int cgroup_fd, int prog_fd);
int pyc_userns_create(const char *uid_map, const char *gid_map, const char *bind_path);
int pyc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "pycontainer._core._pyc",
    '#include "pyc.h"',
    # setuptools wants paths relative to the project (the cwd of setup.py)
    sources=sorted(os.path.relpath(p) for p in glob.glob(os.path.join(CSRC, "*.c"))),
    include_dirs=[CSRC],
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
