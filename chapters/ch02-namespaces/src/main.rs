//! The `ch02-namespaces` binary: a thin shell over the library (book: "Chapter 2: namespaces").

use std::process::ExitCode;

fn main() -> ExitCode {
    ch02_namespaces::init::run_if_init();
    let args: ch02_namespaces::RunArgs = ch01_chroot::cli::parse_run("ch02-namespaces", "Run a command as PID 1 of its own namespaces");
    ch01_chroot::cli::finish(ch02_namespaces::run(&args))
}
