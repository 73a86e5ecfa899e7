//! `cargo xtask tour`: the main job. Builds the chapters and the rootfs, then runs each chapter's
//! showcase on the bundled rootfs, printing every command before its output, as a student would
//! type it.
//!
//! The chapter binaries need root. Run as root, the tour runs them directly; otherwise it runs
//! them through `sudo` (cargo and the build stay yours).

use crate::chapters;
use crate::run::{self, cargo, checked};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One step of a showcase: what it shows, and the arguments after the binary's name.
struct Step {
    says: &'static str,
    args: Vec<String>,
}

pub fn run() -> Result<()> {
    checked(cargo().args(["build", "--quiet", "--bins"]))?;
    let report = testkit::rootfs::ensure()?;
    println!("{report}\n");
    let sudo = !run::is_root();
    if sudo && Command::new("sudo").arg("--version").output().is_err() {
        bail!("the chapters run containers and need root: run the tour as root (sudo is not installed)");
    }
    if sudo {
        println!("(not root: the chapter binaries run through sudo)\n");
    }
    let rootfs = relative(&report.dir);
    for chapter in chapters::all()? {
        let steps = match chapter.number {
            1 => chapter_1(&rootfs),
            _ => continue,
        };
        println!("━━ Chapter {}: {} ━━", chapter.number, chapter.topic());
        let binary = testkit::workspace::target().join("debug").join(&chapter.name);
        for step in steps {
            show(&binary, &chapter.name, &step, sudo)?;
        }
    }
    println!("The book explains every step: cargo xtask book --serve");
    Ok(())
}

fn chapter_1(rootfs: &str) -> Vec<Step> {
    let run = |extra: &[&str], command: &[&str]| -> Vec<String> {
        let mut args = vec!["run".to_string(), "--rootfs".into(), rootfs.into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("--".into());
        args.extend(command.iter().map(|s| s.to_string()));
        args
    };
    vec![
        Step { says: "The command sees the rootfs as its /, with its own /etc:", args: run(&[], &["probe", "root"]) },
        Step { says: "--trace narrates each kernel call as it is made:", args: run(&["--trace"], &["sh", "-c", "echo hello from $(cat /etc/hostname)"]) },
        Step { says: "The runtime exits with the command's own code, like docker:", args: run(&[], &["sh", "-c", "exit 3"]) },
        Step { says: "A missing command is 127, as in a shell:", args: run(&[], &["no-such-command"]) },
        Step { says: "A clean environment, never the host's, plus --env:", args: run(&["--env", "GREETING=hi", "--workdir", "/tmp"], &["sh", "-c", "pwd; env | sort"]) },
        Step { says: "But chroot hides nothing else: host pids, every capability, no /proc of its own:", args: run(&[], &["probe", "ids", "caps"]) },
        Step { says: "And root can walk out of a chroot (the book's escape): this is the host's os-release:", args: run(&[], &["escape", "sh", "-c", "grep PRETTY_NAME /etc/os-release"]) },
    ]
}

fn show(binary: &Path, name: &str, step: &Step, sudo: bool) -> Result<()> {
    println!("{}", step.says);
    let shown: Vec<String> = step.args.iter().map(|a| shell_quote(a)).collect();
    println!("$ {}{name} {}", if sudo { "sudo " } else { "" }, shown.join(" "));
    let mut command = if sudo { Command::new("sudo") } else { Command::new(binary) };
    if sudo {
        command.arg(binary);
    }
    let status = command.args(&step.args).current_dir(testkit::workspace::root()).status()?;
    println!("→ exit code {}\n", status.code().map_or("none (killed)".into(), |c| c.to_string()));
    Ok(())
}

fn relative(path: &Path) -> String {
    let root = testkit::workspace::root();
    path.strip_prefix(&root).map(PathBuf::from).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}
