//! Chapter 2's errors: chapter 1's, plus the ones about namespaces.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Chroot(#[from] ch01_chroot::Error),
    #[error("invalid hostname {0:?}: use dot-separated labels of 1 to 63 letters, digits and inner '-', 64 characters at most")]
    BadHostname(String),
    #[error(
        "rootfs {}: not readable by uid {uid}; a rootless container needs a rootfs you can read: \
         build your own (`cargo xtask rootfs` in your own checkout) or ask its owner to `chmod -R a+rX` it", path.display()
    )]
    RootfsNotReadable { path: PathBuf, uid: u32 },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
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

/// Chapter 1's launch sequence carries our errors as its `Layer` variant.
impl From<Error> for ch01_chroot::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Chroot(inner) => inner,
            other => ch01_chroot::Error::Layer(Box::new(other)),
        }
    }
}
