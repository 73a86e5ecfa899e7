//! `cargo xtask tour`: the main job. Builds the chapters and the rootfs, then runs each chapter's
//! showcase on the bundled rootfs, printing every command before its output, as a student would
//! type it.
//!
//! Chapter 1 needs root: run as root, the tour runs it directly; otherwise through `sudo` (cargo
//! and the build stay yours). Chapter 2 and later need no root: as a normal user they run
//! rootless, in a user namespace, which is part of the show.

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
    // Chapter 4's images live in a store of the tour's own, fresh each time and removed at the end.
    let mut store = TourStore::default();
    for chapter in chapters::all()? {
        let (steps, needs_root) = match chapter.number {
            1 => (chapter_1(&rootfs), true),
            2 => (chapter_2(&rootfs), false),
            3 => (chapter_3(&rootfs), true),
            4 => (chapter_4(&report.dir, &mut store), true),
            _ => continue,
        };
        println!("━━ Chapter {}: {} ━━", chapter.number, chapter.topic());
        let binary = testkit::workspace::target().join("debug").join(&chapter.name);
        if !needs_root && sudo {
            println!("(you are not root: this chapter runs rootless, in a user namespace)\n");
        }
        for step in steps {
            show(&binary, &chapter.name, &step, sudo && needs_root)?;
        }
    }
    println!("The book explains every step: cargo xtask book --serve");
    Ok(())
}

/// `run --rootfs R EXTRA... -- COMMAND...`
fn run_args(rootfs: &str, extra: &[&str], command: &[&str]) -> Vec<String> {
    let mut args = vec!["run".to_string(), "--rootfs".into(), rootfs.into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.extend(command.iter().map(|s| s.to_string()));
    args
}

fn chapter_1(rootfs: &str) -> Vec<Step> {
    let run = |extra: &[&str], command: &[&str]| run_args(rootfs, extra, command);
    vec![
        Step { says: "The command sees the rootfs as its /, with its own /etc:", args: run(&[], &["probe", "root"]) },
        Step { says: "--trace narrates each kernel call as it is made:", args: run(&["--trace"], &["sh", "-c", "echo hello from $(cat /etc/hostname)"]) },
        Step { says: "The runtime exits with the command's own code, like docker:", args: run(&[], &["sh", "-c", "exit 3"]) },
        Step { says: "A missing command is 127, as in a shell:", args: run(&[], &["no-such-command"]) },
        Step { says: "A clean environment, never the host's, plus --env:", args: run(&["--env", "GREETING=hi", "--workdir", "/tmp"], &["sh", "-c", "pwd; env | sort"]) },
        Step { says: "But chroot hides nothing else: host pids, (nearly) every capability of root, no /proc of its own:", args: run(&[], &["probe", "ids", "caps"]) },
        Step { says: "And root can walk out of a chroot (the book's escape): this is the host's os-release:", args: run(&[], &["escape", "sh", "-c", "grep PRETTY_NAME /etc/os-release"]) },
    ]
}

fn chapter_2(rootfs: &str) -> Vec<Step> {
    let run = |extra: &[&str], command: &[&str]| run_args(rootfs, extra, command);
    let host_ns = format!("PROBE_HOST_NS={}", testkit::host_namespaces());
    vec![
        Step { says: "The command is PID 1 of a new PID namespace, and ps sees only the container:", args: run(&[], &["sh", "-c", "sleep 1 & sleep 0.1; ps -o pid,args; kill $!"]) },
        Step { says: "Its own hostname (UTS namespace); the host's is untouched:", args: run(&["--hostname", "box"], &["hostname"]) },
        Step { says: "Its own mount, UTS, IPC, network and PID namespaces (the cgroup one is chapter 3's):", args: run(&["-e", &host_ns], &["probe", "ns"]) },
        Step { says: "A network namespace with only lo, brought up:", args: run(&[], &["sh", "-c", "probe net; ping -c 1 127.0.0.1"]) },
        Step { says: "After pivot_root the old root is gone: chapter 1's escape climbs to the container's own /:", args: run(&[], &["escape", "sh", "-c", "grep PRETTY_NAME /etc/os-release"]) },
        Step { says: "Only docker's 14 default capabilities, and no_new_privs:", args: run(&[], &["probe", "caps"]) },
        Step { says: "A PID 1 that never waits leaves a zombie...", args: run(&[], &["probe", "zombies"]) },
        Step { says: "...and with --init, our init is PID 1 and reaps it:", args: run(&["--init"], &["probe", "zombies"]) },
        Step { says: "Every kernel call, narrated:", args: run(&["--trace", "--hostname", "box"], &["true"]) },
    ]
}

fn chapter_3(rootfs: &str) -> Vec<Step> {
    let run = |extra: &[&str], command: &[&str]| run_args(rootfs, extra, command);
    vec![
        Step { says: "A memory hog under --memory 32m: the kernel's OOM killer ends it, and we say so (exit 137):", args: run(&["--memory", "32m"], &["probe", "hog", "256"]) },
        Step { says: "The same program, asking for less than its limit, is fine:", args: run(&["--memory", "64m"], &["probe", "hog", "16"]) },
        Step { says: "The container reads its own limits in its cgroup namespace:", args: run(&["--memory", "64m", "--cpus", "0.5", "--pids-limit", "20"], &["probe", "cgroup"]) },
        Step { says: "--cpus 0.25: one second of spinning gets about a quarter second of CPU:", args: run(&["--cpus", "0.25", "--stats"], &["probe", "spin", "1"]) },
        Step { says: "--pids-limit 10: a fork loop hits the wall, and the host does not notice:", args: run(&["--pids-limit", "10", "--stats"], &["sh", "-c", "(for i in $(seq 1 40); do sleep 1 & done) 2>/dev/null; echo the fork loop stopped: exit $?"]) },
    ]
}

/// `target/tour-store`, removed when the tour ends (as root: the layers belong to root).
#[derive(Default)]
struct TourStore(Option<PathBuf>);

impl Drop for TourStore {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let sudo = if run::is_root() { None } else { Some("sudo") };
            let mut command = Command::new(sudo.unwrap_or("rm"));
            if sudo.is_some() {
                command.arg("rm");
            }
            let _ = command.arg("-rf").arg(&dir).status();
        }
    }
}

fn chapter_4(rootfs_dir: &Path, store: &mut TourStore) -> Vec<Step> {
    let dir = testkit::workspace::target().join("tour-store");
    let root = relative(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    store.0 = Some(dir);
    let tar = relative(&rootfs_dir.with_extension("tar"));
    let demo = "chapters/ch04-layers/demo/lecture-app".to_string();
    let cmd = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--root".to_string(), root.clone()];
        all.extend(args.iter().map(|s| s.to_string()));
        all
    };
    vec![
        Step { says: "Chapter 4 runs images. First, the course rootfs becomes an image of one layer, named by its digest:", args: cmd(&["import", &tar, "base"]) },
        Step { says: "The store now holds it:", args: cmd(&["images"]) },
        Step { says: "A container of it writes only to its own upper layer, which --rm removes:", args: cmd(&["run", "--rm", "base", "sh", "-c", "echo written > /etc/motd; cat /etc/motd; grep -c overlay /proc/mounts"]) },
        Step { says: "The lecture's Dockerfile, built: every RUN and COPY makes a layer:", args: cmd(&["build", "-t", "lecture-app", &demo]) },
        Step { says: "Built again with nothing changed: every step is CACHED and the image id is the same:", args: cmd(&["build", "-t", "lecture-app", &demo]) },
        Step { says: "The image's layers, newest first, and the instruction that made each one:", args: cmd(&["history", "lecture-app"]) },
        Step { says: "Run with the image's CMD, as its USER (not root):", args: cmd(&["run", "--rm", "lecture-app"]) },
        Step { says: "Its config, as an OCI image config:", args: cmd(&["inspect", "lecture-app"]) },
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
