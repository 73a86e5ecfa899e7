//! The launch sequence every chapter shares, and the [`Isolation`] trait that later chapters
//! implement to change what the child is isolated from.
//!
//! ```text
//!   runtime (parent)                       child
//!   ────────────────                       ─────
//!   spawn ──────────── fork / clone ────▶  wait for "go"
//!   prepare_child (ch02: uid_map,            │
//!                  ch03: cgroup)             │
//!   release: send "go" ────────────────▶   enter_root (ch01: chroot, ch02: pivot_root)
//!                                          chdir(workdir)
//!                                          before_exec (ch02: capabilities)
//!   read report pipe ◀── EOF on exec ────  execve(command)
//!   wait (ch02: forward signals)            … the command runs …
//!   exit with the command's code ◀─────── exit / killed
//! ```
//!
//! A real runtime (runc) does the same dance with more steps: it re-executes itself as `runc init`
//! inside the new namespaces, talks to it over a socket pair with netlink-encoded messages, and lets
//! `runc start` release it later, which is how `docker create` and `docker start` can be two steps.

use crate::env::Env;
use crate::error::{ChildError, Error};
use crate::exec;
use crate::exit;
use crate::sync::Channel;
use crate::trace::Trace;
use crate::ProcessArgs;
use nix::sys::signal::{SigAction, SigHandler, SigSet, SaFlags, Signal, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, chdir, fork};
use std::path::PathBuf;

/// The process to start inside the container: what `execve` gets, and where.
#[derive(Debug, Clone)]
pub struct Process {
    pub argv: Vec<String>,
    pub env: Env,
    pub workdir: PathBuf,
}

impl Process {
    /// Builds the process from the flags: the command, the clean environment plus `--env`, and the
    /// working directory, which like docker's `-w` must be absolute.
    pub fn from_args(args: &ProcessArgs, command: &[String], hostname: &str, home: &str) -> Result<Self, Error> {
        let workdir = args.workdir.clone().unwrap_or_else(|| PathBuf::from("/"));
        if !workdir.is_absolute() {
            return Err(Error::RelativeWorkdir { path: workdir });
        }
        let mut env = Env::base(hostname, home);
        env.apply_flags(&args.env)?;
        Ok(Process { argv: command.to_vec(), env, workdir })
    }
}

/// The steps a chapter can change. Chapter 1 implements only [`enter_root`](Isolation::enter_root)
/// (with chroot); each later chapter wraps or replaces the others and inherits the rest.
pub trait Isolation {
    /// Creates the child and runs `child` in it, returning its pid. Chapter 1 forks; chapter 2
    /// clones into new namespaces. `child` returns the exit code to leave with if it fails.
    fn spawn(&self, trace: &Trace, child: &mut dyn FnMut() -> i32) -> Result<Pid, Error> {
        fork_child(trace, child)
    }

    /// In the parent, once the child exists and before it is released.
    fn prepare_child(&self, _trace: &Trace, _child: Pid) -> Result<(), Error> {
        Ok(())
    }

    /// In the child: make the container's root filesystem its `/`.
    fn enter_root(&self, trace: &Trace) -> Result<(), ChildError>;

    /// In the child, in its new root and working directory, just before `execve`.
    fn before_exec(&self, _trace: &Trace) -> Result<(), ChildError> {
        Ok(())
    }

    /// In the parent: wait until the container's process ends.
    fn wait(&self, trace: &Trace, child: Pid) -> Result<WaitStatus, Error> {
        wait_ignoring_interrupts(trace, child)
    }

    /// In the parent, once the child is gone, on every path (success or failure): undo what
    /// `spawn` and `prepare_child` changed in the runtime (chapter 2: the signal mask; chapter 3:
    /// the cgroup).
    fn cleanup(&self, _trace: &Trace) {}
}

// ANCHOR: launch
/// Runs `process` in a child isolated by `isolation`, and returns the exit code to leave with.
pub fn launch(process: &Process, isolation: &dyn Isolation, trace: &Trace) -> Result<u8, Error> {
    let channel = Channel::new()?;
    let mut child = || {
        // Everything here runs in the child. Any error goes back to the parent over the report
        // pipe; the return value is only a fallback exit code.
        let error = match child_setup(process, isolation, &channel, trace) {
            Ok(()) => exec::exec(&process.argv, &process.env, trace),
            Err(e) => e,
        };
        channel.child_report(&error);
        i32::from(error.code)
    };
    let pid = isolation.spawn(trace, &mut child)?;
    // From here on, cleanup runs however this ends: a result, an error, or a panic.
    let _cleanup = Cleanup { isolation, trace };
    supervise(pid, channel, isolation, trace)
}

/// Calls [`Isolation::cleanup`] when dropped.
struct Cleanup<'a> {
    isolation: &'a dyn Isolation,
    trace: &'a Trace,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.isolation.cleanup(self.trace);
    }
}

/// The parent's half, from the spawned child to its end.
fn supervise(pid: Pid, channel: Channel, isolation: &dyn Isolation, trace: &Trace) -> Result<u8, Error> {
    let parent = channel.into_parent();
    if let Err(e) = isolation.prepare_child(trace, pid) {
        // Dropping `parent` closes the go pipe: the child reads end-of-file and exits.
        drop(parent);
        let _ = waitpid(pid, None);
        return Err(e);
    }
    let released = parent.release();
    if !matches!(released, Ok(None)) {
        let _ = waitpid(pid, None);
    }
    if let Some(failure) = released? {
        return Err(failure.into());
    }
    let status = isolation.wait(trace, pid)?;
    Ok(exit::code(status))
}

/// The child's half: wait for the parent, enter the root, go to the working directory.
fn child_setup(process: &Process, isolation: &dyn Isolation, channel: &Channel, trace: &Trace) -> Result<(), ChildError> {
    channel.child_wait()?;
    isolation.enter_root(trace)?;
    // Without this, the working directory would still be wherever the runtime was started, outside
    // the new root, and every relative path would resolve on the host.
    trace
        .call(format_args!("chdir({:?})", process.workdir), chdir(&process.workdir))
        .map_err(|e| ChildError::call(format_args!("working directory {:?}", process.workdir), e))?;
    isolation.before_exec(trace)
}
// ANCHOR_END: launch

/// Chapter 1's way to create the child: a plain `fork(2)`.
pub fn fork_child(trace: &Trace, child: &mut dyn FnMut() -> i32) -> Result<Pid, Error> {
    // SAFETY: the runtime is single-threaded, so the child may allocate and use std freely before
    // it calls execve; it never returns from this function.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            // Only the parent narrates the fork (the child would print `= 0`), before releasing it.
            let _ = trace.call(format_args!("fork()"), Ok::<_, nix::Error>(child));
            Ok(child)
        }
        Ok(ForkResult::Child) => {
            let code = child();
            // Why raw `libc`: nix has no `_exit`. Plain `_exit`, not `std::process::exit`: the child
            // must not run the parent's exit handlers or flush its copies of the parent's buffers.
            // SAFETY: `_exit` ends the process at once and touches no Rust state.
            unsafe { libc::_exit(code) }
        }
        Err(e) => {
            let _ = trace.call::<Pid>(format_args!("fork()"), Err(e));
            Err(Error::call("fork", e))
        }
    }
}

// ANCHOR: wait
/// Waits for `child` like `system(3)`: Ctrl-C and Ctrl-\ on a terminal reach the whole foreground
/// process group, so the runtime ignores them while it waits and lets the container decide what they
/// mean; the container's exit code then says what happened. (Chapter 2 forwards signals instead.)
pub fn wait_ignoring_interrupts(trace: &Trace, child: Pid) -> Result<WaitStatus, Error> {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_IGN runs no code of ours in a signal handler.
    let saved = unsafe { (sigaction(Signal::SIGINT, &ignore), sigaction(Signal::SIGQUIT, &ignore)) };
    let status = wait_for(trace, child);
    // Restore the old handlers: a build (chapter 4) launches many containers from one process.
    // SAFETY: as above, these are the handlers that were installed before.
    unsafe {
        if let Ok(old) = saved.0 {
            let _ = sigaction(Signal::SIGINT, &old);
        }
        if let Ok(old) = saved.1 {
            let _ = sigaction(Signal::SIGQUIT, &old);
        }
    }
    status
}
// ANCHOR_END: wait

/// `wait4(child)` until it has exited or was killed, narrated once.
pub fn wait_for(trace: &Trace, child: Pid) -> Result<WaitStatus, Error> {
    loop {
        match waitpid(child, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            result => {
                return trace
                    .call(format_args!("wait4({child})"), result)
                    .map_err(|e| Error::call(format!("wait4({child})"), e));
            }
        }
    }
}
