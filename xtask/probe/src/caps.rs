//! Capabilities, read with the raw `capget(2)` and `prctl(PR_CAPBSET_READ)` calls.
//!
//! Why raw `libc`: `nix` wraps neither call. Reading them through syscalls rather than
//! `/proc/self/status` means the probe can report capabilities even where `/proc` is not mounted.

/// Capability names in kernel order (`include/uapi/linux/capability.h`), index = capability number.
pub const NAMES: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/// The number of capabilities this kernel knows: the first one `PR_CAPBSET_READ` rejects.
pub fn kernel_count() -> u32 {
    (0..64).find(|&cap| bounding_has(cap).is_none()).unwrap_or(64)
}

/// Whether `cap` is in the bounding set, or `None` when the kernel has no such capability.
fn bounding_has(cap: u32) -> Option<bool> {
    // SAFETY: PR_CAPBSET_READ takes a capability number and touches no memory.
    let r = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
    (r >= 0).then_some(r == 1)
}

/// The bounding set as a bit mask.
pub fn bounding() -> u64 {
    (0..kernel_count()).filter(|&c| bounding_has(c) == Some(true)).fold(0, |m, c| m | 1 << c)
}

/// The effective, permitted and inheritable sets of this thread.
pub fn current() -> std::io::Result<[u64; 3]> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: version 3 of capget writes exactly two `Data` structs.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
    Ok([
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ])
}

/// A set as text: `all`, `none`, `all except CAP_X` when only a few are missing, or the names in
/// kernel order.
pub fn describe(mask: u64) -> String {
    let count = kernel_count();
    let all = if count >= 64 { u64::MAX } else { (1u64 << count) - 1 };
    let names = |m: u64| {
        (0..64)
            .filter(|c| m & (1 << c) != 0)
            .map(|c| NAMES.get(c as usize).map_or_else(|| format!("CAP_{c}"), |n| n.to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let missing = all & !mask;
    match missing.count_ones() {
        0 => "all".into(),
        _ if mask == 0 => "none".into(),
        1..=3 => format!("all except {}", names(missing)),
        _ => names(mask),
    }
}
