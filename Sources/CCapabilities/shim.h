#ifndef GARAGE_PXE_CCAPABILITIES_SHIM_H
#define GARAGE_PXE_CCAPABILITIES_SHIM_H
/* capset(2) has no glibc declaration (and syscall(2) is variadic), and setresuid(2) is
 * hidden from Swift's Glibc module: these wrappers let Privileges drop root in two steps. */
#include <linux/capability.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* This thread's effective and permitted sets become `mask` (bits of CAP_*), none inheritable. */
static inline int garage_pxe_set_capabilities(uint64_t mask) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2] = {
        { (uint32_t)mask, (uint32_t)mask, 0 },
        { (uint32_t)(mask >> 32), (uint32_t)(mask >> 32), 0 },
    };
    return (int)syscall(SYS_capset, &header, data);
}

/* Declared by <unistd.h> only under _GNU_SOURCE, which Swift's Glibc module does not set. */
extern int setresuid(uid_t ruid, uid_t euid, uid_t suid);
extern int setresgid(gid_t rgid, gid_t egid, gid_t sgid);

/* Real, effective and saved ids at once: the saved uid is what keeps or clears capabilities. */
static inline int garage_pxe_set_user_ids(uid_t real, uid_t effective, uid_t saved) { return setresuid(real, effective, saved); }
static inline int garage_pxe_set_group_ids(gid_t gid) { return setresgid(gid, gid, gid); }

static inline uint64_t garage_pxe_net_bind_service(void) { return 1ULL << CAP_NET_BIND_SERVICE; }
#endif
