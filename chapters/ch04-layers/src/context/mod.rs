//! The build context: the directory a build copies files from, with its `.dockerignore`, and
//! the resolution of a `COPY` source to the files it names.
//!
//! Book page: "Chapter 4: layers". Docker's client sends the context to the daemon as a tar
//! (or BuildKit fetches files from it on demand), so a build can never read outside it; we read
//! the directory in place, which makes keeping every path inside the root our job: sources are
//! cleaned lexically, and symlinks are followed only while they stay inside.
//!
//! # Layout
//! - `mod.rs`: [`Context`], resolving sources, the error type.
//! - [`ignore`]: `.dockerignore` patterns and the glob syntax `COPY` sources share.
//! - [`copy`]: walking sources, hashing them for the build cache, writing the `COPY` layer.

pub mod copy;
pub mod ignore;

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

pub use copy::{DirMeta, write_copy_layer};
use ignore::{Glob, Ignore, clean};

/// How many symlinks one source may go through, as Linux's own limit (`ELOOP` after 40).
const MAX_SYMLINKS: usize = 40;

/// Everything that can go wrong with the context. The COPY source a variant names is the
/// `path` as the Dockerfile wrote it (after variable expansion); thiserror would take a field
/// called `source` for the underlying error, so it is not called that.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("forbidden path outside the build context: {path}")]
    Outside { path: String },
    #[error("file not found in build context or excluded by .dockerignore: {path}")]
    NotFound { path: String },
    #[error("bad COPY source {path}: {message}")]
    BadPattern { path: String, message: String },
    #[error("too many levels of symbolic links in COPY source {path}")]
    SymlinkLoop { path: String },
    #[error(".dockerignore:{line}: {message}")]
    Ignore { line: usize, message: String },
    #[error("cannot read {}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: names that start with .wh. are reserved for whiteouts in a layer")]
    Reserved { path: String },
    #[error("{path}: a socket, FIFO or device node cannot be copied (exclude it with .dockerignore)")]
    Special { path: String },
    #[error("cannot write the COPY layer")]
    Write(#[source] io::Error),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io { path: path.to_path_buf(), source }
}

/// An opened build context.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    ignore: Ignore,
}

/// One file or directory a `COPY` source resolved to.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The path as the source named it, relative to the context root (empty for the root
    /// itself); its last component names the copy when the destination is a directory.
    pub rel: PathBuf,
    /// Where the data really is on the host, symlinks resolved.
    pub path: PathBuf,
    pub is_dir: bool,
}

impl Context {
    /// Opens the context at `root`, reading `root/.dockerignore` if there is one.
    pub fn open(root: &Path) -> Result<Context, ContextError> {
        let root = std::path::absolute(root).map_err(io_error(root))?;
        if !fs::metadata(&root).map_err(io_error(&root))?.is_dir() {
            return Err(ContextError::NotADirectory { path: root });
        }
        let file = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&file) {
            Ok(text) => {
                Ignore::parse(&text).map_err(|(line, message)| ContextError::Ignore { line, message })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(io_error(&file)(e)),
        };
        Ok(Context { root, ignore })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `.dockerignore` hides `rel` (a path relative to the context root).
    pub fn is_ignored(&self, rel: &Path) -> bool {
        self.ignore.is_ignored(&slash_path(rel))
    }

    /// Resolves one `COPY` source (already variable-expanded) to the files it names, sorted.
    /// A leading `/` means the context root, as in docker. A source with a wildcard in any
    /// component matches the context's files that are not ignored, and must match one.
    pub fn resolve(&self, source: &str) -> Result<Vec<Source>, ContextError> {
        let cleaned = clean(source);
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(ContextError::Outside { path: source.into() });
        }
        let bad = |message| ContextError::BadPattern { path: source.into(), message };
        let mut candidates = vec![PathBuf::new()];
        let mut is_glob = false;
        for part in cleaned.split('/').filter(|p| !p.is_empty()) {
            let glob = Glob::new(part).map_err(bad)?;
            if let Some(name) = glob.literal() {
                candidates.iter_mut().for_each(|c| c.push(&name));
                continue;
            }
            is_glob = true;
            let mut next = Vec::new();
            for dir in &candidates {
                // A directory a glob looks into may itself be a symlink: resolve it first.
                let real = match self.follow(source, dir) {
                    Err(ContextError::NotFound { .. }) => continue,
                    other => other?,
                };
                let Ok(entries) = fs::read_dir(self.root.join(&real)) else { continue };
                for entry in entries {
                    let name = entry.map_err(io_error(&self.root.join(&real)))?.file_name();
                    let rel = dir.join(&name);
                    if glob.matches(&name.to_string_lossy()) && !self.is_ignored(&rel) {
                        next.push(rel);
                    }
                }
            }
            candidates = next;
        }
        let mut found = Vec::new();
        for rel in candidates {
            match self.source(source, rel) {
                // A glob match the ignore file hides or that vanished is simply not a match.
                Err(ContextError::NotFound { .. }) if is_glob => {}
                other => found.push(other?),
            }
        }
        if found.is_empty() {
            return Err(ContextError::NotFound { path: source.into() });
        }
        found.sort_by(|a, b| a.rel.cmp(&b.rel));
        found.dedup();
        Ok(found)
    }

    /// Checks one concrete path: neither it nor what its symlinks lead to may be ignored.
    fn source(&self, source: &str, rel: PathBuf) -> Result<Source, ContextError> {
        let real = self.follow(source, &rel)?;
        if self.is_ignored(&rel) || self.is_ignored(&real) {
            return Err(ContextError::NotFound { path: source.into() });
        }
        let path = if real.as_os_str().is_empty() { self.root.clone() } else { self.root.join(&real) };
        let meta = fs::symlink_metadata(&path).map_err(io_error(&path))?;
        Ok(Source { rel, path, is_dir: meta.is_dir() })
    }

    /// Resolves the symlinks along `rel` lexically, inside the context, and returns the real
    /// relative path. A relative target is read from the link's directory; an absolute one must
    /// name a place under the context root. Anything that climbs out is refused rather than
    /// followed: BuildKit instead reads absolute targets as if the context were `/`, so they can
    /// never leave it, which hides the mistake.
    fn follow(&self, source: &str, rel: &Path) -> Result<PathBuf, ContextError> {
        let outside = || ContextError::Outside { path: source.into() };
        let mut todo: Vec<PathBuf> = rel.components().rev().map(|c| PathBuf::from(c.as_os_str())).collect();
        let mut real = PathBuf::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_os_str().to_str() {
                Some("..") => {
                    if !real.pop() {
                        return Err(outside());
                    }
                    continue;
                }
                Some(".") => continue,
                _ => {}
            }
            let host = self.root.join(&real).join(&part);
            let meta = match fs::symlink_metadata(&host) {
                Ok(meta) => meta,
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                    return Err(ContextError::NotFound { path: source.into() });
                }
                Err(e) => return Err(io_error(&host)(e)),
            };
            if !meta.file_type().is_symlink() {
                real.push(&part);
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(ContextError::SymlinkLoop { path: source.into() });
            }
            let target = fs::read_link(&host).map_err(io_error(&host))?;
            let target = match target.strip_prefix(&self.root) {
                Ok(inside) if target.is_absolute() => {
                    real = PathBuf::new();
                    inside.to_path_buf()
                }
                _ if target.is_absolute() => return Err(outside()),
                _ => target,
            };
            let parts = target.components().filter(|c| !matches!(c, Component::RootDir));
            todo.extend(parts.rev().map(|c| PathBuf::from(c.as_os_str())));
        }
        Ok(real)
    }
}

/// A relative path as the `/`-separated string ignore patterns are matched against.
fn slash_path(rel: &Path) -> String {
    let parts: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A context with `.dockerignore` and a few files; returns the temp dir that owns it.
    pub(super) fn sample() -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files =
            ["a.txt", "b.txt", "app.log", "keep.log", "tmp/x", "src/main.py", "src/cache/c", "src/lib/u.py"];
        for file in files {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, format!("{file}\n")).unwrap();
        }
        fs::write(root.join(".dockerignore"), "*.log\n!keep.log\ntmp/\n**/cache\n").unwrap();
        let context = Context::open(root).unwrap();
        (dir, context)
    }

    fn rels(context: &Context, source: &str) -> Result<Vec<String>, String> {
        match context.resolve(source) {
            Ok(found) => Ok(found.iter().map(|s| slash_path(&s.rel)).collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn plain_sources_and_ignored_ones() {
        let (_dir, context) = sample();
        assert_eq!(rels(&context, "/src/../a.txt").unwrap(), ["a.txt"]);
        assert_eq!(rels(&context, "keep.log").unwrap(), ["keep.log"]);
        let missing = "file not found in build context or excluded by .dockerignore";
        assert_eq!(rels(&context, "app.log").unwrap_err(), format!("{missing}: app.log"));
        assert_eq!(rels(&context, "tmp/x").unwrap_err(), format!("{missing}: tmp/x"));
        assert_eq!(rels(&context, "nope").unwrap_err(), format!("{missing}: nope"));
        let root = &context.resolve(".").unwrap()[0];
        assert!(root.is_dir && root.rel == Path::new("") && root.path == context.root());
    }

    #[test]
    fn globs_skip_ignored_files() {
        let (_dir, context) = sample();
        assert_eq!(rels(&context, "*.txt").unwrap(), ["a.txt", "b.txt"]);
        assert_eq!(rels(&context, "*.log").unwrap(), ["keep.log"]);
        assert_eq!(rels(&context, "src/*").unwrap(), ["src/lib", "src/main.py"]);
        assert_eq!(rels(&context, "s[a-z]c/*/u.p?").unwrap(), ["src/lib/u.py"]);
        assert!(rels(&context, "*.md").unwrap_err().ends_with(": *.md"));
        assert_eq!(rels(&context, "[a").unwrap_err(), "bad COPY source [a: bad pattern \"[a\": missing ']'");
    }

    #[test]
    fn paths_and_symlinks_outside_are_refused() {
        let (dir, context) = sample();
        let outside = "forbidden path outside the build context";
        assert_eq!(rels(&context, "../x").unwrap_err(), format!("{outside}: ../x"));
        assert_eq!(rels(&context, "src/../../x").unwrap_err(), format!("{outside}: src/../../x"));
        symlink("../../etc/passwd", dir.path().join("src/evil")).unwrap();
        symlink("/etc/passwd", dir.path().join("abs")).unwrap();
        symlink("../a.txt", dir.path().join("src/good")).unwrap();
        symlink(dir.path().join("src"), dir.path().join("srcdir")).unwrap();
        symlink("loop", dir.path().join("loop")).unwrap();
        assert_eq!(rels(&context, "src/evil").unwrap_err(), format!("{outside}: src/evil"));
        assert_eq!(rels(&context, "abs").unwrap_err(), format!("{outside}: abs"));
        let good = context.resolve("src/good").unwrap();
        assert_eq!(
            (good[0].rel.as_path(), good[0].path.clone()),
            (Path::new("src/good"), context.root().join("a.txt"))
        );
        assert_eq!(rels(&context, "srcdir/m*").unwrap(), ["srcdir/main.py"]);
        assert!(context.resolve("srcdir").unwrap()[0].is_dir);
        assert!(matches!(context.resolve("loop"), Err(ContextError::SymlinkLoop { .. })));
    }

    #[test]
    fn open_checks_the_root_and_the_ignore_file() {
        let (dir, _context) = sample();
        let file = dir.path().join("a.txt");
        assert!(matches!(Context::open(&file), Err(ContextError::NotADirectory { .. })));
        fs::write(dir.path().join(".dockerignore"), "ok\n[\n").unwrap();
        let err = Context::open(dir.path()).unwrap_err().to_string();
        assert_eq!(err, ".dockerignore:2: bad pattern \"[\": missing ']'");
    }
}
