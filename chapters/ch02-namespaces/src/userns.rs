//! The user namespace maps: how a user without privileges becomes root inside.
//!
//! A new user namespace starts with no mapping: every uid inside is the overflow id 65534 and the
//! child may do nothing. The *parent* writes the maps (a process may not map itself, beyond its own
//! uid, and the child is waiting on the go pipe meanwhile). An unprivileged writer may map exactly
//! one id, its own, and must first write `deny` to `setgroups`, so the child cannot use
//! `setgroups(2)` to drop a group that denies access (CVE-2014-8989). That is what runc does for
//! rootless containers; with the setuid helpers `newuidmap`/`newgidmap` and `/etc/subuid`,
//! podman maps whole ranges, so a container can have more than one user.

use ch01_chroot::{Error, Trace};
use nix::unistd::{Gid, Pid, Uid};

/// The uid and gid of the caller, which become 0 inside.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub uid: Uid,
    pub gid: Gid,
}

impl Mapping {
    pub fn of_caller() -> Self {
        Mapping { uid: Uid::current(), gid: Gid::current() }
    }
}

// ANCHOR: maps
/// Writes `setgroups`, `uid_map` and `gid_map` of `child`: root inside is the caller outside.
pub fn write_maps(child: Pid, mapping: Mapping, trace: &Trace) -> Result<(), Error> {
    let write = |file: &str, text: String| {
        let path = std::path::PathBuf::from(format!("/proc/{child}/{file}"));
        trace.write_file(&path, &text).map_err(|e| Error::call(format!("writing {text:?} to {}", path.display()), e))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {} 1", mapping.uid))?;
    write("gid_map", format!("0 {} 1", mapping.gid))
}
// ANCHOR_END: maps
