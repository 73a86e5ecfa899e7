//! Where things are: the workspace root and its `target/` directory.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives at `xtask/testkit`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask/testkit lives two levels below the workspace root")
        .to_path_buf()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR` as cargo does.
pub fn target() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// The course rootfs, built by `cargo xtask rootfs` (or by the first test that needs it).
pub fn rootfs_dir() -> PathBuf {
    target().join("rootfs")
}

/// The same rootfs as one deterministic tar archive (chapter 4 imports it as an image).
pub fn rootfs_tar() -> PathBuf {
    target().join("rootfs.tar")
}
