//! Chapter 2: namespaces, what a process may see, and capabilities, what it may do.
//!
//! Chapter 1 changed only the root directory. This chapter keeps chapter 1's launch sequence,
//! flags, exit codes and `--trace`, and changes how the child is made and what it is made into:
//!
//! - it is **cloned** into new PID, mount, UTS, IPC and network namespaces (and a user namespace
//!   when rootless), so it is PID 1, has its own hostname, and sees only `lo`;
//! - its root is entered with **`pivot_root`** in a private mount namespace, with a fresh `/proc`,
//!   a minimal `/dev` and a read-only `/sys`, and the old root detached: the chroot escape of
//!   chapter 1 now finds nothing above `/`;
//! - it keeps only **docker's default capabilities**, with `no_new_privs` and the sensitive files
//!   of `/proc` and `/sys` masked or read-only;
//! - the runtime **forwards signals** to it and, like `docker stop`, kills it after a grace period
//!   when it ignores SIGTERM; `--init` puts a tiny init in front of the command as PID 1.
//!
//! The cgroup namespace is left to chapter 3, which also puts the container in a cgroup.
//! Book: "Chapter 2: namespaces".
//!
//! # Layout
//! - [`namespaces`]: the clone flags, `clone(2)`, the hostname and the loopback interface.
//! - [`userns`]: the uid and gid maps that make a rootless user root inside.
//! - [`mounts`]: the container's mount tree: propagation, `/proc`, `/dev`, `/sys`.
//! - [`devices`]: the device nodes of `/dev`, made or bind-mounted.
//! - [`masks`]: masked and read-only paths, as runc does by default.
//! - [`pivot_root`]: swapping the root of the mount namespace and detaching the old one.
//! - [`capabilities`]: docker's default capability set and `no_new_privs`.
//! - [`signals`]: forwarding signals to PID 1 and the stop timeout.
//! - [`init`]: `--init`, a PID 1 that reaps orphans and forwards signals.
//! - [`container`]: [`Namespaced`], chapter 1's `Isolation` for all of the above.
//! - [`cli`], [`error`]: chapter 1's flags and errors, plus this chapter's.

pub mod capabilities;
pub mod cli;
pub mod container;
pub mod devices;
pub mod error;
pub mod init;
pub mod masks;
pub mod mounts;
pub mod namespaces;
pub mod pivot_root;
pub mod signals;
pub mod userns;

pub use cli::{NamespaceArgs, RunArgs};
pub use container::Namespaced;
pub use error::Error;

use ch01_chroot::{Process, Trace};

/// Runs `args` as chapter 2 does. Returns the exit code to leave with.
pub fn run(args: &RunArgs) -> Result<u8, Error> {
    let trace = Trace::new(args.base.process.trace);
    let container = Namespaced::from_args(args)?;
    let process = Process::from_args(&args.base.process, &args.base.command, container.hostname(), "/root")?;
    Ok(ch01_chroot::launch(&process, &container, &trace)?)
}
