//! Chapter 4: images, layers and a build.
//!
//! Chapter 3's container ran on a directory given with `--rootfs`. This chapter runs it on an
//! **image**: the lecture calls an image an archive of programs and libraries installed in
//! advance, with each line of the Dockerfile a layer; here it is a stack of read-only directories,
//! joined by **overlayfs** under one writable layer per container, so that containers of one image
//! share its files and never see each other's writes. The images live in a **content-addressed
//! store**, where everything is named by its sha256; `build` makes them from a **Dockerfile**, one
//! layer per `RUN` or `COPY`, taking each `RUN`'s layer from the overlay's upper directory, and
//! reuses the steps whose inputs did not change (the **build cache**). Layers are untrusted tar
//! archives, so they are extracted by our own code that never writes outside the store.
//! Book: "Chapter 4: layers".
//!
//! # Layout
//! - [`digest`], [`reference`], [`time`]: sha256 names, `name:tag`, timestamps.
//! - [`layer`]: safe extraction of a layer tar, whiteouts, and a directory back to a tar.
//! - [`store`]: blobs, layers, images, tags, the build cache, containers; the lock; `rmi`'s collection.
//! - [`import`]: `import TAR|DIR NAME[:TAG]`.
//! - [`overlay`]: the overlayfs mount of an image's layers.
//! - [`config`], [`user`], [`volume`]: from an image's config and `run`'s flags to the process.
//! - [`container`]: [`FromImage`], chapter 3's `Isolation` on an overlay.
//! - [`run`]: `run IMAGE`, from the store to chapter 1's launch and back.
//! - [`dockerfile`], [`context`], [`build`]: `build`, its parser, its context and its cache.
//! - [`show`]: `images`, `history`, `inspect`, `ps`.
//! - [`cli`], [`error`]: the commands, and chapter 3's errors plus this chapter's.

pub mod build;
pub mod cli;
pub mod config;
pub mod container;
pub mod context;
pub mod digest;
pub mod dockerfile;
pub mod error;
pub mod import;
pub mod layer;
pub mod overlay;
pub mod reference;
pub mod run;
pub mod show;
pub mod store;
pub mod time;
pub mod user;
pub mod volume;

pub use cli::{Cli, Command};
pub use container::FromImage;
pub use error::Error;
pub use store::Store;

/// Runs one command of the command line. Returns the exit code to leave with.
pub fn main(cli: &Cli) -> Result<u8, Error> {
    let root = cli.root.as_deref();
    let print = |text: String| {
        print!("{text}");
        Ok(0)
    };
    match &cli.command {
        Command::Run(args) => run::run(root, args),
        Command::Build(args) => build::build(root, args),
        Command::Import { source, reference } => {
            let store = Store::open(root)?;
            let image = import::import(&store, source, reference)?;
            print(format!("{}\n", image.id))
        }
        Command::Images => {
            let store = Store::open(root)?;
            let _lock = store.lock_shared()?;
            print(show::images(&store)?)
        }
        Command::History { image, no_trunc } => {
            let store = Store::open(root)?;
            let _lock = store.lock_shared()?;
            print(show::history(&store, &store.resolve(image)?, *no_trunc)?)
        }
        Command::Inspect { image } => {
            let store = Store::open(root)?;
            let _lock = store.lock_shared()?;
            print(show::inspect(&store, &store.resolve(image)?)?)
        }
        Command::Rmi { images } => {
            let store = Store::open(root)?;
            let _lock = store.lock()?;
            for image in images {
                for line in store.remove_image(image)? {
                    println!("{line}");
                }
            }
            Ok(0)
        }
        Command::Ps { all } => {
            let store = Store::open(root)?;
            let _lock = store.lock_shared()?;
            print(show::ps(&store, *all)?)
        }
        Command::Rm { containers } => {
            let store = Store::open(root)?;
            let _lock = store.lock()?;
            for name in containers {
                let container = store.find_container(name)?;
                let status = container.status_text(time::now());
                if status.starts_with("Up") || status == "Building" {
                    return Err(Error::ContainerRunning { name: name.clone(), pid: container.pid.unwrap_or(0) });
                }
                store.remove_container(&container.id)?;
                println!("{name}");
            }
            Ok(0)
        }
    }
}
