/* cgroup v2 device access: load an eBPF program (built by Python from the
 * allow list) and attach it to a container's cgroup. */
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "internal.h"

int pyc_bpf_device_load(const void *insns, uint32_t count, char *log, uint32_t log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t) (uintptr_t) insns;
    attr.insn_cnt = count;
    attr.license = (uint64_t) (uintptr_t) "GPL";
    attr.log_buf = (uint64_t) (uintptr_t) log;
    attr.log_size = log ? log_size : 0;
    attr.log_level = log ? 1 : 0;
    int fd = (int) syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    return fd < 0 ? neg_errno() : fd;
}

int pyc_bpf_device_attach(int cgroup_fd, int prog_fd)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (uint32_t) cgroup_fd;
    attr.attach_bpf_fd = (uint32_t) prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    return syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr) < 0 ? neg_errno() : 0;
}
