//! How the child's wait status becomes the runtime's exit code, docker's way.

use nix::sys::wait::WaitStatus;

// ANCHOR: solution-exit-code
/// The command's own exit code, or 128+N when signal N killed it (so `kill -9` gives 137, like a
/// shell reports it). The runtime exits with this code, so scripts cannot tell the container from
/// the command itself.
pub fn code(status: WaitStatus) -> u8 {
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as u8,
        // Stopped or continued children are not finished; `wait` only returns these on request.
        _ => crate::error::RUNTIME_FAILURE,
    }
}
// ANCHOR_END: solution-exit-code

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn signals_map_above_128() {
        let pid = Pid::from_raw(1);
        assert_eq!(code(WaitStatus::Exited(pid, 3)), 3);
        assert_eq!(code(WaitStatus::Signaled(pid, Signal::SIGKILL, false)), 137);
        assert_eq!(code(WaitStatus::Signaled(pid, Signal::SIGTERM, false)), 143);
    }
}
