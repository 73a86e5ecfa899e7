//! cgroup v2: a single tree at `/sys/fs/cgroup`, in which each level decides which controllers
//! its children get (`cgroup.subtree_control`). The container gets one directory.
//!
//! v2's "no internal processes" rule: a cgroup that hands controllers to its children may hold
//! no processes itself (the root excepted). So the parent `coracle/` only ever holds container
//! cgroups, never a process, and we make it right under the root, as docker's cgroupfs driver
//! makes `docker/`: the runtime's own cgroup (a login session's scope, say) holds processes.

use super::{Cgroup, Stats, files};
use crate::limits::{CPU_PERIOD_US, Limits};
use ch01_chroot::{ChildError, Error, Trace};
use ch02_namespaces::mounts::mount_traced;
use nix::mount::MsFlags;
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// The controllers we enable for the container's cgroup.
pub const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

#[derive(Debug, Clone)]
pub struct V2 {
    root: PathBuf,
    parent: String,
    dir: PathBuf,
}

impl V2 {
    /// The container's cgroup `root/parent/name` (`root` is `/sys/fs/cgroup` but for unit tests).
    pub fn new(root: &Path, parent: &str, name: &str) -> Self {
        V2 { root: root.to_path_buf(), parent: parent.to_string(), dir: root.join(parent).join(name) }
    }

    pub fn parent_dir(&self) -> PathBuf {
        self.root.join(&self.parent)
    }
}

/// Enables [`CONTROLLERS`] (those `level` has) in `level`'s `cgroup.subtree_control`, unless they
/// already are.
fn hand_down_controllers(level: &Path, trace: &Trace) -> Result<(), Error> {
    let available = std::fs::read_to_string(level.join("cgroup.controllers")).unwrap_or_default();
    let enabled = std::fs::read_to_string(level.join("cgroup.subtree_control")).unwrap_or_default();
    let wanted: Vec<&str> = CONTROLLERS.iter().copied().filter(|c| available.split_whitespace().any(|a| a == *c)).collect();
    if wanted.iter().all(|c| enabled.split_whitespace().any(|e| e == *c)) {
        return Ok(());
    }
    let line: Vec<String> = wanted.iter().map(|c| format!("+{c}")).collect();
    files::write(&level.join("cgroup.subtree_control"), &line.join(" "), trace)
}

impl Cgroup for V2 {
    // ANCHOR: v2_create
    fn create(&self, limits: &Limits, trace: &Trace) -> Result<(), Error> {
        // Each level from the root down to the parent hands the controllers on to its children.
        files::retry_if_vanished(|| {
            let mut level = self.root.clone();
            hand_down_controllers(&level, trace)?;
            for part in Path::new(&self.parent).components() {
                level.push(part);
                files::mkdir(&level, trace)?;
                hand_down_controllers(&level, trace)?;
            }
            files::mkdir(&self.dir, trace)
        })?;
        if let Some(bytes) = limits.memory {
            files::write(&self.dir.join("memory.max"), &bytes.to_string(), trace)?;
            // No swap, as with docker's `--memory-swap` equal to `--memory`.
            if self.dir.join("memory.swap.max").exists() {
                files::write(&self.dir.join("memory.swap.max"), "0", trace)?;
            }
        }
        if let Some(quota) = limits.cpu_quota_us {
            files::write(&self.dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"), trace)?;
        }
        if let Some(pids) = limits.pids {
            files::write(&self.dir.join("pids.max"), &pids.to_string(), trace)?;
        }
        Ok(())
    }
    // ANCHOR_END: v2_create

    fn add(&self, pid: Pid, trace: &Trace) -> Result<(), Error> {
        files::write(&self.dir.join("cgroup.procs"), &pid.to_string(), trace)
    }

    fn stats(&self) -> Stats {
        Stats {
            peak_memory: files::read_number(&self.dir.join("memory.peak")),
            cpu_usec: files::read_key(&self.dir.join("cpu.stat"), "usage_usec"),
            peak_pids: files::read_number(&self.dir.join("pids.peak")),
            oom_kills: files::read_key(&self.dir.join("memory.events"), "oom_kill").unwrap_or(0),
        }
    }

    fn mount_inside(&self, trace: &Trace) -> Result<(), ChildError> {
        use MsFlags as F;
        let flags = F::MS_RDONLY | F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC;
        mount_traced(Some("cgroup2"), Path::new("/sys/fs/cgroup"), Some("cgroup2"), flags, None, trace)
    }

    fn remove(&self, trace: &Trace) {
        if files::rmdir(&self.dir, trace).is_err() {
            // Something survived the container's PID 1: kill the whole cgroup at once (5.14+).
            let _ = files::write(&self.dir.join("cgroup.kill"), "1", trace);
            let _ = files::rmdir(&self.dir, trace);
        }
        files::rmdir_if_unused(&self.root, &self.parent, trace);
    }

    fn version(&self) -> &'static str {
        "cgroup v2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file writes against a temp dir standing in for /sys/fs/cgroup (the graded tests and
    /// `vm-test` check the real kernel's answer).
    #[test]
    fn create_enables_controllers_down_the_tree_and_writes_the_limits() {
        let root = std::env::temp_dir().join(format!("coracle-v2-unit-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory pids").unwrap();
        let cgroup = V2::new(&root, "coracle", "42-abcdef01");
        let limits = Limits { memory: Some(64 << 20), cpu_quota_us: Some(50_000), pids: Some(10) };
        cgroup.create(&limits, &Trace::new(false)).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("cgroup.subtree_control"), "+memory +cpu +pids");
        assert_eq!(read("coracle/42-abcdef01/memory.max"), "67108864");
        assert_eq!(read("coracle/42-abcdef01/cpu.max"), "50000 100000");
        assert_eq!(read("coracle/42-abcdef01/pids.max"), "10");
        std::fs::remove_dir_all(root).unwrap();
    }
}
