//! Signals: the runtime forwards what it receives to the container, and stops it like `docker stop`.
//!
//! The runtime blocks the signals it forwards before it clones, and reads them from a `signalfd`
//! while it waits, together with `SIGCHLD` (blocking them first means none can arrive between the
//! clone and the wait and be lost). Each one is passed on to the container's PID 1 with `kill(2)`.
//!
//! The kernel protects a namespace's init: a signal from outside reaches PID 1 only if PID 1 has
//! a handler for it (SIGKILL and SIGSTOP excepted). A shell or `sleep` as PID 1 has none, so
//! SIGTERM does nothing. After forwarding SIGTERM or SIGINT, the runtime therefore waits
//! `--stop-timeout` seconds, then sends SIGKILL and says so, which is what `docker stop` does
//! (with the same default, 10 s). With `--init` our init is PID 1 and the command is PID 2, which
//! gets SIGTERM with its default action, and stops at once.

use ch01_chroot::{Error, Trace};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

// ANCHOR: forwarded
/// The signals the runtime passes on: the ones a terminal, a shell or a supervisor sends. (Docker's
/// sig-proxy passes on nearly every signal; these are the ones that matter for a foreground run.)
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT,
    Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGWINCH,
];
// ANCHOR_END: forwarded

/// The forwarded signals plus SIGCHLD.
pub fn mask() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED.into_iter().chain([Signal::SIGCHLD]) {
        set.add(signal);
    }
    set
}

/// Blocks [`mask`], so the signals queue up for the signalfd. The child inherits the mask and
/// must call [`unblock`] before it executes the command.
pub fn block() -> Result<(), Error> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask()), None).map_err(|e| Error::call("sigprocmask(SIG_BLOCK)", e))
}

/// Undoes [`block`] (in the child before `execve`, and in the runtime when the container is gone).
pub fn unblock() -> nix::Result<()> {
    sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&mask()), None)
}

/// Whether `pid` has a handler for `signal` (its `SigCgt` in `/proc/PID/status`). A PID 1
/// without one never sees the signal: that is when the grace period matters.
fn catches(pid: Pid, signal: Signal) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let caught = status.lines().find_map(|l| l.strip_prefix("SigCgt:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    caught.is_some_and(|mask| mask & (1 << (signal as u32 - 1)) != 0)
}

/// In the child: if the runtime dies (even by SIGKILL, which it cannot forward), the kernel kills
/// the container's PID 1, and with it the whole PID namespace, so no container outlives its
/// foreground runtime. (runc does not do this: its containers outlive it on purpose, watched by
/// containerd's shim.) It is set after the go pipe released us; a runtime that died in the few
/// microseconds between would leave the child running until its command ends.
pub fn die_with_parent(trace: &Trace) -> Result<(), ch01_chroot::ChildError> {
    trace
        .call(format_args!("prctl(PR_SET_PDEATHSIG, SIGKILL)"), nix::sys::prctl::set_pdeathsig(Signal::SIGKILL))
        .map_err(|e| ch01_chroot::ChildError::call("prctl(PR_SET_PDEATHSIG)", e))
}

// ANCHOR: forward
/// Waits for `child` to end, forwarding signals to it, and kills it `stop_timeout` after a
/// SIGTERM or SIGINT that its PID 1 has no handler for (so the kernel drops it). When the
/// container shares our terminal, signals the terminal itself sent (Ctrl-C, window size) have
/// reached the container's processes already, and are not sent a second time.
pub fn forward_until_exit(child: Pid, stop_timeout: Duration, shares_terminal: bool, trace: &Trace) -> Result<WaitStatus, Error> {
    let Ok(signals) = SignalFd::with_flags(&mask(), SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) else {
        // Without a signalfd we cannot forward, but must still wait for the child.
        return ch01_chroot::launch::wait_for(trace, child);
    };
    // When a stop request came, and which signal it was.
    let mut deadline: Option<(Instant, Signal)> = None;
    let status = loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break status,
            Ok(_) => {}
            Err(e) => return Err(Error::call(format!("wait4({child})"), e)),
        }
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some((at, _)) => PollTimeout::try_from(at.saturating_duration_since(Instant::now())).unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => {
                // The grace period is over: do what `docker stop` does.
                let asked = deadline.map_or("SIGTERM", |(_, signal)| signal.as_str());
                eprintln!("the container did not stop within {}s of {asked}: killing it", stop_timeout.as_secs());
                let _ = trace.call(format_args!("kill({child}, SIGKILL)"), kill(child, Signal::SIGKILL));
                deadline = None;
                continue;
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::call("poll(signalfd)", e)),
        }
        while let Ok(Some(info)) = signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
            if signal == Signal::SIGCHLD {
                continue;
            }
            let from_terminal = info.ssi_code == libc::SI_KERNEL;
            if !(shares_terminal && from_terminal) {
                let _ = trace.call(format_args!("kill({child}, {})", signal.as_str()), kill(child, signal));
            }
            let stop_request = matches!(signal, Signal::SIGTERM | Signal::SIGINT);
            if stop_request && deadline.is_none() && !catches(child, signal) {
                deadline = Some((Instant::now().checked_add(stop_timeout).unwrap_or_else(Instant::now), signal));
            }
        }
    };
    // Signals that came after the end stay queued; take them off the queue, or unblocking them
    // would deliver them to the runtime itself.
    while let Ok(Some(_)) = signals.read_signal() {}
    let _ = trace.call(format_args!("wait4({child})"), Ok::<_, Errno>(status));
    Ok(status)
}
// ANCHOR_END: forward
