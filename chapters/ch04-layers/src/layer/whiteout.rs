//! Whiteouts and opaque directories: how a layer says "deleted" and "hide what is below".
//!
//! Book page: "Chapter 4: layers". A layer can only add files, so deletion is written as a
//! marker, and there are two encodings of the same two markers:
//!
//! - In a layer tar (the OCI image spec), a deleted `NAME` is an empty file `.wh.NAME` in the same
//!   directory, and a directory whose lower contents are hidden holds an empty `.wh..wh..opq`.
//! - On disk, where overlayfs reads them (an extracted layer used as a lowerdir, or the upperdir a
//!   container wrote), a deleted `NAME` is a character device 0/0 named `NAME`, and an opaque
//!   directory carries the xattr `trusted.overlay.opaque` = `y`, or `user.overlay.opaque` = `y`
//!   when a rootless overlay is mounted with `userxattr`.
//!
//! `extract` turns the first encoding into the second, `write_tree` the second into the first.
//! Newer kernels (6.7+) also know "xwhiteouts", regular files tagged with an
//! `overlay.whiteout` xattr, for nested overlays; containerd and podman do not write them for
//! layers and neither do we.

use std::ffi::{CString, OsStr};
use std::fs::Metadata;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, makedev, mknodat};

/// The prefix of a whiteout file in a layer tar: `.wh.NAME` deletes `NAME`.
pub const PREFIX: &str = ".wh.";

/// The name of the marker file that makes its directory opaque in a layer tar.
pub const OPAQUE: &str = ".wh..wh..opq";

/// The xattr that overlayfs reads when mounted by root (the `trusted.` namespace needs
/// `CAP_SYS_ADMIN` to read or write, which is why a rootless mount cannot use it).
pub const TRUSTED_OPAQUE: &str = "trusted.overlay.opaque";

/// The xattr that overlayfs reads when mounted with `userxattr` (Linux 5.11+), as rootless
/// podman does inside a user namespace.
pub const USER_OPAQUE: &str = "user.overlay.opaque";

/// Creates the on-disk whiteout for `name` in the directory `dir`: a character device 0/0.
///
/// Pass `nix::fcntl::AT_FDCWD` and a full path to name the file by path. Since Linux 5.8 the
/// kernel lets anyone create this one device (it is what overlayfs itself creates), so this works
/// rootless; any other device number still needs `CAP_MKNOD`.
pub fn make_whiteout<Fd: AsFd>(dir: Fd, name: &Path) -> io::Result<()> {
    mknodat(dir, name, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))?;
    Ok(())
}

/// Whether this metadata (from `symlink_metadata`, never following a link) is a whiteout.
///
/// We do not look at the link count: overlayfs hard-links all the whiteouts it creates in an
/// upperdir to one shared inode (to save inodes), so `nlink > 1` is normal for them.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Marks the directory at `path` opaque, so overlayfs hides everything below it in lower layers.
///
/// As root we set both xattrs, so the same extracted layer works under a root mount and under a
/// rootless `userxattr` mount; rootless can only set the `user.` one. The path's final component
/// is not followed (`lsetxattr`), and the caller has checked its parents are real directories.
pub fn set_opaque(path: &Path, rootless: bool) -> io::Result<()> {
    if !rootless {
        set_xattr(path, TRUSTED_OPAQUE, b"y")?;
    }
    set_xattr(path, USER_OPAQUE, b"y")
}

/// Whether the directory at `path` is marked opaque by either xattr.
///
/// Only the value `y` means opaque: since Linux 6.7 overlayfs also writes `x` on a directory
/// that merely contains xwhiteouts, which hides nothing. Without `CAP_SYS_ADMIN` the `trusted.`
/// xattr is invisible, so a rootless caller sees only the `user.` one.
pub fn is_opaque(path: &Path) -> bool {
    [TRUSTED_OPAQUE, USER_OPAQUE]
        .iter()
        .any(|name| get_xattr(path, name).is_some_and(|value| value == b"y"))
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(io::Error::from)
}

fn c_name(name: &str) -> CString {
    CString::new(OsStr::new(name).as_bytes()).expect("xattr names have no NUL")
}

// nix has no xattr wrappers, so these two call libc directly. The `l` variants act on a symbolic
// link itself instead of its target, which is what a layer tool always wants.
fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (path, name) = (c_path(path)?, c_name(name));
    // SAFETY: both strings are NUL-terminated and outlive the call; `value` is a valid slice.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let (path, name) = (c_path(path).ok()?, c_name(name));
    // The opaque value is one byte; a larger buffer just lets us see a value that is not `y`.
    let mut buf = [0u8; 16];
    // SAFETY: both strings are NUL-terminated; `buf` is writable for `buf.len()` bytes.
    let len = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    // A missing xattr (ENODATA), a filesystem without xattrs and a too-long value all mean
    // "not opaque" to us.
    usize::try_from(len).ok().map(|len| buf[..len].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::AT_FDCWD;

    #[test]
    fn a_whiteout_is_a_char_device_zero_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        make_whiteout(AT_FDCWD, &path).unwrap();
        assert!(is_whiteout(&std::fs::symlink_metadata(&path).unwrap()));
        std::fs::write(dir.path().join("file"), b"").unwrap();
        assert!(!is_whiteout(
            &std::fs::symlink_metadata(dir.path().join("file")).unwrap()
        ));
    }

    #[test]
    fn opaque_as_root_sets_both_xattrs() {
        crate::layer::testing::require_root();
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_opaque(dir.path()));
        set_opaque(dir.path(), false).unwrap();
        assert!(is_opaque(dir.path()));
        assert_eq!(
            get_xattr(dir.path(), TRUSTED_OPAQUE).as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            get_xattr(dir.path(), USER_OPAQUE).as_deref(),
            Some(&b"y"[..])
        );
    }

    #[test]
    fn opaque_rootless_sets_only_the_user_xattr() {
        let dir = tempfile::tempdir().unwrap();
        set_opaque(dir.path(), true).unwrap();
        assert!(is_opaque(dir.path()));
        assert_eq!(get_xattr(dir.path(), TRUSTED_OPAQUE), None);
        assert_eq!(
            get_xattr(dir.path(), USER_OPAQUE).as_deref(),
            Some(&b"y"[..])
        );
    }
}
