//! Chapter 2's graded tests: the specification of `ch02-namespaces run`, read first.
//!
//! Each test runs the real binary, as root (or, for rootless, as `nobody`), on a private copy of
//! the course rootfs, and snapshots what the container really sees. Book: "Chapter 2: namespaces".

use nix::sys::signal::Signal;
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::{Background, Outcome, TestRootfs, assert_outcome, host_namespaces, regex_escape, require_root};

const BINARY: &str = env!("CARGO_BIN_EXE_ch02-namespaces");

/// `ch02-namespaces run --rootfs <copy>` with a predictable host environment.
fn ch02(rootfs: &TestRootfs) -> Command {
    let mut command = Command::new(BINARY);
    command.env_remove("TERM").arg("run").arg("--rootfs").arg(rootfs.path());
    command
}

/// Runs `ch02 run --rootfs R ARGS...`, then checks that nothing was left behind.
fn run(rootfs: &TestRootfs, args: &[&str]) -> Outcome {
    let outcome = Outcome::of(ch02(rootfs).args(args));
    rootfs.assert_clean();
    outcome
}

#[test]
fn pid_one_is_the_command() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(run(&rootfs, &["probe", "ids"]), rootfs.path());
}

#[test]
fn ps_sees_only_the_container() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(run(&rootfs, &["sh", "-c", "sleep 10 & sleep 0.1; ps -o pid,args; kill $!"]), rootfs.path());
}

#[test]
fn hostname_is_the_containers_and_the_hosts_is_unchanged() {
    require_root();
    let rootfs = TestRootfs::new();
    let host_before = nix::unistd::gethostname().unwrap();
    let named = run(&rootfs, &["--hostname", "box", "sh", "-c", "hostname; echo $HOSTNAME; hostname renamed-inside; hostname"]);
    let default = run(&rootfs, &["hostname"]);
    assert_eq!(nix::unistd::gethostname().unwrap(), host_before, "the host's hostname changed");
    assert_outcome!(
        format!("--hostname box:\n{named}default:\n{default}"),
        rootfs.path(),
        (r"(?m)^  [0-9a-f]{12}$", "  [RANDOM 12 HEX]")
    );
}

#[test]
fn namespaces_are_the_containers_own() {
    require_root();
    let rootfs = TestRootfs::new();
    let host = host_namespaces();
    assert_outcome!(run(&rootfs, &["-e", &format!("PROBE_HOST_NS={host}"), "probe", "ns"]), rootfs.path());
}

#[test]
fn network_is_only_loopback_and_it_is_up() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(run(&rootfs, &["sh", "-c", "probe net; ping -c 1 -W 1 127.0.0.1 >/dev/null && echo ping 127.0.0.1: ok"]), rootfs.path());
}

#[test]
fn mount_table_is_the_containers() {
    require_root();
    let rootfs = TestRootfs::new();
    // The masks under /proc and /sys depend on what the kernel has; `masks_hide_the_kernels_secrets` checks them.
    assert_outcome!(
        run(&rootfs, &["probe", "mounts"]),
        rootfs.path(),
        (r"(?m)^  mount: /(proc|sys)/\S+ .*\n", ""),
        // `/` is whatever filesystem holds the checkout (ext4 here, btrfs or overlay elsewhere).
        (r"(?m)^  mount: / \S+ ", "  mount: / [ROOT FS] ")
    );
}

#[test]
fn container_mounts_are_invisible_on_the_host() {
    require_root();
    let rootfs = TestRootfs::new();
    // Make the test's directory a *shared* mount, as `/` is on systemd machines: without the
    // runtime's `make_private`, every mount it makes below would then show up here too.
    let _shared = SharedMount::new(rootfs.host_dir());
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    let mut running = Background::start(ch02(&rootfs).args(["sh", "-c", "echo started; sleep 30"]));
    running.wait_for_line("started");
    let during = testkit::rootfs::mounts_under(rootfs.path()).unwrap();
    let after_count_during = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    let inside = testkit::grade::processes_pivoted_into(rootfs.path()).len();
    // Kill the runtime itself, which cannot forward SIGKILL: the container must not outlive it.
    running.signal(Signal::SIGKILL);
    let outcome = running.finish();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !testkit::grade::processes_pivoted_into(rootfs.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    rootfs.assert_clean();
    let facts = format!(
        "mounts under the rootfs seen from the host while it runs: {during:?}\nhost mount table grew by: {}\n\
         container processes while it runs: {inside}\nruntime killed by SIGKILL: exit code {:?}\n",
        after_count_during.saturating_sub(before),
        outcome.code
    );
    assert_outcome!(facts, rootfs.path());
}

/// A bind mount of `dir` onto itself, made shared, and undone when dropped.
struct SharedMount(std::path::PathBuf);

impl SharedMount {
    fn new(dir: &std::path::Path) -> Self {
        use nix::mount::{MsFlags, mount};
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind-mounting the test directory");
        mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>).expect("making it shared");
        SharedMount(dir.to_path_buf())
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn chroot_escape_stays_jailed() {
    require_root();
    let rootfs = TestRootfs::new();
    let marker = rootfs.host_dir().join("host-only-marker");
    std::fs::write(&marker, "written on the host\n").unwrap();
    let marker = marker.display().to_string();
    let outcome = run(&rootfs, &["escape", "sh", "-c", &format!("grep PRETTY_NAME /etc/os-release; cat {marker}")]);
    assert_outcome!(outcome, rootfs.path(), (&regex_escape(&marker), "[HOST MARKER]"), (r"climbed \d+ level", "climbed [N] level"));
}

#[test]
fn capabilities_are_dockers_default_set() {
    require_root();
    let rootfs = TestRootfs::new();
    let caps = run(&rootfs, &["probe", "caps"]);
    let mount = run(&rootfs, &["mount", "-t", "tmpfs", "none", "/tmp"]);
    assert_outcome!(format!("{caps}mount without CAP_SYS_ADMIN:\n{mount}"), rootfs.path());
}

#[test]
fn masks_hide_the_kernels_secrets() {
    require_root();
    let rootfs = TestRootfs::new();
    // Each file reads as nothing: masked, or absent on a kernel without it.
    let script = "for f in kcore keys timer_list sched_debug; do echo \"/proc/$f: $(cat /proc/$f 2>/dev/null | wc -c) bytes\"; done; \
                  for f in keys timer_list; do stat -c \"/proc/$f is now: %F %t,%T\" /proc/$f; done; \
                  echo \"/sys/firmware: $(ls /sys/firmware | wc -l) entries\"; \
                  echo 1 > /proc/sys/kernel/domainname || echo /proc/sys is read-only; \
                  echo x > /sys/kernel/uevent_helper 2>/dev/null || echo /sys is read-only";
    assert_outcome!(run(&rootfs, &["sh", "-c", script]), rootfs.path());
}

#[test]
fn init_reaps_orphans_and_without_it_a_zombie_stays() {
    require_root();
    let rootfs = TestRootfs::new();
    let bare = run(&rootfs, &["probe", "zombies"]);
    let with_init = run(&rootfs, &["--init", "probe", "zombies", "ids"]);
    assert_outcome!(format!("without --init (probe is PID 1 and never waits):\n{bare}with --init:\n{with_init}"), rootfs.path());
}

#[test]
fn sigterm_stops_an_init_container_at_once_with_143() {
    require_root();
    let rootfs = TestRootfs::new();
    // A long grace period: only forwarding through --init can stop it quickly.
    let mut running = Background::start(ch02(&rootfs).args(["--init", "--stop-timeout", "60", "sh", "-c", "echo started; exec sleep 60"]));
    running.wait_for_line("started");
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    running.signal(Signal::SIGTERM);
    let outcome = running.finish();
    let took = sent.elapsed();
    rootfs.assert_clean();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?} to stop the container");
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn sigterm_ignored_by_pid_one_is_killed_after_the_grace_period_137() {
    require_root();
    let rootfs = TestRootfs::new();
    let mut running = Background::start(ch02(&rootfs).args(["--stop-timeout", "1", "sh", "-c", "echo started; exec sleep 60"]));
    running.wait_for_line("started");
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    running.signal(Signal::SIGTERM);
    let outcome = running.finish();
    let took = sent.elapsed();
    rootfs.assert_clean();
    assert!(took >= Duration::from_secs(1), "killed after {took:?}, before the 1 s grace period ended");
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn signals_are_forwarded_to_the_container() {
    require_root();
    let rootfs = TestRootfs::new();
    let script = "trap 'echo got USR1' USR1; trap 'echo got HUP' HUP; trap 'echo got TERM; exit 7' TERM; \
                  echo ready; while true; do sleep 0.05; done";
    let mut running = Background::start(ch02(&rootfs).args(["sh", "-c", script]));
    running.wait_for_line("ready");
    running.signal(Signal::SIGUSR1);
    running.wait_for_line("got USR1");
    running.signal(Signal::SIGHUP);
    running.wait_for_line("got HUP");
    running.signal(Signal::SIGTERM);
    let outcome = running.finish();
    rootfs.assert_clean();
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn rootless_user_gets_pid_one_and_root_inside() {
    require_root();
    use std::os::unix::process::CommandExt;
    let rootfs = TestRootfs::new_public();
    let binary = rootfs.public_copy_of(BINARY);
    let host = host_namespaces();
    let outcome = Outcome::of(
        Command::new(&binary)
            .uid(65534)
            .gid(65534)
            .env_remove("TERM")
            .args(["run", "--hostname", "rootless", "--rootfs"])
            .arg(rootfs.path())
            .args(["-e", &format!("PROBE_HOST_NS={host}"), "probe", "ids", "hostname", "userns", "ns"]),
    );
    let writes = Outcome::of(Command::new(&binary).uid(65534).gid(65534).arg("run").arg("--rootfs").arg(rootfs.path()).args(["sh", "-c", "echo hello > /tmp/written && cat /tmp/written"]));
    rootfs.assert_clean();
    assert_outcome!(format!("{outcome}writing to /tmp:\n{writes}"), rootfs.path());
}

#[test]
fn rootless_with_an_unreadable_rootfs_says_what_to_do() {
    require_root();
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let rootfs = TestRootfs::new_public();
    let binary = rootfs.public_copy_of(BINARY);
    std::fs::set_permissions(rootfs.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let outcome = Outcome::of(Command::new(&binary).uid(65534).gid(65534).arg("run").arg("--rootfs").arg(rootfs.path()).arg("true"));
    rootfs.assert_clean();
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn trace_shows_every_namespace_call_in_order() {
    require_root();
    let rootfs = TestRootfs::new();
    assert_outcome!(
        run(&rootfs, &["--trace", "--hostname", "box", "true"]),
        rootfs.path(),
        // The masked and read-only paths depend on the kernel; their calls are checked by effect.
        (r#"(?m)^  \[trace\] mount\([^\n]*\[ROOTFS\]/(proc|sys)/[^\n]*\n"#, ""),
        (r"the \d+ capabilities outside", "the [N] capabilities outside")
    );
}

#[test]
fn chapter_one_flags_and_exit_codes_still_work() {
    require_root();
    let rootfs = TestRootfs::new();
    let flags = run(&rootfs, &["-w", "/tmp", "-e", "GREETING=hi", "sh", "-c", "pwd; echo $GREETING; exit 3"]);
    let missing = run(&rootfs, &["no-such-command"]);
    let killed = run(&rootfs, &["sh", "-c", "sleep 10 & kill -KILL $!; wait $!"]);
    assert_outcome!(format!("flags:\n{flags}not found:\n{missing}killed:\n{killed}"), rootfs.path());
}

#[test]
fn bad_input_is_a_runtime_error() {
    require_root();
    let rootfs = TestRootfs::new();
    let hostname = run(&rootfs, &["--hostname", "not/valid", "true"]);
    let timeout = run(&rootfs, &["--stop-timeout", "soon", "true"]);
    let no_rootfs = Outcome::of(Command::new(BINARY).args(["run", "--rootfs", "/no/such/rootfs", "true"]));
    assert_outcome!(format!("bad hostname:\n{hostname}bad --stop-timeout:\n{timeout}missing rootfs:\n{no_rootfs}"), rootfs.path());
}

#[test]
fn symlinked_mount_points_are_refused() {
    require_root();
    let rootfs = TestRootfs::new();
    // A hostile rootfs points /proc at the host's /etc, hoping the runtime mounts over it.
    std::fs::remove_dir(rootfs.path().join("proc")).unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.path().join("proc")).unwrap();
    assert_outcome!(run(&rootfs, &["true"]), rootfs.path());
}

#[test]
fn interactive_shell_works_on_a_terminal() {
    require_root();
    let rootfs = TestRootfs::new();
    let typed = b"test -t 0 && echo stdin-is-a-terminal\necho pid-$$\nexit 5\n";
    let (transcript, code) = testkit::grade::on_a_terminal(ch02(&rootfs).args(["--init", "sh", "-i"]), typed);
    rootfs.assert_clean();
    let facts = format!(
        "stdin is a terminal inside: {}\nthe shell is PID 2, under --init: {}\nexit code: {code:?}\n",
        transcript.lines().any(|l| l.trim() == "stdin-is-a-terminal"),
        transcript.lines().any(|l| l.trim() == "pid-2"),
    );
    assert_outcome!(facts, rootfs.path());
}

#[test]
fn the_command_inherits_no_ignored_or_blocked_signals() {
    require_root();
    let rootfs = TestRootfs::new();
    // grep, not the probe: a Rust program ignores SIGPIPE itself when it starts. Only what the
    // runtime could have changed is shown: the blocked set, and SIGPIPE (bit 13 of SigIgn); other
    // ignored signals come from whoever started the test.
    let facts = |outcome: Outcome| {
        let field = |name: &str| {
            outcome.stdout.lines().find_map(|l| l.strip_prefix(name)).map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        };
        format!(
            "exit code: {:?}\nblocked: {:?}\nSIGPIPE ignored: {:?}\n",
            outcome.code,
            field("SigBlk:"),
            field("SigIgn:").map(|m| m & (1 << (libc_sigpipe() - 1)) != 0)
        )
    };
    let bare = facts(run(&rootfs, &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]));
    let with_init = facts(run(&rootfs, &["--init", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]));
    assert_outcome!(format!("{bare}with --init:\n{with_init}"), rootfs.path());
}

fn libc_sigpipe() -> u32 {
    Signal::SIGPIPE as u32
}

#[test]
fn init_is_a_sealed_copy_with_nothing_of_the_host() {
    require_root();
    let rootfs = TestRootfs::new();
    let script = "echo \"exe: $(readlink /proc/1/exe)\"; echo \"cmdline: $(tr '\\0' ' ' < /proc/1/cmdline)\"; \
                  echo \"environ: $(wc -c < /proc/1/environ) bytes\"; echo \"cwd: $(readlink /proc/1/cwd)\"; \
                  grep -E '^(Cap(Eff|Prm|Bnd)|NoNewPrivs)' /proc/1/status; \
                  head -c 4 /proc/1/mem > /dev/null 2>&1 || echo /proc/1/mem cannot be read; \
                  echo x > /proc/1/exe || echo /proc/1/exe cannot be written";
    // Started from a host directory: PID 1 must not keep it as its working directory.
    let outcome = Outcome::of(ch02(&rootfs).current_dir(rootfs.host_dir()).env("HOST_SECRET", "must not leak").args(["--init", "sh", "-c", script]));
    rootfs.assert_clean();
    assert_outcome!(outcome, rootfs.path());
}

#[test]
fn device_nodes_made_inside_cannot_be_opened() {
    require_root();
    let rootfs = TestRootfs::new();
    // Root inside has CAP_MKNOD (docker's default), so it can make a node for the host's first
    // disk (block 8:0) or memory (char 1:1); nothing must let it open one.
    let script = "mknod /tmp/disk b 8 0 && echo made /tmp/disk; head -c 1 /tmp/disk >/dev/null && echo READ THE DISK; \
                  mknod /dev/mem c 1 1 || echo no new node in /dev; echo fine > /dev/null && echo /dev/null still works";
    assert_outcome!(run(&rootfs, &["sh", "-c", script]), rootfs.path());
}
