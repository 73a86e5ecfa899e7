//! The container's mount tree, built inside its new mount namespace before `pivot_root`.
//!
//! ```text
//!   /                (the rootfs, bind-mounted onto itself so it is a mount point)  nodev
//!   ├── proc         proc, for this PID namespace       nosuid,nodev,noexec
//!   ├── dev          tmpfs, mode 755                    ro,nosuid (read-only once populated)
//!   │   ├── null zero full random urandom tty           (device nodes, see `devices`)
//!   │   ├── pts      devpts, a new instance             nosuid,noexec
//!   │   ├── shm      tmpfs, mode 1777                   nosuid,nodev,noexec
//!   │   └── fd stdin stdout stderr ptmx                 (symbolic links)
//!   └── sys          sysfs, for this network namespace  ro,nosuid,nodev,noexec
//! ```
//!
//! Everything is mounted at paths below the rootfs while the host's tree is still visible (device
//! nodes are bind-mounted from it when rootless), then `pivot_root` makes the rootfs `/`.

use crate::devices;
use ch01_chroot::{ChildError, Trace};
use nix::mount::{MsFlags, mount};
use std::path::{Path, PathBuf};

/// `mount(2)`, narrated: `mount("proc", "/…/proc", "proc", MS_NOSUID|…, NULL) = 0`.
pub fn mount_traced(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    trace: &Trace,
) -> Result<(), ChildError> {
    let show = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("{s:?}"));
    let flag_names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
    let flags_shown = if flag_names.is_empty() { "0".to_string() } else { flag_names.join("|") };
    trace
        .call(
            format_args!("mount({}, {target:?}, {}, {flags_shown}, {})", show(source), show(fstype), show(data)),
            mount(source, target, fstype, flags, data),
        )
        .map_err(|e| ChildError::call(format_args!("mount {} on {}", source.or(fstype).unwrap_or("(none)"), target.display()), e))
}

/// The directory to mount on, `rootfs/relative`. It is created if missing, and refused if it is a
/// symbolic link: a rootfs could point `/proc` at `/etc`, and the mount would land outside the
/// new root (harmless to the host, being in our private namespace, but the container would lack
/// its `/proc`), and a link to a missing host path would make us create directories on the host.
/// (runc resolves such paths safely inside the root with `openat2(RESOLVE_IN_ROOT)`; refusing
/// links is the simple half of that.)
pub fn mount_point(rootfs: &Path, relative: &str) -> Result<PathBuf, ChildError> {
    let path = rootfs.join(relative.trim_start_matches('/'));
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(ChildError::other(format!("rootfs: /{} is a symbolic link; refusing to mount over it", relative.trim_start_matches('/'))))
        }
        Ok(_) => Ok(path),
        Err(_) => {
            std::fs::create_dir_all(&path).map_err(|e| ChildError::other(format!("creating mount point /{relative}: {e}")))?;
            Ok(path)
        }
    }
}

// ANCHOR: propagation
/// Makes every mount in the new namespace private, so nothing we mount propagates back to the
/// host (on systemd machines `/` is shared, and a new namespace starts as a copy of that).
pub fn make_private(trace: &Trace) -> Result<(), ChildError> {
    mount_traced(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None, trace)
}
// ANCHOR_END: propagation

// ANCHOR: tree
/// Builds the container's mount tree under `rootfs`, as the diagram above shows.
/// `host_network`: the container shares the host's network namespace, whose sysfs a user
/// namespace may not mount afresh; it then gets the host's `/sys`, bound read-only, as runc does.
pub fn build_tree(rootfs: &Path, rootless: bool, host_network: bool, trace: &Trace) -> Result<(), ChildError> {
    use MsFlags as F;
    // pivot_root needs the new root to be a mount point; binding it onto itself makes it one.
    mount_traced(Some(&rootfs.to_string_lossy()), rootfs, None, F::MS_BIND | F::MS_REC, None, trace)?;
    // Root inside keeps docker's CAP_MKNOD, and we have no devices cgroup (docker's guard against
    // a node for the host's disk): so no device node on the rootfs may be opened (nodev), and
    // /dev is made read-only below once it is populated. A node made inside is then useless.
    crate::masks::remount_bind(rootfs, F::MS_NODEV, trace)?;

    let proc_dir = mount_point(rootfs, "proc")?;
    mount_traced(Some("proc"), &proc_dir, Some("proc"), F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC, None, trace)?;

    let dev = mount_point(rootfs, "dev")?;
    mount_traced(Some("tmpfs"), &dev, Some("tmpfs"), F::MS_NOSUID | F::MS_STRICTATIME, Some("mode=755,size=65536k"), trace)?;
    devices::populate(&dev, rootless, trace)?;
    let pts = mount_point(rootfs, "dev/pts")?;
    // The gid=5 (tty) option is only valid where gid 5 is mapped, which it is not when rootless.
    let pts_options = if rootless { "newinstance,ptmxmode=0666,mode=620" } else { "newinstance,ptmxmode=0666,mode=620,gid=5" };
    mount_traced(Some("devpts"), &pts, Some("devpts"), F::MS_NOSUID | F::MS_NOEXEC, Some(pts_options), trace)?;
    let shm = mount_point(rootfs, "dev/shm")?;
    mount_traced(Some("shm"), &shm, Some("tmpfs"), F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC, Some("mode=1777,size=65536k"), trace)?;
    devices::links(&dev, trace)?;
    mount_traced(None, &dev, None, F::MS_REMOUNT | F::MS_RDONLY | F::MS_NOSUID | F::MS_STRICTATIME, Some("mode=755,size=65536k"), trace)?;

    let sys = mount_point(rootfs, "sys")?;
    if rootless && host_network {
        mount_traced(Some("/sys"), &sys, None, F::MS_BIND | F::MS_REC, None, trace)?;
        return crate::masks::remount_bind(&sys, F::MS_RDONLY | F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC, trace);
    }
    mount_traced(Some("sysfs"), &sys, Some("sysfs"), F::MS_RDONLY | F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC, None, trace)
}
// ANCHOR_END: tree
