//! [`Namespaced`]: chapter 1's [`Isolation`] with namespaces, pivot_root and capabilities.
//!
//! Each step of chapter 1's launch sequence gets this chapter's version:
//!
//! | step | chapter 1 | chapter 2 |
//! |---|---|---|
//! | `spawn` | `fork` | block signals, `clone` into new namespaces |
//! | `prepare_child` | — | write the uid/gid maps (rootless) |
//! | `enter_root` | `chroot` | die with the runtime, `--init`, hostname, `lo`, mount tree, masks, `pivot_root` |
//! | `before_exec` | — | capabilities, `no_new_privs`, unblock signals |
//! | `wait` | ignore Ctrl-C, `wait4` | forward signals, stop timeout, `wait4` |

use crate::cli::{NamespaceArgs, RunArgs};
use crate::error::Error;
use crate::userns::Mapping;
use crate::{capabilities, init, masks, mounts, namespaces, pivot_root, signals, userns};
use ch01_chroot::{ChildError, Isolation, Trace};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A container in its own namespaces.
#[derive(Debug, Clone)]
pub struct Namespaced {
    rootfs: PathBuf,
    hostname: String,
    /// `Some` when running in a user namespace: who becomes root inside.
    user: Option<Mapping>,
    /// With `--init`: the sealed copy of this binary that PID 1 re-executes as the init.
    init: Option<std::sync::Arc<init::InitImage>>,
    stop_timeout: Duration,
    /// Whether the container runs on our terminal (stdin is one): it then stays in our session,
    /// so an interactive shell works; otherwise it gets a session of its own (see `before_exec`).
    shares_terminal: bool,
    /// Whether the container stays in the host's network namespace (chapter 4's build steps).
    host_network: bool,
}

impl Namespaced {
    /// Checks the flags: the rootfs, the hostname, and (rootless) that the caller can read the rootfs.
    pub fn from_args(args: &RunArgs) -> Result<Self, Error> {
        Self::new(&args.base.rootfs, &args.namespaces)
    }

    /// The same for any rootfs directory (chapter 4 passes the mount point of an image's layers).
    pub fn new(rootfs: &Path, args: &NamespaceArgs) -> Result<Self, Error> {
        let rootfs = ch01_chroot::chroot::check_rootfs(rootfs)?;
        let hostname = args.hostname.clone().unwrap_or_else(namespaces::random_hostname);
        if !namespaces::valid_hostname(&hostname) {
            return Err(Error::BadHostname(hostname));
        }
        let rootless = args.rootless || !nix::unistd::geteuid().is_root();
        let user = rootless.then(Mapping::of_caller);
        if rootless {
            let readable = nix::unistd::access(&rootfs, nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::X_OK);
            if readable.is_err() {
                return Err(Error::RootfsNotReadable { path: rootfs, uid: nix::unistd::getuid().as_raw() });
            }
        }
        let init = if args.init { Some(std::sync::Arc::new(init::InitImage::copy_of_self()?)) } else { None };
        let shares_terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
        let stop_timeout = Duration::from_secs(args.stop_timeout);
        Ok(Namespaced { rootfs, hostname, user, init, stop_timeout, shares_terminal, host_network: false })
    }

    /// Shares the host's network namespace instead of a new one, for chapter 4's `RUN` steps, so
    /// that a package install can reach the network (docker gives build steps network access
    /// through its bridge instead; `docker build --network=host` is what this does).
    pub fn with_host_network(mut self) -> Self {
        self.host_network = true;
        self
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    pub fn rootless(&self) -> bool {
        self.user.is_some()
    }
}

impl Isolation for Namespaced {
    fn spawn(&self, trace: &Trace, child: &mut dyn FnMut() -> i32) -> Result<Pid, ch01_chroot::Error> {
        signals::block()?;
        let mut flags = namespaces::clone_flags(self.rootless());
        if self.host_network {
            flags.remove(nix::sched::CloneFlags::CLONE_NEWNET);
        }
        let spawned = namespaces::clone_into(flags, trace, child);
        if spawned.is_err() {
            // `cleanup` runs only once there is a child.
            let _ = signals::unblock();
        }
        spawned
    }

    fn prepare_child(&self, trace: &Trace, child: Pid) -> Result<(), ch01_chroot::Error> {
        match self.user {
            Some(mapping) => userns::write_maps(child, mapping, trace),
            None => Ok(()),
        }
    }

    // ANCHOR: enter_root
    fn enter_root(&self, trace: &Trace) -> Result<(), ChildError> {
        signals::die_with_parent(trace)?;
        if let Some(image) = &self.init {
            init::split(image, trace)?;
        }
        namespaces::set_hostname(&self.hostname, trace)?;
        if !self.host_network {
            namespaces::bring_up_loopback(trace)?;
        }
        mounts::make_private(trace)?;
        mounts::build_tree(&self.rootfs, self.rootless(), self.host_network, trace)?;
        masks::apply(&self.rootfs, trace)?;
        pivot_root::enter(&self.rootfs, trace)
    }
    // ANCHOR_END: enter_root

    fn before_exec(&self, trace: &Trace) -> Result<(), ChildError> {
        if !self.shares_terminal {
            // A session of its own, so the container has no controlling terminal: without one,
            // it cannot push keystrokes into the terminal it was started from (TIOCSTI) even
            // when its output goes there. On a terminal we keep it, for interactive shells; docker
            // (`-t`) and runc instead give the container a new pseudo-terminal and relay it.
            trace.call(format_args!("setsid()"), nix::unistd::setsid()).map_err(|e| ChildError::call("setsid", e))?;
        }
        capabilities::restrict(trace)?;
        signals::unblock().map_err(|e| ChildError::call("sigprocmask(SIG_UNBLOCK)", e))
    }

    fn wait(&self, trace: &Trace, child: Pid) -> Result<WaitStatus, ch01_chroot::Error> {
        signals::forward_until_exit(child, self.stop_timeout, self.shares_terminal, trace)
    }

    fn cleanup(&self, _trace: &Trace) {
        let _ = signals::unblock();
    }
}
