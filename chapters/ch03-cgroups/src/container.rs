//! [`Limited`]: chapter 2's container, in a cgroup of its own.
//!
//! | step | chapter 2 | chapter 3 adds |
//! |---|---|---|
//! | `spawn` | block signals, `clone` | first: remove stale cgroups, make ours, write the limits |
//! | `prepare_child` | uid/gid maps | then: the child into the cgroup (`cgroup.procs`) |
//! | `enter_root` | mounts, `pivot_root` | first: `unshare(CLONE_NEWCGROUP)`, rooted at our cgroup |
//! | `before_exec` | capabilities | first: the read-only cgroupfs at `/sys/fs/cgroup` |
//! | `wait` | forward signals | then: the OOM report and `--stats` |
//! | `cleanup` | signal mask | first: remove the cgroup |

use crate::cgroup::{self, Cgroup, Stats};
use crate::limits::{Limits, human};
use ch01_chroot::{ChildError, Error, Isolation, Trace};
use ch02_namespaces::Namespaced;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

#[derive(Debug)]
pub struct Limited {
    pub inner: Namespaced,
    /// `None` when rootless without limits: the container then has no cgroup of its own.
    pub cgroup: Option<Box<dyn Cgroup>>,
    pub stale_parents: Vec<std::path::PathBuf>,
    pub limits: Limits,
    pub stats: bool,
}

impl Isolation for Limited {
    fn spawn(&self, trace: &Trace, child: &mut dyn FnMut() -> i32) -> Result<Pid, Error> {
        if let Some(cgroup) = &self.cgroup {
            for parent in &self.stale_parents {
                cgroup::remove_stale(parent, trace);
            }
            if let Err(e) = cgroup.create(&self.limits, trace) {
                cgroup.remove(trace);
                return Err(e);
            }
        }
        let spawned = self.inner.spawn(trace, child);
        if spawned.is_err() {
            // `cleanup` runs only once there is a child.
            if let Some(cgroup) = &self.cgroup {
                cgroup.remove(trace);
            }
        }
        spawned
    }

    // ANCHOR: prepare
    fn prepare_child(&self, trace: &Trace, child: Pid) -> Result<(), Error> {
        self.inner.prepare_child(trace, child)?;
        match &self.cgroup {
            // Before the child is released: everything it will ever run is born inside.
            Some(cgroup) => cgroup.add(child, trace),
            None => Ok(()),
        }
    }
    // ANCHOR_END: prepare

    // ANCHOR: cgroupns
    fn enter_root(&self, trace: &Trace) -> Result<(), ChildError> {
        // Now that we are in our cgroup, a new cgroup namespace makes it the root of what the
        // container sees in /proc/self/cgroup and in the cgroupfs mounted below.
        trace
            .call(format_args!("unshare(CLONE_NEWCGROUP)"), nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP))
            .map_err(|e| ChildError::call("unshare(CLONE_NEWCGROUP)", e))?;
        self.inner.enter_root(trace)
    }
    // ANCHOR_END: cgroupns

    fn before_exec(&self, trace: &Trace) -> Result<(), ChildError> {
        // v1 hierarchies cannot be mounted from inside a user namespace; a rootless container
        // has no cgroup of its own anyway.
        if let Some(cgroup) = self.cgroup.as_ref().filter(|_| !self.inner.rootless()) {
            cgroup.mount_inside(trace)?;
        }
        self.inner.before_exec(trace)
    }

    fn wait(&self, trace: &Trace, child: Pid) -> Result<WaitStatus, Error> {
        let status = self.inner.wait(trace, child)?;
        if let Some(cgroup) = &self.cgroup {
            let stats = cgroup.stats();
            report_oom(&stats, status, self.limits.memory);
            if self.stats {
                print_stats(&stats, &self.limits, cgroup.version());
            }
        }
        Ok(status)
    }

    fn cleanup(&self, trace: &Trace) {
        // The cgroup first: chapter 2's cleanup unblocks signals, and one arriving then must not
        // end the runtime before the cgroup is gone.
        if let Some(cgroup) = &self.cgroup {
            cgroup.remove(trace);
        }
        self.inner.cleanup(trace);
    }
}

// ANCHOR: oom
/// Says so when the kernel's OOM killer struck inside the container, as `docker inspect` reports
/// `OOMKilled`. PID 1 killed by SIGKILL already makes the exit code 137 (with `--init`, the init
/// exits with the 137 of the command it lost).
fn report_oom(stats: &Stats, status: WaitStatus, limit: Option<u64>) {
    if stats.oom_kills == 0 {
        return;
    }
    let limit = limit.map_or_else(|| "no limit".to_string(), |l| format!("limit {}", human(l)));
    if ch01_chroot::exit::code(status) == 128 + Signal::SIGKILL as u8 {
        eprintln!("container killed: out of memory ({limit})");
    } else {
        eprintln!("out of memory in the container ({limit}): the kernel killed {} process(es)", stats.oom_kills);
    }
}
// ANCHOR_END: oom

/// `--stats`: what `docker stats` shows, once, at the end.
fn print_stats(stats: &Stats, limits: &Limits, version: &str) {
    let or_unknown = |v: Option<String>| v.unwrap_or_else(|| format!("unavailable on this kernel's {version}"));
    let of = |limit: Option<String>| limit.map_or_else(String::new, |l| format!(" (limit {l})"));
    eprintln!("stats: peak memory {}{}", or_unknown(stats.peak_memory.map(human)), of(limits.memory.map(human)));
    eprintln!(
        "stats: CPU time {}{}",
        or_unknown(stats.cpu_usec.map(|us| format!("{:.3} s", us as f64 / 1e6))),
        of(limits.cpu_quota_us.map(|q| format!("{:.2} CPUs", q as f64 / crate::limits::CPU_PERIOD_US as f64)))
    );
    eprintln!("stats: peak processes {}{}", or_unknown(stats.peak_pids.map(|p| p.to_string())), of(limits.pids.map(|p| p.to_string())));
}
