//! The `ch03-cgroups` binary: a thin shell over the library (book: "Chapter 3: cgroups").

use std::process::ExitCode;

fn main() -> ExitCode {
    ch02_namespaces::init::run_if_init();
    let args: ch03_cgroups::RunArgs = ch01_chroot::cli::parse_run("ch03-cgroups", "Run a command in its own namespaces and cgroup, with limits");
    ch01_chroot::cli::finish(ch03_cgroups::run(&args))
}
