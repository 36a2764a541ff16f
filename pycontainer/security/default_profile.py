"""The default seccomp profile: the same effect as Docker's documented default.

Expressed in Docker's JSON profile format (as a dict), so our default and a
user's ``seccomp=<file>`` go through one loader. Everything not allowed fails
with EPERM. Namespace and admin calls need CAP_SYS_ADMIN; ``clone`` without it
may not ask for new namespaces; ``clone3`` answers ENOSYS so libc falls back
to ``clone``; AF_ALG and AF_VSOCK sockets, keyctl, userfaultfd, io_uring,
kexec, module loading and ``open_by_handle_at`` are refused (io_uring as in
Docker 25+, AF_ALG since CVE-2026-31431).

``socketcall`` stays allowed, as in Docker: 32-bit x86 glibc reaches
``socket`` through it, and BPF cannot read the family behind its pointer, so a
32-bit program can still open AF_ALG that way. Docker closes that path with
AppArmor or SELinux rules; these hosts have neither.
"""
import errno

_ALLOW = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64
fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs
fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64
statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime
utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
""".split()

# clone flags that ask for new namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET)
_NS_FLAGS = 0x7E020000


def _by_cap(names, cap):
    return {"names": names, "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}}


PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        # No x32: its syscalls get the bad-arch action (killed). The x32 ABI is
        # all but unused, and each extra arch adds ~300 instructions that the
        # kernel checks and JIT-compiles at every container start.
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": _ALLOW, "action": "SCMP_ACT_ALLOW"},
        {"names": ["process_vm_readv", "process_vm_writev", "ptrace"], "action": "SCMP_ACT_ALLOW",
         "includes": {"minKernel": "4.8"}},
        # Every family but AF_ALG (38, CVE-2026-31431) and AF_VSOCK (40): both
        # fall to the default, EPERM. Three rules because the conditions of one
        # rule are ANDed and each may test an argument once.
        *[{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": v, "op": op}]}
          for v, op in ((38, "SCMP_CMP_LT"), (39, "SCMP_CMP_EQ"), (40, "SCMP_CMP_GT"))],
        *[{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}
          for v in (0, 8, 131072, 131080, 4294967295)],
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64", "x32", "x86"]}},
        {"names": ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                   "cacheflush", "set_tls"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["arm", "arm64"]}},
        _by_cap(["open_by_handle_at"], "CAP_DAC_READ_SEARCH"),
        _by_cap(["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
                 "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
                 "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
                 "setns", "syslog", "umount", "umount2", "unshare"], "CAP_SYS_ADMIN"),
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": _NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        _by_cap(["reboot"], "CAP_SYS_BOOT"),
        _by_cap(["chroot"], "CAP_SYS_CHROOT"),
        _by_cap(["delete_module", "init_module", "finit_module"], "CAP_SYS_MODULE"),
        _by_cap(["acct"], "CAP_SYS_PACCT"),
        _by_cap(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                 "process_vm_writev", "ptrace"], "CAP_SYS_PTRACE"),
        _by_cap(["iopl", "ioperm"], "CAP_SYS_RAWIO"),
        _by_cap(["settimeofday", "stime", "clock_settime", "clock_settime64"], "CAP_SYS_TIME"),
        _by_cap(["vhangup"], "CAP_SYS_TTY_CONFIG"),
        _by_cap(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
                "CAP_SYS_NICE"),
        _by_cap(["syslog"], "CAP_SYSLOG"),
        _by_cap(["bpf"], "CAP_BPF"),
        _by_cap(["perf_event_open"], "CAP_PERFMON"),
    ],
}
