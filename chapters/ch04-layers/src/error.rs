//! Chapter 4's errors: chapter 3's, plus the store's, the image's and the build's.
//!
//! Every variant that comes from something the user wrote (a reference, a `-v`, a Dockerfile line,
//! a tarball) names it, so the one `error:` line says what is wrong and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cgroups(#[from] ch03_cgroups::Error),
    #[error("{0}")]
    Reference(String),
    #[error("no such image: {0} (import it or build it first; `images` lists the store)")]
    NoSuchImage(String),
    #[error("image id prefix {0:?} is ambiguous: give more digits")]
    AmbiguousImage(String),
    #[error("container {name} is running: stop it first (Ctrl-C where it runs, or kill {pid}, its runtime)")]
    ContainerRunning { name: String, pid: i32 },
    #[error("conflict: image {image} is used by a build in progress ({build})")]
    ImageInBuild { image: String, build: String },
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("the container name {0:?} is already in use (remove that container with `rm {0}`)")]
    NameInUse(String),
    #[error("invalid container name {0:?}: use letters, digits and '_.-', starting with a letter or digit")]
    BadName(String),
    #[error("conflict: image {image} is used by container {container} (remove it with `rm {container}`)")]
    ImageInUse { image: String, container: String },
    #[error("conflict: image {image} is referenced by several tags ({tags}): remove them by name")]
    ImageHasTags { image: String, tags: String },
    #[error("invalid volume {spec:?}: {why}")]
    BadVolume { spec: String, why: String },
    #[error("invalid user {spec:?}: {why}")]
    BadUser { spec: String, why: String },
    #[error("no command specified: the image has no CMD or ENTRYPOINT, give one after the image name")]
    NoCommand,
    /// A layer tar that cannot be extracted safely (see `layer::extract`).
    #[error("layer: {0}")]
    BadLayer(String),
    #[error("import {}: {why}", path.display())]
    Import { path: PathBuf, why: String },
    #[error("cannot read the Dockerfile {}: {why}", path.display())]
    NoDockerfile { path: PathBuf, why: String },
    #[error("{file}:{line}: {message}")]
    Dockerfile { file: String, line: usize, message: String },
    /// A build step whose command failed: docker's `docker build` exits 1 then, not 125.
    #[error("{file}:{line}: {instruction}: {why}")]
    StepFailed { file: String, line: usize, instruction: String, why: String, code: u8 },
    #[error("build context {}: {why}", path.display())]
    Context { path: PathBuf, why: String },
    #[error("the image store {}: {why}", path.display())]
    Store { path: PathBuf, why: String },
    /// Not a `#[source]`: the message already says it, in docker's words.
    #[error("{}: {}", path.display(), ch01_chroot::error::describe_io(error))]
    Io { path: PathBuf, error: std::io::Error },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Cgroups(e) => e.exit_code(),
            Error::StepFailed { code, .. } => *code,
            _ => ch01_chroot::error::RUNTIME_FAILURE,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }
}

impl From<ch01_chroot::Error> for Error {
    fn from(e: ch01_chroot::Error) -> Self {
        Error::Cgroups(e.into())
    }
}

impl From<ch02_namespaces::Error> for Error {
    fn from(e: ch02_namespaces::Error) -> Self {
        Error::Cgroups(e.into())
    }
}

impl ch01_chroot::cli::ExitStatus for Error {
    fn exit_code(&self) -> u8 {
        Error::exit_code(self)
    }
}
