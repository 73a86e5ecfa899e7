//! The `ch01-chroot` binary: a thin shell over the library (book: "Chapter 1: chroot").

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: ch01_chroot::RunArgs = ch01_chroot::cli::parse_run("ch01-chroot", "Run a command with another root directory (chroot)");
    ch01_chroot::cli::finish(ch01_chroot::run(&args))
}
