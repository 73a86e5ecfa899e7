//! Extracting an untrusted layer tar into a directory, creating every file ourselves.
//!
//! Book page: "Chapter 4: layers". A layer comes from a registry or a stranger's `docker save`,
//! so the tar is hostile until proven otherwise: `../` paths, absolute paths, a symlink followed
//! by a file written "through" it, hard links to `/etc/shadow`. The `tar` crate only parses
//! headers here; we never call `unpack`, so each rule below is visible in one place.
//!
//! Every file is reached from a directory fd of `dest` one component at a time with
//! `O_NOFOLLOW`, so no symlink, whether it was in the tar or planted by an earlier entry, is ever
//! followed while we write (the class of bug behind CVE-2018-15664 in docker cp and several tar-rs
//! advisories). Symlink targets are stored as written: they are resolved later, by the kernel,
//! inside the container's root, never by us.
//!
//! Deliberately absent: xattrs and PAX xattr records are not restored at all, so a layer cannot
//! set `trusted.overlay.*` on its own files (docker restores some, e.g. `security.capability`,
//! which is why `ping` keeps its file capability there). Rootless, ownership is left alone: every
//! file belongs to the user, who is root inside the user namespace; podman instead maps the
//! tar's ids into a subuid range with `newuidmap`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use tar::EntryType;

use super::whiteout::{self, OPAQUE, PREFIX};

/// How to extract.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Running without root: owners are not changed, device nodes are skipped, and opaque
    /// directories get only the `user.overlay.opaque` xattr.
    pub rootless: bool,
}

/// What an extraction did.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Entries read from the tar, including whiteouts and skipped ones.
    pub entries: u64,
    /// The sum of the sizes of the regular files written.
    pub bytes: u64,
    /// Entries neutralised instead of created, as `"dev/sda: device node (rootless)"`.
    pub skipped: Vec<String>,
    /// Rootless: entries owned by another user than root, which the user now owns.
    pub owners_dropped: u64,
}

/// Why an extraction stopped. The caller deletes the half-written directory.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("entry {path:?}: path leaves the layer's root")]
    Escapes { path: String },
    #[error("entry {path:?}: hard link target {target:?} leaves the layer's root")]
    LinkEscapes { path: String, target: String },
    #[error("entry {path:?}: hard link target {target:?} is not in this layer (a hard link must point to a file earlier in the same layer)")]
    LinkMissing { path: String, target: String },
    #[error("entry {path:?}: would be written through the symbolic link {link:?}")]
    ThroughSymlink { path: String, link: String },
    #[error("entry {path:?}: a whiteout must name one file in its directory")]
    BadWhiteout { path: String },
    #[error("entry {path:?}: {kind} entries are not supported")]
    Unsupported { path: String, kind: String },
    #[error("entry {path:?}: {}", ch01_chroot::error::describe_io(source))]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("reading the archive: {0}")]
    Archive(#[source] io::Error),
    #[error("not a tar archive (plain or gzip-compressed)")]
    NotATar(#[source] io::Error),
}

/// Extracts the layer tar read from `reader` into `dest`, an existing empty directory that
/// nobody else writes to while we run.
pub fn extract(
    reader: impl Read,
    dest: &Path,
    options: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let root = openat(AT_FDCWD, dest, DIR_FLAGS, Mode::empty())
        .map_err(|e| io_error(&dest.display().to_string(), e))?;
    let mut x = Extractor {
        root,
        dest: dest.to_path_buf(),
        options: *options,
        dirs: Vec::new(),
    };
    let mut done = Extracted::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(ExtractError::Archive)? {
        // A bad first header means the input is no tar at all: say that, not which field broke.
        let mut entry = entry.map_err(|e| if done.entries == 0 { ExtractError::NotATar(e) } else { ExtractError::Archive(e) })?;
        done.entries += 1;
        x.entry(&mut entry, &mut done)?;
    }
    x.finish_dirs()?;
    // A tar ends at its zero blocks, but the stream may go on: read it to the end so a gzip
    // trailer is checked (its CRC catches a corrupt or cut-off download) and a caller hashing
    // the stream sees every byte of it.
    // Bounded: an endless input (`/dev/zero` is a valid end of archive, then zeros forever) must
    // not run forever. GNU tar pads archives to 10 KiB records; 1 MiB is far more than that.
    const TRAILING: u64 = 1 << 20;
    let trailing = io::copy(&mut archive.into_inner().take(TRAILING + 1), &mut io::sink()).map_err(ExtractError::Archive)?;
    if trailing > TRAILING {
        return Err(ExtractError::Archive(io::Error::new(io::ErrorKind::InvalidData, "more than 1 MiB of data after the end of the archive")));
    }
    Ok(done)
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

struct Extractor {
    root: OwnedFd,
    dest: PathBuf,
    options: ExtractOptions,
    /// Directory entries whose mode and mtime are applied at the end: creating children
    /// changes a directory's mtime, and a read-only mode (0555) would stop a rootless run
    /// from creating them.
    dirs: Vec<(PathBuf, Mode, TimeSpec)>,
}

impl Extractor {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        done: &mut Extracted,
    ) -> Result<(), ExtractError> {
        let kind = entry.header().entry_type();
        // A PAX global header only carries defaults (git archive stores a commit id in one).
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw = entry.path().map_err(ExtractError::Archive)?.into_owned();
        // Names in messages are cut at 200 characters: a hostile layer's 5000-byte name should
        // not fill the terminal.
        let mut shown = raw.to_string_lossy().into_owned();
        if shown.chars().count() > 200 {
            shown = shown.chars().take(200).collect::<String>() + "…";
        }
        let rel = normalise(&raw).ok_or_else(|| ExtractError::Escapes {
            path: shown.clone(),
        })?;
        // "./" is the layer's root itself; the caller made `dest` and owns its mode.
        let Some(name) = rel.file_name() else {
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let io = |e: Errno| io_error(&shown, e);
        let ioe = |source: io::Error| ExtractError::Io {
            path: shown.clone(),
            source,
        };
        let full = self.dest.join(&rel);

        if name == OPAQUE {
            self.walk(parent_rel, true, &shown)?;
            let dir = self.dest.join(parent_rel);
            return whiteout::set_opaque(&dir, self.options.rootless).map_err(ioe);
        }
        if let Some(hidden) = name.as_bytes().strip_prefix(PREFIX.as_bytes()) {
            // Other `.wh..wh.` names are aufs bookkeeping (`.wh..wh.plnk`); docker drops them too.
            if hidden.starts_with(PREFIX.as_bytes()) {
                done.skipped
                    .push(format!("{}: aufs metadata", rel.display()));
                return Ok(());
            }
            if matches!(hidden, b"" | b"." | b"..") {
                return Err(ExtractError::BadWhiteout { path: shown });
            }
            let parent = self.walk(parent_rel, true, &shown)?;
            let hidden = Path::new(OsStr::from_bytes(hidden));
            // A whiteout hides files of LOWER layers; if this layer itself has the name, the
            // image spec says the file stays, so we leave it.
            return match fstatat(&parent, hidden, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(_) => Ok(()),
                Err(Errno::ENOENT) => whiteout::make_whiteout(&parent, hidden).map_err(ioe),
                Err(e) => Err(io(e)),
            };
        }

        let header = entry.header();
        let bits = header.mode().map_err(ExtractError::Archive)? & 0o7777;
        let mode = Mode::from_bits_truncate(bits as libc::mode_t);
        let owner = match self.options.rootless {
            true => {
                // Only the user's own uid exists in a rootless store: count what loses its owner.
                if header.uid().ok() != Some(0) || header.gid().ok() != Some(0) {
                    done.owners_dropped += 1;
                }
                None
            }
            false => Some((
                Uid::from_raw(header.uid().map_err(ExtractError::Archive)? as u32),
                Gid::from_raw(header.gid().map_err(ExtractError::Archive)? as u32),
            )),
        };
        let mtime = header.mtime().map_err(ExtractError::Archive)?;
        let mtime = TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0);
        let device = matches!(kind, EntryType::Char | EntryType::Block);
        if device && self.options.rootless {
            done.skipped
                .push(format!("{}: device node (rootless)", rel.display()));
            return Ok(());
        }
        let supported = device
            || matches!(
                kind,
                EntryType::Regular
                    | EntryType::Continuous
                    | EntryType::Directory
                    | EntryType::Symlink
                    | EntryType::Link
                    | EntryType::Fifo
            );
        if !supported {
            let kind = format!("{kind:?}").to_lowercase();
            return Err(ExtractError::Unsupported { path: shown, kind });
        }
        let parent = self.walk(parent_rel, true, &shown)?;

        match kind {
            EntryType::Directory => {
                if !clear(&parent, name, &full, true).map_err(ioe)? {
                    mkdirat(&parent, name, Mode::from_bits_truncate(0o755)).map_err(io)?;
                }
                let dir = openat(&parent, name, DIR_FLAGS, Mode::empty()).map_err(io)?;
                if let Some((uid, gid)) = owner {
                    fchown(&dir, Some(uid), Some(gid)).map_err(io)?;
                }
                self.dirs.push((rel.clone(), mode, mtime));
            }
            EntryType::Regular | EntryType::Continuous => {
                clear(&parent, name, &full, false).map_err(ioe)?;
                // O_EXCL: the name was just cleared, so this creates a new inode and never opens
                // whatever might be there. Created 0600 and fixed below, so the umask plays no part.
                let flags = OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                let fd =
                    openat(&parent, name, flags, Mode::from_bits_truncate(0o600)).map_err(io)?;
                let mut file = File::from(fd);
                let size = entry.size();
                let copied = copy_data(entry, &mut file, &shown)?;
                if copied != size {
                    return Err(ExtractError::Archive(io::ErrorKind::UnexpectedEof.into()));
                }
                done.bytes += copied;
                // Owner before mode: chown clears the setuid and setgid bits. Both go through the
                // fd, never a path: CVE-2021-32760 (containerd) was a chmod that followed a link.
                if let Some((uid, gid)) = owner {
                    fchown(&file, Some(uid), Some(gid)).map_err(io)?;
                }
                fchmod(&file, mode).map_err(io)?;
                futimens(&file, &mtime, &mtime).map_err(io)?;
            }
            EntryType::Symlink => {
                let target = link_name(entry, &shown)?;
                clear(&parent, name, &full, false).map_err(ioe)?;
                symlinkat(target.as_path(), &parent, name).map_err(io)?;
                self.set_meta_at(&parent, name, owner, None, mtime)
                    .map_err(io)?;
            }
            EntryType::Link => {
                let target = link_name(entry, &shown)?;
                let escapes = || ExtractError::LinkEscapes {
                    path: shown.clone(),
                    target: target.to_string_lossy().into_owned(),
                };
                let target_rel = normalise(&target).ok_or_else(escapes)?;
                let missing = || ExtractError::LinkMissing {
                    path: shown.clone(),
                    target: target.to_string_lossy().into_owned(),
                };
                let target_parent = self
                    .walk(target_rel.parent().unwrap_or(Path::new("")), false, &shown)
                    .map_err(|e| match e {
                        ExtractError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => missing(),
                        other => other,
                    })?;
                let target_name = target_rel.file_name().unwrap_or(OsStr::new("."));
                let stat = fstatat(&target_parent, target_name, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| if e == Errno::ENOENT { missing() } else { io(e) })?;
                if SFlag::from_bits_truncate(stat.st_mode & libc::S_IFMT) == SFlag::S_IFDIR {
                    return Err(io(Errno::EISDIR));
                }
                clear(&parent, name, &full, false).map_err(ioe)?;
                // No AT_SYMLINK_FOLLOW: a hard link to a symlink links the symlink itself.
                linkat(&target_parent, target_name, &parent, name, AtFlags::empty()).map_err(io)?;
            }
            _ => {
                let (kind, dev) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    // Device nodes are harmless here: chapter 2 mounts the rootfs `nodev`, so
                    // opening one inside the container fails. Docker creates them too.
                    _ => {
                        let number = |n: io::Result<Option<u32>>| {
                            n.map(|n| u64::from(n.unwrap_or(0)))
                                .map_err(ExtractError::Archive)
                        };
                        let (major, minor) = (
                            number(entry.header().device_major())?,
                            number(entry.header().device_minor())?,
                        );
                        let char = kind == EntryType::Char;
                        (
                            if char { SFlag::S_IFCHR } else { SFlag::S_IFBLK },
                            makedev(major, minor),
                        )
                    }
                };
                clear(&parent, name, &full, false).map_err(ioe)?;
                mknodat(&parent, name, kind, mode, dev).map_err(io)?;
                self.set_meta_at(&parent, name, owner, Some(mode), mtime)
                    .map_err(io)?;
            }
        }
        Ok(())
    }

    /// Sets the owner, mode and mtime of something we cannot open: a symlink, a device or a FIFO
    /// (opening a FIFO blocks, opening a device talks to a driver).
    fn set_meta_at(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        owner: Option<(Uid, Gid)>,
        mode: Option<Mode>,
        mtime: TimeSpec,
    ) -> nix::Result<()> {
        if let Some((uid, gid)) = owner {
            fchownat(
                parent,
                name,
                Some(uid),
                Some(gid),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
        }
        // mknodat applied the umask, so the mode is set again. By name, but safely: we created
        // this name a moment ago in a directory nobody else writes, so it is not a symlink.
        if let Some(mode) = mode {
            fchmodat(parent, name, mode, FchmodatFlags::FollowSymlink)?;
        }
        utimensat(
            parent,
            name,
            &mtime,
            &mtime,
            UtimensatFlags::NoFollowSymlink,
        )
    }

    // ANCHOR: walk
    /// Opens the directory `rel` under the root one component at a time, never following a
    /// symlink, creating missing directories (0755) when `create` is set.
    fn walk(&self, rel: &Path, create: bool, shown: &str) -> Result<OwnedFd, ExtractError> {
        let io = |e: Errno| io_error(shown, e);
        let mut dir = openat(&self.root, ".", DIR_FLAGS, Mode::empty()).map_err(io)?;
        let mut so_far = PathBuf::new();
        for part in rel.components() {
            let part = part.as_os_str();
            so_far.push(part);
            dir = match openat(&dir, part, DIR_FLAGS, Mode::empty()) {
                Ok(next) => next,
                Err(Errno::ENOENT) if create => {
                    mkdirat(&dir, part, Mode::from_bits_truncate(0o755)).map_err(io)?;
                    let next = openat(&dir, part, DIR_FLAGS, Mode::empty()).map_err(io)?;
                    fchmod(&next, Mode::from_bits_truncate(0o755)).map_err(io)?;
                    next
                }
                // O_NOFOLLOW on a symlink gives ELOOP, O_DIRECTORY on a file ENOTDIR.
                Err(e @ (Errno::ELOOP | Errno::ENOTDIR)) => {
                    let stat = fstatat(&dir, part, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io)?;
                    if SFlag::from_bits_truncate(stat.st_mode & libc::S_IFMT) == SFlag::S_IFLNK {
                        let link = so_far.to_string_lossy().into_owned();
                        return Err(ExtractError::ThroughSymlink {
                            path: shown.into(),
                            link,
                        });
                    }
                    return Err(io(e));
                }
                Err(e) => return Err(io(e)),
            };
        }
        Ok(dir)
    }
    // ANCHOR_END: walk

    /// The second pass: directory modes and mtimes, now that nothing more is created in them.
    fn finish_dirs(&self) -> Result<(), ExtractError> {
        for (rel, mode, mtime) in &self.dirs {
            let shown = rel.to_string_lossy();
            let io = |e: Errno| io_error(&shown, e);
            let parent = match self.walk(rel.parent().unwrap_or(Path::new("")), false, &shown) {
                Ok(parent) => parent,
                // A later entry replaced this directory (or a parent) with something else.
                Err(ExtractError::ThroughSymlink { .. }) => continue,
                Err(ExtractError::Io { source, .. }) if gone(&source) => continue,
                Err(e) => return Err(e),
            };
            let dir = match openat(&parent, rel.file_name().unwrap(), DIR_FLAGS, Mode::empty()) {
                Ok(dir) => dir,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(io(e)),
            };
            fchmod(&dir, *mode).map_err(io)?;
            futimens(&dir, mtime, mtime).map_err(io)?;
        }
        Ok(())
    }
}

// ANCHOR: solution-normalise
/// Makes `path` relative to the layer's root: leading `/` and `.` parts go (an absolute path
/// lands inside, neutralised), and any `..` is refused rather than resolved.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}
// ANCHOR_END: solution-normalise

/// Removes whatever is at `name` unless a directory is about to land on a directory, in which
/// case the existing one is kept (returns true). A directory replaced by a file goes whole:
/// `full` is its path, whose parents `walk` has just checked are real directories.
fn clear(parent: &OwnedFd, name: &OsStr, full: &Path, for_dir: bool) -> io::Result<bool> {
    let stat = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let is_dir = SFlag::from_bits_truncate(stat.st_mode & libc::S_IFMT) == SFlag::S_IFDIR;
    match (is_dir, for_dir) {
        (true, true) => return Ok(true),
        // Since Rust 1.58.1 (CVE-2022-21658) std removes a tree by fd with O_NOFOLLOW, so a
        // symlink inside is unlinked, never followed.
        (true, false) => std::fs::remove_dir_all(full)?,
        (false, _) => unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?,
    }
    Ok(false)
}

/// Copies an entry's data, telling a failed read (the archive) from a failed write (the disk).
fn copy_data(from: &mut impl Read, to: &mut File, shown: &str) -> Result<u64, ExtractError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ExtractError::Archive(e)),
        };
        to.write_all(&buf[..n]).map_err(|source| ExtractError::Io {
            path: shown.into(),
            source,
        })?;
        total += n as u64;
    }
}

fn link_name<R: Read>(entry: &tar::Entry<R>, shown: &str) -> Result<PathBuf, ExtractError> {
    match entry.link_name().map_err(ExtractError::Archive)? {
        Some(target) if !target.as_os_str().is_empty() => Ok(target.into_owned()),
        _ => Err(io_error(shown, Errno::ENOENT)),
    }
}

fn gone(e: &io::Error) -> bool {
    matches!(
        Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        Errno::ENOENT | Errno::ENOTDIR
    )
}

fn io_error(path: &str, e: Errno) -> ExtractError {
    ExtractError::Io {
        path: path.to_string(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::testing::{RawTar, Sandbox, require_root};
    use crate::layer::whiteout::{is_opaque, is_whiteout};
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    const ROOT: ExtractOptions = ExtractOptions { rootless: false };
    const ROOTLESS: ExtractOptions = ExtractOptions { rootless: true };

    /// The options a caller with our privileges would pass: the escape tests need no root.
    fn caller() -> ExtractOptions {
        ExtractOptions {
            rootless: !nix::unistd::geteuid().is_root(),
        }
    }

    fn run(
        sandbox: &Sandbox,
        tar: RawTar,
        options: &ExtractOptions,
    ) -> Result<Extracted, ExtractError> {
        extract(&tar.bytes()[..], &sandbox.dest, options)
    }

    #[test]
    fn dot_dot_is_refused() {
        for path in ["../evil", "a/../../evil", "./../outside/evil"] {
            let sandbox = Sandbox::new();
            let err = run(&sandbox, RawTar::new().file(path, b"x"), &caller()).unwrap_err();
            assert!(matches!(err, ExtractError::Escapes { .. }), "{path}: {err}");
            sandbox.assert_outside_untouched();
        }
        let sandbox = Sandbox::new();
        let err = run(&sandbox, RawTar::new().file("../evil", b"x"), &caller()).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"entry "../evil": path leaves the layer's root"#
        );
    }

    #[test]
    fn an_absolute_path_lands_inside() {
        let sandbox = Sandbox::new();
        let done = run(
            &sandbox,
            RawTar::new().file("/abs/file", b"hi").file("./x", b""),
            &caller(),
        );
        assert_eq!(done.unwrap().bytes, 2);
        assert_eq!(fs::read(sandbox.path("abs/file")).unwrap(), b"hi");
        assert!(sandbox.path("x").is_file());
        sandbox.assert_outside_untouched();
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        let sandbox = Sandbox::new();
        let outside = sandbox.outside.to_str().unwrap().to_owned();
        for (link, target) in [
            ("link", outside.as_str()),
            ("up", "../../"),
            ("side", "../outside"),
        ] {
            let tar = RawTar::new()
                .symlink(link, target)
                .file(&format!("{link}/file"), b"x");
            let err = run(&sandbox, tar, &caller()).unwrap_err();
            let want = format!(
                "entry \"{link}/file\": would be written through the symbolic link \"{link}\""
            );
            assert_eq!(err.to_string(), want);
            sandbox.assert_outside_untouched();
        }
        // The same for a directory, and for a symlink deeper down.
        let tar = RawTar::new()
            .dir("d")
            .symlink("d/l", &outside)
            .dir("d/l/sub/");
        let err = run(&sandbox, tar, &caller()).unwrap_err();
        assert!(matches!(err, ExtractError::ThroughSymlink { ref link, .. } if link == "d/l"));
        sandbox.assert_outside_untouched();
    }

    #[test]
    fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
        let sandbox = Sandbox::new();
        let target = sandbox.outside.join("target");
        let target = target.to_str().unwrap();
        let tar = RawTar::new()
            .symlink("f", target)
            .file("f", b"mine")
            .symlink("g", target)
            .dir("g/")
            .file("g/in", b"");
        run(&sandbox, tar, &caller()).unwrap();
        assert!(fs::symlink_metadata(sandbox.path("f")).unwrap().is_file());
        assert!(fs::symlink_metadata(sandbox.path("g")).unwrap().is_dir());
        assert_eq!(fs::read(sandbox.path("f")).unwrap(), b"mine");
        sandbox.assert_outside_untouched();
    }

    #[test]
    fn hard_links_stay_inside_the_layer() {
        let sandbox = Sandbox::new();
        // A file outside that a hard link must never reach (it would share its inode).
        let victim = sandbox.tmp.path().join("victim");
        fs::write(&victim, b"secret").unwrap();
        let victim_abs = victim.to_str().unwrap().to_owned();
        let outside = sandbox.outside.to_str().unwrap().to_owned();

        let err = run(
            &sandbox,
            RawTar::new().hardlink("h", "../../victim"),
            &caller(),
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::LinkEscapes { .. }), "{err}");
        // Absolute targets are read inside the layer, where this one does not exist.
        let err = run(
            &sandbox,
            RawTar::new().hardlink("h", &victim_abs),
            &caller(),
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::LinkMissing { .. }), "{err}");
        let tar = RawTar::new()
            .symlink("l", &outside)
            .hardlink("h", "l/victim");
        let err = run(&sandbox, tar, &caller()).unwrap_err();
        assert!(matches!(err, ExtractError::ThroughSymlink { .. }), "{err}");
        // A directory cannot be hard-linked.
        let err = run(
            &sandbox,
            RawTar::new().dir("d").hardlink("h", "d"),
            &caller(),
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::Io { .. }), "{err}");

        assert_eq!(fs::metadata(&victim).unwrap().nlink(), 1);
        fs::remove_file(&victim).unwrap();
        sandbox.assert_outside_untouched();
        assert!(!sandbox.path("h").exists());
    }

    #[test]
    fn whiteouts_become_char_devices_except_over_this_layers_files() {
        let sandbox = Sandbox::new();
        let tar = RawTar::new()
            .file("etc/.wh.motd", b"")
            .file("etc/keep", b"x")
            .file("etc/.wh.keep", b"")
            .file(".wh..wh.plnk", b"");
        let done = run(&sandbox, tar, &ROOTLESS).unwrap();
        assert!(is_whiteout(
            &fs::symlink_metadata(sandbox.path("etc/motd")).unwrap()
        ));
        assert_eq!(fs::read(sandbox.path("etc/keep")).unwrap(), b"x");
        assert!(!sandbox.path("etc/.wh.motd").exists());
        assert_eq!(done.skipped, [".wh..wh.plnk: aufs metadata"]);
        assert_eq!(done.entries, 4);
    }

    #[test]
    fn a_whiteout_must_name_one_file() {
        for path in [".wh..", ".wh...", "a/.wh."] {
            let sandbox = Sandbox::new();
            let err = run(&sandbox, RawTar::new().file(path, b""), &caller()).unwrap_err();
            assert!(
                matches!(err, ExtractError::BadWhiteout { .. }),
                "{path}: {err}"
            );
            sandbox.assert_outside_untouched();
        }
    }

    #[test]
    fn an_opaque_marker_sets_the_xattr_and_is_not_created() {
        require_root();
        let sandbox = Sandbox::new();
        run(
            &sandbox,
            RawTar::new().dir("a/").file("a/.wh..wh..opq", b""),
            &ROOT,
        )
        .unwrap();
        run(
            &sandbox,
            RawTar::new().file("b/c/.wh..wh..opq", b""),
            &ROOTLESS,
        )
        .unwrap();
        assert!(!sandbox.path("a/.wh..wh..opq").exists());
        let xattr = |path: &str, name: &str| {
            let (path, name) = (
                std::ffi::CString::new(path).unwrap(),
                std::ffi::CString::new(name).unwrap(),
            );
            // SAFETY: NUL-terminated strings; a null buffer only asks for the size.
            unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) }
        };
        let a = sandbox.path("a");
        let bc = sandbox.path("b/c");
        let (a, bc) = (a.to_str().unwrap(), bc.to_str().unwrap());
        assert_eq!(
            (
                xattr(a, "trusted.overlay.opaque"),
                xattr(a, "user.overlay.opaque")
            ),
            (1, 1)
        );
        assert_eq!(
            (
                xattr(bc, "trusted.overlay.opaque"),
                xattr(bc, "user.overlay.opaque")
            ),
            (-1, 1)
        );
        assert!(is_opaque(sandbox.path("b/c").as_path()) && !is_opaque(&sandbox.path("b")));
    }

    #[test]
    fn devices_are_made_as_root_and_skipped_rootless() {
        require_root();
        let dev = |tar: RawTar| {
            tar.entry_with(EntryType::Char, "dev/null", "", b"", |h| {
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
                h.set_mode(0o666);
            })
        };
        let sandbox = Sandbox::new();
        let done = run(&sandbox, dev(RawTar::new()), &ROOTLESS).unwrap();
        assert_eq!(done.skipped, ["dev/null: device node (rootless)"]);
        assert!(!sandbox.path("dev/null").exists());
        let done = run(&sandbox, dev(RawTar::new()), &ROOT).unwrap();
        assert!(done.skipped.is_empty());
        let meta = fs::symlink_metadata(sandbox.path("dev/null")).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!((meta.rdev(), meta.mode() & 0o7777), (makedev(1, 3), 0o666));
    }

    #[test]
    fn modes_owners_and_times_are_applied_by_fd() {
        require_root();
        let sandbox = Sandbox::new();
        let tar = RawTar::new()
            .entry_with(EntryType::Directory, "ro/", "", b"", |h| h.set_mode(0o555))
            .entry_with(EntryType::Regular, "ro/suid", "", b"#!", |h| {
                h.set_mode(0o4755);
                h.set_uid(1000);
                h.set_gid(1001);
            })
            .entry(EntryType::Fifo, "ro/fifo", "", b"");
        run(&sandbox, tar, &ROOT).unwrap();
        let suid = fs::metadata(sandbox.path("ro/suid")).unwrap();
        assert_eq!(
            (suid.mode() & 0o7777, suid.uid(), suid.gid()),
            (0o4755, 1000, 1001)
        );
        assert_eq!(suid.mtime(), 1_000_000_000);
        let ro = fs::metadata(sandbox.path("ro")).unwrap();
        assert_eq!(
            (ro.permissions().mode() & 0o7777, ro.mtime()),
            (0o555, 1_000_000_000)
        );
        assert!(
            fs::symlink_metadata(sandbox.path("ro/fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }

    #[test]
    fn a_file_replaces_a_directory_and_a_directory_keeps_one() {
        let sandbox = Sandbox::new();
        let outside = sandbox.outside.to_str().unwrap().to_owned();
        let tar = RawTar::new()
            .file("d/sub/f", b"")
            .symlink("d/out", &outside)
            .dir("d/")
            .file("d", b"now a file")
            .file("e/f", b"1")
            .dir("e");
        run(&sandbox, tar, &ROOTLESS).unwrap();
        assert_eq!(fs::read(sandbox.path("d")).unwrap(), b"now a file");
        assert_eq!(fs::read(sandbox.path("e/f")).unwrap(), b"1");
        sandbox.assert_outside_untouched();
    }

    #[test]
    fn other_entry_types_are_unsupported() {
        let sandbox = Sandbox::new();
        let err = run(
            &sandbox,
            RawTar::new().entry(EntryType::new(b'V'), "vol", "", b""),
            &caller(),
        );
        let err = err.unwrap_err().to_string();
        assert!(err.starts_with("entry \"vol\": ") && err.ends_with("entries are not supported"));
    }

    #[test]
    fn a_truncated_archive_is_an_archive_error() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let tar = RawTar::new().file("big", &data).bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        for cut in [&gz[..gz.len() / 2], &gz[..gz.len() - 4]] {
            let sandbox = Sandbox::new();
            let err = extract(flate2::read::GzDecoder::new(cut), &sandbox.dest, &caller());
            let err = err.unwrap_err();
            assert!(matches!(err, ExtractError::Archive(_)), "{err}");
            assert!(err.to_string().starts_with("reading the archive: "));
        }
        let sandbox = Sandbox::new();
        let err = extract(&tar[..tar.len() / 2], &sandbox.dest, &caller()).unwrap_err();
        assert!(matches!(err, ExtractError::Archive(_)), "{err}");
    }

    /// Runs a rootless extraction of every kind of entry as `nobody`, so that any call that
    /// still needs a privilege fails. As root, the test runs itself again as uid 65534.
    #[test]
    fn rootless_extraction_needs_no_privilege() {
        const CHILD: &str = "CORACLE_LAYER_ROOTLESS_CHILD";
        if nix::unistd::geteuid().is_root() && std::env::var_os(CHILD).is_none() {
            use std::os::unix::process::CommandExt;
            let name = module_path!().split_once("::").unwrap().1;
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    &format!("{name}::rootless_extraction_needs_no_privilege"),
                    "--exact",
                ])
                .env(CHILD, "1")
                .env("TMPDIR", "/tmp")
                .uid(65534)
                .gid(65534)
                .output()
                .unwrap_or_else(|e| panic!("running the tests as uid 65534 (the test binary must be readable by it): {e}"));
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && text.contains("1 passed"),
                "as nobody:\n{text}"
            );
            return;
        }
        let sandbox = Sandbox::new();
        let tar = RawTar::new()
            .entry_with(EntryType::Directory, "ro/", "", b"", |h| h.set_mode(0o555))
            .entry_with(EntryType::Regular, "ro/f", "", b"x", |h| h.set_uid(1234))
            .hardlink("ro/h", "ro/f")
            .symlink("ro/l", "/etc/passwd")
            .entry(EntryType::Fifo, "ro/p", "", b"")
            .entry(EntryType::Block, "ro/sda", "", b"")
            .file("ro/.wh.gone", b"")
            .file("ro/.wh..wh..opq", b"");
        let done = run(&sandbox, tar, &ROOTLESS).unwrap();
        assert_eq!(done.skipped, ["ro/sda: device node (rootless)"]);
        let f = fs::metadata(sandbox.path("ro/f")).unwrap();
        assert_eq!((f.uid(), f.nlink()), (nix::unistd::geteuid().as_raw(), 2));
        assert!(is_whiteout(
            &fs::symlink_metadata(sandbox.path("ro/gone")).unwrap()
        ));
        assert!(is_opaque(&sandbox.path("ro")));
        assert_eq!(
            fs::metadata(sandbox.path("ro")).unwrap().mode() & 0o777,
            0o555
        );
        // Let the temporary directory be removed.
        fs::set_permissions(sandbox.path("ro"), fs::Permissions::from_mode(0o755)).unwrap();
    }
}
