//! The chapters the workspace has: every `chapters/chNN-name` directory, in order.

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Chapter {
    pub number: u32,
    /// The crate and binary name, e.g. `ch01-chroot`.
    pub name: String,
    pub dir: PathBuf,
}

impl Chapter {
    /// `chroot` for `ch01-chroot`.
    pub fn topic(&self) -> &str {
        self.name.split_once('-').map_or(&self.name, |(_, topic)| topic)
    }
}

pub fn all() -> Result<Vec<Chapter>> {
    let dir = testkit::workspace::root().join("chapters");
    let mut chapters: Vec<Chapter> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let number = name.strip_prefix("ch")?.get(..2)?.parse().ok()?;
            Some(Chapter { number, name, dir: entry.path() })
        })
        .collect();
    chapters.sort_by_key(|c| c.number);
    Ok(chapters)
}
