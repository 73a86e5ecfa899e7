//! `build -t NAME[:TAG] [-f FILE] [--no-cache] [--build-arg K=V] CONTEXT`: an image from a
//! Dockerfile, one step per instruction, each step an image of its own built on the one before.
//!
//! ```text
//!   FROM base            image 1 = base
//!   WORKDIR /app         image 2 = image 1 + config change        (history: empty layer)
//!   COPY a.txt .         image 3 = image 2 + layer of the copied files
//!   RUN make             image 4 = image 3 + layer of the overlay's upper dir after `make`
//!   CMD ["./app"]        image 5 = image 4 + config change        -> tagged NAME:TAG
//! ```
//!
//! Each step's result is remembered under a key of what it depends on (see [`cache`]); when the
//! key is found again, the step is `CACHED` and its image reused as is, so an unchanged rebuild
//! makes no new image and ends with the same id. Docker's classic builder worked this way;
//! BuildKit builds a graph instead, runs independent steps in parallel and can export its cache.

pub mod cache;
mod steps;

use crate::cli::BuildArgs;
use crate::context::Context;
use crate::dockerfile::{self, Instruction, Kind};
use crate::error::Error;
use crate::reference::Reference;
use crate::store::Store;
use crate::store::containers::{Container, Status};
use crate::store::images::Image;
use ch01_chroot::Trace;
use std::collections::BTreeMap;
use std::path::Path;

/// The state of a build between steps.
pub struct Builder<'a> {
    store: &'a Store,
    context: Context,
    /// The Dockerfile as the user named it, for `FILE:LINE:` in errors.
    file: String,
    reference: Reference,
    no_cache: bool,
    trace: Trace,
    /// The image of the last step.
    image: Image,
    /// A container record that names `image` while the build runs, so that an `rmi` elsewhere
    /// cannot collect the steps this build stands on.
    lease: Container,
    /// ARGs declared so far, with their values (`None`: declared without one).
    args: BTreeMap<String, Option<String>>,
    /// `--build-arg` values.
    build_args: BTreeMap<String, String>,
    /// The ARGs declared before FROM, whose values an `ARG NAME` after it takes up, as in docker.
    global_args: BTreeMap<String, String>,
    /// Whether this Dockerfile has set CMD yet (an ENTRYPOINT clears only an inherited one).
    cmd_set: bool,
}

pub fn build(root: Option<&Path>, args: &BuildArgs) -> Result<u8, Error> {
    // The whole input is checked before anything runs: the name, the build args, the context,
    // every line of the Dockerfile, and the base image.
    let reference = Reference::parse(&args.tag).map_err(Error::Reference)?;
    let build_args = parse_build_args(&args.build_args)?;
    let context = Context::open(&args.context).map_err(|e| Error::Context { path: args.context.clone(), why: ch01_chroot::cli::chain(&e) })?;
    let (path, file) = match &args.file {
        Some(path) => (path.clone(), path.display().to_string()),
        None => (args.context.join("Dockerfile"), "Dockerfile".to_string()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::NoDockerfile { path: path.clone(), why: ch01_chroot::error::describe_io(&e) })?;
    // Editors on some systems start a UTF-8 file with a byte-order mark; docker skips it too.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let parsed = dockerfile::parse(text).map_err(|e| Error::Dockerfile { file: file.clone(), line: e.line, message: e.message })?;
    let store = Store::open(root)?;
    let (from, steps) = split_from(&parsed.instructions);
    let (pre_args, from) = (&from[..from.len() - 1], &from[from.len() - 1]);
    let mut builder = Builder::start(&store, context, file, reference, args, build_args, pre_args, from)?;
    let total = steps.len() + 1;
    println!("[1/{total}] {}", from.text);
    let result = steps.iter().enumerate().try_for_each(|(i, step)| builder.step(i + 2, total, step));
    let result = result.and_then(|()| builder.finish());
    let _ = store.lock().and_then(|_lock| store.remove_container(&builder.lease.id));
    result
}

/// The instructions up to and including FROM (ARGs before it), and the steps after it.
fn split_from(instructions: &[Instruction]) -> (&[Instruction], &[Instruction]) {
    let at = instructions.iter().position(|i| matches!(i.kind, Kind::From { .. })).expect("the parser requires a FROM");
    instructions.split_at(at + 1)
}

/// `--build-arg K=V`, or a bare `K` for the host's value of K, as docker takes them.
fn parse_build_args(flags: &[String]) -> Result<BTreeMap<String, String>, Error> {
    let mut args = BTreeMap::new();
    for flag in flags {
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag.as_str(), std::env::var(flag).ok()),
        };
        if name.is_empty() {
            return Err(Error::Reference(format!("invalid --build-arg {flag:?}: expected K=V")));
        }
        if let Some(value) = value {
            args.insert(name.to_string(), value);
        }
    }
    Ok(args)
}

impl<'a> Builder<'a> {
    #[allow(clippy::too_many_arguments)]
    fn start(
        store: &'a Store,
        context: Context,
        file: String,
        reference: Reference,
        args: &BuildArgs,
        build_args: BTreeMap<String, String>,
        pre_args: &[Instruction],
        from: &Instruction,
    ) -> Result<Builder<'a>, Error> {
        // ARGs before FROM may be used in FROM only, as in docker.
        let mut before: BTreeMap<String, String> = BTreeMap::new();
        for arg in pre_args {
            if let Kind::Arg { name, default } = &arg.kind {
                let value = match build_args.get(name) {
                    Some(v) => Some(v.clone()),
                    None => default.as_deref().map(|d| expand(&file, arg.line, d, &|n| before.get(n).cloned())).transpose()?,
                };
                if let Some(value) = value {
                    before.insert(name.clone(), value);
                }
            }
        }
        let Kind::From { image, .. } = &from.kind else { unreachable!("split_from ends with FROM") };
        let image_name = expand(&file, from.line, image, &|n| before.get(n).cloned())?;
        let _lock = store.lock()?;
        let image = if image_name == "scratch" {
            steps::scratch(store)?
        } else {
            store.resolve(&image_name).map_err(|e| Error::Dockerfile { file: file.clone(), line: from.line, message: format!("FROM {image_name}: {e}") })?
        };
        let lease = store.create_container(None, &format!("build {reference}"), &image.id, &[], Status::Building, true)?;
        Ok(Builder {
            store,
            context,
            file,
            reference,
            no_cache: args.no_cache,
            trace: Trace::new(args.trace),
            image,
            lease,
            args: BTreeMap::new(),
            build_args,
            global_args: before,
            cmd_set: false,
        })
    }

    /// Tags the last step's image and says so, as the classic builder did.
    fn finish(&mut self) -> Result<u8, Error> {
        let _lock = self.store.lock()?;
        self.store.tag(&self.reference, &self.image)?;
        let unused: Vec<&String> = self.build_args.keys().filter(|k| !self.args.contains_key(*k)).collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            eprintln!("warning: build args not consumed by any ARG: {}", names.join(", "));
        }
        println!("Successfully built {}", self.image.id.short());
        println!("Successfully tagged {}", self.reference);
        Ok(0)
    }

    /// A `FILE:LINE:` error about `instruction`.
    fn error(&self, instruction: &Instruction, message: impl std::fmt::Display) -> Error {
        Error::Dockerfile { file: self.file.clone(), line: instruction.line, message: message.to_string() }
    }
}

/// Expands one raw word of line `line`, with `lookup` for the variables.
fn expand(file: &str, line: usize, raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Error> {
    dockerfile::expand_word(raw, lookup).map_err(|message| Error::Dockerfile { file: file.to_string(), line, message })
}
