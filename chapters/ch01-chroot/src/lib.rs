//! Chapter 1: a container is, first of all, a process with another root directory.
//!
//! `ch01-chroot run --rootfs DIR -- CMD` forks, and the child calls `chroot(2)` into `DIR`, moves to
//! the working directory, swaps the host's environment for a clean one and executes `CMD`, looked up
//! in the container's own `PATH`. The parent waits and relays the result as docker does. The book's
//! page "Chapter 1: chroot" explains each step and shows why chroot alone is no security boundary.
//!
//! # Layout
//! - [`trace`]: the `--trace` narration of every kernel call, which all later chapters extend.
//! - [`launch`]: the parent/child sequence (spawn, prepare, release, exec, wait) and the
//!   [`Isolation`] trait through which later chapters plug in namespaces, cgroups and images.
//! - [`sync`]: the two pipes between the runtime and the child that make that sequence safe.
//! - [`chroot`]: this chapter's isolation, `chroot(2)` plus `chdir(2)`.
//! - [`env`]: the clean environment the command gets.
//! - [`exec`]: the `PATH` lookup and `execve(2)`, with docker's 126/127 rules.
//! - [`exit`]: how a wait status becomes the runtime's exit code.
//! - [`error`]: the errors, each with its docker exit code.
//! - [`cli`]: the `run` arguments, flattened by every later chapter.

pub mod chroot;
pub mod cli;
pub mod env;
pub mod error;
pub mod exec;
pub mod exit;
pub mod launch;
pub mod sync;
pub mod trace;

pub use chroot::Chroot;
pub use cli::{ProcessArgs, RunArgs};
pub use env::Env;
pub use error::{ChildError, Error};
pub use launch::{Isolation, Process, launch};
pub use trace::Trace;

/// Runs `args` as chapter 1 does: the process described by the flags, chrooted into `--rootfs`.
/// Returns the exit code to leave with (the command's own, or 128+N when signal N killed it).
pub fn run(args: &RunArgs) -> Result<u8, Error> {
    let trace = Trace::new(args.process.trace);
    let isolation = Chroot::new(&args.rootfs)?;
    // Without a UTS namespace (chapter 2), the container shares the host's hostname.
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let process = Process::from_args(&args.process, &args.command, &hostname, "/root")?;
    launch(&process, &isolation, &trace)
}
