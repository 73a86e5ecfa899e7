//! `cargo xtask test`: the whole suite, as a grader runs it, then the book.
//!
//! Snapshots are never written (`INSTA_UPDATE=no`, `INSTA_FORCE_PASS` removed); the tidy tests
//! reject unreferenced and pending snapshots; the book must build with every include resolved.

use crate::run::{self, cargo, checked};
use anyhow::{Result, bail};
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// Run the test binaries through `sudo`, for a user who is not root (cargo still builds as you).
    #[arg(long)]
    pub sudo: bool,
}

pub fn run(args: &Args) -> Result<()> {
    prepare_rootfs()?;
    if !run::is_root() && !args.sudo {
        eprintln!("note: you are not root, so the graded tests will fail and say so; use `cargo xtask test --sudo`");
    }
    let mut command = cargo();
    command.args(["test", "--workspace", "--no-fail-fast"]);
    graded(&mut command, args.sudo)?;
    checked(&mut command)?;
    // Chapter 3 again, on a real cgroup v2 kernel (this machine may well run v1).
    crate::vm_test::run(&crate::vm_test::Args::default())?;
    // The bench, briefly, to prove it still works (its numbers are for `cargo xtask bench`).
    if run::is_root() {
        crate::bench::run(&crate::bench::Args { quick: true, out: None })?;
    }
    crate::book::build()?;
    println!("xtask test: all tests passed, on cgroup v2 too, and the book built (book/book/index.html)");
    Ok(())
}

/// Builds the rootfs once for every test binary, and insists on the busybox one the snapshots expect.
pub fn prepare_rootfs() -> Result<()> {
    let report = testkit::rootfs::ensure()?;
    println!("{report}");
    if report.source == testkit::rootfs::Source::Host {
        bail!("the graded snapshots expect the busybox rootfs: install busybox-static (sudo apt-get install busybox-static) and run again");
    }
    Ok(())
}

/// The environment of a graded run: snapshots are never written or forced to pass.
pub fn graded(command: &mut Command, sudo: bool) -> Result<()> {
    command.env("INSTA_UPDATE", "no").env_remove("INSTA_FORCE_PASS").env("CORACLE_ROOTFS_READY", "1");
    if sudo {
        // cargo runs each test binary through the runner; `-E` keeps the variables above.
        let triple = testkit::rootfs::host_triple()?;
        command.env(testkit::rootfs::cargo_target_var(&triple, "RUNNER"), "sudo -E");
    }
    Ok(())
}
