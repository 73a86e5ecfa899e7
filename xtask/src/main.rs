//! `cargo xtask`: everything around the chapters, one file per task (rust-analyzer's layout).
//!
//! - `rootfs`: build `target/rootfs/` and `target/rootfs.tar` ([`rootfs`]).
//! - `tour`: the main job: build, make the rootfs, run each chapter's showcase ([`tour`]).
//! - `test`: the whole suite, never updating snapshots, then the book ([`test`]).
//! - `grade`: the graded tests only, with a report card and a JSON summary ([`grade`]).
//! - `book`: build or serve the book with mdbook ([`book`]).
//! - `bench`: start-up time and memory against real peers, as ratios ([`bench`]).
//! - `vm-test`: chapter 3's graded tests on a real cgroup v2 kernel in QEMU ([`vm_test`]).
//!
//! The checks that matter are `#[test]`s in [`tidy`], so a plain `cargo test` runs them too.

mod bench;
mod book;
mod chapters;
mod cpio;
mod grade;
mod rootfs;
mod run;
mod test;
mod tidy;
mod tour;
mod vm_test;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tasks around the coracle chapters")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the course rootfs (target/rootfs and target/rootfs.tar).
    Rootfs,
    /// Build everything and run each chapter's showcase with narration.
    Tour,
    /// Run the whole test suite (never updating snapshots) and build the book.
    Test(test::Args),
    /// Run the graded tests and print a report card per chapter.
    Grade(grade::Args),
    /// Build the book, or serve it with live reload.
    Book(book::Args),
    /// Measure start-up and memory side by side with unshare, bubblewrap, crun, runc and podman.
    Bench(bench::Args),
    /// Run chapter 3's graded tests in a QEMU guest with a pure cgroup v2 kernel.
    VmTest(vm_test::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Rootfs => rootfs::run(),
        Task::Tour => tour::run(),
        Task::Test(args) => test::run(&args),
        Task::Grade(args) => grade::run(&args),
        Task::Book(args) => book::run(&args),
        Task::VmTest(args) => vm_test::run(&args),
        Task::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
