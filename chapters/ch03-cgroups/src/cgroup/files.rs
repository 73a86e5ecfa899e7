//! Reading and writing cgroup files, narrated: every cgroup operation is a file operation.

use ch01_chroot::error::errno_of;
use ch01_chroot::{Error, Trace};
use nix::errno::Errno;
use std::path::Path;
use std::time::{Duration, Instant};

/// `write(path, value)`: how limits are set and processes moved.
pub fn write(path: &Path, value: &str, trace: &Trace) -> Result<(), Error> {
    trace.write_file(path, value).map_err(|e| Error::call(format!("writing {value:?} to {}", path.display()), e))
}

/// `mkdir(path)`, tolerating one that exists (a parent shared by containers).
pub fn mkdir(path: &Path, trace: &Trace) -> Result<(), Error> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        result => trace
            .call(format_args!("mkdir({path:?})"), result.map_err(|e| errno_of(&e)))
            .map_err(|e| Error::call(format!("creating the cgroup {}", path.display()), e)),
    }
}

/// Runs `make` (the `mkdir`s from a hierarchy's root down to the container's cgroup) again when
/// it fails with ENOENT: another runtime may remove a shared parent that it found empty just
/// between our `mkdir` of it and of our own directory below.
pub fn retry_if_vanished(mut make: impl FnMut() -> Result<(), Error>) -> Result<(), Error> {
    let mut attempts = 0;
    loop {
        match make() {
            Err(Error::Call { source: Errno::ENOENT, .. }) if attempts < 3 => attempts += 1,
            other => return other,
        }
    }
}

/// `rmdir(path)`. A cgroup can only be removed once empty, and the kernel empties it a moment
/// after the last process exits (the dying PID namespace is torn down asynchronously), so a busy
/// one is tried again for up to two seconds.
pub fn rmdir(path: &Path, trace: &Trace) -> Result<(), Errno> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match std::fs::remove_dir(path).map_err(|e| errno_of(&e)) {
            Err(Errno::EBUSY) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(Errno::ENOENT) => return Ok(()),
            result => return trace.call(format_args!("rmdir({path:?})"), result),
        }
    }
}

/// `rmdir(path)`, once: for stale cgroups, where waiting for a busy one would be pointless.
pub fn rmdir_once(path: &Path, trace: &Trace) -> Result<(), Errno> {
    trace.call(format_args!("rmdir({path:?})"), std::fs::remove_dir(path).map_err(|e| errno_of(&e)))
}

/// Removes the shared parent (`coracle/`) once the last container below it is gone. Narrated
/// only when it happens: a parent still used by another container simply stays.
pub fn rmdir_if_unused(root: &Path, parent: &str, trace: &Trace) {
    // A nested parent (`a/b`) is removed level by level, deepest first, as far as unused.
    let mut path = root.join(parent);
    while path != root && path.starts_with(root) {
        if std::fs::remove_dir(&path).is_err() {
            return;
        }
        let _ = trace.call(format_args!("rmdir({path:?})"), Ok::<(), Errno>(()));
        if !path.pop() {
            return;
        }
    }
}

/// A file holding one number (`memory.peak`, `pids.max`); `max` reads as `None`.
pub fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file (`memory.events`, `cpu.stat`, `memory.oom_control`).
pub fn read_key(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}
