//! `--init`: a tiny init as the container's PID 1, like `docker run --init` (tini).
//!
//! PID 1 of a namespace has two duties ordinary programs do not know about. Orphans are re-parented
//! to it, so it must `wait` for them, or they stay zombies, taking a pid each until the namespace
//! runs out. And the kernel gives it no default signal actions, so SIGTERM stops it only if it
//! installed a handler. Most programs were not written to be PID 1, so `--init` keeps them from
//! being it: after the container is set up, the child forks once more; the grandchild (PID 2)
//! executes the command, and PID 1 stays ours, forwarding every signal to PID 2 and reaping
//! every child, until PID 2 exits, with whose status PID 1 then exits. When PID 1 ends, the kernel
//! kills whatever is left in the namespace.

use crate::signals;
use ch01_chroot::{ChildError, Trace};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// In the container's PID 1, just before `execve`: forks. The grandchild returns and goes on to
/// execute the command; PID 1 becomes the init and never returns.
pub fn split(trace: &Trace) -> Result<(), ChildError> {
    // SAFETY: single-threaded, as everywhere in the launch sequence.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => Ok(()),
        Ok(ForkResult::Parent { child }) => {
            let _ = trace.call(format_args!("fork()"), Ok::<_, nix::Error>(child));
            trace.note(format_args!("init: PID 1 reaps orphans and forwards signals to PID {child}"));
            run(child)
        }
        Err(e) => Err(ChildError::call("fork (for --init)", e)),
    }
}

// ANCHOR: init
/// The init loop. Signals are still blocked from the runtime's `signals::block`, so they queue on
/// a signalfd: SIGCHLD means "reap", anything else is passed on to the command.
fn run(command: Pid) -> ! {
    // Close everything but stdio: above all our copy of the report pipe, so the runtime reads
    // end-of-file as soon as the grandchild's `execve` closes the last one.
    // SAFETY: close_range only closes descriptors; nothing of ours uses them after this point.
    unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) };
    let Ok(signals) = SignalFd::with_flags(&signals::mask(), SfdFlags::SFD_CLOEXEC) else { exit(125) };
    loop {
        // Reap every child that has ended, orphans included; stop when the command has.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(status) if status.pid() == Some(command) => exit(ch01_chroot::exit::code(status)),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        match signals.read_signal() {
            Ok(Some(info)) => {
                if let Ok(signal) = Signal::try_from(info.ssi_signo as i32)
                    && signal != Signal::SIGCHLD
                {
                    let _ = kill(command, signal);
                }
            }
            Ok(None) | Err(_) => continue,
        }
    }
}
// ANCHOR_END: init

fn exit(code: u8) -> ! {
    // SAFETY: ends this process at once; see chapter 1's `fork_child` for why `_exit`.
    unsafe { libc::_exit(i32::from(code)) }
}
