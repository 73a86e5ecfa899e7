//! Chapter 4's command line: docker's image and container commands. `run` flattens chapter 3's
//! flags (which flatten chapter 2's and chapter 1's), with an image in place of `--rootfs`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli {
    /// The image store (default /var/lib/coracle, or $XDG_DATA_HOME/coracle when not root).
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command in a new container made from an image.
    Run(Box<RunArgs>),
    /// Build an image from a Dockerfile and a context directory.
    Build(BuildArgs),
    /// Make an image of one layer from a tar archive (plain or gzip) or a directory.
    Import {
        /// The tar archive or directory.
        #[arg(value_name = "TAR|DIR")]
        source: PathBuf,
        /// The name to give it.
        #[arg(value_name = "NAME[:TAG]")]
        reference: String,
    },
    /// List the tagged images.
    Images,
    /// Show the layers of an image and the instructions that made them.
    History {
        image: String,
        /// Show the full instructions.
        #[arg(long)]
        no_trunc: bool,
    },
    /// Remove image tags, and the images and layers nothing uses any more.
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Print an image's config as JSON.
    Inspect { image: String },
    /// List running containers (with -a, all of them).
    Ps {
        #[arg(short, long)]
        all: bool,
    },
    /// Remove stopped containers.
    Rm {
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

/// `run [flags] IMAGE [CMD]...`
#[derive(Debug, Clone, Args)]
#[group(skip)]
pub struct RunArgs {
    /// Remove the container (its writable layer) when it exits.
    #[arg(long)]
    pub rm: bool,
    /// A name for the container, unique in the store.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The user to run as: NAME, UID, NAME:GROUP or UID:GID, resolved in the image.
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Bind-mount a host path: HOST:CONTAINER[:ro].
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    pub volumes: Vec<String>,
    /// Replace the image's ENTRYPOINT (the empty string clears it).
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    #[command(flatten)]
    pub process: ch01_chroot::ProcessArgs,
    #[command(flatten)]
    pub namespaces: ch02_namespaces::NamespaceArgs,
    #[command(flatten)]
    pub limits: ch03_cgroups::LimitArgs,
    /// The image, then the command and its arguments (default: the image's).
    #[arg(value_name = "IMAGE [CMD]...", required = true, trailing_var_arg = true)]
    pub image_and_command: Vec<String>,
}

/// `build -t NAME[:TAG] [-f FILE] [--no-cache] [--build-arg K=V] CONTEXT`
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// The name of the image built.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]", required = true)]
    pub tag: String,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run every step again instead of reusing the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// A value for an ARG of the Dockerfile.
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// Narrate every kernel call of the RUN steps.
    #[arg(long)]
    pub trace: bool,
    /// The build context: the directory COPY reads from.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
}
