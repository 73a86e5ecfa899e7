//! Helpers for the chapters' `tests/grade.rs`: run the chapter binary as a student would, render
//! what happened as text for an insta snapshot, and check that nothing was left behind.
//!
//! The graded tests are black-box: they run the real binary, as root, on a real copy of the course
//! rootfs. They never fake the kernel; a test that cannot run as it should fails and says why.

use crate::rootfs;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long one run may take before the test kills it and fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// Fails the test, loudly and with the fix, unless it runs as root. Graded tests never skip.
pub fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        panic!(
            "this graded test runs containers and needs root: run `cargo xtask test --sudo` \
             (or `sudo -E cargo xtask test`); CI runs as root"
        );
    }
}

/// The shared course rootfs, built on first use (`cargo xtask` builds it beforehand and says so
/// with `CORACLE_ROOTFS_READY=1`, which saves each test binary a cargo call).
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = crate::workspace::rootfs_dir();
        if std::env::var_os("CORACLE_ROOTFS_READY").is_some() && dir.is_dir() {
            return dir;
        }
        match rootfs::ensure() {
            Ok(report) => report.dir,
            Err(e) => panic!("cannot build the course rootfs: {e:#}"),
        }
    })
}

/// A private copy of the course rootfs for one test, so tests may write to it, run in parallel,
/// and check for leftovers without seeing each other's. Removed when dropped, unless something is
/// still mounted inside (then it is kept, and [`TestRootfs::assert_clean`] has already failed).
pub struct TestRootfs {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestRootfs {
    pub fn new() -> Self {
        let parent = crate::workspace::target().join("test-rootfs");
        std::fs::create_dir_all(&parent).expect("creating target/test-rootfs");
        Self::new_in(&parent)
    }

    /// A copy that any user can reach (under the system's temporary directory, mode 755), for
    /// tests that run a chapter binary as an unprivileged user.
    pub fn new_public() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let rootfs = Self::new_in(&std::env::temp_dir());
        std::fs::set_permissions(rootfs.host_dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
        rootfs
    }

    fn new_in(parent: &Path) -> Self {
        let dir = tempfile::Builder::new().prefix("coracle-rootfs-").tempdir_in(parent).expect("creating a test rootfs");
        let path = dir.path().join("rootfs");
        copy_tree(rootfs(), &path).expect("copying the course rootfs");
        TestRootfs { dir: Some(dir), path }
    }

    /// Copies `binary` next to the rootfs (mode 755), so an unprivileged user can run it whatever
    /// the permissions of the checkout.
    pub fn public_copy_of(&self, binary: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let name = Path::new(binary).file_name().expect("a binary path");
        let copy = self.host_dir().join(name);
        std::fs::copy(binary, &copy).expect("copying the binary");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
        copy
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory holding the rootfs, where a test can put host-only files.
    pub fn host_dir(&self) -> &Path {
        self.path.parent().expect("the rootfs has a parent")
    }

    /// Fails unless nothing the container made is left: no mount inside the rootfs (in the host's
    /// mount namespace), and no process whose root is the rootfs, by chroot or by pivot_root.
    pub fn assert_clean(&self) {
        let mounts = rootfs::mounts_under(&self.path).expect("reading the mount table");
        assert!(mounts.is_empty(), "mounts left behind in the rootfs: {mounts:?}");
        let mut processes = processes_rooted_in(&self.path);
        processes.extend(processes_pivoted_into(&self.path));
        assert!(processes.is_empty(), "processes left running in the rootfs: {processes:?}");
    }
}

impl Default for TestRootfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRootfs {
    fn drop(&mut self) {
        let mounted = rootfs::mounts_under(&self.path).unwrap_or_default();
        if let Some(dir) = self.dir.take() {
            if mounted.is_empty() {
                let _ = dir.close();
            } else {
                // Never delete through a mount: it could be the host's files.
                eprintln!("keeping {} because of mounts left inside: {mounted:?}", dir.keep().display());
            }
        }
    }
}

/// Pids of the processes whose root directory is `dir` or below it.
pub fn processes_rooted_in(dir: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::canonicalize(dir) else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|root| root.starts_with(&dir)))
        .collect()
}

/// Pids of the processes whose mount namespace has `dir` as its root mount (after `pivot_root`,
/// `/proc/PID/root` reads `/`; the root mount's "root" field in `/proc/PID/mountinfo` still names
/// the directory of the filesystem it came from).
pub fn processes_pivoted_into(dir: &Path) -> Vec<u32> {
    let Some(wanted) = filesystem_path(dir) else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).is_ok_and(|table| {
                table.lines().any(|line| {
                    let fields: Vec<&str> = line.split(' ').collect();
                    fields.get(4) == Some(&"/") && fields.get(2) == Some(&wanted.0.as_str()) && fields.get(3).map(PathBuf::from) == Some(wanted.1.clone())
                })
            })
        })
        .collect()
}

/// Where `dir` is inside its filesystem: the device (`major:minor`) and the path from that
/// filesystem's root, as mountinfo's third and fourth fields show them.
fn filesystem_path(dir: &Path) -> Option<(String, PathBuf)> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let point = PathBuf::from(fields.get(4)?);
            let rest = dir.strip_prefix(&point).ok()?;
            Some((point.components().count(), fields.get(2)?.to_string(), PathBuf::from(fields.get(3)?).join(rest)))
        })
        .max_by_key(|(depth, ..)| *depth)
        .map(|(_, device, path)| (device, path))
}

/// The host's namespace ids, as `probe ns` compares them: `PROBE_HOST_NS=pid:4026531836 ...`.
pub fn host_namespaces() -> String {
    ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
        .iter()
        .filter_map(|kind| {
            let link = std::fs::read_link(format!("/proc/self/ns/{kind}")).ok()?;
            let link = link.to_string_lossy();
            let number = link.trim_start_matches(|c: char| !c.is_ascii_digit()).trim_end_matches(']');
            Some(format!("{kind}:{number}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copies a tree with its symbolic links, modes and (as root) owners.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
        return Ok(());
    }
    if meta.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to)?;
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}

/// What a run of a chapter binary did, as a snapshot shows it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit code, or `None` when a signal killed the runtime itself.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Runs `command` with no input.
    pub fn of(command: &mut Command) -> Outcome {
        Self::with_stdin(command, None)
    }

    /// Runs `command`, feeding it `input` on stdin (or nothing, and end-of-file, for `None`), and
    /// kills it if it is still running after a minute.
    pub fn with_stdin(command: &mut Command, input: Option<&[u8]>) -> Outcome {
        let mut child = command
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            let input = input.to_vec();
            std::thread::spawn(move || stdin.write_all(&input));
        }
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = pipe.read_to_end(&mut text);
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
        let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the runtime") {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command:?} was still running after {DEADLINE:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Outcome {
            code: status.code(),
            stdout: stdout.join().expect("reading stdout"),
            stderr: stderr.join().expect("reading stderr"),
        }
    }

    /// The stderr lines that `--trace` wrote.
    pub fn trace_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with("[trace] ")).collect()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => writeln!(f, "exit code: {code}")?,
            None => writeln!(f, "exit code: none (the runtime was killed by a signal)")?,
        }
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if text.is_empty() {
                writeln!(f, "{name}: (empty)")?;
            } else {
                writeln!(f, "{name}:")?;
                for line in text.lines() {
                    writeln!(f, "  {line}")?;
                }
            }
        }
        Ok(())
    }
}

/// The redactions every graded snapshot gets: only what varies from run to run.
pub fn filters(rootfs: &Path) -> Vec<(String, String)> {
    let mut filters = vec![
        (regex_escape(&rootfs.display().to_string()), "[ROOTFS]".to_string()),
        // The per-test directory around it, where tests put host-only files.
        (regex_escape(&rootfs.parent().unwrap_or(rootfs).display().to_string()), "[TEST DIR]".to_string()),
        (regex_escape(&crate::workspace::target().display().to_string()), "[TARGET]".to_string()),
        // Host pids: the trace of fork and wait4 in chapter 1.
        (r"fork\(\) = \d+".to_string(), "fork() = [PID]".to_string()),
        (r"wait4\(\d+\)".to_string(), "wait4([PID])".to_string()),
        // Chapter 2: the clone, the user namespace maps and the signals it forwards.
        (r"(clone\([A-Z_|]*\)) = \d+".to_string(), "$1 = [PID]".to_string()),
        (r"/proc/\d+/".to_string(), "/proc/[PID]/".to_string()),
        (r"kill\(\d+, ".to_string(), "kill([PID], ".to_string()),
        // Chapter 3: a container's cgroup is named `<runtime pid>-<8 random hex digits>`, below a
        // test's own parent `coracle-test-<8 hex>`, and the child's host pid goes to cgroup.procs.
        (r"coracle-test-[0-9a-f]{8}".to_string(), "[CGROUP PARENT]".to_string()),
        (r"/\d+-[0-9a-f]{8}\b".to_string(), "/[CGROUP]".to_string()),
        (r#"(cgroup\.procs", )"\d+""#.to_string(), "$1\"[PID]\"".to_string()),
    ];
    // Chapter 1 shares the host's hostname; redact it only where it is shown as a hostname.
    if let Ok(host) = nix::unistd::gethostname() {
        let host = regex_escape(&host.to_string_lossy());
        if !host.is_empty() {
            filters.push((format!("(?m)HOSTNAME={host}$"), "HOSTNAME=[HOST HOSTNAME]".to_string()));
            filters.push((format!("(?m)hostname: {host}$"), "hostname: [HOST HOSTNAME]".to_string()));
        }
    }
    filters
}

pub fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| if r"\.+*?()|[]{}^$".contains(c) { vec!['\\', c] } else { vec![c] })
        .collect()
}

/// Snapshots `$outcome` (anything `Display`) under the test's own name, with [`filters`] for the
/// given rootfs and any extra `(regex, replacement)` pairs.
#[macro_export]
macro_rules! assert_outcome {
    ($outcome:expr, $rootfs:expr $(, ($regex:expr, $replacement:expr))* $(,)?) => {{
        let mut settings = $crate::insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        for (regex, replacement) in $crate::grade::filters($rootfs) {
            settings.add_filter(&regex, replacement);
        }
        $( settings.add_filter($regex, $replacement); )*
        let snapshot = $outcome.to_string();
        settings.bind(|| $crate::insta::assert_snapshot!(snapshot));
    }};
}

/// A run of a chapter binary that the test talks to while it runs: wait for a line, send a signal.
pub struct Background {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stdout: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Background {
    pub fn start(command: &mut Command) -> Background {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let (send, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        Background { child, lines, stdout: String::new(), stderr }
    }

    /// The runtime's pid on the host.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Blocks until the command prints `line` on stdout (it is kept for the outcome).
    pub fn wait_for_line(&mut self, line: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) => {
                    self.stdout.push_str(&got);
                    self.stdout.push('\n');
                    if got == line {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("the container never printed {line:?}; stdout so far: {:?}", self.stdout);
                }
            }
        }
    }

    /// Sends `signal` to the runtime, as `kill` or Ctrl-C would.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), signal).expect("signalling the runtime");
    }

    /// Waits for the end (killing the runtime after a minute) and returns what it did.
    pub fn finish(mut self) -> Outcome {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the runtime") {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("the runtime was still running after {DEADLINE:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push_str(&line);
            self.stdout.push('\n');
        }
        Outcome { code: status.code(), stdout: self.stdout, stderr: self.stderr.join().expect("reading stderr") }
    }
}

/// Runs `command` on a new pseudo-terminal, as a student's interactive shell would, types `input`,
/// and returns everything the terminal showed and the exit code.
pub fn on_a_terminal(command: &mut Command, input: &[u8]) -> (String, Option<i32>) {
    use std::os::fd::OwnedFd;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup of the pty"));
    let mut child = command
        .stdin(stdio(&pty.slave))
        .stdout(stdio(&pty.slave))
        .stderr(stdio(&pty.slave))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // The master reads end-of-file only when no copy of the slave is left open: drop ours, both
    // the original and the copies the command still holds.
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    master.write_all(input).expect("typing on the terminal");
    let mut transcript = Vec::new();
    let mut buf = [0u8; 4096];
    // Reading the master fails with EIO once the last slave is closed: everything has exited.
    while let Ok(n @ 1..) = master.read(&mut buf) {
        transcript.extend_from_slice(&buf[..n]);
    }
    let status = child.wait().expect("waiting for the runtime");
    (String::from_utf8_lossy(&transcript).into_owned(), status.code())
}

/// A cgroup parent of one test's own (`--cgroup-parent coracle-test-…`), so that tests running
/// at once can each check that their containers' cgroups are gone. Removed when dropped.
pub struct CgroupParent {
    name: String,
}

impl CgroupParent {
    pub fn new() -> Self {
        let mut bytes = [0u8; 4];
        if let Ok(mut urandom) = std::fs::File::open("/dev/urandom") {
            let _ = urandom.read_exact(&mut bytes);
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        CgroupParent { name: format!("coracle-test-{hex}") }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `<mount>/<name>` in every cgroup hierarchy (v1 trees and the v2 one) that has it.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        table
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let after = fields.iter().position(|f| *f == "-")?;
                matches!(fields.get(after + 1), Some(&"cgroup") | Some(&"cgroup2")).then(|| Path::new(fields[4]).join(&self.name))
            })
            .filter(|dir| dir.is_dir())
            .collect()
    }

    /// The container cgroups still below the parent, in any hierarchy.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        self.dirs()
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    }

    pub fn assert_clean(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}

impl Default for CgroupParent {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        for dir in self.dirs() {
            for child in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let _ = std::fs::remove_dir(child.path());
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}
