//! Running commands from xtask: echoed first, failures with context.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// Runs `command` with inherited stdio and fails if it does not succeed.
pub fn checked(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

/// `cargo test -p x` rather than the full debug form.
pub fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// `cargo`, as cargo itself told us, so `cargo +nightly xtask` keeps its toolchain.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(testkit::workspace::root());
    command
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The first `name` on `PATH`, like the shell's `command -v`.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}
