/* Compile a seccomp filter with libseccomp, in the parent.  Python has
 * already applied the profile's policy (capabilities, architectures);
 * the child only installs the resulting BPF (PYC_OP_SECCOMP), so no
 * allocation happens between clone and exec. */
#define _GNU_SOURCE
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

static void release_ctx(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

static int add_arches(scmp_filter_ctx ctx, const char *arches, uint32_t len)
{
    for (const char *a = arches; a < arches + len; a += strlen(a) + 1) {
        uint32_t token = seccomp_arch_resolve_name(a);
        if (token == 0)
            continue;             /* unknown to this libseccomp: skip */
        int r = seccomp_arch_add(ctx, token);
        if (r < 0 && r != -EEXIST)
            return r;
    }
    return 0;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t default_action, const struct pyc_seccomp_rule *rule)
{
    char name[sizeof rule->name + 1];
    memcpy(name, rule->name, sizeof rule->name);
    name[sizeof rule->name] = '\0';
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR || rule->action == default_action)
        return 0;                 /* not a syscall on these arches, or a no-op */
    struct scmp_arg_cmp cmp[PYC_SECCOMP_MAX_ARGS];
    uint32_t n = rule->nargs > PYC_SECCOMP_MAX_ARGS ? PYC_SECCOMP_MAX_ARGS : rule->nargs;
    for (uint32_t i = 0; i < n; i++) {
        cmp[i].arg = rule->args[i].index;
        cmp[i].op = (enum scmp_compare) rule->args[i].op;
        cmp[i].datum_a = rule->args[i].value;
        cmp[i].datum_b = rule->args[i].value2;
    }
    int r = seccomp_rule_add_array(ctx, rule->action, nr, n, cmp);
    /* A rule the arch cannot express (e.g. a multiplexed socketcall) is
     * skipped as docker does, not fatal. */
    return r == -EINVAL || r == -EDOM || r == -EFAULT ? 0 : r;
}

int pyc_seccomp_compile(uint32_t default_action, const char *arches, uint32_t arches_len,
                        const struct pyc_seccomp_rule *rules, uint32_t nrules,
                        uint8_t *out, uint32_t out_cap, uint32_t *out_len)
{
    __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = seccomp_init(default_action);
    if (!ctx)
        return -EINVAL;
    /* We install the filter ourselves (after no_new_privs when asked). */
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    /* A binary tree by syscall number: the kernel emulates the filter for
     * every syscall when it is installed (its action cache), and a tree
     * makes that 3x cheaper than libseccomp's default linear chain. */
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (r == 0)
        r = add_arches(ctx, arches, arches_len);
    for (uint32_t i = 0; r == 0 && i < nrules; i++)
        r = add_rule(ctx, default_action, &rules[i]);
    if (r < 0)
        return r;
    cleanup_fd int fd = memfd_create("pyc-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    if ((r = seccomp_export_bpf(ctx, fd)) < 0)
        return r;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return neg_errno();
    *out_len = (uint32_t) st.st_size;
    if ((uint64_t) st.st_size > out_cap)
        return -ENOSPC;
    if (pread(fd, out, (size_t) st.st_size, 0) != st.st_size)
        return neg_errno();
    return 0;
}
