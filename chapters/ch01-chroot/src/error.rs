//! Errors of chapter 1, each carrying the docker exit code it stands for.
//!
//! Two kinds: [`Error`] happens in the runtime (the parent) and can carry any source; [`ChildError`]
//! happens in the child between `fork` and `execve`, and must cross a pipe to the parent, so it is
//! plain data: an exit code and a message.

use nix::errno::Errno;
use std::path::PathBuf;

/// Docker's exit code for a failure of the runtime itself.
pub const RUNTIME_FAILURE: u8 = 125;
/// The command was found but could not be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rootfs {}: no such directory (make one with `cargo xtask rootfs`)", path.display())]
    RootfsMissing { path: PathBuf },
    #[error("rootfs {}: not a directory", path.display())]
    RootfsNotDir { path: PathBuf },
    #[error("chroot needs root: run with sudo, or use chapter 2's rootless mode")]
    NotRoot,
    #[error("working directory {:?} is invalid: it must be an absolute path", path)]
    RelativeWorkdir { path: PathBuf },
    #[error("invalid environment variable {0:?}: expected K=V or K with a non-empty name K")]
    BadEnv(String),
    #[error("{call}")]
    Call {
        call: String,
        #[source]
        source: Errno,
    },
    /// The child failed before `execve`, and told us why over the error pipe.
    #[error("{message}")]
    Child { code: u8, message: String },
    /// An error of a later chapter's isolation layer, carried through chapter 1's launch sequence.
    #[error(transparent)]
    Layer(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// A failed kernel call made by the runtime: `call` names it with its arguments.
    pub fn call(call: impl Into<String>, source: Errno) -> Self {
        Error::Call { call: call.into(), source }
    }

    /// The exit code docker would give for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Child { code, .. } => *code,
            _ => RUNTIME_FAILURE,
        }
    }
}

/// A failure in the child before the command started: what the parent prints and exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildError {
    pub code: u8,
    pub message: String,
}

impl ChildError {
    /// A failed setup step (`chroot`, `chdir`, a mount...): the runtime failed, exit 125.
    pub fn call(call: impl std::fmt::Display, errno: Errno) -> Self {
        ChildError { code: RUNTIME_FAILURE, message: format!("{call}: {}", describe(errno)) }
    }

    /// Any other setup failure in the child, exit 125.
    pub fn other(message: impl Into<String>) -> Self {
        ChildError { code: RUNTIME_FAILURE, message: message.into() }
    }

    /// Encodes for the error pipe: the code as one byte, then the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![self.code];
        bytes.extend_from_slice(self.message.as_bytes());
        bytes
    }

    /// Decodes what [`encode`](Self::encode) wrote; `None` for nothing (the command started).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&code, message) = bytes.split_first()?;
        Some(ChildError { code, message: String::from_utf8_lossy(message).into_owned() })
    }
}

impl From<ChildError> for Error {
    fn from(e: ChildError) -> Self {
        Error::Child { code: e.code, message: e.message }
    }
}

/// The errno behind an I/O error from `std::fs`, so file operations can be narrated and
/// reported like the system calls they are.
pub fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// An I/O error as docker words it: `no such file or directory`, without Rust's `(os error 2)`.
pub fn describe_io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(_) => describe(errno_of(e)),
        None => e.to_string(),
    }
}

/// An errno as docker words it: `no such file or directory`, lowercase.
pub fn describe(errno: Errno) -> String {
    let text = errno.desc();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("{errno:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_errors_survive_the_pipe() {
        let e = ChildError::call("chroot(\"/r\")", Errno::EPERM);
        assert_eq!(e.message, "chroot(\"/r\"): operation not permitted");
        assert_eq!(ChildError::decode(&e.encode()), Some(e));
        assert_eq!(ChildError::decode(&[]), None);
    }
}
