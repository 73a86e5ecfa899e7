//! What root inside may do: docker's default capabilities, and `no_new_privs`.
//!
//! Root's power is split into ~41 capabilities. Namespaces limit what a process sees; capabilities
//! limit what it may do with what it sees. Docker keeps 14 that ordinary programs need (change file
//! owners, bind ports below 1024, switch uid) and drops the rest, among them `CAP_SYS_ADMIN`
//! (mount, and half the kernel), `CAP_SYS_MODULE` (load kernel code), `CAP_SYS_PTRACE`,
//! `CAP_SYS_TIME`, `CAP_NET_ADMIN` and `CAP_SYS_BOOT`.
//!
//! Each set matters: the **bounding** set caps what any later `execve` can ever gain; **effective**
//! is what the kernel checks now; **permitted** is what may be made effective; **inheritable** and
//! **ambient** carry capabilities across `execve` to non-root programs. Docker leaves inheritable
//! empty since CVE-2022-24769 (a non-empty one let file capabilities raise a user's privileges),
//! and ambient empty. `no_new_privs` makes setuid binaries and file capabilities powerless, so no
//! `execve` inside can gain more than it has. Docker also installs a seccomp filter (some 44
//! system calls refused) and an AppArmor or SELinux profile; we do not.

pub use caps::Capability;
use caps::CapSet;
use ch01_chroot::{ChildError, Trace};
use std::collections::HashSet;

// ANCHOR: default_set
/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];
// ANCHOR_END: default_set

// ANCHOR: drop
/// Drops everything outside [`DOCKER_DEFAULT`] from every set, then sets `no_new_privs`.
pub fn restrict(trace: &Trace) -> Result<(), ChildError> {
    let keep: HashSet<Capability> = DOCKER_DEFAULT.into_iter().collect();
    let fail = |what: &str, e: caps::errors::CapsError| ChildError::other(format!("{what}: {e}"));
    let supported = caps::runtime::thread_all_supported();
    let mut dropped = 0;
    // The bounding set first: dropping from it needs CAP_SETPCAP, which we still have.
    for cap in supported.iter().filter(|c| !keep.contains(c)) {
        if caps::has_cap(None, CapSet::Bounding, *cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| fail(&format!("prctl(PR_CAPBSET_DROP, {cap})"), e))?;
            dropped += 1;
        }
    }
    trace.note(format_args!("prctl(PR_CAPBSET_DROP, …) = 0 for the {dropped} capabilities outside docker's default set"));
    let kept: HashSet<Capability> = keep.intersection(&supported).copied().collect();
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", e))?;
    // One capset(2) call each; effective must stay within permitted, so shrink permitted last.
    caps::set(None, CapSet::Inheritable, &HashSet::new()).map_err(|e| fail("capset(inheritable)", e))?;
    caps::set(None, CapSet::Effective, &kept).map_err(|e| fail("capset(effective)", e))?;
    caps::set(None, CapSet::Permitted, &kept).map_err(|e| fail("capset(permitted)", e))?;
    trace.note(format_args!("capset(effective = permitted = the {} default capabilities, inheritable = none), ambient cleared", kept.len()));
    trace
        .call(format_args!("prctl(PR_SET_NO_NEW_PRIVS, 1)"), nix::sys::prctl::set_no_new_privs())
        .map_err(|e| ChildError::call("prctl(PR_SET_NO_NEW_PRIVS)", e))
}
// ANCHOR_END: drop

/// Drops one more capability from the bounding, effective and permitted sets, after
/// [`restrict`] (chapter 4 drops `CAP_MKNOD` when a host directory is mounted writable).
pub fn drop_one(cap: Capability, trace: &Trace) -> Result<(), ChildError> {
    for set in [CapSet::Bounding, CapSet::Effective, CapSet::Permitted] {
        caps::drop(None, set, cap).map_err(|e| ChildError::other(format!("dropping {cap} from {set:?}: {e}")))?;
    }
    trace.note(format_args!("{cap} dropped from the bounding, effective and permitted sets"));
    Ok(())
}
