//! `--init`: a tiny init as the container's PID 1, like `docker run --init` (tini).
//!
//! PID 1 of a namespace has two duties ordinary programs do not know about. Orphans are re-parented
//! to it, so it must `wait` for them, or they stay zombies, taking a pid each until the namespace
//! runs out. And the kernel gives it no default signal actions, so SIGTERM stops it only if it
//! installed a handler. Most programs were not written to be PID 1, so `--init` keeps them from
//! being it: before the container is set up, the child forks once more; the grandchild (PID 2)
//! sets the container up and executes the command, and PID 1 stays ours, forwarding every signal to PID 2 and reaping
//! every child, until PID 2 exits, with whose status PID 1 then exits. When PID 1 ends, the kernel
//! kills whatever is left in the namespace.
//!
//! PID 1 must not stay a copy of the runtime: its `/proc/1/environ` would show the host's
//! environment to the container, and `/proc/1/exe` would hand it the host's binary (runc's
//! CVE-2019-5736 overwrote runc exactly that way). So PID 1 re-executes itself from a sealed
//! in-memory copy of the binary ([`InitImage`], runc's fix too) with an empty environment, and runs
//! the init loop as `coracle-init`, with no capabilities in any set, `no_new_privs`, not dumpable
//! (so root in the container cannot ptrace it or read its memory), and `/` as working directory. This happens before `pivot_root`,
//! while the host's dynamic loader is still reachable for the binary; the grandchild's
//! `pivot_root` then moves PID 1's root along with its own, as it does for every process of the
//! mount namespace whose root was the old one. Docker instead bind-mounts a separate static
//! program, tini.

use crate::signals;
use ch01_chroot::{ChildError, Error, Trace};
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// The name PID 1 runs under once it has re-executed itself as the init.
pub const INIT_NAME: &str = "coracle-init";

/// A sealed in-memory copy of the running binary, made by the runtime before the clone. Sealed
/// against writes, so nothing in the container can change the code the init runs, and a copy, so
/// nothing can reach the host's binary through `/proc/1/exe`.
#[derive(Debug)]
pub struct InitImage(std::os::fd::OwnedFd);

impl InitImage {
    pub fn copy_of_self() -> Result<Self, Error> {
        let memfd = memfd_create(INIT_NAME, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
            .map_err(|e| Error::call("memfd_create", e))?;
        let io = |e: std::io::Error| Error::call("copying /proc/self/exe into the init image", ch01_chroot::error::errno_of(&e));
        let mut image = std::fs::File::from(memfd.try_clone().map_err(io)?);
        std::io::copy(&mut std::fs::File::open("/proc/self/exe").map_err(io)?, &mut image).map_err(io)?;
        let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
        fcntl(&memfd, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| Error::call("sealing the init image", e))?;
        Ok(InitImage(memfd))
    }
}

/// In the container's PID 1, first thing after the release: forks. The grandchild returns and
/// goes on to set up the container and execute the command; PID 1 re-executes itself as the init
/// and never returns. Only the grandchild narrates, so trace lines never interleave.
pub fn split(image: &InitImage, trace: &Trace) -> Result<(), ChildError> {
    // The command must not start before the init has dropped its privileges: it could read (or
    // race for) a PID 1 that still has every capability. The init keeps the write end of this
    // pipe across its execve and closes it with everything else once it is unprivileged (in
    // `run`); the grandchild waits for that end-of-file.
    let (ready_read, ready_write) = nix::unistd::pipe().map_err(|e| ChildError::call("pipe (for --init)", e))?;
    // SAFETY: single-threaded, as everywhere in the launch sequence.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(ready_write);
            let mut byte = [0u8; 1];
            while let Err(nix::errno::Errno::EINTR) = nix::unistd::read(&ready_read, &mut byte) {}
            trace.note(format_args!(
                "fork() = {}: PID 1 runs fexecve(memfd:{INIT_NAME}) and stays the init; the container goes on as PID {}",
                nix::unistd::getpid(),
                nix::unistd::getpid()
            ));
            Ok(())
        }
        Ok(ForkResult::Parent { child }) => {
            drop(ready_read);
            // The working directory must be the old root, which the grandchild's pivot_root then
            // moves into the new one; anywhere else, /proc/1/cwd would stay a way into the host.
            if nix::unistd::chdir("/").is_err() {
                exit(125);
            }
            let argv = [c"coracle-init".to_owned(), std::ffi::CString::new(child.to_string()).unwrap_or_default()];
            // Signals stay blocked across execve, and a pending SIGCHLD stays pending.
            let _ = nix::unistd::fexecve(&image.0, &argv, &[] as &[&std::ffi::CStr]);
            // Without a clean image, still be the grandchild's init, from this copy, as
            // unprivileged as the re-executed one. (`ready_write` is closed in `run`.)
            std::mem::forget(ready_write);
            drop_privileges();
            run(child)
        }
        Err(e) => Err(ChildError::call("fork (for --init)", e)),
    }
}

/// Every chapter binary from chapter 2 on calls this first: when the process is PID 1's
/// re-executed init (`argv[0]` is `coracle-init`), it runs the init loop and never returns.
pub fn run_if_init() {
    let mut args = std::env::args_os();
    if args.next().as_deref() != Some(std::ffi::OsStr::new(INIT_NAME)) {
        return;
    }
    drop_privileges();
    match args.next().and_then(|pid| pid.to_str()?.parse::<i32>().ok()) {
        Some(pid) => run(Pid::from_raw(pid)),
        None => exit(125),
    }
}

/// The init needs no privilege: it signals and waits for its own children. Drop every
/// capability from every set (the bounding set first, while CAP_SETPCAP allows it), forbid
/// gaining any back through execve, and make the process non-dumpable, so the container's root
/// cannot ptrace it or open /proc/1/mem (runc does the same for its init).
fn drop_privileges() {
    let _ = caps::clear(None, caps::CapSet::Bounding);
    let _ = nix::sys::prctl::set_no_new_privs();
    for set in [caps::CapSet::Ambient, caps::CapSet::Inheritable, caps::CapSet::Effective, caps::CapSet::Permitted] {
        let _ = caps::clear(None, set);
    }
    let _ = nix::sys::prctl::set_dumpable(false);
}

// ANCHOR: init
/// The init loop. Signals are still blocked from the runtime's `signals::block`, so they queue on
/// a signalfd: SIGCHLD means "reap", anything else is passed on to the command.
fn run(command: Pid) -> ! {
    // Close everything but stdio: above all our copy of the report pipe, so the runtime reads
    // end-of-file as soon as the grandchild's `execve` closes the last one, and the write end of
    // `split`'s pipe, which tells the grandchild that we are unprivileged now.
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
