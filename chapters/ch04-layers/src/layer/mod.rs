//! Layers: how an image is stored as a stack of tars and read back as directories.
//!
//! Book page: "Chapter 4: layers". An OCI image is a list of layer tars, each a change set over
//! the ones below it. We extract each layer once into its own directory (`extract`), turning the
//! tar's whiteout files into the on-disk form overlayfs understands (`whiteout`), and stack those
//! directories as overlay lowerdirs. After a build step or `import`, a directory (an overlay
//! upperdir, or any tree) becomes a new layer tar again (`diff`). `lookup` answers "which file
//! would the container see at this path" without mounting anything.

pub mod diff;
pub mod extract;
pub mod lookup;
pub mod whiteout;

pub use diff::{TreeKind, write_tree};
pub use extract::{ExtractError, ExtractOptions, Extracted, extract};
pub use lookup::{lookup, read_small_file, resolve_in_image};

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the tests of this module: hand-made tars and a sandbox to extract into.

    use std::path::{Path, PathBuf};
    use tar::{EntryType, Header};

    /// Tests that create device nodes, change owners or set `trusted.` xattrs need root; they
    /// say so instead of passing without having checked anything.
    pub fn require_root() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (device nodes, chown, trusted xattrs): run `sudo -E cargo test`"
        );
    }

    /// A tar written header by header with raw names, as an attacker would write one: the tar
    /// crate's `set_path` refuses `..`, so names go straight into the header's bytes.
    pub struct RawTar(tar::Builder<Vec<u8>>);

    impl RawTar {
        pub fn new() -> Self {
            RawTar(tar::Builder::new(Vec::new()))
        }

        /// Appends one entry; `edit` may change the header before its checksum is computed.
        pub fn entry_with(
            mut self,
            kind: EntryType,
            path: &str,
            link: &str,
            data: &[u8],
            edit: impl FnOnce(&mut Header),
        ) -> Self {
            let mut header = Header::new_gnu();
            header.set_entry_type(kind);
            header.set_size(data.len() as u64);
            header.set_mode(if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            });
            header.set_mtime(1_000_000_000);
            header.set_uid(0);
            header.set_gid(0);
            let old = header.as_old_mut();
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
            edit(&mut header);
            header.set_cksum();
            self.0.append(&header, data).unwrap();
            self
        }

        pub fn entry(self, kind: EntryType, path: &str, link: &str, data: &[u8]) -> Self {
            self.entry_with(kind, path, link, data, |_| {})
        }

        pub fn file(self, path: &str, data: &[u8]) -> Self {
            self.entry(EntryType::Regular, path, "", data)
        }

        pub fn dir(self, path: &str) -> Self {
            self.entry(EntryType::Directory, path, "", b"")
        }

        pub fn symlink(self, path: &str, target: &str) -> Self {
            self.entry(EntryType::Symlink, path, target, b"")
        }

        pub fn hardlink(self, path: &str, target: &str) -> Self {
            self.entry(EntryType::Link, path, target, b"")
        }

        pub fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    /// A temporary directory holding an empty `dest` to extract into and an empty sibling
    /// `outside` that no extraction may touch.
    pub struct Sandbox {
        pub tmp: tempfile::TempDir,
        pub dest: PathBuf,
        pub outside: PathBuf,
    }

    impl Sandbox {
        pub fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let (dest, outside) = (tmp.path().join("dest"), tmp.path().join("outside"));
            std::fs::create_dir(&dest).unwrap();
            std::fs::create_dir(&outside).unwrap();
            Sandbox { tmp, dest, outside }
        }

        pub fn assert_outside_untouched(&self) {
            let left: Vec<_> = std::fs::read_dir(&self.outside).unwrap().collect();
            assert!(left.is_empty(), "written outside dest: {left:?}");
            let names: Vec<_> = std::fs::read_dir(self.tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names.len(), 2, "written beside dest: {names:?}");
        }

        pub fn path(&self, rel: &str) -> PathBuf {
            Path::new(&self.dest).join(rel)
        }
    }
}
