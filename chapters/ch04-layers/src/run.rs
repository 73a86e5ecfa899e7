//! `run`: a container from an image. The store makes the container (its state and overlay
//! directories), chapter 3's launch runs it on the image's layers, and the store records how it
//! ended, or removes it (`--rm`, or a failure before the command started).

use crate::cli::RunArgs;
use crate::config;
use crate::container::FromImage;
use crate::error::Error;
use crate::overlay::Overlay;
use crate::store::Store;
use crate::store::containers::{Container, Status};
use crate::store::images::Image;
use crate::user::{self, User};
use crate::volume::Volume;
use ch01_chroot::{Process, Trace};
use ch02_namespaces::{NamespaceArgs, Namespaced};
use ch03_cgroups::{LimitArgs, Limited};
use std::path::PathBuf;

/// Everything a container of an image is started with, from `run`'s flags or a build step.
#[derive(Debug, Clone)]
pub struct Spec {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<PathBuf>,
    pub user: Option<String>,
    pub volumes: Vec<Volume>,
    pub namespaces: NamespaceArgs,
    pub limits: LimitArgs,
    /// Build steps: the host's network and no stdin.
    pub build_step: bool,
}

/// `run`. Returns the exit code to leave with.
pub fn run(store_root: Option<&std::path::Path>, args: &RunArgs) -> Result<u8, Error> {
    // Everything the user gave is checked before the store is touched: a bad flag leaves nothing.
    let volumes = args.volumes.iter().map(|v| Volume::parse(v)).collect::<Result<Vec<_>, _>>()?;
    Limited::check(&args.limits)?;
    if let Some(name) = args.name.as_deref().filter(|n| !crate::store::containers::valid_name(n)) {
        return Err(Error::BadName(name.to_string()));
    }
    let (image_name, command) = args.image_and_command.split_first().expect("clap requires the image");
    let store = Store::open(store_root)?;
    let (image, container) = {
        let _lock = store.lock()?;
        let image = store.resolve(image_name)?;
        let argv = config::argv(&config::settings(&image.config), command, args.entrypoint.as_deref())?;
        let container = store.create_container(args.name.as_deref(), image_name, &image.id, &argv, Status::Running, args.rm)?;
        (image, container)
    };
    let spec = Spec {
        argv: container.command.clone(),
        env: args.process.env.clone(),
        workdir: args.process.workdir.clone(),
        user: args.user.clone(),
        volumes,
        namespaces: args.namespaces.clone(),
        limits: args.limits.clone(),
        build_step: false,
    };
    let trace = Trace::new(args.process.trace);
    let result = start(&store, &image, &container, &spec, &trace);
    let _lock = store.lock()?;
    match result {
        Ok(code) if !args.rm => {
            let ended = Container { status: Status::Exited(code), pid: None, ..container };
            store.save_container(&ended)?;
            Ok(code)
        }
        Ok(code) => {
            store.remove_container(&container.id)?;
            Ok(code)
        }
        Err(e) => {
            let _ = store.remove_container(&container.id);
            Err(e)
        }
    }
}

// ANCHOR: start
/// Starts `container` of `image` as `spec` says and waits for it: the exit code of its command.
pub fn start(store: &Store, image: &Image, container: &Container, spec: &Spec, trace: &Trace) -> Result<u8, Error> {
    let settings = config::settings(&image.config);
    let layers: Vec<PathBuf> = image.diff_ids().iter().rev().map(|d| store.layer_dir(d)).collect();
    let user = match spec.user.clone().or_else(|| settings.user().clone()).filter(|u| !u.is_empty()) {
        None => User::root(),
        Some(spec) => user::resolve_in_image(&spec, &layers)?,
    };
    let dir = store.container_dir(&container.id);
    let mut namespaces = spec.namespaces.clone();
    // Like docker, the hostname is the container's short id unless given.
    namespaces.hostname.get_or_insert_with(|| container.id[..12].to_string());
    let mut inner = Namespaced::new(&dir.join("merged"), &namespaces)?;
    if spec.build_step {
        inner = inner.with_host_network();
    }
    let limited = Limited::new(inner, &spec.limits)?;
    let env = config::env(&settings, limited.inner.hostname(), &user.home, &spec.env)?;
    let workdir = config::workdir(&settings, spec.workdir.as_ref())?;
    let mut lower: Vec<String> = image.diff_ids().iter().rev().map(|d| d.hex().to_string()).collect();
    if lower.is_empty() {
        // The store's `empty/` directory, beside `layers/`: overlayfs needs one lower layer.
        lower.push("../empty".to_string());
    }
    let overlay = Overlay {
        layers_dir: store.root().join("layers"),
        lower,
        upper: dir.join("upper"),
        work: dir.join("work"),
        merged: dir.join("merged"),
        // In a user namespace (rootless, or --rootless as root), overlayfs needs `userxattr`.
        rootless: limited.inner.rootless(),
    };
    overlay.check().map_err(|why| Error::Store { path: store.root().to_path_buf(), why })?;
    let isolation = FromImage { inner: limited, overlay, volumes: spec.volumes.clone(), user, workdir: workdir.clone(), stdin_null: spec.build_step };
    let process = Process { argv: spec.argv.clone(), env, workdir };
    Ok(ch01_chroot::launch(&process, &isolation, trace)?)
}
// ANCHOR_END: start
