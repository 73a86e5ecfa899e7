//! cgroup v1: one hierarchy (tree) per controller, each a `cgroup` filesystem mounted under
//! `/sys/fs/cgroup/<controllers>`. The container gets one directory in each tree we use.

use super::{Cgroup, Stats, files};
use crate::limits::{CPU_PERIOD_US, Limits};
use ch01_chroot::{ChildError, Error, Trace};
use ch02_namespaces::mounts::mount_traced;
use nix::mount::MsFlags;
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// The controllers we use, and what for: limits (memory, cpu, pids) and accounting (cpuacct).
pub const CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// One v1 hierarchy: where it is mounted, the controllers attached to it (`cpu,cpuacct` when
/// co-mounted), and the container's directory in it.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct V1 {
    hierarchies: Vec<Hierarchy>,
    parent: String,
}

impl V1 {
    /// Finds the hierarchies of [`CONTROLLERS`] in `/proc/self/mountinfo`.
    pub fn new(parent: &str, name: &str) -> Result<Self, crate::error::Error> {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mounts: Vec<(PathBuf, Vec<String>)> = table
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let after = fields.iter().position(|f| *f == "-")?;
                (fields.get(after + 1) == Some(&"cgroup")).then(|| {
                    let options = fields.get(after + 3).copied().unwrap_or("");
                    let controllers = options.split(',').filter(|o| CONTROLLERS.contains(o)).map(str::to_string).collect();
                    (PathBuf::from(fields[4]), controllers)
                })
            })
            .collect();
        Self::from_mounts(&mounts, parent, name)
    }

    /// The same from a list of `(mount point, controllers)`, so tests can point it at a temp dir.
    pub fn from_mounts(mounts: &[(PathBuf, Vec<String>)], parent: &str, name: &str) -> Result<Self, crate::error::Error> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for controller in CONTROLLERS {
            let Some((mount, controllers)) = mounts.iter().find(|(_, c)| c.iter().any(|c| c == controller)) else {
                return Err(crate::error::Error::NoController(controller));
            };
            if !hierarchies.iter().any(|h| &h.mount == mount) {
                let dir = mount.join(parent).join(name);
                hierarchies.push(Hierarchy { mount: mount.clone(), controllers: controllers.clone(), dir });
            }
        }
        Ok(V1 { hierarchies, parent: parent.to_string() })
    }

    /// The directory of the hierarchy that has `controller`.
    fn dir(&self, controller: &str) -> &Path {
        let h = self.hierarchies.iter().find(|h| h.controllers.iter().any(|c| c == controller));
        h.map(|h| h.dir.as_path()).expect("V1::new found every controller")
    }

    /// The parent directories (`<mount>/coracle`), where stale cgroups are looked for.
    pub fn parents(&self) -> Vec<PathBuf> {
        self.hierarchies.iter().map(|h| h.mount.join(&self.parent)).collect()
    }
}

impl Cgroup for V1 {
    // ANCHOR: v1_create
    fn create(&self, limits: &Limits, trace: &Trace) -> Result<(), Error> {
        for h in &self.hierarchies {
            let relative = Path::new(&self.parent).join(h.dir.file_name().unwrap_or_default());
            files::retry_if_vanished(|| {
                let mut path = h.mount.clone();
                for part in relative.components() {
                    path.push(part);
                    files::mkdir(&path, trace)?;
                }
                Ok(())
            })?;
        }
        if let Some(bytes) = limits.memory {
            let dir = self.dir("memory");
            files::write(&dir.join("memory.limit_in_bytes"), &bytes.to_string(), trace)?;
            // Memory plus swap, limited to the same: the container gets no swap, as with docker's
            // `--memory-swap` equal to `--memory`. (Only there if the kernel accounts swap.)
            if dir.join("memory.memsw.limit_in_bytes").exists() {
                files::write(&dir.join("memory.memsw.limit_in_bytes"), &bytes.to_string(), trace)?;
            }
        }
        if let Some(quota) = limits.cpu_quota_us {
            let dir = self.dir("cpu");
            files::write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string(), trace)?;
            files::write(&dir.join("cpu.cfs_quota_us"), &quota.to_string(), trace)?;
        }
        if let Some(pids) = limits.pids {
            files::write(&self.dir("pids").join("pids.max"), &pids.to_string(), trace)?;
        }
        Ok(())
    }
    // ANCHOR_END: v1_create

    fn add(&self, pid: Pid, trace: &Trace) -> Result<(), Error> {
        for h in &self.hierarchies {
            files::write(&h.dir.join("cgroup.procs"), &pid.to_string(), trace)?;
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        let memory = self.dir("memory");
        Stats {
            peak_memory: files::read_number(&memory.join("memory.max_usage_in_bytes")),
            // cpuacct counts nanoseconds.
            cpu_usec: files::read_number(&self.dir("cpuacct").join("cpuacct.usage")).map(|ns| ns / 1000),
            peak_pids: files::read_number(&self.dir("pids").join("pids.peak")),
            oom_kills: files::read_key(&memory.join("memory.oom_control"), "oom_kill").unwrap_or(0),
        }
    }

    fn mount_inside(&self, trace: &Trace) -> Result<(), ChildError> {
        use MsFlags as F;
        let root = Path::new("/sys/fs/cgroup");
        let locked = F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC;
        mount_traced(Some("tmpfs"), root, Some("tmpfs"), locked, Some("mode=755,size=64k"), trace)?;
        for h in &self.hierarchies {
            let name = h.controllers.join(",");
            let dir = root.join(&name);
            std::fs::create_dir(&dir).map_err(|e| ChildError::other(format!("creating {}: {e}", dir.display())))?;
            mount_traced(Some("cgroup"), &dir, Some("cgroup"), locked | F::MS_RDONLY, Some(&name), trace)?;
            // Co-mounted controllers (`cpu,cpuacct`) also get a link per name, as on the host,
            // so `/sys/fs/cgroup/cpu/cpu.cfs_quota_us` is where programs look for it.
            if h.controllers.len() > 1 {
                for controller in &h.controllers {
                    let link = root.join(controller);
                    trace
                        .call(format_args!("symlink({name:?}, {link:?})"), nix::unistd::symlinkat(name.as_str(), nix::fcntl::AT_FDCWD, &link))
                        .map_err(|e| ChildError::call(format_args!("symlink {}", link.display()), e))?;
                }
            }
        }
        mount_traced(None, root, None, locked | F::MS_REMOUNT | F::MS_RDONLY, None, trace)
    }

    fn remove(&self, trace: &Trace) {
        for h in &self.hierarchies {
            let _ = files::rmdir(&h.dir, trace);
        }
        for h in &self.hierarchies {
            files::rmdir_if_unused(&h.mount, &self.parent, trace);
        }
    }

    fn version(&self) -> &'static str {
        "cgroup v1"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file writes against a temp dir with one directory per "hierarchy", `cpu` and
    /// `cpuacct` co-mounted as many distributions do.
    #[test]
    fn create_makes_one_directory_per_hierarchy_and_writes_the_limits() {
        let root = std::env::temp_dir().join(format!("coracle-v1-unit-{}", std::process::id()));
        let mounts: Vec<(PathBuf, Vec<String>)> = [("memory", "memory"), ("cpu,cpuacct", "cpu,cpuacct"), ("pids", "pids")]
            .iter()
            .map(|(dir, controllers)| (root.join(dir), controllers.split(',').map(str::to_string).collect()))
            .collect();
        for (dir, _) in &mounts {
            std::fs::create_dir_all(dir).unwrap();
        }
        let cgroup = V1::from_mounts(&mounts, "coracle", "42-abcdef01").unwrap();
        let limits = Limits { memory: Some(64 << 20), cpu_quota_us: Some(25_000), pids: Some(10) };
        cgroup.create(&limits, &Trace::new(false)).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("memory/coracle/42-abcdef01/memory.limit_in_bytes"), "67108864");
        assert_eq!(read("cpu,cpuacct/coracle/42-abcdef01/cpu.cfs_quota_us"), "25000");
        assert_eq!(read("cpu,cpuacct/coracle/42-abcdef01/cpu.cfs_period_us"), "100000");
        assert_eq!(read("pids/coracle/42-abcdef01/pids.max"), "10");
        assert_eq!(cgroup.hierarchies.len(), 3, "cpu and cpuacct share one hierarchy");
        std::fs::remove_dir_all(root).unwrap();
    }
}
