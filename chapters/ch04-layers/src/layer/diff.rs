//! Writing a directory tree as a layer tar: the reverse of `extract`.
//!
//! Book page: "Chapter 4: layers". After a build step, the overlay upperdir holds exactly what
//! the step changed, with the kernel's own markers for deletions; `write_tree` turns it into the
//! tar form of the image spec. `import DIR` uses the same walk on a plain tree.
//!
//! The output is deterministic (names sorted by bytes, no user or group names, no atime or ctime),
//! so the same tree gives the same bytes and so the same layer digest, which is what lets a build
//! cache hit. Docker's differ instead compares the upperdir with the lowers (or, with the vfs
//! driver, two whole trees), and buildkit zeroes timestamps on request (SOURCE_DATE_EPOCH); we
//! keep each file's mtime as it is.
//!
//! An upperdir is only a complete diff when the overlay was mounted without `redirect_dir` and
//! `metacopy` (a renamed directory then leaves a `trusted.overlay.redirect` xattr instead of its
//! contents, a chmod a data-less copy); chapter 4 mounts with neither, and docker's overlay2
//! driver falls back to comparing whole trees when they are on.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::{major, minor};
use tar::{EntryType, Header};

use super::whiteout::{OPAQUE, PREFIX, is_opaque, is_whiteout};

/// What kind of tree is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// Any directory: every file is written as it is.
    Plain,
    /// An overlay upperdir: 0/0 character devices become `.wh.NAME` files and opaque
    /// directories get a `.wh..wh..opq` entry.
    OverlayUpper,
}

/// Writes the tree under `dir` (not `dir` itself) to `out` as a tar and returns its size in bytes.
///
/// The tree must not change while it is written (the container that wrote it has stopped).
/// Sockets are left out: a tar cannot hold one, and docker drops them too.
pub fn write_tree(dir: &Path, kind: TreeKind, out: impl Write) -> io::Result<u64> {
    let builder = tar::Builder::new(Counting {
        inner: out,
        count: 0,
    });
    let mut tree = Tree {
        builder,
        kind,
        seen: HashMap::new(),
    };
    if kind == TreeKind::OverlayUpper && is_opaque(dir) {
        tree.marker(OPAQUE.as_bytes())?;
    }
    tree.children(dir, b"")?;
    // `into_inner` writes the two zero blocks that end a tar.
    let mut counting = tree.builder.into_inner()?;
    counting.inner.flush()?;
    Ok(counting.count)
}

struct Tree<W: Write> {
    builder: tar::Builder<Counting<W>>,
    kind: TreeKind,
    /// The first path written for each (device, inode) with more than one link.
    seen: HashMap<(u64, u64), Vec<u8>>,
}

/// An I/O error that says which file it is about, in docker's words (`permission denied`).
fn naming(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error().is_none() {
        return e;
    }
    io::Error::new(e.kind(), format!("{}: {}", path.display(), ch01_chroot::error::describe_io(&e)))
}

impl<W: Write> Tree<W> {
    /// Writes the entries below `dir`, whose path in the tar is `prefix` (empty or ending in `/`).
    fn children(&mut self, dir: &Path, prefix: &[u8]) -> io::Result<()> {
        let mut names = fs::read_dir(dir)
            .and_then(|entries| entries.map(|entry| entry.map(|entry| entry.file_name())).collect::<io::Result<Vec<OsString>>>())
            .map_err(|e| naming(dir, e))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(|e| naming(&path, e))?;
            let rel = [prefix, name.as_bytes()].concat();
            self.one(&path, &meta, rel).map_err(|e| if e.kind() == io::ErrorKind::InvalidData { e } else { naming(&path, e) })?;
        }
        Ok(())
    }

    fn one(&mut self, path: &Path, meta: &Metadata, rel: Vec<u8>) -> io::Result<()> {
        let kind = meta.file_type();
        let upper = self.kind == TreeKind::OverlayUpper;
        // ANCHOR: whiteouts
        if upper && is_whiteout(meta) {
            let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
                Some(slash) => rel.split_at(slash + 1),
                None => (&b""[..], &rel[..]),
            };
            return self.marker(&[dir, PREFIX.as_bytes(), name].concat());
        }
        // A file of that name would read as a whiteout when the layer is extracted: a RUN that
        // makes `/bin/.wh..wh..opq` would hide all of /bin. Refuse it, naming it.
        let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(&rel);
        if name.starts_with(PREFIX.as_bytes()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/{}: names that start with .wh. are reserved for whiteouts in a layer", String::from_utf8_lossy(&rel)),
            ));
        }
        let mut header = Header::new_gnu();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(meta.uid().into());
        header.set_gid(meta.gid().into());
        header.set_mtime(meta.mtime().max(0) as u64);
        header.set_size(0);

        if kind.is_dir() {
            header.set_entry_type(EntryType::Directory);
            let rel = [&rel[..], b"/"].concat();
            self.append(&mut header, &rel, None, io::empty())?;
            if upper && is_opaque(path) {
                self.marker(&[&rel[..], OPAQUE.as_bytes()].concat())?;
            }
            return self.children(path, &rel);
        }
        // ANCHOR_END: whiteouts
        if kind.is_socket() {
            return Ok(());
        }
        if meta.nlink() > 1 {
            if let Some(first) = self.seen.get(&(meta.dev(), meta.ino())).cloned() {
                header.set_entry_type(EntryType::Link);
                return self.append(&mut header, &rel, Some(&first), io::empty());
            }
            self.seen.insert((meta.dev(), meta.ino()), rel.clone());
        }
        if kind.is_file() {
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            // O_NOFOLLOW: the walk saw a regular file here; never read through a link instead.
            let file = File::options()
                .read(true)
                .custom_flags(OFlag::O_NOFOLLOW.bits())
                .open(path)?;
            self.append(&mut header, &rel, None, file.take(meta.len()))
        } else if kind.is_symlink() {
            header.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(path)?;
            self.append(
                &mut header,
                &rel,
                Some(target.as_os_str().as_bytes()),
                io::empty(),
            )
        } else {
            header.set_entry_type(if kind.is_fifo() {
                EntryType::Fifo
            } else if kind.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            });
            if !kind.is_fifo() {
                header.set_device_major(major(meta.rdev()) as u32)?;
                header.set_device_minor(minor(meta.rdev()) as u32)?;
            }
            self.append(&mut header, &rel, None, io::empty())
        }
    }

    /// An empty file owned by root with mode 0 and mtime 0: a whiteout or an opaque marker, as
    /// docker writes them. Fixed metadata keeps the layer's bytes independent of when the
    /// deletion happened.
    fn marker(&mut self, rel: &[u8]) -> io::Result<()> {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        self.append(&mut header, rel, None, io::empty())
    }

    /// Names fit for the header's own fields are copied in as raw bytes: the tar crate's
    /// `set_path` would drop a directory's trailing `/` and tidy a symlink's target, and we want
    /// both exactly. Longer names go through the crate, which writes GNU long-name records.
    fn append(
        &mut self,
        header: &mut Header,
        rel: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        let old = header.as_old_mut();
        let fits = |field: &[u8], value: &[u8]| value.len() <= field.len();
        if fits(&old.name, rel) && link.is_none_or(|link| fits(&old.linkname, link)) {
            old.name[..rel.len()].copy_from_slice(rel);
            if let Some(link) = link {
                old.linkname[..link.len()].copy_from_slice(link);
            }
            header.set_cksum();
            return self.builder.append(header, data);
        }
        let rel = Path::new(std::ffi::OsStr::from_bytes(rel));
        match link {
            Some(link) => {
                let link = Path::new(std::ffi::OsStr::from_bytes(link));
                self.builder.append_link(header, rel, link)
            }
            None => self.builder.append_data(header, rel, data),
        }
    }
}

/// A writer that counts the bytes that pass through it (the size of a layer tar as written; the
/// COPY layer of `context::copy` uses it too).
pub struct Counting<W> {
    pub inner: W,
    pub count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::testing::{Sandbox, require_root};
    use crate::layer::whiteout::{make_whiteout, set_opaque};
    use crate::layer::{ExtractOptions, extract};
    use nix::fcntl::AT_FDCWD;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// Every entry under `root` with the metadata a layer carries; hard links show as `=first`.
    fn describe(root: &Path) -> Vec<String> {
        let mut lines = Vec::new();
        let mut first = HashMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            // Sorted, so that both trees name the same first path of a hard-linked inode.
            let mut paths: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            paths.sort();
            for path in paths {
                let meta = fs::symlink_metadata(&path).unwrap();
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                let what = if meta.is_dir() {
                    stack.push(path.clone());
                    "dir".to_string()
                } else if meta.file_type().is_symlink() {
                    format!("-> {}", fs::read_link(&path).unwrap().display())
                } else if meta.is_file() {
                    format!("{:?}", String::from_utf8_lossy(&fs::read(&path).unwrap()))
                } else if meta.file_type().is_fifo() {
                    "fifo".to_string()
                } else {
                    format!("device {}", meta.rdev())
                };
                let link = first
                    .entry(meta.ino())
                    .or_insert_with(|| rel.clone())
                    .clone();
                let mode = meta.mode() & 0o7777;
                let (uid, gid, mtime) = (meta.uid(), meta.gid(), meta.mtime());
                lines.push(format!(
                    "{rel} {what} {mode:o} {uid}:{gid} @{mtime} ={link}"
                ));
            }
        }
        lines.sort();
        lines
    }

    fn tar_of(dir: &Path, kind: TreeKind) -> Vec<u8> {
        let mut out = Vec::new();
        let written = write_tree(dir, kind, &mut out).unwrap();
        assert_eq!(written, out.len() as u64);
        out
    }

    /// Each entry of a tar as "path type mode size".
    fn list(tar: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar);
        let entries = archive.entries().unwrap().map(|entry| {
            let entry = entry.unwrap();
            let header = entry.header();
            let (kind, mode) = (header.entry_type(), header.mode().unwrap());
            format!(
                "{} {kind:?} {mode:o} {}",
                String::from_utf8_lossy(&header.path_bytes()),
                entry.size()
            )
        });
        entries.collect()
    }

    #[test]
    fn a_plain_tree_survives_a_round_trip() {
        require_root();
        let tree = tempfile::tempdir().unwrap();
        let at = |rel: &str| tree.path().join(rel);
        fs::write(at("a.txt"), b"hello").unwrap();
        // Owner first: chown clears the setuid bit.
        std::os::unix::fs::chown(at("a.txt"), Some(1000), Some(1000)).unwrap();
        fs::set_permissions(at("a.txt"), fs::Permissions::from_mode(0o4750)).unwrap();
        let long = format!("d/{}/{}", "n".repeat(90), "f".repeat(80));
        fs::create_dir_all(at(&long).parent().unwrap()).unwrap();
        fs::write(at(&long), b"long").unwrap();
        symlink("../a.txt", at("d/link")).unwrap();
        symlink("t".repeat(150), at("d/long-link")).unwrap();
        fs::hard_link(at("a.txt"), at("d/hard")).unwrap();
        nix::unistd::mkfifo(&at("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Distinct times, set last: the directory's must survive its children being created.
        for (rel, secs) in [
            ("a.txt", 2_000_000),
            ("d/link", 3_000_000),
            ("d", 1_000_000),
        ] {
            let time = nix::sys::time::TimeSpec::new(secs, 0);
            let flag = nix::sys::stat::UtimensatFlags::NoFollowSymlink;
            nix::sys::stat::utimensat(AT_FDCWD, &at(rel), &time, &time, flag).unwrap();
        }

        let tar = tar_of(tree.path(), TreeKind::Plain);
        assert!(
            list(&tar).contains(&"d/ Directory 755 0".to_string()),
            "{:?}",
            list(&tar)
        );
        let sandbox = Sandbox::new();
        extract(&tar[..], &sandbox.dest, &ExtractOptions { rootless: false }).unwrap();
        let want = describe(tree.path());
        assert!(
            want.iter()
                .any(|l| l.starts_with("a.txt \"hello\" 4750 1000:1000 @2000000")),
            "{want:#?}"
        );
        assert_eq!(describe(&sandbox.dest), want);
    }

    #[test]
    fn an_upperdir_gets_whiteout_and_opaque_entries() {
        let upper = tempfile::tempdir().unwrap();
        let at = |rel: &str| upper.path().join(rel);
        make_whiteout(AT_FDCWD, &at("gone")).unwrap();
        // Overlayfs hard-links its whiteouts to one inode; they must still be two whiteouts.
        fs::hard_link(at("gone"), at("gone-too")).unwrap();
        fs::create_dir(at("opq")).unwrap();
        set_opaque(&at("opq"), true).unwrap();
        fs::write(at("opq/new"), b"n").unwrap();
        fs::set_permissions(at("opq"), fs::Permissions::from_mode(0o755)).unwrap();

        let tar = tar_of(upper.path(), TreeKind::OverlayUpper);
        assert_eq!(
            list(&tar),
            [
                ".wh.gone Regular 0 0",
                ".wh.gone-too Regular 0 0",
                "opq/ Directory 755 0",
                "opq/.wh..wh..opq Regular 0 0",
                "opq/new Regular 644 1",
            ]
        );
        // And back: the markers become a device and an xattr again.
        let sandbox = Sandbox::new();
        extract(&tar[..], &sandbox.dest, &ExtractOptions { rootless: true }).unwrap();
        assert!(is_whiteout(
            &fs::symlink_metadata(sandbox.path("gone-too")).unwrap()
        ));
        assert!(is_opaque(&sandbox.path("opq")));
        assert!(!sandbox.path("opq/.wh..wh..opq").exists());
        // Plain keeps the device as it is.
        let plain = list(&tar_of(upper.path(), TreeKind::Plain));
        assert_eq!(&plain[..2], ["gone Char 0 0", "gone-too Link 0 0"]);
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes() {
        let tree = tempfile::tempdir().unwrap();
        for name in ["b", "a", "c", "B", "é"] {
            fs::create_dir(tree.path().join(name)).unwrap();
            fs::write(tree.path().join(name).join("f"), name).unwrap();
        }
        let first = tar_of(tree.path(), TreeKind::Plain);
        assert_eq!(first, tar_of(tree.path(), TreeKind::Plain));
        let names: Vec<String> = list(&first)
            .iter()
            .map(|l| l.split(' ').next().unwrap().into())
            .collect();
        assert_eq!(
            names,
            [
                "B/", "B/f", "a/", "a/f", "b/", "b/f", "c/", "c/f", "é/", "é/f"
            ]
        );
    }
}
