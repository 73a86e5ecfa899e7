//! Chapter 1's graded tests: the specification of `ch01-chroot run`, read first.
//!
//! Each test runs the real binary, as root, on a private copy of the course rootfs, and snapshots
//! what a student would see (exit code, stdout, stderr). Only what varies between runs is redacted:
//! the rootfs path, host pids, the host's hostname. Book: "Chapter 1: chroot".

use std::path::Path;
use std::process::Command;
use testkit::{Outcome, TestRootfs, assert_outcome, regex_escape, require_root};

/// `ch01-chroot run --rootfs <copy>` with a predictable host environment.
fn ch01(rootfs: &TestRootfs) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ch01-chroot"));
    command.env_remove("TERM").arg("run").arg("--rootfs").arg(rootfs.path());
    command
}

/// Runs `ch01 run --rootfs R ARGS...`, then checks that nothing was left behind.
fn run(rootfs: &TestRootfs, args: &[&str]) -> Outcome {
    let outcome = Outcome::of(ch01(rootfs).args(args));
    rootfs.assert_clean();
    outcome
}

/// A file on the host, next to the rootfs but outside it.
fn host_marker(rootfs: &TestRootfs) -> String {
    let marker = rootfs.host_dir().join("host-only-marker");
    std::fs::write(&marker, "written on the host, outside the rootfs\n").unwrap();
    marker.display().to_string()
}

#[test]
fn sees_the_rootfs_not_the_host() {
    require_root();
    let rootfs = TestRootfs::new();
    let marker = host_marker(&rootfs);
    let script = format!("probe root cwd; cat /etc/hostname; test -e {marker} && echo marker visible || echo marker invisible");
    let outcome = run(&rootfs, &["sh", "-c", &script]);
    assert_outcome!(outcome, rootfs.path(), (&regex_escape(&marker), "[HOST MARKER]"));
}

#[test]
fn exit_code_is_the_commands_own() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(run(&rootfs, &["sh", "-c", "echo about to exit; exit 42"]), rootfs.path());
}

#[test]
fn killed_by_a_signal_is_128_plus_n() {
    require_root();
    let rootfs = TestRootfs::new();
    let term = run(&rootfs, &["sh", "-c", "kill -TERM $$"]);
    let kill = run(&rootfs, &["sh", "-c", "kill -KILL $$"]);
    assert_outcome!(format!("SIGTERM:\n{term}SIGKILL:\n{kill}"), rootfs.path());
}

#[test]
fn command_not_found_is_127() {
    require_root();
    let rootfs = TestRootfs::new();
    let bare = run(&rootfs, &["no-such-command", "--flag"]);
    let path = run(&rootfs, &["/bin/no-such-command"]);
    assert_outcome!(format!("in PATH:\n{bare}by path:\n{path}"), rootfs.path());
}

#[test]
fn not_executable_is_126() {
    require_root();
    let rootfs = TestRootfs::new();
    let file = run(&rootfs, &["/etc/passwd"]);
    let dir = run(&rootfs, &["/tmp"]);
    assert_outcome!(format!("a file:\n{file}a directory:\n{dir}"), rootfs.path());
}

#[test]
fn environment_is_clean_plus_env_flags() {
    require_root();
    let rootfs = TestRootfs::new();
    let outcome = Outcome::of(
        ch01(&rootfs)
            .env("HOST_SECRET", "must not leak")
            .env("FROM_HOST", "passed on request")
            .env("TERM", "xterm-256color")
            .args(["--env", "GREETING=hello", "-e", "FROM_HOST", "-e", "GREETING=replaced", "-e", "UNSET_ON_HOST"])
            .args(["env"]),
    );
    rootfs.assert_clean();
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn workdir_is_where_the_command_starts() {
    require_root();
    let rootfs = TestRootfs::new();
    let default = run(&rootfs, &["pwd"]);
    let tmp = run(&rootfs, &["--workdir", "/home/app", "sh", "-c", "pwd; ls -a"]);
    let relative = run(&rootfs, &["-w", "tmp", "pwd"]);
    let missing = run(&rootfs, &["-w", "/no/such/dir", "pwd"]);
    assert_outcome!(
        format!("default:\n{default}--workdir /home/app:\n{tmp}relative:\n{relative}missing:\n{missing}"),
        rootfs.path()
    );
}

#[test]
fn stdout_and_stderr_are_kept_apart() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(run(&rootfs, &["sh", "-c", "echo to stdout; echo to stderr >&2; echo more stdout"]), rootfs.path());
}

#[test]
fn stdin_is_piped_through() {
    require_root();
    let rootfs = TestRootfs::new();
    let outcome = Outcome::with_stdin(ch01(&rootfs).args(["tr", "a-z", "A-Z"]), Some(b"first line\nsecond line\n"));
    rootfs.assert_clean();
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn trace_narrates_each_kernel_call() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(run(&rootfs, &["--trace", "--workdir", "/tmp", "sh", "-c", "echo hello"]), rootfs.path());
}

#[test]
fn trace_shows_a_failing_call() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(run(&rootfs, &["--trace", "--workdir", "/missing", "true"]), rootfs.path());
}

#[test]
fn bad_rootfs_is_a_runtime_error() {
    require_root();
    let rootfs = TestRootfs::new();
    let missing = rootfs.host_dir().join("no-such-rootfs");
    let file = rootfs.host_dir().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let run_in = |dir: &Path| Outcome::of(Command::new(env!("CARGO_BIN_EXE_ch01-chroot")).arg("run").arg("--rootfs").arg(dir).arg("true"));
    let (missing, file) = (run_in(&missing), run_in(&file));
    assert_outcome!(format!("missing:\n{missing}a file:\n{file}"), rootfs.path());
}

#[test]
fn bad_flags_are_a_runtime_error() {
    require_root();
    let rootfs = TestRootfs::new();
    let binary = env!("CARGO_BIN_EXE_ch01-chroot");
    let unknown = run(&rootfs, &["--no-such-flag", "true"]);
    let no_command = Outcome::of(Command::new(binary).args(["run", "--rootfs"]).arg(rootfs.path()));
    let no_rootfs = Outcome::of(Command::new(binary).args(["run", "true"]));
    let bad_env = run(&rootfs, &["--env", "=value", "true"]);
    assert_outcome!(
        format!("unknown flag:\n{unknown}no command:\n{no_command}no --rootfs:\n{no_rootfs}bad --env:\n{bad_env}"),
        rootfs.path()
    );
}

#[test]
fn not_root_is_refused_with_the_fix() {
    require_root();
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let rootfs = TestRootfs::new();
    // A copy of the binary that `nobody` can reach, whatever the permissions of the checkout.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("ch01-chroot");
    std::fs::copy(env!("CARGO_BIN_EXE_ch01-chroot"), &binary).unwrap();
    std::fs::set_permissions(rootfs.host_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let outcome = Outcome::of(Command::new(&binary).uid(65534).gid(65534).arg("run").arg("--rootfs").arg(rootfs.path()).arg("true"));
    rootfs.assert_clean();
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn chroot_escape_reaches_the_host() {
    require_root();
    let rootfs = TestRootfs::new();
    let marker = host_marker(&rootfs);
    let inside = run(&rootfs, &["cat", &marker]);
    let escaped = run(&rootfs, &["escape", "cat", &marker]);
    assert_outcome!(
        format!("cat from inside the chroot:\n{inside}cat after the escape:\n{escaped}"),
        rootfs.path(),
        (&regex_escape(&marker), "[HOST MARKER]"),
        (r"climbed \d+ level", "climbed [N] level")
    );
}

#[test]
fn interactive_shell_works_on_a_terminal() {
    require_root();
    let rootfs = TestRootfs::new();
    let typed = b"test -t 0 && echo stdin-is-a-terminal\necho answer-$((6*7))\nexit 5\n";
    let (transcript, code) = testkit::grade::on_a_terminal(ch01(&rootfs).args(["sh", "-i"]), typed);
    rootfs.assert_clean();
    let facts = format!(
        "stdin is a terminal inside: {}\nthe shell answered: {}\nexit code: {code:?}\n",
        transcript.lines().any(|l| l.trim() == "stdin-is-a-terminal"),
        transcript.lines().any(|l| l.trim() == "answer-42"),
    );
    assert_outcome!(facts, rootfs.path());
}

