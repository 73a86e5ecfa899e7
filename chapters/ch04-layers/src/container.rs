//! [`FromImage`]: chapter 3's container, with its root made of an image's layers.
//!
//! | step | chapter 3 | chapter 4 adds |
//! |---|---|---|
//! | `spawn` | cgroup, `clone` | — (the overlay directories were made in the store) |
//! | `prepare_child` | uid maps, cgroup | — |
//! | `enter_root` | cgroupns, mounts, `pivot_root` | first: private mounts, the overlay, the `-v` binds; then: the working directory |
//! | `before_exec` | cgroupfs, capabilities | then: the user (`USER`, `-u`); stdin from `/dev/null` for build steps |
//! | `wait`, `cleanup` | OOM report, cgroup | — (the store removes the container) |

use crate::overlay::Overlay;
use crate::user::User;
use crate::volume::Volume;
use ch01_chroot::{ChildError, Error, Isolation, Trace};
use ch03_cgroups::Limited;
use nix::sys::wait::WaitStatus;
use nix::unistd::{Gid, Pid, Uid};
use std::path::PathBuf;

#[derive(Debug)]
pub struct FromImage {
    pub inner: Limited,
    pub overlay: Overlay,
    pub volumes: Vec<Volume>,
    pub user: User,
    /// Made if missing, as docker does for `WORKDIR` and `-w`.
    pub workdir: PathBuf,
    /// Build steps get no input, as `docker build` gives its `RUN`s.
    pub stdin_null: bool,
}

impl Isolation for FromImage {
    fn spawn(&self, trace: &Trace, child: &mut dyn FnMut() -> i32) -> Result<Pid, Error> {
        self.inner.spawn(trace, child)
    }

    fn prepare_child(&self, trace: &Trace, child: Pid) -> Result<(), Error> {
        self.inner.prepare_child(trace, child)
    }

    // ANCHOR: enter_root
    fn enter_root(&self, trace: &Trace) -> Result<(), ChildError> {
        // Private first, so neither the overlay nor the binds can propagate to the host; chapter 2
        // does it again, harmlessly, before its own mounts on top of the merged directory.
        ch02_namespaces::mounts::make_private(trace)?;
        self.overlay.mount(trace)?;
        for volume in &self.volumes {
            volume.mount(self.overlay.merged(), trace)?;
        }
        self.inner.enter_root(trace)?;
        // Now inside the new root, where a symbolic link in the path resolves within the image.
        std::fs::create_dir_all(&self.workdir)
            .map_err(|e| ChildError::other(format!("creating the working directory {}: {e}", self.workdir.display())))
    }
    // ANCHOR_END: enter_root

    fn before_exec(&self, trace: &Trace) -> Result<(), ChildError> {
        self.inner.before_exec(trace)?;
        if self.volumes.iter().any(|v| !v.read_only) {
            // The volume is mounted nodev, so a device node made in it cannot be opened from
            // inside; but it is a real node in a host directory, which host users could open.
            // Docker keeps CAP_MKNOD because its devices cgroup refuses mknod of any device but
            // a few harmless ones; we have no devices cgroup, so we drop the capability instead.
            ch02_namespaces::capabilities::drop_one(ch02_namespaces::capabilities::Capability::CAP_MKNOD, trace)?;
        }
        if self.stdin_null {
            let null = nix::fcntl::open("/dev/null", nix::fcntl::OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
                .map_err(|e| ChildError::call("open /dev/null", e))?;
            nix::unistd::dup2_stdin(&null).map_err(|e| ChildError::call("dup2 /dev/null", e))?;
        }
        switch_user(&self.user, self.inner.inner.rootless(), trace)
    }

    fn wait(&self, trace: &Trace, child: Pid) -> Result<WaitStatus, Error> {
        self.inner.wait(trace, child)
    }

    fn cleanup(&self, trace: &Trace) {
        self.inner.cleanup(trace);
    }
}

// ANCHOR: switch_user
/// Becomes `user`, after chapter 2 set the capabilities: groups first (that needs `CAP_SETGID`),
/// then the gid, then the uid last. Leaving uid 0 makes the kernel clear the permitted and
/// effective capabilities, so a non-root user keeps none of docker's 14, as in docker.
fn switch_user(user: &User, rootless: bool, trace: &Trace) -> Result<(), ChildError> {
    if user.uid == 0 && user.gid == 0 && user.groups.is_empty() {
        return Ok(());
    }
    if rootless {
        // Only the caller's uid is mapped (to 0). Podman maps a range from /etc/subuid with the
        // setuid helper newuidmap, which is what other users inside would need.
        return Err(ChildError::other(format!(
            "user {}:{}: a rootless container has only root mapped inside; run as root to use other users",
            user.uid, user.gid
        )));
    }
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    trace
        .call(format_args!("setgroups({:?})", user.groups), nix::unistd::setgroups(&groups))
        .map_err(|e| ChildError::call("setgroups", e))?;
    let gid = Gid::from_raw(user.gid);
    trace
        .call(format_args!("setresgid({0}, {0}, {0})", user.gid), nix::unistd::setresgid(gid, gid, gid))
        .map_err(|e| ChildError::call(format_args!("setresgid({})", user.gid), e))?;
    let uid = Uid::from_raw(user.uid);
    trace
        .call(format_args!("setresuid({0}, {0}, {0})", user.uid), nix::unistd::setresuid(uid, uid, uid))
        .map_err(|e| ChildError::call(format_args!("setresuid({})", user.uid), e))
}
// ANCHOR_END: switch_user
