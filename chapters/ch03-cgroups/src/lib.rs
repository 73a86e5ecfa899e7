//! Chapter 3: cgroups, what a container may use.
//!
//! Chapter 2 decided what the container sees and may do; this chapter adds how much of the
//! machine it may use. Its [`Limited`] wraps chapter 2's `Namespaced`: the container gets a cgroup
//! of its own with the limits written in it, is moved into it before it is released, gets a
//! cgroup namespace rooted there and a read-only view of its cgroup at `/sys/fs/cgroup`, so it
//! can read its own limits. When the kernel's OOM killer strikes, the runtime says so; with
//! `--stats` it prints what the container used; and it removes the cgroup at the end.
//! Book: "Chapter 3: cgroups".
//!
//! # Layout
//! - [`limits`]: `--memory 64m`, `--cpus 0.5`, `--pids-limit 100`, parsed and checked.
//! - [`mode`]: which cgroup version the host runs (unified, hybrid or legacy).
//! - [`cgroup`]: one interface, [`cgroup::Cgroup`], over [`cgroup::v1`] and [`cgroup::v2`].
//! - [`container`]: [`Limited`], chapter 1's `Isolation` with a cgroup.
//! - [`cli`], [`error`]: chapter 2's flags and errors, plus this chapter's.

pub mod cgroup;
pub mod cli;
pub mod container;
pub mod error;
pub mod limits;
pub mod mode;

pub use cli::{LimitArgs, RunArgs};
pub use container::Limited;
pub use error::Error;
pub use limits::Limits;

use ch01_chroot::{Process, Trace};
use std::path::Path;

/// The root of the cgroup filesystems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Runs `args` as chapter 3 does. Returns the exit code to leave with.
pub fn run(args: &RunArgs) -> Result<u8, Error> {
    let trace = Trace::new(args.base.base.process.trace);
    let container = Limited::from_args(args)?;
    let process = Process::from_args(&args.base.base.process, &args.base.base.command, container.inner.hostname(), "/root")?;
    Ok(ch01_chroot::launch(&process, &container, &trace)?)
}

impl Limited {
    /// Checks the limits (before anything else: a bad flag costs nothing), then builds chapter 2's
    /// container and puts it in a cgroup, as [`new`](Self::new) does.
    pub fn from_args(args: &RunArgs) -> Result<Self, Error> {
        Self::check(&args.limits)?;
        Self::new(ch02_namespaces::Namespaced::from_args(&args.base)?, &args.limits)
    }

    /// Puts any chapter 2 container (chapter 4's come from images) in a cgroup with `args`' limits.
    pub fn new(inner: ch02_namespaces::Namespaced, args: &LimitArgs) -> Result<Self, Error> {
        let limits = Self::check(args)?;
        let parent = args.cgroup_parent.trim_matches('/');
        let (cgroup, stale_parents): (Option<Box<dyn cgroup::Cgroup>>, Vec<_>) = if inner.rootless() {
            if !limits.is_empty() {
                return Err(Error::RootlessLimits);
            }
            (None, Vec::new())
        } else {
            let name = cgroup::new_name();
            let root = Path::new(CGROUP_ROOT);
            let mode = mode::detect(root).map_err(|e| ch01_chroot::Error::call("statfs(\"/sys/fs/cgroup\")", e))?;
            if mode.is_v2() {
                let v2 = cgroup::v2::V2::new(root, parent, &name);
                let parents = vec![v2.parent_dir()];
                (Some(Box::new(v2)), parents)
            } else {
                let v1 = cgroup::v1::V1::new(parent, &name)?;
                let parents = v1.parents();
                (Some(Box::new(v1)), parents)
            }
        };
        Ok(Limited { inner, cgroup, stale_parents, limits, stats: args.stats })
    }

    /// Checks `args` alone: the limits and the parent's name.
    pub fn check(args: &LimitArgs) -> Result<Limits, Error> {
        let limits = Limits::parse(args.memory.as_deref(), args.cpus.as_deref(), args.pids_limit.as_deref())?;
        let parent = args.cgroup_parent.trim_matches('/');
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_/.".contains(c);
        if parent.is_empty() || !parent.chars().all(valid) || parent.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return Err(Error::BadParent(args.cgroup_parent.clone()));
        }
        Ok(limits)
    }
}
