//! This chapter's isolation: `chroot(2)`, then `chdir(2)` into the new root.
//!
//! `chroot` changes one thing, the directory a process resolves `/` against. It changes nothing
//! else: the process keeps its working directory (which is why we must `chdir` right after, and why
//! the escape in the book works), its pids, its hostname, its network, its capabilities. Chapter 2
//! replaces it with `pivot_root(2)` inside a mount namespace.

use crate::error::{ChildError, Error};
use crate::launch::Isolation;
use crate::trace::Trace;
use std::path::{Path, PathBuf};

/// Runs the container chrooted into a root filesystem.
#[derive(Debug, Clone)]
pub struct Chroot {
    rootfs: PathBuf,
}

impl Chroot {
    /// Checks the rootfs and that we may call `chroot` at all.
    pub fn new(rootfs: &Path) -> Result<Self, Error> {
        let rootfs = check_rootfs(rootfs)?;
        if !nix::unistd::geteuid().is_root() {
            return Err(Error::NotRoot);
        }
        Ok(Chroot { rootfs })
    }

    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }
}

/// The rootfs must be an existing directory; it is made absolute so the trace shows where it is.
pub fn check_rootfs(path: &Path) -> Result<PathBuf, Error> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            std::fs::canonicalize(path).map_err(|_| Error::RootfsMissing { path: path.to_path_buf() })
        }
        Ok(_) => Err(Error::RootfsNotDir { path: path.to_path_buf() }),
        Err(_) => Err(Error::RootfsMissing { path: path.to_path_buf() }),
    }
}

// ANCHOR: solution-chroot
/// Makes `rootfs` the root directory of this process. Only the root: the working directory still
/// points into the host's tree until the launch sequence calls `chdir` next.
pub fn change_root(rootfs: &Path, trace: &Trace) -> Result<(), ChildError> {
    trace
        .call(format_args!("chroot({rootfs:?})"), nix::unistd::chroot(rootfs))
        .map_err(|e| ChildError::call(format_args!("chroot into {}", rootfs.display()), e))
}
// ANCHOR_END: solution-chroot

impl Isolation for Chroot {
    fn enter_root(&self, trace: &Trace) -> Result<(), ChildError> {
        change_root(&self.rootfs, trace)
    }
}
