//! The `ch02-namespaces` binary: a thin shell over the library (book: "Chapter 2: namespaces").

use ch02_namespaces::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    ch02_namespaces::init::run_if_init();
    let cli: Cli = ch01_chroot::cli::parse();
    match cli.command {
        Command::Run(args) => ch01_chroot::cli::finish(ch02_namespaces::run(&args)),
    }
}
