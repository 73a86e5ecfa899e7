//! One interface over cgroup v1 and v2: make the container's cgroup, put the container in it,
//! read what it used, show it inside, remove it.
//!
//! ```text
//!  v1: a forest, one tree per controller        v2: one tree, controllers enabled per level
//!  /sys/fs/cgroup/                              /sys/fs/cgroup/
//!  ├── memory/coracle/<id>/                     └── coracle/            (+memory +cpu +pids)
//!  │     memory.limit_in_bytes                        └── <id>/
//!  ├── cpu/coracle/<id>/                                    memory.max
//!  │     cpu.cfs_quota_us  cpu.cfs_period_us                cpu.max
//!  ├── cpuacct/coracle/<id>/   cpuacct.usage                pids.max
//!  └── pids/coracle/<id>/      pids.max                     cgroup.procs
//! ```
//!
//! A process is in one cgroup per v1 tree, and in one cgroup of the v2 tree. Docker (with its
//! `cgroupfs` driver) uses the same layout with `docker/` as the parent; with the `systemd` driver
//! it asks systemd for a `docker-<id>.scope` instead, since on a systemd machine systemd owns the
//! tree and expects to be the only one writing to it.

pub mod files;
pub mod v1;
pub mod v2;

use crate::limits::Limits;
use ch01_chroot::{ChildError, Error, Trace};
use nix::unistd::Pid;
use std::path::Path;

/// What the kernel counted for the container, read before its cgroup is removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub peak_memory: Option<u64>,
    pub cpu_usec: Option<u64>,
    pub peak_pids: Option<u64>,
    /// How many processes the OOM killer killed in the container.
    pub oom_kills: u64,
}

/// A container's cgroup: its directory in the v2 tree, or one directory per v1 tree.
pub trait Cgroup: std::fmt::Debug + Send + Sync {
    /// Makes the directories and writes the limits.
    fn create(&self, limits: &Limits, trace: &Trace) -> Result<(), Error>;
    /// Moves `pid` in (writing it to `cgroup.procs`); its future children are born inside.
    fn add(&self, pid: Pid, trace: &Trace) -> Result<(), Error>;
    fn stats(&self) -> Stats;
    /// In the container, after `pivot_root`: mounts its view of the cgroup tree, read-only, at
    /// `/sys/fs/cgroup`. With a cgroup namespace, the root of that view is the container's cgroup.
    fn mount_inside(&self, trace: &Trace) -> Result<(), ChildError>;
    /// Removes the directories, once the container's processes are gone.
    fn remove(&self, trace: &Trace);
    /// `cgroup v1` or `cgroup v2`.
    fn version(&self) -> &'static str;
}

/// Removes the cgroups under `parent` left by runtimes that died without cleaning up: a
/// container cgroup is named `<runtime pid>-<random>`, and one whose runtime is gone and which
/// holds no process any more is stale. (A cgroup of a live runtime is never touched, even empty:
/// it may be about to receive its container. A runtime in another PID namespace sharing this
/// cgroupfs could look dead to us; its cgroup holds processes while it runs, and is skipped.)
pub fn remove_stale(parent: &Path, trace: &Trace) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split_once('-').and_then(|(pid, _)| pid.parse::<i32>().ok()) else { continue };
        let alive = nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok();
        let procs = std::fs::read_to_string(entry.path().join("cgroup.procs")).unwrap_or_default();
        if !alive && procs.trim().is_empty() && entry.path().is_dir() && files::rmdir_once(&entry.path(), trace).is_ok() {
            trace.note(format_args!("removed the stale cgroup {name} (its runtime, pid {pid}, is gone)"));
        }
    }
}

/// The name of a new container's cgroup: this runtime's pid and 8 random hex digits.
pub fn new_name() -> String {
    format!("{}-{}", std::process::id(), ch02_namespaces::namespaces::random_hex(4))
}
