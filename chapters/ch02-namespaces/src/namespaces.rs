//! The namespaces: which ones, `clone(2)` into them, and what is set up inside (hostname, `lo`).
//!
//! A namespace wraps one kind of global resource so that the processes inside see their own
//! instance of it. `clone(2)` with `CLONE_NEW*` flags creates the child directly inside new ones;
//! the child of `CLONE_NEWPID` is PID 1 of its namespace. (`unshare(2)` would move the caller
//! instead, except for PID namespaces, which only apply to children: hence `unshare --fork`.)

use ch01_chroot::{ChildError, Error, Trace};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

// ANCHOR: flags
/// The namespaces every container gets, and `CLONE_NEWUSER` when rootless.
pub fn clone_flags(rootless: bool) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS    // mounts: its own mount tree, for pivot_root
        | CloneFlags::CLONE_NEWUTS             // hostname and domain name
        | CloneFlags::CLONE_NEWIPC             // System V IPC and POSIX message queues
        | CloneFlags::CLONE_NEWPID             // process ids: the command is PID 1
        | CloneFlags::CLONE_NEWNET;            // interfaces, routes, ports: only `lo`
    if rootless {
        flags |= CloneFlags::CLONE_NEWUSER;    // uids and capabilities: root inside only
    }
    flags
}
// ANCHOR_END: flags

/// `CLONE_NEWNS|CLONE_NEWPID|…` as the trace shows it, in the kernel's bit order.
pub fn describe(flags: CloneFlags) -> String {
    let names: Vec<String> = flags.iter_names().map(|(name, _)| name.to_string()).collect();
    names.join("|")
}

/// Size of the stack the cloned child starts on. It only runs our setup code before `execve`
/// (or, with `--init`, the init loop), so a small one is plenty; pages not touched cost nothing.
const STACK_SIZE: usize = 1024 * 1024;

// ANCHOR: clone
/// Creates the child inside new namespaces and runs `child` in it.
pub fn clone_into(flags: CloneFlags, trace: &Trace, child: &mut dyn FnMut() -> i32) -> Result<Pid, Error> {
    let mut stack = vec![0u8; STACK_SIZE];
    let callback = Box::new(|| child() as isize);
    // SAFETY: the runtime is single-threaded; without CLONE_VM the child runs on its own copy of
    // `stack` and of everything else, and leaves through `execve` or by returning (the kernel then
    // ends it with that exit code).
    let result = unsafe { nix::sched::clone(callback, &mut stack, flags, Some(libc::SIGCHLD)) };
    trace
        .call(format_args!("clone({})", describe(flags)), result)
        .map_err(|e| Error::call(format!("clone({})", describe(flags)), e))
}
// ANCHOR_END: clone

/// Sets the hostname of the new UTS namespace; the host's is untouched.
pub fn set_hostname(name: &str, trace: &Trace) -> Result<(), ChildError> {
    trace
        .call(format_args!("sethostname({name:?})"), nix::unistd::sethostname(name))
        .map_err(|e| ChildError::call(format_args!("sethostname({name:?})"), e))
}

/// A hostname like docker's default: 12 random hex digits.
pub fn random_hostname() -> String {
    random_hex(6)
}

/// `n` random bytes as hex (chapter 3's cgroup names and chapter 4's container ids use it too).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if let Ok(mut urandom) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut urandom, &mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hostnames as RFC 1123 allows them: dot-separated labels of 1 to 63 letters, digits and
/// inner hyphens, at most 64 bytes in all (the kernel's limit).
pub fn valid_hostname(name: &str) -> bool {
    name.len() <= 64
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

// ANCHOR: loopback
/// A new network namespace has only a loopback interface, and it is down. Bring it up, as
/// `ip link set lo up` would, so 127.0.0.1 works inside.
pub fn bring_up_loopback(trace: &Trace) -> Result<(), ChildError> {
    // Why raw `libc`: nix wraps neither the interface-flag ioctls nor `struct ifreq`.
    // SAFETY: a plain datagram socket, closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(ChildError::call("socket(AF_INET, SOCK_DGRAM)", nix::errno::Errno::last()));
    }
    // SAFETY: `ifreq` is plain data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write `request`, which outlives the calls.
    let result = unsafe {
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut request) < 0 {
            -1
        } else {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &request)
        }
    };
    let result = nix::errno::Errno::result(result).map(drop);
    // SAFETY: `sock` is ours and used no more.
    unsafe { libc::close(sock) };
    trace
        .call(format_args!("ioctl(SIOCSIFFLAGS, \"lo\", IFF_UP)"), result)
        .map_err(|e| ChildError::call("bringing up lo", e))
}
// ANCHOR_END: loopback

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(valid_hostname("web-1.local"));
        assert!(!valid_hostname(""));
        assert!(!valid_hostname("trailing-"));
        assert!(!valid_hostname("a..b"));
        assert!(!valid_hostname("a/b"));
        assert!(!valid_hostname(&"x".repeat(65)));
        assert_eq!(random_hostname().len(), 12);
    }

    #[test]
    fn rootless_adds_a_user_namespace() {
        assert!(!clone_flags(false).contains(CloneFlags::CLONE_NEWUSER));
        assert!(clone_flags(true).contains(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID));
    }
}
