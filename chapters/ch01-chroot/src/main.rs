//! The `ch01-chroot` binary: a thin shell over the library (book: "Chapter 1: chroot").

use ch01_chroot::cli::{self, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    match cli.command {
        Command::Run(args) => cli::finish(ch01_chroot::run(&args)),
    }
}
