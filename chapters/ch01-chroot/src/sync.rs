//! Two pipes between the runtime and its child, the way runc synchronises with its init.
//!
//! - **go** (parent → child): the child blocks until the parent has done its part. In this chapter
//!   that is only narrating the fork, so trace lines come out in order; chapter 2 writes the user
//!   namespace maps here and chapter 3 moves the child into its cgroup, both of which must happen
//!   before the child runs anything.
//! - **report** (child → parent): both ends are close-on-exec, so a successful `execve` closes the
//!   child's end and the parent reads end-of-file: the command started. If anything fails first, the
//!   child writes a [`ChildError`] and the parent prints it and exits with its code. Without this the
//!   parent could not tell "the command exited 127" from "the runtime could not find the command".

use crate::error::{ChildError, Error};
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, read, write};
use std::os::fd::{AsRawFd, OwnedFd};

/// Both pipes, before the fork.
#[derive(Debug)]
pub struct Channel {
    go_read: OwnedFd,
    go_write: OwnedFd,
    report_read: OwnedFd,
    report_write: OwnedFd,
}

/// The parent's ends, after the fork.
#[derive(Debug)]
pub struct ParentEnd {
    go_write: OwnedFd,
    report_read: OwnedFd,
}

impl Channel {
    pub fn new() -> Result<Self, Error> {
        let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::call("pipe2", e))?;
        let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::call("pipe2", e))?;
        Ok(Channel { go_read, go_write, report_read, report_write })
    }

    /// In the child: close the parent's ends, then wait for the go-ahead. End-of-file instead of a
    /// byte means the parent died or gave up, and the child must not go on.
    pub fn child_wait(&self) -> Result<(), ChildError> {
        // The child never drops `self` (it leaves through `_exit` or `execve`), so closing the raw
        // descriptors here cannot lead to a double close.
        close_raw(&self.go_write);
        close_raw(&self.report_read);
        let mut byte = [0u8; 1];
        loop {
            match read(&self.go_read, &mut byte) {
                Ok(1) => return Ok(()),
                Ok(_) => return Err(ChildError::other("the runtime went away before the container started")),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(ChildError::call("read(go pipe)", e)),
            }
        }
    }

    /// In the child: tell the parent why the command could not start.
    pub fn child_report(&self, error: &ChildError) {
        let _ = write(&self.report_write, &error.encode());
    }

    /// In the parent: keep only the parent's ends, so end-of-file on the report pipe means
    /// the child's end is closed.
    pub fn into_parent(self) -> ParentEnd {
        ParentEnd { go_write: self.go_write, report_read: self.report_read }
    }
}

impl ParentEnd {
    /// Lets the child go on, then waits until it has started the command (`None`) or failed (`Some`).
    pub fn release(self) -> Result<Option<ChildError>, Error> {
        write(&self.go_write, &[1]).map_err(|e| Error::call("write(go pipe)", e))?;
        drop(self.go_write);
        let mut report = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            match read(&self.report_read, &mut buf) {
                Ok(0) => break,
                Ok(n) => report.extend_from_slice(&buf[..n]),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::call("read(report pipe)", e)),
            }
        }
        Ok(ChildError::decode(&report))
    }
}

fn close_raw(fd: &OwnedFd) {
    // Why raw `libc`: `nix::unistd::close` takes ownership of the descriptor, which the child cannot
    // give up without moving out of the `Channel` it shares with the parent's code path.
    // SAFETY: see `child_wait`: the owner is never dropped in this process.
    unsafe { libc::close(fd.as_raw_fd()) };
}
