//! `cargo xtask bench [--quick] [--out FILE]`: how our runtime compares with the real ones,
//! measured side by side in one run, as ratios.
//!
//! Every contender runs `/bin/true` on the same busybox rootfs, alternating run by run (so drift
//! in the machine's speed hits all of them alike), after a warm-up; we report the median and the
//! 10th–90th percentile spread of the wall time. The peak RSS of the runtime process is measured
//! apart, through GNU `time -f %M` (package `time`): a child forked from this (large) process
//! would report our own RSS as its peak, since the kernel's high-water mark survives `execve`.
//! Absolute times vary between machines and runs; the ratios are the result.
//!
//! Peers (`../shared/PEERS.md` has how each runs on this kind of machine): util-linux `unshare`
//! (the floor: the same namespaces, no setup at all), bubblewrap, crun, runc and podman. Missing
//! ones are named with the package to install; nothing is installed here.
//!
//! crun 1.8 refuses cgroup v1 "hybrid" hosts; the bench therefore runs in a private mount
//! namespace of its own where the v2 controller list is masked, for every contender alike. The
//! host's mounts are not changed.

use crate::run::{cargo, checked};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// A few runs only, to prove the bench works (CI); results go to target/bench-quick.md.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the markdown table (default: the book's appendix, book/src/bench-results.md).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// One command to time: a name for the table and its argument vector (`{id}` is replaced by a
/// fresh id each run, for runtimes that want one).
struct Contender {
    name: &'static str,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

#[derive(Default)]
struct Samples {
    wall: Vec<Duration>,
    /// Peak RSS of the runtime process in KiB, one per RSS run (empty without GNU time).
    max_rss_kib: Vec<f64>,
}

pub fn run(args: &Args) -> Result<()> {
    if !crate::run::is_root() {
        bail!("the bench runs containers as root (crun, runc and chapter 3 need it): run it with sudo");
    }
    checked(cargo().args(["build", "--quiet", "--release", "--package", "ch02-namespaces", "--package", "ch03-cgroups"]))?;
    let report = testkit::rootfs::ensure()?;
    let rootfs = report.dir.display().to_string();
    let work = testkit::workspace::target().join("bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    private_mounts_for_crun()?;
    let release = testkit::workspace::target().join("release");
    let ours = |name: &str| release.join(name).display().to_string();

    let (runs, warmup) = if args.quick { (3, 1) } else { (60, 5) };
    let mut missing = Vec::new();
    let have = |tool: &str, package: &'static str, missing: &mut Vec<String>| {
        let found = crate::run::which(tool);
        if found.is_none() {
            missing.push(format!("{tool} (apt-get install {package})"));
        }
        found.is_some()
    };

    // 1. Start-up, all namespaces.
    let mut start = vec![
        Contender { name: "ours (ch02)", argv: words(&[&ours("ch02-namespaces"), "run", "--hostname", "bench", "--rootfs", &rootfs, "--", "/bin/true"]), env: vec![] },
        Contender { name: "unshare", argv: words(&["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "chroot", &rootfs, "/bin/true"]), env: vec![] },
    ];
    if have("bwrap", "bubblewrap", &mut missing) {
        start.push(Contender { name: "bwrap", argv: words(&["bwrap", "--bind", &rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all", "/bin/true"]), env: vec![] });
    }
    let crun = have("crun", "crun", &mut missing).then(|| bundle(&work, "crun", &rootfs, false)).transpose()?;
    let runc = have("runc", "runc", &mut missing).then(|| bundle(&work, "runc", &rootfs, false)).transpose()?;
    if let Some(b) = &crun {
        start.push(Contender { name: "crun", argv: words(&["crun", "run", "-b", &b.display().to_string(), "coracle-bench-{id}"]), env: vec![] });
    }
    if let Some(b) = &runc {
        start.push(Contender { name: "runc", argv: words(&["runc", "run", "-b", &b.display().to_string(), "coracle-bench-{id}"]), env: vec![] });
    }
    if have("podman", "podman", &mut missing) {
        start.push(podman(&work, &report.tar)?);
    }
    // 2. Start-up with memory, pids and CPU limits.
    let mut limited = vec![Contender {
        name: "ours (ch03)",
        argv: words(&[&ours("ch03-cgroups"), "run", "--memory", "64m", "--pids-limit", "100", "--cpus", "1", "--cgroup-parent", "coracle-bench", "--rootfs", &rootfs, "--", "/bin/true"]),
        env: vec![],
    }];
    if crun.is_some() {
        let b = bundle(&work, "crun-limits", &rootfs, true)?;
        limited.push(Contender { name: "crun", argv: words(&["crun", "run", "-b", &b.display().to_string(), "coracle-bench-{id}"]), env: vec![] });
    }
    if runc.is_some() {
        let b = bundle(&work, "runc-limits", &rootfs, true)?;
        limited.push(Contender { name: "runc", argv: words(&["runc", "run", "-b", &b.display().to_string(), "coracle-bench-{id}"]), env: vec![] });
    }
    // GNU time, not the shell keyword: the Debian package installs it here.
    let gnu_time = Some(PathBuf::from("/usr/bin/time")).filter(|p| p.is_file());
    if gnu_time.is_none() {
        missing.push("GNU time, for the peak RSS (apt-get install time)".into());
    }
    if !missing.is_empty() {
        println!("bench: not installed, left out: {}", missing.join(", "));
    }

    println!("bench: {runs} runs each after {warmup} warm-up, alternating");
    // However the runs end, the runtimes' cgroups go.
    struct Sweep;
    impl Drop for Sweep {
        fn drop(&mut self) {
            remove_bench_cgroups();
        }
    }
    let _sweep = Sweep;
    let start_samples = measure(&start, runs, warmup, gnu_time.as_deref())?;
    let limited_samples = measure(&limited, runs, warmup, gnu_time.as_deref())?;

    let table = render(&start, &start_samples, &limited, &limited_samples, runs, &missing);
    print!("{table}");
    let out = args.out.clone().unwrap_or_else(|| {
        if args.quick { testkit::workspace::target().join("bench-quick.md") } else { testkit::workspace::root().join("book/src/bench-results.md") }
    });
    std::fs::write(&out, &table).with_context(|| format!("writing {}", out.display()))?;
    println!("bench: table written to {}", out.display());
    Ok(())
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Enters a mount namespace of the bench's own and hides the hybrid host's v2 controller list
/// from crun there (see the module comment). Nothing propagates back: the tree is made private.
fn private_mounts_for_crun() -> Result<()> {
    use nix::mount::{MsFlags, mount};
    let controllers = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    if !controllers.exists() {
        return Ok(());
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).context("making / private")?;
    mount(Some("/dev/null"), controllers, None::<&str>, MsFlags::MS_BIND, None::<&str>).context("masking cgroup.controllers")?;
    Ok(())
}

/// An OCI bundle for `runtime` (`crun spec` or `runc spec`), running `/bin/true` on `rootfs`.
fn bundle(work: &Path, name: &str, rootfs: &str, limits: bool) -> Result<PathBuf> {
    let runtime = name.split('-').next().unwrap_or(name);
    let dir = work.join(name);
    std::fs::create_dir_all(&dir)?;
    checked(Command::new(runtime).arg("spec").current_dir(&dir))?;
    let path = dir.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["root"] = serde_json::json!({ "path": rootfs, "readonly": true });
    spec["hostname"] = "bench".into();
    if limits {
        spec["linux"]["resources"] = serde_json::json!({
            "memory": { "limit": 64 << 20, "swap": 64 << 20 },
            "pids": { "limit": 100 },
            "cpu": { "quota": 100_000, "period": 100_000 }
        });
    }
    std::fs::write(&path, serde_json::to_string_pretty(&spec)?)?;
    Ok(dir)
}

/// podman with the settings this machine needs (PEERS.md), its own storage, and the rootfs imported.
fn podman(work: &Path, tar: &Path) -> Result<Contender> {
    let conf = work.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=20000:20000\"]\n\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )?;
    let root = work.join("podman-root").display().to_string();
    let runroot = work.join("podman-runroot").display().to_string();
    let base = ["--root", &root, "--runroot", &runroot, "--storage-driver", "vfs"];
    let env = vec![("CONTAINERS_CONF".to_string(), conf.display().to_string())];
    let mut import = Command::new("podman");
    import.args(base).arg("import").arg(tar).arg("localhost/coracle-bench:latest").envs(env.clone()).stdout(Stdio::null());
    checked(&mut import)?;
    let mut argv = words(&["podman"]);
    argv.extend(words(&base));
    argv.extend(words(&["run", "--rm", "--network", "none", "localhost/coracle-bench:latest", "/bin/true"]));
    Ok(Contender { name: "podman", argv, env })
}

/// Runs each contender `warmup + runs` times, alternating, and keeps the last `runs` samples;
/// then, with GNU time, three more runs each for the peak RSS.
fn measure(contenders: &[Contender], runs: usize, warmup: usize, gnu_time: Option<&Path>) -> Result<Vec<Samples>> {
    let mut samples: Vec<Samples> = contenders.iter().map(|_| Samples::default()).collect();
    let mut id = 0u64;
    let mut fresh = |argv: &[String]| -> Vec<String> {
        id += 1;
        argv.iter().map(|a| a.replace("{id}", &format!("{}-{id}", std::process::id()))).collect()
    };
    for round in 0..warmup + runs {
        for (contender, sample) in contenders.iter().zip(samples.iter_mut()) {
            let argv = fresh(&contender.argv);
            let (wall, _) = time_one(&argv, &contender.env).with_context(|| format!("running {}", contender.name))?;
            if round >= warmup {
                sample.wall.push(wall);
            }
        }
    }
    let Some(gnu_time) = gnu_time else { return Ok(samples) };
    for _ in 0..3 {
        for (contender, sample) in contenders.iter().zip(samples.iter_mut()) {
            let mut argv = vec![gnu_time.display().to_string(), "-f".into(), "coracle-rss %M".into()];
            argv.extend(fresh(&contender.argv));
            let (_, stderr) = time_one(&argv, &contender.env).with_context(|| format!("running {} under time", contender.name))?;
            if let Some(kib) = stderr.lines().find_map(|l| l.strip_prefix("coracle-rss ")).and_then(|v| v.trim().parse().ok()) {
                sample.max_rss_kib.push(kib);
            }
        }
    }
    Ok(samples)
}

/// One run: its wall time and what it wrote on stderr.
fn time_one(argv: &[String], env: &[(String, String)]) -> Result<(Duration, String)> {
    let started = Instant::now();
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let output = child.wait_with_output()?;
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        bail!("{} failed ({}): {}", argv.join(" "), output.status, stderr.trim());
    }
    Ok((wall, stderr))
}

/// crun and runc name a run's cgroups after its id, ours go below `coracle-bench`, and podman's
/// below `libpod_parent`: remove whichever are empty now (a busy one, such as a real podman
/// container's, cannot be removed and stays).
fn remove_bench_cgroups() {
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        for entry in std::fs::read_dir(hierarchy.path()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("coracle-bench") || name == "libpod_parent" {
                for child in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
                    let _ = std::fs::remove_dir(child.path());
                }
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

fn render(start: &[Contender], start_samples: &[Samples], limited: &[Contender], limited_samples: &[Samples], runs: usize, missing: &[String]) -> String {
    let ms = |s: &Samples| s.wall.iter().map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<f64>>();
    let mut out = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    out.push_str(&format!(
        "Measured by `cargo xtask bench` on {} CPUs, Linux {}, {runs} runs each, alternating; \
         median wall time (10th–90th percentile), and the ratio to the reference of each table.\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel.trim()
    ));
    for (title, reference, contenders, samples) in [
        ("Start a container running `/bin/true` (all namespaces)", "unshare", start, start_samples),
        ("The same with memory, pids and CPU limits (a cgroup each)", "crun", limited, limited_samples),
    ] {
        let reference_ms = contenders.iter().zip(samples).find(|(c, _)| c.name == reference).map(|(_, s)| median(&mut ms(s)));
        out.push_str(&format!("**{title}**\n\n| runtime | median | spread | ÷ {reference} | peak RSS |\n|---|---|---|---|---|\n"));
        for (contender, sample) in contenders.iter().zip(samples) {
            let values = ms(sample);
            let m = median(&mut values.clone());
            let ratio = reference_ms.map_or("–".to_string(), |r| format!("{:.2}×", m / r));
            let mut rss: Vec<f64> = sample.max_rss_kib.iter().map(|k| k / 1024.0).collect();
            let rss = if rss.is_empty() { "–".to_string() } else { format!("{:.1} MiB", median(&mut rss)) };
            out.push_str(&format!(
                "| {} | {m:.2} ms | {:.2}–{:.2} ms | {ratio} | {rss} |\n",
                contender.name,
                percentile(&values, 0.1),
                percentile(&values, 0.9),
            ));
        }
        out.push('\n');
    }
    if !missing.is_empty() {
        out.push_str(&format!("Not installed when this was measured: {}.\n", missing.join(", ")));
    }
    out
}
