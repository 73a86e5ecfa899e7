//! Masked and read-only paths: the parts of `/proc` and `/sys` a container must not read or write.
//!
//! `/proc` and `/sys` describe the whole machine, not just the container's namespaces. runc (and so
//! docker) hides the dangerous entries by default, and so do we:
//! - **masked**: a file gets `/dev/null` bind-mounted over it, a directory an empty read-only
//!   tmpfs. `/proc/kcore` is the kernel's memory as an ELF core file; `/proc/keys` lists the
//!   kernel keyrings; `/proc/timer_list` and `/proc/sched_debug` leak other tasks' details and
//!   kernel addresses (which defeat KASLR); `/sys/firmware` exposes ACPI tables and EFI variables.
//! - **read-only**: bind-mounted onto themselves, then remounted read-only. `/proc/sys` holds the
//!   kernel's tunables (sysctl), `/proc/sysrq-trigger` can reboot the machine, `/proc/irq` and
//!   `/proc/bus` steer hardware.
//!
//! A path the kernel does not have is skipped. Root in a container with `CAP_SYS_ADMIN` could
//! unmount these; docker's default capabilities do not include it, and neither do ours.

use crate::mounts::mount_traced;
use ch01_chroot::{ChildError, Trace};
use nix::mount::MsFlags;
use nix::sys::statvfs::{FsFlags, statvfs};
use std::path::Path;

// ANCHOR: paths
/// Docker's default masked paths.
pub const MASKED: &[&str] = &[
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
];

/// Docker's default read-only paths.
pub const READ_ONLY: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
// ANCHOR_END: paths

/// Applies both lists to the mount tree under `rootfs` (after `/proc`, `/sys` and `/dev` exist).
pub fn apply(rootfs: &Path, trace: &Trace) -> Result<(), ChildError> {
    let inside = |p: &str| rootfs.join(p.trim_start_matches('/'));
    for path in MASKED {
        let target = inside(path);
        let Ok(meta) = std::fs::symlink_metadata(&target) else { continue };
        if meta.is_dir() {
            mount_traced(Some("tmpfs"), &target, Some("tmpfs"), MsFlags::MS_RDONLY, None, trace)?;
        } else {
            let null = rootfs.join("dev/null");
            mount_traced(Some(&null.to_string_lossy()), &target, None, MsFlags::MS_BIND, None, trace)?;
        }
    }
    for path in READ_ONLY {
        let target = inside(path);
        if std::fs::symlink_metadata(&target).is_err() {
            continue;
        }
        make_read_only(&target, trace)?;
    }
    Ok(())
}

// ANCHOR: read_only
/// Binds `path` onto itself and remounts that bind read-only. The remount must repeat the flags the
/// mount already has (`nosuid`, `nodev`, `noexec` of `/proc`): in a user namespace the kernel
/// refuses to clear flags that the more privileged owner set, and a remount without them would.
pub fn make_read_only(path: &Path, trace: &Trace) -> Result<(), ChildError> {
    let source = path.to_string_lossy();
    mount_traced(Some(&source), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, trace)?;
    remount_bind(path, MsFlags::MS_RDONLY, trace)
}

/// Remounts the bind mount at `path` with `add` on top of the flags it already has.
pub fn remount_bind(path: &Path, add: MsFlags, trace: &Trace) -> Result<(), ChildError> {
    let current = statvfs(path).map_err(|e| ChildError::call(format_args!("statvfs {}", path.display()), e))?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | add;
    for (has, keep) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if current.contains(has) {
            flags |= keep;
        }
    }
    mount_traced(None, path, None, flags, None, trace)
}
// ANCHOR_END: read_only
