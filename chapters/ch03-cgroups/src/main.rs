//! The `ch03-cgroups` binary: a thin shell over the library (book: "Chapter 3: cgroups").

use ch03_cgroups::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    ch02_namespaces::init::run_if_init();
    let cli: Cli = ch01_chroot::cli::parse();
    match cli.command {
        Command::Run(args) => ch01_chroot::cli::finish(ch03_cgroups::run(&args)),
    }
}
