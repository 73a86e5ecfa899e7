//! The course rootfs: a tiny Linux userland every chapter runs its containers on.
//!
//! `build` assembles `target/rootfs/` and `target/rootfs.tar` offline, from
//! - a **static busybox** when the machine has one (Debian/Ubuntu package `busybox-static`): one
//!   2 MB binary that is `sh`, `ls`, `ps`, `mount` and ~270 other commands, linked to by name; or
//! - the **host's own binaries** otherwise, each with the shared libraries and the ELF loader
//!   (`ld-linux`) that `ldd` says it needs, copied to the same paths inside.
//!
//! Both get `/etc/passwd` and `/etc/group` with `root` and an unprivileged `app` (1000:1000),
//! `/etc/hostname`, `/etc/os-release`, the usual empty directories, and our static `probe` and
//! `escape` programs in `/bin`. The archive is deterministic: sorted entries, fixed times and owners,
//! so the same inputs give the same bytes (and, in chapter 4, the same image id).
//!
//! Rebuilding is skipped when a fingerprint of every input matches the one stored beside the
//! rootfs. A lock file keeps two test binaries from building it at once.

use crate::{elf, workspace};
use anyhow::{Context, Result, bail};
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump when the layout below changes, so existing rootfs directories are rebuilt.
const LAYOUT_VERSION: u32 = 3;

/// Every file in the archive gets this modification time (2026-01-01 00:00:00 UTC).
pub const EPOCH: u64 = 1_767_225_600;

/// The commands copied from the host when there is no static busybox.
const HOST_COMMANDS: &[&str] = &[
    "sh", "ls", "cat", "echo", "env", "ps", "mount", "umount", "hostname", "id", "sleep", "true",
    "false", "mkdir", "rmdir", "rm", "touch", "grep", "kill", "pwd", "readlink", "sed", "head",
    "tail", "wc", "uname", "chmod", "chown", "ln", "cp", "mv", "test", "printf", "stat", "df",
    "whoami", "find", "sort", "tr", "cut", "dd", "yes", "seq", "mktemp", "basename", "dirname",
];

/// Where the binaries came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Busybox { path: PathBuf, version: String },
    Host,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Busybox { path, version } => write!(f, "static busybox {version} ({})", path.display()),
            Source::Host => write!(
                f,
                "the host's own binaries and their shared libraries (no static busybox found; \
                 `apt-get install busybox-static` gives the rootfs the graded tests expect)"
            ),
        }
    }
}

/// What [`ensure`] did.
#[derive(Debug, Clone)]
pub struct Report {
    pub dir: PathBuf,
    pub tar: PathBuf,
    pub source: Source,
    pub rebuilt: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.rebuilt { "built" } else { "up to date" };
        write!(f, "rootfs {state}: {} and {}\n  from {}", self.dir.display(), self.tar.display(), self.source)
    }
}

/// Builds the rootfs if any input changed since the last build; otherwise returns at once.
pub fn ensure() -> Result<Report> {
    let target = workspace::target();
    fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let lock_file = fs::File::create(target.join("rootfs.lock")).context("creating rootfs.lock")?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .context("locking rootfs.lock")?;

    let programs = build_programs()?;
    let source = detect_source()?;
    let stamp = fingerprint(&source, &programs)?;
    let dir = workspace::rootfs_dir();
    let tar = workspace::rootfs_tar();
    let stamp_path = target.join("rootfs.stamp");
    let manifest_path = target.join("rootfs.manifest");
    let fresh = dir.is_dir()
        && tar.is_file()
        && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp)
        // Also rebuild when something changed *inside* the rootfs since it was built (a student's
        // experiment, a stray file): every test copies it, and expects it as built.
        && fs::read_to_string(&manifest_path).ok() == manifest(&dir).ok();
    if fresh {
        return Ok(Report { dir, tar, source, rebuilt: false });
    }

    let staging = target.join("rootfs.new");
    remove_tree(&staging)?;
    assemble(&staging, &source, &programs).with_context(|| format!("assembling {}", staging.display()))?;
    write_tar(&staging, &target.join("rootfs.tar.new"))?;
    remove_tree(&dir)?;
    fs::rename(&staging, &dir).context("moving the new rootfs into place")?;
    fs::rename(target.join("rootfs.tar.new"), &tar).context("moving the new rootfs.tar into place")?;
    fs::write(&manifest_path, manifest(&dir)?).context("writing rootfs.manifest")?;
    fs::write(&stamp_path, &stamp).context("writing rootfs.stamp")?;
    Ok(Report { dir, tar, source, rebuilt: true })
}

/// Our own static programs that go into `/bin`.
#[derive(Debug)]
struct Programs {
    probe: PathBuf,
    escape: PathBuf,
}

/// Builds `probe` and `escape` static (`-C target-feature=+crt-static`), in a target directory of
/// their own so the flag does not invalidate the rest of the workspace's build.
fn build_programs() -> Result<Programs> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let triple = host_triple()?;
    let target_dir = workspace::target().join("static");
    let flags_var = cargo_target_var(&triple, "RUSTFLAGS");
    let status = Command::new(&cargo)
        .current_dir(workspace::root())
        .args(["build", "--quiet", "--release", "--package", "probe", "--target", &triple, "--target-dir"])
        .arg(&target_dir)
        // Flags set for the whole build would override the per-target ones below.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env(flags_var, "-C target-feature=+crt-static")
        .status()
        .with_context(|| format!("running {cargo:?} to build the probe"))?;
    if !status.success() {
        bail!("building the static probe failed ({status}); glibc's static libraries come with libc6-dev");
    }
    let out = target_dir.join(&triple).join("release");
    let programs = Programs { probe: out.join("probe"), escape: out.join("escape") };
    for program in [&programs.probe, &programs.escape] {
        if elf::is_static(program) != Some(true) {
            bail!("{} was built but is not a static binary", program.display());
        }
    }
    Ok(programs)
}

/// Cargo's per-target environment variable: `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER`.
pub fn cargo_target_var(triple: &str, key: &str) -> String {
    format!("CARGO_TARGET_{}_{key}", triple.to_uppercase().replace(['-', '.'], "_"))
}

pub fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc).arg("-vV").output().with_context(|| format!("running {rustc:?} -vV"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host triple")
}

/// A static busybox from `$CORACLE_BUSYBOX`, the usual paths or `PATH`; the host's binaries when
/// there is none, or when `CORACLE_ROOTFS_SOURCE=host` asks for them.
pub fn detect_source() -> Result<Source> {
    if std::env::var("CORACLE_ROOTFS_SOURCE").as_deref() == Ok("host") {
        return Ok(Source::Host);
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("CORACLE_BUSYBOX").map(PathBuf::from).into_iter().collect();
    candidates.extend(["/bin/busybox", "/usr/bin/busybox"].map(PathBuf::from));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("busybox")));
    }
    for path in candidates {
        if elf::is_static(&path) == Some(true) {
            let out = Command::new(&path).arg("--help").output().with_context(|| format!("running {}", path.display()))?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
            let version = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix('v').filter(|v| v.starts_with(|c: char| c.is_ascii_digit())))
                .unwrap_or("(unknown version)")
                .to_string();
            return Ok(Source::Busybox { path, version });
        }
    }
    Ok(Source::Host)
}

/// FNV-1a over everything that goes into the rootfs.
fn fingerprint(source: &Source, programs: &Programs) -> Result<String> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&LAYOUT_VERSION.to_le_bytes());
    feed(format!("{source:?}").as_bytes());
    let inputs: Vec<PathBuf> = match source {
        Source::Busybox { path, .. } => vec![path.clone()],
        Source::Host => HOST_COMMANDS.iter().filter_map(|c| host_command(c)).collect(),
    };
    for path in inputs.iter().chain([&programs.probe, &programs.escape]) {
        feed(&fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    Ok(format!("{hash:016x}\n"))
}

/// One line per entry of the tree: path, type, mode, owner, size or link target. Cheap (a few
/// hundred `lstat`s) and enough to notice any change made to the rootfs after it was built.
fn manifest(dir: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).with_context(|| format!("reading {}", current.display()))? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            let relative = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path)?.display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else {
                format!("{} bytes, mtime {}", meta.len(), meta.mtime())
            };
            lines.push(format!("{relative} {:o} {}:{} {what}", meta.mode(), meta.uid(), meta.gid()));
        }
    }
    lines.sort();
    Ok(lines.join("\n") + "\n")
}

/// Who owns a path in the rootfs: `app`'s home belongs to `app`, everything else to root.
fn owner(relative: &Path) -> (u32, u32) {
    if relative.starts_with("home/app") { (1000, 1000) } else { (0, 0) }
}

// ANCHOR: layout
/// Lays the rootfs out in `dir`.
fn assemble(dir: &Path, source: &Source, programs: &Programs) -> Result<()> {
    for (path, mode) in [
        ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("home/app", 0o755),
        ("proc", 0o555), ("root", 0o700), ("sbin", 0o755), ("sys", 0o555), ("tmp", 0o1777),
        ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
    ] {
        make_dir(dir, path, mode)?;
    }
    match source {
        Source::Busybox { path, .. } => install_busybox(dir, path)?,
        Source::Host => install_host_commands(dir)?,
    }
    install(&programs.probe, &dir.join("bin/probe"))?;
    install(&programs.escape, &dir.join("bin/escape"))?;
    let files = [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        ("etc/group", "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"),
        ("etc/hostname", "coracle\n"),
        ("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"),
        ("etc/os-release", "NAME=\"coracle\"\nID=coracle\nPRETTY_NAME=\"coracle course rootfs\"\n"),
    ];
    for (path, text) in files {
        fs::write(dir.join(path), text).with_context(|| format!("writing /{path}"))?;
        fs::set_permissions(dir.join(path), fs::Permissions::from_mode(0o644))?;
    }
    if nix::unistd::geteuid().is_root() {
        let (uid, gid) = owner(Path::new("home/app"));
        std::os::unix::fs::chown(dir.join("home/app"), Some(uid), Some(gid)).context("chown /home/app")?;
    }
    Ok(())
}
// ANCHOR_END: layout

/// busybox decides which command to be from the name it was started as, so every command is a
/// symbolic link to it, in the directory where a normal system keeps it (`busybox --list-full`):
/// `/bin/sh`, `/sbin/ifconfig`, `/usr/bin/awk`.
fn install_busybox(dir: &Path, busybox: &Path) -> Result<()> {
    install(busybox, &dir.join("bin/busybox"))?;
    let out = Command::new(busybox).arg("--list-full").output().context("running busybox --list-full")?;
    let mut applets: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout).lines().map(PathBuf::from).collect();
    applets.sort();
    for applet in applets {
        let safe = applet.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        // Top-level applets (`/linuxrc`) are for booting a machine, not for a container.
        let Some(parent) = applet.parent().filter(|p| safe && !p.as_os_str().is_empty() && dir.join(p).is_dir()) else {
            continue;
        };
        if applet.ends_with("busybox") {
            continue;
        }
        // `../` once per directory level back up to `/`, then `bin/busybox`.
        let up = "../".repeat(parent.components().count());
        symlink(format!("{up}bin/busybox"), dir.join(&applet)).with_context(|| format!("linking /{}", applet.display()))?;
    }
    Ok(())
}

fn host_command(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Copies each host command to `/bin`, and each library `ldd` lists to the same path inside.
fn install_host_commands(dir: &Path) -> Result<()> {
    let mut libraries = std::collections::BTreeSet::new();
    for name in HOST_COMMANDS {
        let Some(path) = host_command(name) else { continue };
        install(&path, &dir.join("bin").join(name))?;
        let out = Command::new("ldd").arg(&path).output().context("running ldd (package libc-bin)")?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
            let path = line.split("=>").last().unwrap_or("").split_whitespace().next().unwrap_or("");
            if path.starts_with('/') {
                libraries.insert(PathBuf::from(path));
            }
        }
    }
    for library in libraries {
        let inside = dir.join(library.strip_prefix("/").unwrap_or(&library));
        fs::create_dir_all(inside.parent().unwrap_or(dir))?;
        install(&library, &inside)?;
    }
    Ok(())
}

fn make_dir(root: &Path, path: &str, mode: u32) -> Result<()> {
    let full = root.join(path);
    fs::create_dir_all(&full).with_context(|| format!("creating /{path}"))?;
    // set_permissions, not the mode of create_dir, which the umask would trim (1777 for /tmp).
    fs::set_permissions(&full, fs::Permissions::from_mode(mode)).with_context(|| format!("chmod /{path}"))
}

fn install(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Removes a directory tree, refusing if anything is mounted inside it: deleting through a leaked
/// bind mount would delete the host's files.
pub fn remove_tree(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mounted = mounts_under(dir)?;
    if !mounted.is_empty() {
        bail!("refusing to remove {}: still mounted inside it: {}", dir.display(), mounted.join(", "));
    }
    fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// The mount points in this mount namespace at or below `dir`.
pub fn mounts_under(dir: &Path) -> Result<Vec<String>> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let table = fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| Path::new(p).starts_with(&dir))
        .collect())
}

/// mountinfo writes space, tab, newline and backslash in paths as octal escapes (`\040`).
fn unescape_mountinfo(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4).and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out + rest
}

/// Writes `dir` as a deterministic tar: entries sorted by path, times set to [`EPOCH`], owners
/// from [`owner`], no user or group names.
pub fn write_tar(dir: &Path, tar_path: &Path) -> Result<()> {
    let file = fs::File::create(tar_path).with_context(|| format!("creating {}", tar_path.display()))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    let mut stack = vec![PathBuf::new()];
    let mut entries = Vec::new();
    while let Some(relative) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(dir.join(&relative))?.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names.into_iter().rev() {
            let path = relative.join(name);
            if fs::symlink_metadata(dir.join(&path))?.is_dir() {
                stack.push(path.clone());
            }
            entries.push(path);
        }
    }
    entries.sort();
    for relative in entries {
        let full = dir.join(&relative);
        let meta = fs::symlink_metadata(&full)?;
        let mut header = tar::Header::new_gnu();
        let (uid, gid) = owner(&relative);
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mtime(EPOCH);
        header.set_mode(meta.permissions().mode() & 0o7777);
        if meta.file_type().is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, &relative, fs::read_link(&full)?)?;
        } else if meta.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder.append_data(&mut header, &relative, std::io::empty())?;
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            builder.append_data(&mut header, &relative, fs::File::open(&full)?)?;
        }
    }
    builder.into_inner()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }
}
