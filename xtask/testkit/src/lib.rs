//! What the chapters' graded tests and `cargo xtask` share.
//!
//! # Layout
//! - [`workspace`]: where things are (the workspace root, `target/`, the rootfs).
//! - [`elf`]: just enough ELF to tell a static binary from a dynamic one.
//! - [`rootfs`]: builds the course rootfs (`target/rootfs/` and `target/rootfs.tar`), offline and
//!   idempotently, from a static busybox or from the host's own binaries. The book's page
//!   "A root filesystem" explains what goes in it and why.
//! - [`grade`]: helpers for `tests/grade.rs`: run a chapter binary, render the result for a
//!   snapshot, redact what varies, fail loudly without root, check that nothing was left behind.

pub mod elf;
pub mod grade;
pub mod rootfs;
pub mod workspace;

pub use grade::{Background, CgroupParent, Outcome, TestRootfs, host_namespaces, regex_escape, require_root};
pub use insta;
