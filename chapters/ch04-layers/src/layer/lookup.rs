//! Finding a path in the merged view of a stack of extracted layers, without mounting them.
//!
//! Book page: "Chapter 4: layers". Before the container exists we already need to read its
//! `/etc/passwd` and `/etc/group` (to turn `USER app` into ids) and to know whether a `COPY`
//! destination is a directory. This applies overlayfs's rules by hand, top layer first: a whiteout
//! deletes, an opaque directory hides everything below it, and the topmost copy wins.
//!
//! Symbolic links inside the image are not followed in the path's parents: a link found on the
//! way ends the lookup with `None`; at the end, [`read_small_file`] refuses to open one. A real runtime resolves them within
//! the container's root (with `openat2(RESOLVE_IN_ROOT)`, as libpathrs does); the files
//! we read are plain files in every image we care about.

use std::fs;
use std::path::{Path, PathBuf};

use super::whiteout::{is_opaque, is_whiteout};

/// Where the file the container would see at `path` (absolute, like `/etc/passwd`) lives,
/// given the extracted layer directories from the top of the stack down; `None` if the merged
/// view has nothing there.
pub fn lookup(layers_top_first: &[PathBuf], path: &str) -> Option<PathBuf> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            // Lexically, as the kernel would at `/`: `..` never climbs out of the root.
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return layers_top_first.first().cloned();
    }
    for layer in layers_top_first {
        match in_layer(layer, &parts) {
            Found::Here(found) => return Some(found),
            Found::Hidden => return None,
            Found::NotHere => {}
        }
    }
    None
}

/// `path` with the image's symbolic links resolved the way the kernel resolves them inside the
/// container: a link's target is read in the image, an absolute one starts again at the image's
/// `/`, and `..` never climbs above it. A `COPY` to `/bin/app` in an image whose `/bin` is a link
/// to `usr/bin` must land in `/usr/bin/app`: a layer entry `bin/` would replace the link with a
/// directory. The links are only read (`readlink`), never followed on the host. At most 40 links,
/// as Linux allows; past that, the rest of the path is taken as it is.
pub fn resolve_in_image(layers_top_first: &[PathBuf], path: &str) -> String {
    let mut todo: std::collections::VecDeque<String> = path.split('/').map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here = format!("/{}", done.iter().chain([&part]).cloned().collect::<Vec<_>>().join("/"));
        let link = lookup(layers_top_first, &here)
            .filter(|found| fs::symlink_metadata(found).is_ok_and(|m| m.file_type().is_symlink()))
            .and_then(|found| fs::read_link(found).ok());
        match link {
            Some(target) if links < 40 => {
                links += 1;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    done.clear();
                }
                for (i, piece) in target.split('/').enumerate() {
                    todo.insert(i, piece.to_string());
                }
            }
            _ => done.push(part),
        }
    }
    format!("/{}", done.join("/"))
}

/// The contents of the small text file (`/etc/passwd`, `/etc/group`) the container would see at
/// `path`, or the empty string when there is none. The file is opened with `O_NOFOLLOW` and read
/// only if it is a regular file, and at most 1 MiB of it: an image is untrusted, and its
/// `/etc/passwd` may be a link to a host file, a FIFO that never answers, or `/dev/zero`.
pub fn read_small_file(layers_top_first: &[PathBuf], path: &str) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    const LIMIT: u64 = 1 << 20;
    let Some(found) = lookup(layers_top_first, path) else { return String::new() };
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let Ok(file) = fs::File::options().read(true).custom_flags(flags).open(&found) else { return String::new() };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    let mut text = String::new();
    let _ = file.take(LIMIT).read_to_string(&mut text);
    text
}

enum Found {
    /// This layer has the file.
    Here(PathBuf),
    /// This layer deletes it or hides every lower copy.
    Hidden,
    /// Look in the next layer down.
    NotHere,
}

fn in_layer(layer: &Path, parts: &[&str]) -> Found {
    let mut here = layer.to_path_buf();
    let mut opaque = false;
    for (i, part) in parts.iter().enumerate() {
        here.push(part);
        let Ok(meta) = fs::symlink_metadata(&here) else {
            // Missing here: lower layers decide, unless a directory above made them invisible.
            return if opaque {
                Found::Hidden
            } else {
                Found::NotHere
            };
        };
        if is_whiteout(&meta) {
            return Found::Hidden;
        }
        if i + 1 == parts.len() {
            return Found::Here(here);
        }
        // A file or a symlink where a parent directory should be: in the merged view it hides
        // the lower directories of that name, and we do not follow links.
        if !meta.is_dir() {
            return Found::Hidden;
        }
        opaque |= is_opaque(&here);
    }
    unreachable!("the loop returns at the last part")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::whiteout::{make_whiteout, set_opaque};
    use nix::fcntl::AT_FDCWD;

    /// Three layers, top first, each a temporary directory with the given files.
    fn layers(files: [&[&str]; 3]) -> (Vec<tempfile::TempDir>, Vec<PathBuf>) {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        for (dir, files) in dirs.iter().zip(files) {
            for file in files {
                let path = dir.path().join(file);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, file).unwrap();
            }
        }
        let paths = dirs.iter().map(|d| d.path().to_path_buf()).collect();
        (dirs, paths)
    }

    #[test]
    fn the_top_copy_wins_and_lower_layers_fill_in() {
        let (_dirs, paths) = layers([&["etc/passwd"], &["etc/passwd", "etc/group"], &["bin/sh"]]);
        assert_eq!(
            lookup(&paths, "/etc/passwd"),
            Some(paths[0].join("etc/passwd"))
        );
        assert_eq!(
            lookup(&paths, "/etc/group"),
            Some(paths[1].join("etc/group"))
        );
        assert_eq!(
            lookup(&paths, "/bin/../bin/sh"),
            Some(paths[2].join("bin/sh"))
        );
        assert_eq!(lookup(&paths, "/etc"), Some(paths[0].join("etc")));
        assert_eq!(lookup(&paths, "/nothing"), None);
    }

    #[test]
    fn a_whiteout_deletes_the_path_and_everything_below() {
        let (_dirs, paths) = layers([&[], &["etc/passwd"], &["etc/passwd", "var/lib/x"]]);
        make_whiteout(AT_FDCWD, &paths[0].join("etc")).unwrap();
        make_whiteout(AT_FDCWD, &paths[1].join("var")).unwrap();
        assert_eq!(lookup(&paths, "/etc/passwd"), None);
        assert_eq!(lookup(&paths, "/etc"), None);
        assert_eq!(lookup(&paths, "/var/lib/x"), None);
    }

    #[test]
    fn an_opaque_directory_hides_the_lower_ones() {
        let (_dirs, paths) = layers([&["etc/hosts"], &["etc/passwd"], &["etc/group"]]);
        set_opaque(&paths[1].join("etc"), true).unwrap();
        assert_eq!(
            lookup(&paths, "/etc/hosts"),
            Some(paths[0].join("etc/hosts"))
        );
        assert_eq!(
            lookup(&paths, "/etc/passwd"),
            Some(paths[1].join("etc/passwd"))
        );
        assert_eq!(lookup(&paths, "/etc/group"), None);
    }
}
