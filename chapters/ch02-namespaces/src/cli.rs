//! Chapter 2's `run` flags: chapter 1's, flattened, plus the namespace ones ([`NamespaceArgs`]).

use clap::Args;

/// `ch02-namespaces run`: chapter 1's flags, plus the namespace ones.
#[derive(Debug, Clone, Args)]
// No argument group: every chapter flattens these, and clap wants group names unique.
#[group(skip)]
pub struct RunArgs {
    #[command(flatten)]
    pub base: ch01_chroot::RunArgs,
    #[command(flatten)]
    pub namespaces: NamespaceArgs,
}

/// The flags of this chapter, whatever the root is made of (chapter 4 reuses them for images).
#[derive(Debug, Clone, Args)]
#[group(skip)]
pub struct NamespaceArgs {
    /// The container's hostname (default: a random 12-hex-digit id, like docker's).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Run a tiny init as PID 1 that reaps orphans and forwards signals (like `docker run --init`).
    #[arg(long)]
    pub init: bool,
    /// Run in a user namespace that maps you to root inside (the default when not root).
    #[arg(long)]
    pub rootless: bool,
    /// Seconds to wait after forwarding SIGTERM or SIGINT before killing the container.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub stop_timeout: u64,
}
