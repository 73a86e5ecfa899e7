//! What a `COPY` copies: walking resolved sources, hashing them for the build cache, and
//! writing them into the tar of a new layer.
//!
//! Book page: "Chapter 4: layers". Docker's rules: a file goes to `dest/NAME` when the
//! destination is a directory and to `dest` itself otherwise; a directory's contents (not the
//! directory) are copied into `dest`; symlinks inside a copied directory stay symlinks; hard
//! links become separate files. BuildKit writes the files straight into a snapshot and can
//! also `--chmod`, `--link` and `--exclude`; we produce the layer tar the store unpacks.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::ignore::clean;
use super::{Context, ContextError, Source, io_error};

/// One file, directory or symlink a source contributes.
struct Item {
    /// The path below the source directory; empty when the source is this file itself.
    rel: PathBuf,
    host: PathBuf,
    meta: fs::Metadata,
}

impl Context {
    /// What `source` copies, in order: the file itself, or everything below the directory that
    /// `.dockerignore` leaves visible, parents before children, names sorted.
    fn items(&self, source: &Source) -> Result<Vec<Item>, ContextError> {
        let mut items = Vec::new();
        if source.is_dir {
            self.walk(&source.path, Path::new(""), &mut items)?;
        } else {
            let meta = fs::symlink_metadata(&source.path).map_err(io_error(&source.path))?;
            items.push(Item { rel: PathBuf::new(), host: source.path.clone(), meta });
        }
        Ok(items)
    }

    /// Adds what is below `dir` to `out`; returns whether it added anything. An ignored
    /// directory is entered only when a `!` rule might re-include something inside it, and is
    /// kept only if something was, so its children still have a parent in the layer.
    fn walk(&self, dir: &Path, rel: &Path, out: &mut Vec<Item>) -> Result<bool, ContextError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            names.push(entry.map_err(io_error(dir))?.file_name());
        }
        names.sort();
        let mut added = false;
        for name in names {
            let host = dir.join(&name);
            let rel = rel.join(&name);
            let ignored = self.is_ignored(host.strip_prefix(&self.root).unwrap_or(&host));
            // Never follow a symlink here: it is copied as the symlink it is.
            let meta = fs::symlink_metadata(&host).map_err(io_error(&host))?;
            if meta.is_dir() {
                if ignored && !self.ignore.has_exceptions() {
                    continue;
                }
                let mark = out.len();
                out.push(Item { rel: rel.clone(), host: host.clone(), meta });
                let inner = self.walk(&host, &rel, out)?;
                if ignored && !inner {
                    out.truncate(mark);
                } else {
                    added = true;
                }
            } else if !ignored {
                out.push(Item { rel, host, meta });
                added = true;
            }
        }
        Ok(added)
    }

    /// Feeds the build cache key with everything `COPY` would copy from `sources`: per entry
    /// its path, type, permission bits, size and content or symlink target, each length-framed
    /// so that no two different trees feed the same bytes. Docker's cache hashes file metadata
    /// and content the same way; modification times are left out, so a `touch` or a fresh git
    /// checkout keeps the cache, and host owners too, since `COPY` replaces them.
    ///
    /// A read error is hashed as a marker rather than returned: the build then runs the copy,
    /// which reports the error, so no cached layer ever exists under such a key.
    pub fn hash_sources(&self, sources: &[Source], hasher: &mut Sha256) {
        for source in sources {
            field(hasher, b"source");
            field(hasher, source.rel.as_os_str().as_encoded_bytes());
            field(hasher, &[source.is_dir as u8]);
            let items = match self.items(source) {
                Ok(items) => items,
                Err(e) => {
                    field(hasher, format!("error: {e}").as_bytes());
                    continue;
                }
            };
            for item in items {
                field(hasher, item.rel.as_os_str().as_encoded_bytes());
                field(hasher, &(item.meta.mode() & 0o177777).to_be_bytes());
                if item.meta.is_file() {
                    hash_content(hasher, &item.host, item.meta.len());
                } else if item.meta.file_type().is_symlink() {
                    let target = fs::read_link(&item.host).unwrap_or_else(|_| "\0unreadable".into());
                    field(hasher, target.as_os_str().as_encoded_bytes());
                }
            }
        }
    }
}

/// Hashes a length-prefixed field.
fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

fn hash_content(hasher: &mut Sha256, path: &Path, size: u64) {
    hasher.update(size.to_be_bytes());
    let mut read = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let ok = fs::File::open(path).is_ok_and(|mut file| {
        loop {
            match file.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    read += n as u64;
                }
                Err(_) => break false,
            }
        }
    });
    // If the file changed size between stat and read, the framing above no longer holds.
    if !ok || read != size {
        field(hasher, b"\0unreadable");
    }
}

/// Writes the layer of one `COPY` to `out` and returns how many bytes it wrote. `dest` is an
/// absolute path in the image (the caller has joined a relative one to `WORKDIR`); the caller
/// sets `dest_is_dir` when `dest` ends in `/`, when there are several sources, or when `dest`
/// is already a directory in the image. Every entry gets `owner` as uid and gid, and keeps its
/// permission bits and mtime. The directories the layer must carry but no source provides (the
/// parents of `dest`, and `dest` for a directory source) keep the metadata they have in the image,
/// which `existing` gives for a path like `/tmp`: overlayfs shows a directory with the attributes
/// of its topmost copy, so a `0755` parent would turn `/tmp`'s `1777` into `0755`. Those the image
/// lacks are `0755`, root-owned, with mtime 0, so that the same copy always gives the same tar.
pub fn write_copy_layer(
    context: &Context,
    sources: &[Source],
    dest: &str,
    dest_is_dir: bool,
    owner: (u32, u32),
    existing: &dyn Fn(&Path) -> Option<DirMeta>,
    out: impl Write,
) -> Result<u64, ContextError> {
    let dest = PathBuf::from(clean(&format!("/{dest}")));
    // Keyed by path in the layer: component-wise order puts parents before children, and a
    // later source overwrites an earlier one with the same name, as a second copy would.
    let mut entries: BTreeMap<PathBuf, Option<Item>> = BTreeMap::new();
    for source in sources {
        if source.is_dir && !dest.as_os_str().is_empty() {
            entries.entry(dest.clone()).or_insert(None);
        }
        for item in context.items(source)? {
            let target = match source.is_dir {
                true => dest.join(&item.rel),
                false if dest_is_dir || dest.as_os_str().is_empty() => {
                    let name = source.rel.file_name().or(source.path.file_name()).unwrap_or_default();
                    dest.join(name)
                }
                false => dest.clone(),
            };
            entries.insert(target, Some(item));
        }
    }
    let parents: Vec<PathBuf> = entries
        .keys()
        .flat_map(|path| path.ancestors().skip(1))
        .filter(|parent| !parent.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    for parent in parents {
        entries.entry(parent).or_insert(None);
    }

    // The tar crate writes directory names without the trailing `/` docker's layers have; the
    // entry type is what makes them directories to every extractor.
    let mut builder = tar::Builder::new(crate::layer::diff::Counting { inner: out, count: 0 });
    for (path, item) in &entries {
        let name = path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default();
        if item.is_some() && name.starts_with(crate::layer::whiteout::PREFIX.as_bytes()) {
            return Err(ContextError::Reserved { path: path.display().to_string() });
        }
        let image_dir = if item.is_none() { existing(&Path::new("/").join(path)) } else { None };
        append(&mut builder, path, item.as_ref(), owner, image_dir)?;
    }
    let counted = builder.into_inner().map_err(ContextError::Write)?;
    Ok(counted.count)
}

/// A directory's metadata in the image: mode bits, uid, gid, mtime.
pub type DirMeta = (u32, u32, u32, u64);

/// Appends one entry; `None` is a directory the layer needs but no source provided, with its
/// metadata in the image if it has one there.
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    item: Option<&Item>,
    owner: (u32, u32),
    image_dir: Option<DirMeta>,
) -> Result<(), ContextError> {
    let mut header = Header::new_gnu();
    header.set_size(0);
    let Some(item) = item else {
        let (mode, uid, gid, mtime) = image_dir.unwrap_or((0o755, 0, 0, 0));
        set(&mut header, EntryType::Directory, mode, mtime, (uid, gid));
        return builder.append_data(&mut header, path, io::empty()).map_err(ContextError::Write);
    };
    let (mode, mtime) = (item.meta.mode() & 0o7777, item.meta.mtime().max(0) as u64);
    let kind = item.meta.file_type();
    if kind.is_dir() {
        set(&mut header, EntryType::Directory, mode, mtime, owner);
        builder.append_data(&mut header, path, io::empty()).map_err(ContextError::Write)
    } else if kind.is_symlink() {
        set(&mut header, EntryType::Symlink, mode, mtime, owner);
        let target = fs::read_link(&item.host).map_err(io_error(&item.host))?;
        builder.append_link(&mut header, path, target).map_err(ContextError::Write)
    } else if kind.is_file() {
        // Size, mode and mtime come from the open file, so they describe what is read.
        let file = fs::File::open(&item.host).map_err(io_error(&item.host))?;
        let meta = file.metadata().map_err(io_error(&item.host))?;
        set(&mut header, EntryType::Regular, meta.mode() & 0o7777, meta.mtime().max(0) as u64, owner);
        header.set_size(meta.len());
        let mut reader = Exact { file, left: meta.len(), failed: None };
        let written = builder.append_data(&mut header, path, &mut reader);
        match reader.failed {
            Some(source) => Err(ContextError::Io { path: item.host.clone(), source }),
            None => written.map_err(ContextError::Write),
        }
    } else {
        // Sockets, fifos and device nodes: docker's context tar would carry fifos and devices,
        // but a COPY of them is almost always a mistake. Say so, naming the file, rather than
        // build an image without it.
        Err(ContextError::Special { path: item.host.display().to_string() })
    }
}

fn set(header: &mut Header, kind: EntryType, mode: u32, mtime: u64, (uid, gid): (u32, u32)) {
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_uid(uid.into());
    header.set_gid(gid.into());
}

/// Reads exactly the size the header announced; a file that shrinks meanwhile is an error
/// (the tar would be corrupt otherwise), one that grows is cut at the announced size.
struct Exact {
    file: fs::File,
    left: u64,
    /// The read error, kept to tell it from an error writing `out`.
    failed: Option<io::Error>,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left.try_into().unwrap_or(usize::MAX));
        let result = match self.file.read(&mut buf[..max]) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being copied")),
            other => other,
        };
        match result {
            Ok(n) => {
                self.left -= n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::tests::sample;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::{Duration, SystemTime};

    /// Writes the layer and lists it as `path type mode uid:gid mtime [-> target | size]`.
    fn layer(context: &Context, source: &str, dest: &str, dest_is_dir: bool) -> Vec<String> {
        let sources = context.resolve(source).unwrap();
        let mut tar = Vec::new();
        let written = write_copy_layer(context, &sources, dest, dest_is_dir, (1000, 100), &|_| None, &mut tar).unwrap();
        assert_eq!(written, tar.len() as u64);
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries = archive.entries().unwrap().map(|entry| {
            let entry = entry.unwrap();
            let h = entry.header();
            let kind = match h.entry_type() {
                EntryType::Directory => "dir".to_string(),
                EntryType::Symlink => format!("link -> {}", h.link_name().unwrap().unwrap().display()),
                _ => format!("file {}", h.size().unwrap()),
            };
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let (mode, uid, gid, mtime) =
                (h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap());
            format!("{path} {mode:o} {uid}:{gid} {mtime} {kind}")
        });
        entries.collect()
    }

    fn set_mtime(path: &Path, secs: u64) {
        // A read-only handle is enough for futimens, and it also opens directories.
        let file = fs::File::open(path).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
    }

    #[test]
    fn a_file_into_a_directory_and_onto_a_name() {
        let (dir, context) = sample();
        fs::set_permissions(dir.path().join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        set_mtime(&dir.path().join("a.txt"), 1234);
        assert_eq!(
            layer(&context, "a.txt", "/srv/app/", true),
            ["srv 755 0:0 0 dir", "srv/app 755 0:0 0 dir", "srv/app/a.txt 640 1000:100 1234 file 6",]
        );
        assert_eq!(
            layer(&context, "a.txt", "/srv/b.txt", false),
            ["srv 755 0:0 0 dir", "srv/b.txt 640 1000:100 1234 file 6"]
        );
        assert_eq!(layer(&context, "/a.txt", "/", false), ["a.txt 640 1000:100 1234 file 6"]);
        let two = layer(&context, "*.txt", "/d", true);
        assert_eq!(
            two.iter().map(|e| e.split(' ').next().unwrap()).collect::<Vec<_>>(),
            ["d", "d/a.txt", "d/b.txt"]
        );
    }

    #[test]
    fn a_directory_copies_its_contents() {
        let (dir, context) = sample();
        let src = dir.path().join("src");
        symlink("../a.txt", src.join("link")).unwrap();
        for path in [src.join("lib/u.py"), src.join("lib"), src.join("main.py")] {
            set_mtime(&path, 7);
        }
        // Explicit modes, so the listing does not depend on the umask the tests run under.
        for (path, mode) in [("lib", 0o700), ("lib/u.py", 0o644), ("main.py", 0o644)] {
            fs::set_permissions(src.join(path), fs::Permissions::from_mode(mode)).unwrap();
        }
        let link_mtime = fs::symlink_metadata(src.join("link")).unwrap().mtime();
        let mode = fs::symlink_metadata(src.join("link")).unwrap().mode() & 0o7777;
        assert_eq!(
            layer(&context, "src/", "/app/src/", true),
            [
                "app 755 0:0 0 dir".to_string(),
                "app/src 755 0:0 0 dir".to_string(),
                "app/src/lib 700 1000:100 7 dir".to_string(),
                "app/src/lib/u.py 644 1000:100 7 file 13".to_string(),
                format!("app/src/link {mode:o} 1000:100 {link_mtime} link -> ../a.txt"),
                "app/src/main.py 644 1000:100 7 file 12".to_string(),
            ]
        );
    }

    #[test]
    fn an_ignored_directory_is_kept_for_what_is_re_included() {
        let (dir, _) = sample();
        fs::write(dir.path().join("tmp/keep"), "k").unwrap();
        fs::write(dir.path().join(".dockerignore"), "tmp\n!tmp/keep\n*.txt\nsrc\n").unwrap();
        let context = Context::open(dir.path()).unwrap();
        let entries = layer(&context, ".", "/", true);
        let paths: Vec<&str> = entries.iter().map(|e| e.split(' ').next().unwrap()).collect();
        assert_eq!(paths, [".dockerignore", "app.log", "keep.log", "tmp", "tmp/keep"]);
    }

    #[test]
    fn the_hash_follows_content_not_mtime() {
        let (dir, context) = sample();
        let hash = || {
            let mut hasher = Sha256::new();
            context.hash_sources(&context.resolve("src").unwrap(), &mut hasher);
            hasher.finalize().to_vec()
        };
        let main = dir.path().join("src/main.py");
        let first = hash();
        set_mtime(&main, 99);
        assert_eq!(hash(), first, "an mtime change must keep the cache");
        fs::write(dir.path().join("src/cache/new"), "ignored").unwrap();
        assert_eq!(hash(), first, "an ignored file is not part of the key");
        fs::write(&main, "print('changed')\n").unwrap();
        let changed = hash();
        assert_ne!(changed, first, "a content change must miss the cache");
        fs::set_permissions(&main, fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(hash(), changed, "a mode change must miss the cache");
    }
}
