//! `cargo xtask book [--serve]`: build the book with mdbook 0.5, installing it first if needed.
//!
//! mdbook comes from crates.io, built with `cargo install --locked` at a pinned version into
//! `target/tools/`, so a fresh machine needs nothing but cargo. The include check runs first,
//! because mdbook itself only warns about a missing file and silently includes nothing for a
//! misspelled anchor.

use crate::run::{cargo, checked};
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::Command;

const MDBOOK_VERSION: &str = "0.5.4";

#[derive(clap::Args)]
pub struct Args {
    /// Serve the book on http://127.0.0.1:3000 and rebuild it on every change.
    #[arg(long)]
    pub serve: bool,
}

pub fn run(args: &Args) -> Result<()> {
    if args.serve {
        check_includes()?;
        let book = testkit::workspace::root().join("book");
        return checked(Command::new(mdbook()?).arg("serve").arg(book).args(["--hostname", "127.0.0.1"]));
    }
    build()
}

/// Checks the includes, then builds the book into `book/book/`.
pub fn build() -> Result<()> {
    check_includes()?;
    let book = testkit::workspace::root().join("book");
    checked(Command::new(mdbook()?).arg("build").arg(&book))?;
    println!("book built: {}", book.join("book/index.html").display());
    Ok(())
}

fn check_includes() -> Result<()> {
    let problems = crate::tidy::include_problems()?;
    if !problems.is_empty() {
        bail!("the book's includes are broken:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

/// An mdbook of the pinned minor version: on `PATH`, or in `target/tools`, or installed there now.
fn mdbook() -> Result<PathBuf> {
    let minor = MDBOOK_VERSION.rsplit_once('.').map_or(MDBOOK_VERSION, |(minor, _)| minor);
    let local = testkit::workspace::target().join("tools/bin/mdbook");
    for candidate in [PathBuf::from("mdbook"), local.clone()] {
        if let Ok(out) = Command::new(&candidate).arg("--version").output()
            && String::from_utf8_lossy(&out.stdout).contains(&format!("v{minor}."))
        {
            return Ok(candidate);
        }
    }
    println!("installing mdbook {MDBOOK_VERSION} into target/tools (once, about two minutes)");
    let root = testkit::workspace::target().join("tools");
    checked(cargo().args(["install", "mdbook", "--locked", "--version", MDBOOK_VERSION, "--root"]).arg(&root))?;
    Ok(local)
}
