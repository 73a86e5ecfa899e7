//! Starting the command: the `PATH` lookup and `execve(2)`, with docker's exit codes.
//!
//! The lookup happens in the child, after the root changed, so `sh` means the rootfs's `/bin/sh`,
//! found through the container's `PATH`, never the host's. We search `PATH` ourselves instead of
//! calling `execvp(3)` so the failure can be told apart the way docker tells it: nothing found is 127,
//! found but not executable is 126.

use crate::env::Env;
use crate::error::{ChildError, NOT_EXECUTABLE, NOT_FOUND, describe};
use crate::trace::{self, Trace};
use nix::errno::Errno;
use nix::sys::stat::{SFlag, stat};
use std::ffi::CString;
use std::path::PathBuf;

// ANCHOR: solution-resolve
/// Finds `command` as `execvp(3)` would: a name with a `/` is used as it is; a bare name is looked
/// up in each directory of `path` in turn. A match that exists but cannot be executed is remembered,
/// so "permission denied" (126) wins over "not found" (127) only when nothing better turns up.
pub fn resolve(command: &str, path: &str) -> Result<PathBuf, ChildError> {
    if command.is_empty() {
        return Err(ChildError { code: NOT_FOUND, message: "exec: \"\": executable file not found in $PATH".into() });
    }
    if command.contains('/') {
        return Ok(PathBuf::from(command));
    }
    let mut denied = None;
    for dir in path.split(':') {
        // An empty entry means the working directory, as in a shell.
        let candidate = PathBuf::from(if dir.is_empty() { "." } else { dir }).join(command);
        let Ok(meta) = stat(&candidate) else { continue };
        let is_file = SFlag::from_bits_truncate(meta.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
        if is_file && meta.st_mode & 0o111 != 0 {
            return Ok(candidate);
        }
        denied.get_or_insert(candidate);
    }
    Err(match denied {
        Some(path) => failure(&path.display().to_string(), Errno::EACCES),
        None => ChildError {
            code: NOT_FOUND,
            message: format!("exec: {command:?}: executable file not found in $PATH"),
        },
    })
}
// ANCHOR_END: solution-resolve

/// Replaces this process with the command. Returns only if that failed, with the reason.
pub fn exec(argv: &[String], env: &Env, trace: &Trace) -> ChildError {
    let Some(command) = argv.first() else {
        return ChildError::other("no command given");
    };
    let program = match resolve(command, env.get("PATH").unwrap_or_default()) {
        Ok(program) => program,
        Err(e) => return e,
    };
    if !command.contains('/') {
        trace.note(format_args!("{command:?} found in the container's PATH: {}", program.display()));
    }
    let (Ok(c_program), Ok(c_argv)) = (
        CString::new(program.as_os_str().as_encoded_bytes()),
        argv.iter().map(|a| CString::new(a.as_str())).collect::<Result<Vec<_>, _>>(),
    ) else {
        return ChildError::other("the command contains a NUL byte");
    };
    // Rust ignores SIGPIPE in every program it starts (so a closed pipe is an error, not a death),
    // and an ignored signal stays ignored across execve. Give the command the default back, as
    // `std::process::Command` would: `yes | head -1` must end `yes`.
    // SAFETY: SIG_DFL runs no code of ours in a signal handler.
    let reset = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    if let Err(errno) = trace.call(format_args!("signal(SIGPIPE, SIG_DFL)"), reset.map(drop)) {
        return ChildError::call("signal(SIGPIPE, SIG_DFL)", errno);
    }
    trace.before(format_args!("execve({:?}, {}, [{} vars])", program, trace::argv(argv), env.len()));
    // ANCHOR: execve
    let Err(errno) = nix::unistd::execve(&c_program, &c_argv, &env.to_cstrings());
    // ANCHOR_END: execve
    failure(&program.display().to_string(), errno)
}

/// Docker's wording and code for an `execve` that failed.
fn failure(program: &str, errno: Errno) -> ChildError {
    let code = match errno {
        Errno::ENOENT | Errno::ENOTDIR => NOT_FOUND,
        _ => NOT_EXECUTABLE,
    };
    ChildError { code, message: format!("exec: {program:?}: {}", describe(errno)) }
}
