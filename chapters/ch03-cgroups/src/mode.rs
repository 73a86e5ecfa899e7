//! Which cgroup version the host runs, found the way runc and youki find it: `statfs(2)` of
//! `/sys/fs/cgroup`.
//!
//! - **unified**: `/sys/fs/cgroup` is itself a cgroup2 filesystem (systemd's default since ~2021:
//!   Debian 11, Ubuntu 21.10, Fedora 31 and later).
//! - **hybrid**: `/sys/fs/cgroup` is a tmpfs holding one v1 hierarchy per controller, plus a
//!   cgroup2 mount at `/sys/fs/cgroup/unified` that systemd uses for tracking only.
//! - **legacy**: only v1 hierarchies.
//!
//! Check yours with `stat -fc %T /sys/fs/cgroup` (`cgroup2fs` or `tmpfs`).

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, statfs};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unified,
    Hybrid,
    Legacy,
}

impl Mode {
    /// Whether the limits go through the v2 interface (`Unified`) or the v1 one.
    pub fn is_v2(self) -> bool {
        self == Mode::Unified
    }
}

// ANCHOR: detect
pub fn detect(root: &Path) -> nix::Result<Mode> {
    let kind = statfs(root)?.filesystem_type();
    if kind == CGROUP2_SUPER_MAGIC {
        return Ok(Mode::Unified);
    }
    let unified = statfs(&root.join("unified")).map(|s| s.filesystem_type());
    Ok(match unified {
        Ok(k) if kind == TMPFS_MAGIC && k == CGROUP2_SUPER_MAGIC => Mode::Hybrid,
        _ => Mode::Legacy,
    })
}
// ANCHOR_END: detect
