//! Containers in the store: each has a directory holding its state and its overlay directories
//! (`upper`: what it wrote; `work`: overlayfs's scratch space; `merged`: the mount point).
//! A container stays after it exits, as with docker, until `rm` (or `run --rm`) removes it.

use super::{Store, remove_any};
use crate::digest::Digest;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::PathBuf;

/// `containers/<id>/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: Option<String>,
    /// The image as the user named it, and its id.
    pub image: String,
    pub image_id: Digest,
    pub command: Vec<String>,
    pub created: u64,
    pub status: Status,
    /// The runtime process that supervises it, while it runs.
    pub pid: Option<i32>,
    /// `run --rm` and build steps: removed when it ends, or by the next command if its runtime
    /// was killed before it could.
    #[serde(default)]
    pub auto_remove: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Running,
    Exited(u8),
    /// A `build` holding on to the image of its last step, so that `rmi` elsewhere does not
    /// collect what the build stands on.
    Building,
}

impl Container {
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.id[..12].to_string())
    }

    /// Whether the runtime that made it still runs. (A pid can be reused after a reboot or a long
    /// time; a real runtime would also compare the process's start time.)
    pub fn runtime_alive(&self) -> bool {
        self.pid.is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
    }

    /// What `ps` says. A runtime that died (killed with SIGKILL) cannot record the end: its
    /// container shows as exited with an unknown code.
    pub fn status_text(&self, now: u64) -> String {
        let alive = self.runtime_alive();
        match self.status {
            Status::Running | Status::Building if !alive => "Exited (unknown)".into(),
            Status::Running => format!("Up {}", crate::time::ago(self.created, now).trim_end_matches(" ago")),
            Status::Building => "Building".into(),
            Status::Exited(code) => format!("Exited ({code})"),
        }
    }
}

/// Valid container names, as docker allows them: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Store {
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Every container, oldest first.
    pub fn containers(&self) -> Result<Vec<Container>, Error> {
        let mut all = Vec::new();
        for entry in fs::read_dir(self.root.join("containers")).map_err(Error::io(self.root.join("containers")))?.flatten() {
            let path = entry.path().join("state.json");
            // A directory without a state is one being made or removed right now.
            let Ok(bytes) = fs::read(&path) else { continue };
            let container: Container = serde_json::from_slice(&bytes).map_err(|e| Error::Store { path, why: e.to_string() })?;
            all.push(container);
        }
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(all)
    }

    /// Makes a new container of `image_id` with its directories. Needs the store's lock. First
    /// removes the `--rm` containers whose runtime died (SIGKILL) before it could remove them.
    pub fn create_container(&self, name: Option<&str>, image: &str, image_id: &Digest, command: &[String], status: Status, auto_remove: bool) -> Result<Container, Error> {
        for dead in self.containers()?.iter().filter(|c| c.auto_remove && !c.runtime_alive()) {
            let _ = self.remove_container(&dead.id);
        }
        if let Some(name) = name {
            if !valid_name(name) {
                return Err(Error::BadName(name.to_string()));
            }
            if self.containers()?.iter().any(|c| c.name.as_deref() == Some(name)) {
                return Err(Error::NameInUse(name.to_string()));
            }
        }
        let id = ch02_namespaces::namespaces::random_hex(32);
        let dir = self.container_dir(&id);
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(dir.join(sub)).map_err(Error::io(dir.join(sub)))?;
        }
        let container = Container {
            id,
            name: name.map(str::to_string),
            image: image.to_string(),
            image_id: image_id.clone(),
            command: command.to_vec(),
            created: crate::time::now(),
            status,
            pid: Some(std::process::id() as i32),
            auto_remove,
        };
        self.save_container(&container)?;
        Ok(container)
    }

    /// Writes the container's state (atomically).
    pub fn save_container(&self, container: &Container) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(container).expect("a container serializes");
        self.write_renamed(&self.container_dir(&container.id).join("state.json"), &bytes, false)
    }

    /// The container named `text`, or with that id or id prefix.
    pub fn find_container(&self, text: &str) -> Result<Container, Error> {
        let all = self.containers()?;
        if let Some(c) = all.iter().find(|c| c.name.as_deref() == Some(text)) {
            return Ok(c.clone());
        }
        let matches: Vec<&Container> = all.iter().filter(|c| !text.is_empty() && c.id.starts_with(text)).collect();
        match matches.as_slice() {
            [c] => Ok((*c).clone()),
            _ => Err(Error::NoSuchContainer(text.to_string())),
        }
    }

    /// Removes the container's directory: its state first, so a half-removed container is never
    /// listed. Its overlay was mounted only in its own mount namespace, so nothing is mounted here.
    pub fn remove_container(&self, id: &str) -> Result<(), Error> {
        let dir = self.container_dir(id);
        let _ = fs::remove_file(dir.join("state.json"));
        remove_any(&dir).map_err(Error::io(&dir))
    }
}
