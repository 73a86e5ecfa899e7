//! Chapter 3's errors: chapter 2's, plus the ones about limits and cgroups.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Namespaces(#[from] ch02_namespaces::Error),
    #[error(transparent)]
    Chroot(#[from] ch01_chroot::Error),
    #[error("invalid {flag} {value:?}: {why}")]
    BadLimit { flag: &'static str, value: String, why: String },
    #[error("invalid --cgroup-parent {0:?}: use a relative path of letters, digits, '-', '_' and '/'")]
    BadParent(String),
    #[error(
        "resource limits need a cgroup of our own, which a rootless container does not get here: run \
         as root without --rootless, or without --memory/--cpus/--pids-limit (rootless limits would \
         need a delegated cgroup v2 subtree)"
    )]
    RootlessLimits,
    #[error("no cgroup hierarchy for the {0} controller is mounted under /sys/fs/cgroup")]
    NoController(&'static str),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Namespaces(e) => e.exit_code(),
            Error::Chroot(e) => e.exit_code(),
            _ => ch01_chroot::error::RUNTIME_FAILURE,
        }
    }
}

impl ch01_chroot::cli::ExitStatus for Error {
    fn exit_code(&self) -> u8 {
        Error::exit_code(self)
    }
}
