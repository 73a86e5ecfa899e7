//! The device nodes of the container's `/dev`: only the harmless ones docker gives every container.
//!
//! As root we make them with `mknod(2)`. In a user namespace the kernel forbids `mknod` for
//! devices (a device node owned by the user would open the host's hardware), so we bind-mount the
//! host's nodes instead, as rootless podman does. Docker additionally restricts which devices may
//! be opened at all with the devices cgroup (v1) or an eBPF program (v2), which this course does
//! not build; instead the rootfs is mounted `nodev` and `/dev` read-only (see `mounts`), so a node
//! made inside with `CAP_MKNOD` cannot be opened.

use crate::mounts::mount_traced;
use ch01_chroot::{ChildError, Trace};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use std::path::Path;

/// Name, major and minor number.
pub const DEVICES: &[(&str, u64, u64)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

// ANCHOR: devices
/// Creates each device in `dev`, by `mknod` or, where that is not allowed, by a bind mount.
pub fn populate(dev: &Path, rootless: bool, trace: &Trace) -> Result<(), ChildError> {
    for &(name, major, minor) in DEVICES {
        let node = dev.join(name);
        let made = if rootless {
            Err(Errno::EPERM)
        } else {
            let mode = Mode::from_bits_truncate(0o666);
            trace.call(
                format_args!("mknod({node:?}, S_IFCHR|0666, makedev({major}, {minor}))"),
                mknod(&node, SFlag::S_IFCHR, mode, makedev(major, minor)),
            )
        };
        match made {
            Ok(()) => {
                // mknod's mode is trimmed by the umask; make it what docker gives.
                let mode = Mode::from_bits_truncate(0o666);
                let flags = nix::sys::stat::FchmodatFlags::NoFollowSymlink;
                trace
                    .call(format_args!("chmod({node:?}, 0666)"), nix::sys::stat::fchmodat(nix::fcntl::AT_FDCWD, &node, mode, flags))
                    .map_err(|e| ChildError::call(format_args!("chmod /dev/{name}"), e))?;
            }
            Err(Errno::EPERM) => {
                std::fs::write(&node, b"").map_err(|e| ChildError::other(format!("creating {}: {e}", node.display())))?;
                let host = format!("/dev/{name}");
                mount_traced(Some(&host), &node, None, MsFlags::MS_BIND, None, trace)?;
            }
            Err(e) => return Err(ChildError::call(format_args!("mknod /dev/{name}"), e)),
        }
    }
    Ok(())
}
// ANCHOR_END: devices

/// The standard links: `/dev/fd` and the three standard streams into `/proc/self/fd`, and
/// `/dev/ptmx` to the pty multiplexer of our own devpts instance.
pub fn links(dev: &Path, trace: &Trace) -> Result<(), ChildError> {
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let link = dev.join(name);
        let result = nix::unistd::symlinkat(target, nix::fcntl::AT_FDCWD, &link);
        trace
            .call(format_args!("symlink({target:?}, {link:?})"), result)
            .map_err(|e| ChildError::call(format_args!("symlink /dev/{name}"), e))?;
    }
    Ok(())
}
