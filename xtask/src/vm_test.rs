//! `cargo xtask vm-test`: chapter 3's graded tests on a real cgroup v2 kernel, in a QEMU guest.
//!
//! This machine runs cgroups v1 (hybrid), most students' machines run v2, and both must work.
//! So we boot Debian's cloud kernel with `cgroup_no_v1=all` (nothing but v2) under QEMU, with an
//! initramfs that holds exactly what the tests need at the same absolute paths as here: a static
//! busybox for `/init`, the course rootfs, chapter 3's snapshots, the chapter binary and its graded
//! test binary, both built static. The guest runs the very same tests and prints libtest's
//! report on the serial console; we read it back and fail if any test failed or none ran.
//!
//! Why the copy into a tmpfs first: the initramfs is the kernel's `rootfs`, which `pivot_root`
//! cannot leave, so `/init` copies itself into a tmpfs and `switch_root`s there.

use crate::cpio;
use crate::run::{cargo, checked, describe};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a guest may take: it boots and runs the tests in about 15 s under software emulation.
const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(clap::Args, Default)]
pub struct Args {
    /// Write the guest's `@v2` snapshots back here (for maintainers adding a v2-specific test;
    /// never in a graded run). Other snapshots must match the v1 ones and are never written.
    #[arg(long)]
    pub accept: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let qemu = crate::run::which("qemu-system-x86_64").context(
        "qemu-system-x86_64 is not installed: `sudo apt-get install --no-install-recommends qemu-system-x86`",
    )?;
    let report = testkit::rootfs::ensure()?;
    let busybox = match &report.source {
        testkit::rootfs::Source::Busybox { path, .. } => path.clone(),
        testkit::rootfs::Source::Host => bail!("the guest's /init needs a static busybox: install busybox-static"),
    };
    let dir = testkit::workspace::target().join("vm");
    std::fs::create_dir_all(&dir)?;
    let kernel = kernel(&dir)?;
    let (chapter_binary, grade) = build_static("ch03-cgroups")?;
    let initrd = dir.join("initrd.cpio");
    pack(&initrd, &busybox, &chapter_binary, &grade, &report.dir, args.accept)?;
    println!("vm-test: booting {} with cgroup_no_v1=all", kernel.display());
    let output = boot(&qemu, &kernel, &initrd)?;
    if args.accept {
        accept(&output)?;
    }
    check(&output)
}

/// Writes the `@v2` snapshots the guest printed between `VM-SNAPSHOT` markers.
fn accept(output: &str) -> Result<()> {
    let dir = testkit::workspace::root().join("chapters/ch03-cgroups/tests/snapshots");
    let mut current: Option<(String, String)> = None;
    for line in output.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(name) = line.strip_prefix("VM-SNAPSHOT-BEGIN ") {
            current = Some((name.to_string(), String::new()));
        } else if line == "VM-SNAPSHOT-END" {
            if let Some((name, text)) = current.take() {
                std::fs::write(dir.join(&name), text)?;
                println!("vm-test: wrote {name}");
            }
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    Ok(())
}

/// Debian's cloud kernel (small, lz4, boots fast under TCG), downloaded and unpacked without root.
fn kernel(dir: &Path) -> Result<PathBuf> {
    let unpacked = dir.join("kernel");
    if let Some(found) = find_vmlinuz(&unpacked) {
        return Ok(found);
    }
    // The metapackage names the versioned image it depends on.
    let depends = Command::new("apt-cache").args(["depends", "linux-image-cloud-amd64"]).output().context("running apt-cache")?;
    let text = String::from_utf8_lossy(&depends.stdout);
    let image = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with("linux-image-")))
        .context("apt-cache knows no linux-image-cloud-amd64: run `apt-get update` first")?
        .to_string();
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads)?;
    checked(Command::new("apt-get").current_dir(&downloads).args(["download", &image]))?;
    let deb = std::fs::read_dir(&downloads)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&image)))
        .context("apt-get download left no .deb")?;
    checked(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    find_vmlinuz(&unpacked).context("the kernel package holds no boot/vmlinuz-*")
}

fn find_vmlinuz(unpacked: &Path) -> Option<PathBuf> {
    std::fs::read_dir(unpacked.join("boot")).ok()?.flatten().map(|e| e.path()).find(|p| {
        p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
    })
}

/// Builds `crate`'s binary and its `tests/grade.rs` static, in `target/static`. Returns both paths.
fn build_static(krate: &str) -> Result<(PathBuf, PathBuf)> {
    let triple = testkit::rootfs::host_triple()?;
    let target_dir = testkit::workspace::target().join("static");
    let mut command = cargo();
    command
        .args(["test", "--no-run", "--message-format=json", "--package", krate, "--test", "grade", "--target", &triple, "--target-dir"])
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env(testkit::rootfs::cargo_target_var(&triple, "RUSTFLAGS"), "-C target-feature=+crt-static")
        // No debug info: it would make the initramfs ten times larger.
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .stderr(Stdio::inherit());
    println!("vm-test: {}", describe(&command));
    let output = command.output().with_context(|| format!("running {}", describe(&command)))?;
    if !output.status.success() {
        bail!("building the static test binary failed ({})", output.status);
    }
    let mut grade = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["target"]["name"] == "grade"
            && let Some(path) = message["executable"].as_str()
        {
            grade = Some(PathBuf::from(path));
        }
    }
    let grade = grade.context("cargo built no grade test binary")?;
    let binary = target_dir.join(&triple).join("debug").join(krate);
    for path in [&grade, &binary] {
        if testkit::elf::is_static(path) != Some(true) {
            bail!("{} is not a static binary", path.display());
        }
    }
    Ok((binary, grade))
}

/// The guest's `/init`: copy into a tmpfs, `switch_root`, then `/stage2`.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t tmpfs -o size=900m tmpfs /newroot
for d in /*; do case "$d" in /proc|/sys|/dev|/newroot) ;; *) cp -a "$d" /newroot/ ;; esac; done
mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
umount /proc
exec switch_root /newroot /stage2
"#;

/// The guest's second stage: the mounts a machine has, then the graded tests, then power off.
const STAGE2: &str = r#"#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
chmod 1777 /tmp
echo "VM-TEST: /sys/fs/cgroup is $(awk '$2 == "/sys/fs/cgroup" { print $3 }' /proc/mounts), kernel $(uname -r)"
cd /
CI=true INSTA_UPDATE=@UPDATE@ CORACLE_ROOTFS_READY=1 INSTA_WORKSPACE_ROOT=@ROOT@ RUST_BACKTRACE=1 /grade --test-threads=2
echo "VM-TEST-EXIT: $?"
if [ @UPDATE@ = always ]; then
  for f in @SNAPSHOTS@/*@v2.snap; do
    [ -f "$f" ] || continue
    echo "VM-SNAPSHOT-BEGIN ${f##*/}"; cat "$f"; echo VM-SNAPSHOT-END
  done
fi
poweroff -f
"#;

fn pack(initrd: &Path, busybox: &Path, binary: &Path, grade: &Path, rootfs: &Path, accept: bool) -> Result<()> {
    let file = std::fs::File::create(initrd).with_context(|| format!("creating {}", initrd.display()))?;
    let mut cpio = cpio::Writer::new(std::io::BufWriter::new(file));
    let root = testkit::workspace::root();
    for dir in ["bin", "proc", "sys", "dev", "tmp", "newroot", "root"] {
        cpio.dir(dir)?;
    }
    cpio.file("bin/busybox", 0o755, &std::fs::read(busybox)?)?;
    cpio.file("init", 0o755, INIT.as_bytes())?;
    let snapshots = root.join("chapters/ch03-cgroups/tests/snapshots");
    let stage2 = STAGE2
        .replace("@ROOT@", &root.display().to_string())
        .replace("@UPDATE@", if accept { "always" } else { "no" })
        .replace("@SNAPSHOTS@", &snapshots.display().to_string());
    cpio.file("stage2", 0o755, stage2.as_bytes())?;
    cpio.file("grade", 0o755, &std::fs::read(grade)?)?;
    // The same absolute paths as on this machine, since the test binary has them compiled in.
    let rootfs_at = rootfs.display().to_string();
    cpio.parents(&rootfs_at)?;
    cpio.tree(rootfs, &rootfs_at)?;
    let binary_at = binary.display().to_string();
    cpio.parents(&binary_at)?;
    cpio.file(&binary_at, 0o755, &std::fs::read(binary)?)?;
    let snapshots_at = snapshots.display().to_string();
    cpio.parents(&snapshots_at)?;
    cpio.tree(&snapshots, &snapshots_at)?;
    cpio.finish()?;
    Ok(())
}

/// Boots the guest and returns what it printed on its serial console. KVM is tried first where
/// `/dev/kvm` exists; a KVM that fails (as on this workplace's machines, where the guest hangs with
/// an emulation failure) is noticed when the guest says nothing for 20 s, and the boot is
/// retried under software emulation (TCG), which always works, only slower.
fn boot(qemu: &Path, kernel: &Path, initrd: &Path) -> Result<String> {
    if Path::new("/dev/kvm").exists() {
        // A working KVM boots to our init in a second or two.
        match boot_with(qemu, kernel, initrd, "kvm", Some(Duration::from_secs(20)))? {
            Some(output) => return Ok(output),
            None => println!("vm-test: no word from the guest under KVM within 20 s: retrying with TCG"),
        }
    }
    boot_with(qemu, kernel, initrd, "tcg", None)?.context("the guest said nothing")
}

/// One boot. With `first_word`, gives up (`None`) if the guest's init has not spoken by then.
fn boot_with(qemu: &Path, kernel: &Path, initrd: &Path, accel: &str, first_word: Option<Duration>) -> Result<Option<String>> {
    let started = Instant::now();
    let mut child = Command::new(qemu)
        .args(["-accel", accel, "-m", "1024", "-smp", "2", "-nic", "none", "-display", "none"])
        .args(["-serial", "stdio", "-monitor", "none", "-no-reboot", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 cgroup_no_v1=all panic=-1 quiet rdinit=/init"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting qemu")?;
    let stdout = child.stdout.take().context("qemu's stdout")?;
    let (send, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = String::new();
    let mut spoke = false;
    let finished = loop {
        while let Ok(line) = lines.try_recv() {
            spoke |= line.contains("VM-TEST");
            output.push_str(&line);
            output.push('\n');
        }
        if child.try_wait()?.is_some() {
            break true;
        }
        let silent_too_long = first_word.is_some_and(|limit| !spoke && started.elapsed() > limit);
        if silent_too_long || started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        output.push_str(&line);
        output.push('\n');
    }
    if !finished {
        if first_word.is_some() && !spoke {
            return Ok(None);
        }
        bail!("the guest was still running after {TIMEOUT:?}: killed; its console said:\n{output}");
    }
    println!("vm-test: guest ran for {:.1} s ({accel})", started.elapsed().as_secs_f64());
    Ok(Some(output))
}

/// Passes only if the guest ran on cgroup v2, ran tests, and every one passed.
fn check(output: &str) -> Result<()> {
    let lines: Vec<&str> = output.lines().map(|l| l.trim_end_matches('\r')).collect();
    for line in lines.iter().filter(|l| l.starts_with("VM-TEST") || l.starts_with("test ") || l.contains("panicked") || l.starts_with("----")) {
        println!("guest: {line}");
    }
    if !lines.iter().any(|l| l.starts_with("VM-TEST: /sys/fs/cgroup is cgroup2,")) {
        bail!("the guest did not run on cgroup v2; its console said:\n{output}");
    }
    let result = lines.iter().find(|l| l.starts_with("test result:")).with_context(|| format!("the guest ran no tests; its console said:\n{output}"))?;
    if !lines.contains(&"VM-TEST-EXIT: 0") || !result.starts_with("test result: ok.") {
        let failures: Vec<&str> = lines.iter().copied().skip_while(|l| !l.starts_with("failures:")).collect();
        bail!("chapter 3's graded tests failed on cgroup v2: {result}\n{}", failures.join("\n"));
    }
    println!("vm-test: chapter 3 on cgroup v2: {result}");
    Ok(())
}
