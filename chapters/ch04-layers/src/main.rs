//! The `ch04-layers` binary: a thin shell over the library (book: "Chapter 4: layers").

use std::process::ExitCode;

fn main() -> ExitCode {
    ch02_namespaces::init::run_if_init();
    let cli: ch04_layers::Cli = ch01_chroot::cli::parse("ch04-layers", "Build, store and run images made of layers");
    ch01_chroot::cli::finish(ch04_layers::main(&cli))
}
