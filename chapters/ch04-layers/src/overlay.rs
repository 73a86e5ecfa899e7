//! overlayfs: the image's read-only layers stacked under one writable directory per container.
//!
//! ```text
//!   merged/   what the container sees as /      (the overlay mount point)
//!     ▲  a name is looked up from the top down; the first layer that has it wins
//!   upper/    the container's own writes         (read-write, one per container)
//!   layer 3   ┐
//!   layer 2   ├ lowerdir: the image's layers      (read-only, shared by every container)
//!   layer 1   ┘
//!   work/     overlayfs's scratch space for atomic copy-up, on the same filesystem as upper/
//! ```
//!
//! Writing to a file of a lower layer copies it up into `upper/` first; deleting one leaves a
//! whiteout (a 0/0 character device) in `upper/`; a directory made again over a deleted one is
//! marked opaque. After a `RUN`, `upper/` therefore *is* the layer's diff.
//!
//! The mount is made in the container's own mount namespace, so it disappears with the container
//! and nothing is ever mounted on the host. Docker's overlay2 driver instead mounts on the host
//! (under /var/lib/docker/overlay2/<id>/merged) and unmounts when the container stops.

use ch01_chroot::{ChildError, Trace};
use ch02_namespaces::mounts::mount_traced;
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// The kernel copies mount options into one page: the `lowerdir` list must fit in it.
const MAX_OPTIONS: usize = 4095;

#[derive(Debug, Clone)]
pub struct Overlay {
    /// The directory the lower paths are relative to (the store's `layers/`): relative names keep
    /// the options short, so more layers fit in the page.
    pub layers_dir: PathBuf,
    /// The layers' directory names relative to `layers_dir`, top layer first.
    pub lower: Vec<String>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
    pub rootless: bool,
}

impl Overlay {
    // ANCHOR: options
    /// `lowerdir=top:…:bottom,upperdir=…,workdir=…` and the feature switches.
    pub fn options(&self) -> String {
        // `volatile` (Linux 5.10): no sync of the upper filesystem, in particular none when the
        // mount goes away with the container, which otherwise costs a journal commit of the
        // disk per container. An upper dir is scratch: what must last (layers, blobs) the store
        // writes itself; after a host crash a volatile upper dir is not to be trusted, and we
        // never mount one again (a stopped container is only removed).
        let mut options = format!("lowerdir={},upperdir={},workdir={},volatile", self.lower.join(":"), self.upper.display(), self.work.display());
        if self.rootless {
            // In a user namespace, overlayfs cannot use trusted.* xattrs; `userxattr` makes it
            // keep its opaque marks in user.overlay.* (Linux 5.11 or newer), as our layers do.
            options.push_str(",userxattr");
        } else {
            // Keep upper/ a plain diff: no renamed-directory redirects and no metadata-only copy-ups,
            // whose data would stay in a lower layer and be lost from the layer we take of upper/.
            options.push_str(",redirect_dir=off,metacopy=off");
        }
        options
    }
    // ANCHOR_END: options

    /// Checks, in the runtime, that the options fit in one mount call.
    pub fn check(&self) -> Result<(), String> {
        let length = self.options().len();
        if length > MAX_OPTIONS {
            return Err(format!(
                "the image has {} layers: their overlay mount options take {length} bytes, more than the kernel's {MAX_OPTIONS} \
                 (docker gives layers short link names to fit more)",
                self.lower.len()
            ));
        }
        Ok(())
    }

    // ANCHOR: mount
    /// Mounts the overlay on `merged`, in the child, in its new mount namespace.
    pub fn mount(&self, trace: &Trace) -> Result<(), ChildError> {
        // overlayfs resolves relative lower paths from the working directory at mount time.
        trace
            .call(format_args!("chdir({:?})", self.layers_dir), nix::unistd::chdir(&self.layers_dir))
            .map_err(|e| ChildError::call(format_args!("chdir {}", self.layers_dir.display()), e))?;
        let options = self.options();
        mount_traced(Some("overlay"), &self.merged, Some("overlay"), MsFlags::empty(), Some(&options), trace).map_err(|e| {
            let hint = if self.rootless {
                "; rootless overlayfs needs Linux 5.11 or newer, and a store on a filesystem with user xattrs (not tmpfs before 6.6)"
            } else {
                "; overlayfs needs the store on a local filesystem such as ext4 or xfs (not overlayfs itself)"
            };
            ChildError::other(format!("mounting the image's layers: {}{hint}", e.message))
        })
    }
    // ANCHOR_END: mount

    pub fn merged(&self) -> &Path {
        &self.merged
    }
}
