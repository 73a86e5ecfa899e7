//! The image store: a directory of content-addressed blobs, extracted layers, images, tags, the
//! build cache and the containers, changed only under a lock and only by atomic renames.
//!
//! ```text
//!   /var/lib/coracle/                (or $XDG_DATA_HOME/coracle when rootless, or --root DIR)
//!   ├── lock                         flock(2): exclusive to change the store, shared to read it
//!   ├── blobs/sha256/<hex>           layer tars (as imported: plain or gzip), configs, manifests
//!   ├── layers/<diff id>/            each layer extracted once, an overlayfs lower directory
//!   ├── layers/<diff id>.json        its blob, media type and size
//!   ├── images/<image id>.json       an image: its manifest and the image it was built on
//!   ├── tags.json                    name:tag -> manifest digest
//!   ├── cache/<key>                  build cache: step key -> image id
//!   ├── containers/<id>/             state.json, and the overlay's upper, work and merged dirs
//!   └── tmp/                         staging: written here, then renamed into place
//! ```
//!
//! Docker keeps the same things in `/var/lib/docker` (image/overlay2/imagedb, overlay2/<id>/diff)
//! and containerd in a bolt database plus a content store; both are daemons, so their lock is a
//! mutex in one process. We have no daemon, so every command takes the file lock instead.

pub mod containers;
pub mod images;
pub mod layers;

use crate::digest::Digest;
use crate::error::Error;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// Layers are extracted by the user running us: as root with their owners and device nodes,
    /// rootless without (see `layer::extract`).
    rootless: bool,
}

/// Held while the store is read (shared) or changed (exclusive); released when dropped.
pub struct Lock(#[allow(dead_code)] Flock<File>);

impl Store {
    /// The store at `root`, or at the default place for this user; created if missing.
    pub fn open(root: Option<&Path>) -> Result<Store, Error> {
        let rootless = !nix::unistd::geteuid().is_root();
        let root = match root {
            Some(root) => root.to_path_buf(),
            None => default_root(rootless)?,
        };
        // `empty` is made last: when it is there, so is everything else.
        if !root.join("empty").is_dir() {
            for dir in ["blobs/sha256", "layers", "images", "cache", "containers", "tmp", "empty"] {
                let path = root.join(dir);
                fs::create_dir_all(&path).map_err(|e| Error::Store { path: root.clone(), why: format!("creating {dir}: {}", ch01_chroot::error::describe_io(&e)) })?;
            }
            // Layers keep their owners and modes, and a container's upper dir holds what it wrote:
            // only the store's owner may look inside (docker's /var/lib/docker is 0710 likewise).
            let _ = fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        }
        let root = fs::canonicalize(&root).map_err(Error::io(&root))?;
        Ok(Store { root, rootless })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn rootless(&self) -> bool {
        self.rootless
    }

    /// Takes the lock to change the store, and clears what a command that died left in `tmp/`
    /// (nothing else writes there without this lock).
    pub fn lock(&self) -> Result<Lock, Error> {
        let lock = self.take(FlockArg::LockExclusive)?;
        let tmp = self.root.join("tmp");
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let _ = remove_any(&entry.path());
            }
        }
        Ok(lock)
    }

    /// Takes the lock to read the store.
    pub fn lock_shared(&self) -> Result<Lock, Error> {
        self.take(FlockArg::LockShared)
    }

    fn take(&self, how: FlockArg) -> Result<Lock, Error> {
        let path = self.root.join("lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(Error::io(&path))?;
        Flock::lock(file, how).map(Lock).map_err(|(_, e)| Error::Store { path: path.clone(), why: format!("flock: {e}") })
    }

    /// A fresh path in `tmp/`, for staging.
    pub fn staging(&self, what: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{what}-{}", ch02_namespaces::namespaces::random_hex(8)))
    }

    /// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never half;
    /// and durably: the data is on disk before the rename makes it visible.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        self.write_renamed(path, bytes, true)
    }

    /// The same without waiting for the disk, for what a crash may lose (a container's state):
    /// an `fdatasync` costs milliseconds on a busy disk, twice per `run`.
    pub fn write_renamed(&self, path: &Path, bytes: &[u8], durable: bool) -> Result<(), Error> {
        let staged = self.staging("file");
        let mut file = File::create(&staged).map_err(Error::io(&staged))?;
        file.write_all(bytes).and_then(|()| if durable { file.sync_data() } else { Ok(()) }).map_err(Error::io(&staged))?;
        fs::rename(&staged, path).map_err(Error::io(path))
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Stores `bytes` as a blob named by their digest (a no-op when it is already there).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Reads a blob and checks that it still has the digest it is named by.
    pub fn get_blob(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(Error::io(&path))?;
        if Digest::of(&bytes) != *digest {
            return Err(Error::Store { path, why: "the blob does not match its digest (the store is corrupt)".into() });
        }
        Ok(bytes)
    }

}

/// `/var/lib/coracle` for root; `$XDG_DATA_HOME/coracle` (default `~/.local/share/coracle`) rootless.
fn default_root(rootless: bool) -> Result<PathBuf, Error> {
    if !rootless {
        return Ok(PathBuf::from("/var/lib/coracle"));
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(data) => Ok(PathBuf::from(data).join("coracle")),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".local/share/coracle")),
            None => Err(Error::Store { path: PathBuf::from("~"), why: "neither XDG_DATA_HOME nor HOME is set: give --root DIR".into() }),
        },
    }
}

/// Removes a file or a whole directory tree, never following symbolic links (`remove_dir_all`
/// does not follow them either). A mount point inside fails with EBUSY instead of being emptied.
pub fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).or_else(|e| {
            // overlayfs leaves `work/work` with mode 000, and a layer may hold a 0555 directory:
            // without CAP_DAC_OVERRIDE (rootless) we must give ourselves access to delete them.
            if e.kind() != std::io::ErrorKind::PermissionDenied {
                return Err(e);
            }
            allow_owner(path);
            fs::remove_dir_all(path)
        }),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Gives the owner full access to every directory under `path`, never following links.
fn allow_owner(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
    for entry in fs::read_dir(path).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            allow_owner(&entry.path());
        }
    }
}
