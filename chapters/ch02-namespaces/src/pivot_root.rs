//! `pivot_root(2)`: give the mount namespace a new root, and let go of the old one.
//!
//! chroot only changes where one process resolves `/`; the host's tree stays mounted and reachable
//! (chapter 1's escape climbs back to it). `pivot_root` changes the root *mount* of the whole mount
//! namespace: the old root is moved to a directory under the new one, and once we unmount it,
//! there is no path to the host's files left in this namespace, whatever `..` does.
//!
//! We use runc's trick `pivot_root(".", ".")`: with the new root as working directory, the old
//! root is stacked on the same directory, on top; `umount2(".", MNT_DETACH)` then takes away the
//! top one, the old root, and no `put_old` directory needs to be made in the rootfs.

use ch01_chroot::{ChildError, Trace};
use nix::mount::{MntFlags, umount2};
use nix::unistd::{chdir, pivot_root};
use std::path::Path;

// ANCHOR: pivot
/// Makes `rootfs` (a mount point, see `mounts::build_tree`) the root and detaches the old root.
pub fn enter(rootfs: &Path, trace: &Trace) -> Result<(), ChildError> {
    let fail = |what: &'static str| move |e| ChildError::call(what, e);
    trace.call(format_args!("chdir({rootfs:?})"), chdir(rootfs)).map_err(fail("chdir into the rootfs"))?;
    trace.call(format_args!("pivot_root(\".\", \".\")"), pivot_root(".", ".")).map_err(fail("pivot_root"))?;
    // Lazily: processes of ours may still hold files of the host open; they keep them, nobody new
    // can reach them.
    trace
        .call(format_args!("umount2(\".\", MNT_DETACH)"), umount2(".", MntFlags::MNT_DETACH))
        .map_err(fail("detaching the old root"))?;
    Ok(())
}
// ANCHOR_END: pivot
