//! One build step: expand its variables, compute its cache key, then reuse the cached image or
//! make a new one: a config change (`ENV`, `WORKDIR`, `CMD`...), a layer from the build context
//! (`COPY`), or a layer from a container's upper directory (`RUN`).

use super::cache::Key;
use super::{Builder, expand};
use crate::dockerfile::{Command, Instruction, Kind};
use crate::error::Error;
use crate::import::arch;
use crate::layer::{self, TreeKind};
use crate::run::{self, Spec};
use crate::store::Store;
use crate::store::containers::Status;
use crate::store::images::Image;
use crate::store::layers::Layer;
use oci_spec::image::{Config, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os, RootFsBuilder};
use std::fs::File;
use std::path::{Path, PathBuf};

/// What a step does, its variables expanded.
#[derive(Debug)]
enum Action {
    Config(Config),
    Run(Vec<String>),
    Copy { sources: Vec<crate::context::Source>, dest: String, into_dir: bool, owner: (u32, u32) },
}

/// The image `FROM scratch` starts from: no layers, an empty config.
pub fn scratch(store: &Store) -> Result<Image, Error> {
    let config = ImageConfigurationBuilder::default()
        .architecture(arch())
        .os(Os::Linux)
        .rootfs(RootFsBuilder::default().typ("layers").diff_ids(Vec::<String>::new()).build().expect("rootfs builds"))
        .history(Vec::new())
        .build()
        .expect("an empty config builds");
    store.commit(&config, &[], None)
}

impl Builder<'_> {
    // ANCHOR: step
    /// Step `n` of `total`.
    pub(super) fn step(&mut self, n: usize, total: usize, instruction: &Instruction) -> Result<(), Error> {
        let action = self.action(instruction)?;
        let mut key = Key::new(&self.image.id, &instruction.text);
        key.part("action", format!("{action:?}").as_bytes());
        match &action {
            // Build args reach RUN as environment variables: another value, another result.
            Action::Run(_) => key.part("env", self.arg_env().join("\n").as_bytes()),
            // COPY depends on the files' content, which the instruction's text does not show.
            Action::Copy { sources, .. } => self.context.hash_sources(sources, key.hasher()),
            Action::Config(_) => {}
        }
        let key = key.finish();
        if !self.no_cache {
            // Under the lock, so that an `rmi` elsewhere cannot collect the cached image
            // between finding it and the lease naming it.
            let _lock = self.store.lock()?;
            if let Some(cached) = self.store.cached(&key) {
                println!("[{n}/{total}] CACHED {}", instruction.text);
                return self.advance(cached, None);
            }
        }
        println!("[{n}/{total}] {}", instruction.text);
        // The layer is staged as a tar in the lease's directory, where no lock is needed...
        let (settings, staged) = match action {
            Action::Config(config) => (config, None),
            Action::Run(argv) => (self.settings(), Some(self.run(instruction, argv)?)),
            Action::Copy { sources, dest, into_dir, owner } => (self.settings(), Some(self.copy(instruction, &sources, &dest, into_dir, owner)?)),
        };
        // ...then added, committed, remembered and leased under one lock: in no moment between
        // these is the new layer or image unreachable for `rmi`'s collection.
        let _lock = self.store.lock()?;
        let layer = match &staged {
            Some(tar) => {
                let file = File::open(tar).map_err(Error::io(tar))?;
                let layer = self.store.add_layer(file);
                let _ = std::fs::remove_file(tar);
                Some(layer?)
            }
            None => None,
        };
        let image = self.commit(instruction, settings, layer)?;
        self.advance(image, Some(&key))
    }
    // ANCHOR_END: step

    /// The image's runtime config so far.
    fn settings(&self) -> Config {
        crate::config::settings(&self.image.config)
    }

    /// The value of `$name`: ENV set so far wins over ARG, as in docker.
    fn lookup(&self, name: &str) -> Option<String> {
        let env = self.settings().env().clone().unwrap_or_default();
        env.iter()
            .rev()
            .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
            .or_else(|| self.args.get(name).cloned().flatten())
    }

    fn expand(&self, instruction: &Instruction, raw: &str) -> Result<String, Error> {
        expand(&self.file, instruction.line, raw, &|name| self.lookup(name))
    }

    /// The ARGs with values that ENV does not override: the extra environment of a RUN.
    fn arg_env(&self) -> Vec<String> {
        let env = self.settings().env().clone().unwrap_or_default();
        self.args
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
            .filter(|(k, _)| !env.iter().any(|pair| pair.split_once('=').is_some_and(|(n, _)| n == k.as_str())))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Expands the instruction and turns it into what the step will do.
    fn action(&mut self, instruction: &Instruction) -> Result<Action, Error> {
        let mut config = self.settings();
        let argv = |command: &Command| match command {
            Command::Shell(text) => vec!["/bin/sh".to_string(), "-c".to_string(), text.clone()],
            Command::Exec(argv) => argv.clone(),
        };
        match &instruction.kind {
            Kind::From { .. } => Err(self.error(instruction, "multi-stage builds (a second FROM) are not supported")),
            Kind::Run(command) => Ok(Action::Run(argv(command))),
            Kind::Cmd(command) => {
                self.cmd_set = true;
                config.set_cmd(Some(argv(command)));
                Ok(Action::Config(config))
            }
            Kind::Entrypoint(command) => {
                config.set_entrypoint(Some(argv(command)));
                // Docker: an ENTRYPOINT resets a CMD inherited from the base image, not one
                // this Dockerfile set before it.
                if !self.cmd_set {
                    config.set_cmd(None);
                }
                Ok(Action::Config(config))
            }
            Kind::Env(pairs) => {
                let mut env = config.env().clone().unwrap_or_default();
                for (key, raw) in pairs {
                    let (key, value) = (self.expand(instruction, key)?, self.expand(instruction, raw)?);
                    env.retain(|pair| pair.split_once('=').is_none_or(|(k, _)| k != key));
                    env.push(format!("{key}={value}"));
                }
                config.set_env(Some(env));
                Ok(Action::Config(config))
            }
            Kind::Arg { name, default } => {
                let value = match (self.build_args.get(name), default) {
                    (Some(value), _) => Some(value.clone()),
                    (None, Some(default)) => Some(self.expand(instruction, default)?),
                    // `ARG NAME` alone takes the value of an ARG NAME declared before FROM.
                    (None, None) => self.global_args.get(name).cloned(),
                };
                self.args.insert(name.clone(), value);
                Ok(Action::Config(config))
            }
            Kind::Label(pairs) => {
                let mut labels = config.labels().clone().unwrap_or_default();
                for (key, raw) in pairs {
                    labels.insert(self.expand(instruction, key)?, self.expand(instruction, raw)?);
                }
                config.set_labels(Some(labels));
                Ok(Action::Config(config))
            }
            Kind::Expose(ports) => {
                let mut exposed = config.exposed_ports().clone().unwrap_or_default();
                for raw in ports {
                    let port = self.expand(instruction, raw)?;
                    let (number, proto) = port.split_once('/').unwrap_or((&port, "tcp"));
                    if !matches!(number.parse::<u16>(), Ok(1..)) || !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(self.error(instruction, format!("EXPOSE: invalid port {port:?}: expected PORT or PORT/tcp|udp")));
                    }
                    let port = format!("{number}/{proto}");
                    if !exposed.contains(&port) {
                        exposed.push(port);
                    }
                }
                exposed.sort();
                config.set_exposed_ports(Some(exposed));
                Ok(Action::Config(config))
            }
            Kind::User(raw) => {
                config.set_user(Some(self.expand(instruction, raw)?));
                Ok(Action::Config(config))
            }
            Kind::Workdir(raw) => {
                let dir = self.expand(instruction, raw)?;
                let base = config.working_dir().clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "/".into());
                config.set_working_dir(Some(clean(&Path::new(&base).join(dir)).display().to_string()));
                Ok(Action::Config(config))
            }
            Kind::Copy { sources, dest, chown } => self.copy_action(instruction, sources, dest, chown.as_deref()),
        }
    }

    fn copy_action(&self, instruction: &Instruction, sources: &[String], dest: &str, chown: Option<&str>) -> Result<Action, Error> {
        let mut resolved = Vec::new();
        let mut globbed = false;
        for raw in sources {
            let source = self.expand(instruction, raw)?;
            globbed |= source.contains(['*', '?', '[']);
            resolved.extend(self.context.resolve(&source).map_err(|e| self.error(instruction, format!("COPY: {e}")))?);
        }
        let dest = self.expand(instruction, dest)?;
        let workdir = self.settings().working_dir().clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "/".into());
        let layers = self.layer_dirs();
        // The destination as the container would see it: through the image's links.
        let absolute = PathBuf::from(layer::resolve_in_image(&layers, &clean(&Path::new(&workdir).join(&dest)).to_string_lossy()));
        // What the image has at the destination, links not followed.
        let in_image = layer::lookup(&layers, &absolute.to_string_lossy()).and_then(|p| std::fs::symlink_metadata(p).ok());
        let is_dir_in_image = in_image.as_ref().is_some_and(|m| m.is_dir());
        let several = resolved.len() > 1 || sources.len() > 1 || (globbed && resolved.len() > 1);
        if several && !dest.ends_with('/') && !is_dir_in_image {
            return Err(self.error(instruction, "COPY: with more than one source, the destination must be a directory and end with a /"));
        }
        let into_dir = dest.ends_with('/') || dest == "." || several || is_dir_in_image;
        // Copying into something the image has as a file (or a link) would replace it with a
        // directory; docker refuses, and so do we.
        let dir_needed = into_dir || resolved.iter().any(|s| s.is_dir);
        let not_a_dir = in_image.is_some_and(|m| !m.is_dir());
        if dir_needed && not_a_dir {
            return Err(self.error(instruction, format!("COPY: {} is not a directory in the image", absolute.display())));
        }
        let owner = match chown {
            None => (0, 0),
            Some(raw) => {
                let spec = self.expand(instruction, raw)?;
                let user = crate::user::resolve_in_image(&spec, &layers).map_err(|e| self.error(instruction, format!("COPY --chown: {e}")))?;
                if self.store.rootless() && (user.uid, user.gid) != (0, 0) {
                    return Err(self.error(instruction, format!("COPY --chown={spec}: a rootless store keeps no owner but yours (only root is mapped inside); build as root")));
                }
                (user.uid, user.gid)
            }
        };
        Ok(Action::Copy { sources: resolved, dest: absolute.display().to_string(), into_dir, owner })
    }

    fn layer_dirs(&self) -> Vec<PathBuf> {
        self.image.diff_ids().iter().rev().map(|d| self.store.layer_dir(d)).collect()
    }

    // ANCHOR: run
    /// Runs a RUN step's command in a container of the image so far, with the host's network, and
    /// takes its upper directory as the new layer. The container is removed on every path.
    fn run(&self, instruction: &Instruction, argv: Vec<String>) -> Result<PathBuf, Error> {
        let container = {
            let _lock = self.store.lock()?;
            self.store.create_container(None, &format!("build {}", self.reference), &self.image.id, &argv, Status::Building, true)?
        };
        let remove = RemoveOnDrop { store: self.store, id: &container.id };
        let spec = Spec {
            argv,
            env: self.arg_env(),
            workdir: None,
            user: None,
            volumes: Vec::new(),
            namespaces: ch02_namespaces::NamespaceArgs { hostname: None, init: false, rootless: false, stop_timeout: 10 },
            limits: ch03_cgroups::LimitArgs::default(),
            build_step: true,
        };
        // Whatever stops the step, docker build exits 1.
        let code = run::start(self.store, &self.image, &container, &spec, &self.trace)
            .map_err(|e| self.step_failed(instruction, ch01_chroot::cli::chain(&e), 1))?;
        if code != 0 {
            return Err(self.step_failed(instruction, format!("the command exited with code {code}"), 1));
        }
        let upper = self.store.container_dir(&container.id).join("upper");
        let staged = self.staged("diff.tar");
        let out = File::create(&staged).map_err(Error::io(&staged))?;
        layer::write_tree(&upper, TreeKind::OverlayUpper, std::io::BufWriter::new(out)).map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            self.step_failed(instruction, format!("taking the layer: {}", ch01_chroot::error::describe_io(&e)), 1)
        })?;
        drop(remove);
        Ok(staged)
    }

    /// A COPY's layer, staged as a tar.
    fn copy(&self, instruction: &Instruction, sources: &[crate::context::Source], dest: &str, into_dir: bool, owner: (u32, u32)) -> Result<PathBuf, Error> {
        let staged = self.staged("copy.tar");
        let out = File::create(&staged).map_err(Error::io(&staged))?;
        let layers = self.layer_dirs();
        let existing = |path: &Path| -> Option<crate::context::DirMeta> {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::symlink_metadata(layer::lookup(&layers, &path.to_string_lossy())?).ok()?;
            meta.is_dir().then(|| (meta.mode() & 0o7777, meta.uid(), meta.gid(), meta.mtime().max(0) as u64))
        };
        crate::context::write_copy_layer(&self.context, sources, dest, into_dir, owner, &existing, std::io::BufWriter::new(out)).map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            self.error(instruction, format!("COPY: {e}"))
        })?;
        Ok(staged)
    }

    /// A path in the lease's directory for a staged layer: ours alone, so no lock is needed.
    fn staged(&self, name: &str) -> PathBuf {
        self.store.container_dir(&self.lease.id).join(name)
    }
    // ANCHOR_END: run

    fn step_failed(&self, instruction: &Instruction, why: String, code: u8) -> Error {
        Error::StepFailed { file: self.file.clone(), line: instruction.line, instruction: instruction.text.clone(), why, code }
    }

    // ANCHOR: commit
    /// The image of this step: the last one's config with `settings`, one more history entry,
    /// and `layer` on top if the step made one. The caller holds the store's lock.
    fn commit(&self, instruction: &Instruction, settings: Config, layer: Option<Layer>) -> Result<Image, Error> {
        let mut config: ImageConfiguration = self.image.config.clone();
        let created = crate::time::rfc3339(crate::time::now());
        config.set_created(Some(created.clone()));
        config.set_config(Some(settings));
        let mut entry = HistoryBuilder::default().created(created).created_by(instruction.text.clone());
        if layer.is_none() {
            entry = entry.empty_layer(true);
        }
        let mut history = config.history().clone().unwrap_or_default();
        history.push(entry.build().expect("a history entry builds"));
        config.set_history(Some(history));
        let mut layers: Vec<Layer> = self.image.diff_ids().iter().map(|d| self.store.layer(d)).collect::<Result<_, _>>()?;
        if let Some(layer) = layer {
            config.rootfs_mut().diff_ids_mut().push(layer.diff_id.to_string());
            layers.push(layer);
        }
        self.store.commit(&config, &layers, Some(&self.image.id))
    }
    // ANCHOR_END: commit

    /// Moves the build on to `image`, remembering it under `key` for the next build. The caller
    /// holds the store's lock.
    fn advance(&mut self, image: Image, key: Option<&crate::digest::Digest>) -> Result<(), Error> {
        if let Some(key) = key {
            self.store.remember(key, &image)?;
        }
        self.lease.image_id = image.id.clone();
        self.store.save_container(&self.lease)?;
        self.image = image;
        Ok(())
    }
}

/// Removes a build step's container when dropped.
struct RemoveOnDrop<'a> {
    store: &'a Store,
    id: &'a str,
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(_lock) = self.store.lock() {
            let _ = self.store.remove_container(self.id);
        }
    }
}

/// A path without `.`, `..` or repeated slashes, kept inside `/` (the build context's rule).
fn clean(path: &Path) -> PathBuf {
    Path::new("/").join(crate::context::ignore::clean(&path.to_string_lossy()))
}
