//! `-v HOST:CONTAINER[:ro]`: bind mounts of host paths into the container.
//!
//! The mount point is made inside the overlay (so in the container's upper layer) by walking the
//! container path one component at a time with `O_NOFOLLOW`: a symbolic link in the image, say
//! `/data -> /etc`, would otherwise point the mount at the host's `/etc` while the host's tree is
//! still visible, before `pivot_root`. runc resolves such paths within the root instead
//! (`openat2(RESOLVE_IN_ROOT)`, or its securejoin library); refusing is the simpler safe half.

use crate::error::Error;
use ch01_chroot::{ChildError, Trace};
use ch02_namespaces::mounts::mount_traced;
use nix::fcntl::{OFlag, openat};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host: PathBuf,
    /// Absolute, normalised, not `/`.
    pub target: PathBuf,
    pub read_only: bool,
}

// ANCHOR: parse
impl Volume {
    /// Parses and checks one `-v`: the host path must exist and both paths be absolute.
    pub fn parse(spec: &str) -> Result<Volume, Error> {
        let bad = |why: &str| Error::BadVolume { spec: spec.to_string(), why: why.to_string() };
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, target, read_only) = match parts.as_slice() {
            [host, target] => (*host, *target, false),
            [host, target, "ro"] => (*host, *target, true),
            [host, target, "rw"] => (*host, *target, false),
            [_, _, option] => return Err(bad(&format!("unknown option {option:?} (use ro or rw)"))),
            _ => return Err(bad("expected HOST:CONTAINER or HOST:CONTAINER:ro")),
        };
        let host = Path::new(host);
        if !host.is_absolute() {
            return Err(bad("the host path must be absolute (named volumes are not supported)"));
        }
        let host = std::fs::canonicalize(host).map_err(|e| bad(&format!("host path {}: {}", host.display(), ch01_chroot::error::describe_io(&e))))?;
        let target = Path::new(target);
        if !target.is_absolute() {
            return Err(bad("the container path must be absolute"));
        }
        let mut clean = PathBuf::from("/");
        for component in target.components() {
            match component {
                Component::Normal(part) => clean.push(part),
                Component::RootDir | Component::CurDir => {}
                _ => return Err(bad("the container path must not contain '..'")),
            }
        }
        if clean == Path::new("/") {
            return Err(bad("the container path cannot be /"));
        }
        // Chapter 2 mounts its own /proc, /dev and /sys over these after the volumes, which
        // would hide a volume inside them.
        if ["/proc", "/dev", "/sys"].iter().any(|top| clean.starts_with(top)) {
            return Err(bad("the container path cannot be under /proc, /dev or /sys"));
        }
        Ok(Volume { host, target: clean, read_only })
    }
}
// ANCHOR_END: parse

// ANCHOR: mount
impl Volume {
    /// In the child, before `pivot_root`: makes the mount point under `root` and binds the host
    /// path onto it (read-only with `:ro`).
    pub fn mount(&self, root: &Path, trace: &Trace) -> Result<(), ChildError> {
        let is_dir = self.host.is_dir();
        let point = make_mount_point(root, &self.target, is_dir)
            .map_err(|why| ChildError::other(format!("volume {}: {why}", self.target.display())))?;
        let source = self.host.to_string_lossy();
        mount_traced(Some(&source), &point, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, trace)?;
        // nodev and nosuid: root inside keeps CAP_MKNOD, and with no devices cgroup a node made
        // in a host directory would open a host device (docker's devices cgroup prevents that;
        // chapter 2 mounts the rootfs nodev for the same reason).
        let mut flags = MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
        if self.read_only {
            flags |= MsFlags::MS_RDONLY;
        }
        ch02_namespaces::masks::remount_bind(&point, flags, trace)
    }
}
// ANCHOR_END: mount

/// Walks `target` under `root` without following links, making missing directories (and, for a
/// file volume, an empty file at the end). Returns the path to mount on.
fn make_mount_point(root: &Path, target: &Path, is_dir: bool) -> Result<PathBuf, String> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut dir: OwnedFd = nix::fcntl::open(root, flags, Mode::empty()).map_err(|e| format!("opening the root: {e}"))?;
    let parts: Vec<_> = target.components().filter_map(|c| match c {
        Component::Normal(p) => Some(p),
        _ => None,
    }).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if last && !is_dir {
            let file = openat(dir.as_fd(), *part, OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::from_bits_truncate(0o644));
            return match file {
                Ok(_) => Ok(root.join(target.strip_prefix("/").unwrap_or(target))),
                Err(nix::errno::Errno::ELOOP) => Err(format!("{} is a symbolic link in the image; refusing to mount over it", part.to_string_lossy())),
                Err(e) => Err(format!("creating the mount point: {e}")),
            };
        }
        let _ = nix::sys::stat::mkdirat(dir.as_fd(), *part, Mode::from_bits_truncate(0o755));
        dir = match openat(dir.as_fd(), *part, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ELOOP) => {
                return Err(format!("{} is a symbolic link in the image; refusing to mount through it", part.to_string_lossy()));
            }
            // O_DIRECTORY|O_NOFOLLOW on a symbolic link fails with ENOTDIR too: tell them apart.
            Err(nix::errno::Errno::ENOTDIR) => {
                let link = nix::sys::stat::fstatat(dir.as_fd(), *part, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
                let what = if link { "is a symbolic link in the image; refusing to mount through it" } else { "is not a directory in the image" };
                return Err(format!("{} {what}", part.to_string_lossy()));
            }
            Err(e) => return Err(format!("creating the mount point: {e}")),
        };
    }
    Ok(root.join(target.strip_prefix("/").unwrap_or(target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let v = Volume::parse("/tmp:/data/./x:ro").unwrap();
        assert_eq!((v.target.as_path(), v.read_only), (Path::new("/data/x"), true));
        for bad in ["tmp:/x", "/tmp:x", "/tmp:/", "/tmp:/a/../b", "/tmp:/x:rx", "/tmp", "/no/such/dir:/x", "/tmp:/dev/shm/x", "/tmp:/proc"] {
            assert!(Volume::parse(bad).is_err(), "{bad}");
        }
    }
}
