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
//!
//! Chapter 4 gets three more tables: starting `/bin/true` from an image (the rootfs imported into
//! a store of the bench's own, under `target/bench-store/`, never `/var/lib/coracle`) against
//! crun, runc and podman; importing a ~100 MB gzip layer (generated once into
//! `target/bench-data/`, see [`image`]) against GNU `tar -xzf`, each run into a fresh directory;
//! and a 10-step Dockerfile, built with `--no-cache` then rebuilt from the cache, against
//! `podman build`. A rebuild that misses the cache or ends with another image id fails the bench.
//! The stores, the work directory and anything mounted below them go when the bench ends.

#[path = "bench_image.rs"]
mod image;

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
#[derive(Clone)]
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
    let packages = ["ch02-namespaces", "ch03-cgroups", "ch04-layers"];
    checked(cargo().args(["build", "--quiet", "--release"]).args(packages.iter().flat_map(|p| ["--package", p])))?;
    let report = testkit::rootfs::ensure()?;
    let rootfs = report.dir.display().to_string();
    let target = testkit::workspace::target();
    let work = target.join("bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    // Chapter 4's stores, the build context and the extracted layers: this run's own directory,
    // removed with the work directory however the bench ends.
    let stores = target.join("bench-store");
    let scratch = stores.join(std::process::id().to_string());
    let _scratch = Scratch { dirs: vec![scratch.clone(), work.clone()], parent: stores };
    std::fs::create_dir_all(&scratch)?;
    private_mounts_for_crun()?;
    let release = target.join("release");
    let ours = |name: &str| release.join(name).display().to_string();

    // Runs, warm-up runs and runs under GNU time of each contender, for the start-up tables.
    let (runs, warmup, rss_runs) = if args.quick { (3, 1, 1) } else { (60, 5, 3) };
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
    let podman = have("podman", "podman", &mut missing).then(|| Podman::new(&work, &report.tar)).transpose()?;
    if let Some(podman) = &podman {
        start.push(podman.contender("podman", &["run", "--rm", "--network", "none", PODMAN_IMAGE, "/bin/true"]));
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
    // 3. Start from an image: chapter 4 on an overlay of the imported rootfs (and a cgroup, as crun
    // and runc make one too), the peers on the same rootfs as a bundle, podman on its import.
    let store = scratch.join("store").display().to_string();
    let mut import = Command::new(ours("ch04-layers"));
    import.args(["--root", &store, "import"]).arg(&report.tar).arg("base").stdout(Stdio::null());
    checked(&mut import)?;
    // The import leaves megabytes of dirty pages: while they are written back every run is slower,
    // ours twice as slow (strace: moving the child into its v1 cgroups, a write to cgroup.procs,
    // takes 20 ms instead of well under one). Flush them first, untimed.
    checked(&mut Command::new("sync"))?;
    let mut from_image = vec![Contender {
        name: "ours (ch04)",
        argv: words(&[&ours("ch04-layers"), "--root", &store, "run", "--rm", "--cgroup-parent", "coracle-bench", "base", "/bin/true"]),
        env: vec![],
    }];
    from_image.extend(start.iter().filter(|c| ["crun", "runc"].contains(&c.name)).cloned());
    // podman is timed on its own, after the others: its background cleanup (conmon starts
    // `podman container cleanup`, which removes cgroups and storage) runs into whatever follows
    // it, and slowed our runs there to twice their time. It runs the very command of the first
    // table: --quick, only proving that the bench works, spares it.
    let podman_alone: Vec<Contender> = if args.quick { Vec::new() } else { start.iter().filter(|c| c.name == "podman").cloned().collect() };
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
    let gnu_time = gnu_time.as_deref();
    let mut tables = Vec::new();
    let samples = measure(&start, runs, warmup, gnu_time, rss_runs, &mut NoHooks)?;
    tables.push(Table::against("Start a container running `/bin/true` (all namespaces)", "unshare", start, samples));
    let samples = measure(&limited, runs, warmup, gnu_time, rss_runs, &mut NoHooks)?;
    tables.push(Table::against("The same with memory, pids and CPU limits (a cgroup each)", "crun", limited, samples));
    let mut samples = measure(&from_image, runs, warmup, gnu_time, rss_runs, &mut NoHooks)?;
    samples.extend(measure(&podman_alone, runs, warmup, gnu_time, rss_runs, &mut NoHooks)?);
    let podman_timed_alone = !podman_alone.is_empty();
    from_image.extend(podman_alone);
    let mut table = Table::against("Start `/bin/true` from an image (chapter 4: overlayfs of its layers and a cgroup)", "crun", from_image, samples);
    table.notes.push("The issue's goal: ours ≤ crun.".into());
    if podman_timed_alone {
        table.notes.push("podman was timed in rounds of its own, after the others: its background cleanup slows whatever runs next.".into());
    }
    if args.quick && podman.is_some() {
        table.notes.push("podman: as in the first table (not run again with --quick).".into());
    }
    tables.push(table);

    // 5a. Extracting a big gzip layer, each run into a fresh store or directory.
    let (mib, layer_runs, layer_warmup) = if args.quick { (8, 1, 0) } else { (100, 5, 1) };
    let layer = image::ensure(&target.join("bench-data"), mib)?;
    let path = layer.path.display().to_string();
    let fresh = scratch.join("extract");
    let (into_store, into_dir) = (fresh.join("store").display().to_string(), fresh.join("dir").display().to_string());
    let extract = vec![
        Contender { name: "ours (ch04 import)", argv: words(&[&ours("ch04-layers"), "--root", &into_store, "import", &path, "big:1"]), env: vec![] },
        Contender { name: "GNU tar -xzf", argv: words(&["tar", "-xzf", &path, "-C", &into_dir]), env: vec![] },
    ];
    println!("bench: extracting a layer of {} MB, {layer_runs} run(s) each after {layer_warmup} warm-up", layer.bytes / 1_000_000);
    let samples = measure(&extract, layer_runs, layer_warmup, gnu_time, rss_runs, &mut Fresh { dir: fresh.clone(), make: fresh.join("dir") })?;
    let _ = std::fs::remove_dir_all(&fresh);
    let title = format!(
        "Extract a gzip layer: {} files, {:.0} MB ({:.0} MB compressed)",
        layer.files,
        layer.bytes as f64 / 1e6,
        layer.compressed as f64 / 1e6
    );
    let mut table = Table::against(&title, "GNU tar -xzf", extract, samples);
    table.notes.push(format!("{layer_runs} run{} each; ours also hashes the blob and the layer and records them in the store.", if layer_runs == 1 { "" } else { "s" }));
    tables.push(table);

    // 5b. A 10-step Dockerfile: the first build, then the rebuild that the cache makes of it.
    let (build_runs, build_warmup) = if args.quick { (3, 1) } else { (10, 1) };
    let context = scratch.join("context");
    let steps = build_context(&context)?;
    let context = context.display().to_string();
    let ours_build = |no_cache: bool| {
        let mut argv = words(&[&ours("ch04-layers"), "--root", &store, "build", "-t", "bench-app:latest"]);
        argv.extend(no_cache.then(|| "--no-cache".to_string()));
        argv.push(context.clone());
        argv
    };
    let mut builds = vec![
        Contender { name: "ours, first build (--no-cache)", argv: ours_build(true), env: vec![] },
        Contender { name: "ours, cached rebuild", argv: ours_build(false), env: vec![] },
    ];
    let mut podman_notes = Vec::new();
    match &podman {
        None => {}
        Some(_) if args.quick => podman_notes.push("podman build: not measured with --quick (a first build takes seconds).".to_string()),
        Some(podman) => {
            let dockerfile = work.join("Dockerfile.podman");
            let text = std::fs::read_to_string(Path::new(&context).join("Dockerfile"))?;
            std::fs::write(&dockerfile, text.replacen("FROM base\n", &format!("FROM {PODMAN_IMAGE}\n"), 1))?;
            let dockerfile = dockerfile.display().to_string();
            let build = |no_cache: bool| {
                let mut argv = vec!["build", "--pull=never", "--network=host", "-t", "localhost/coracle-bench-app:latest", "-f", &dockerfile];
                if no_cache {
                    argv.push("--no-cache");
                }
                argv.push(&context);
                argv.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            };
            let (first, cached) = (podman.contender_owned("podman, first build (--no-cache)", build(true)), podman.contender_owned("podman, cached rebuild", build(false)));
            // A podman that cannot build here is a missing peer, not a broken bench.
            match time_one(&first.argv, &first.env).and_then(|_| time_one(&cached.argv, &cached.env)) {
                Ok(_) => builds.extend([first, cached]),
                Err(e) => podman_notes.push(format!("podman build: unavailable ({})", last_line(&format!("{e:#}")))),
            }
        }
    }
    println!("bench: building a {steps}-step Dockerfile, {build_runs} runs each after {build_warmup} warm-up");
    let mut check = BuildCheck { steps, ..BuildCheck::default() };
    let samples = measure(&builds, build_runs, build_warmup, gnu_time, rss_runs, &mut check)?;
    let mut table = Table::per_tool(&format!("Build a {steps}-step Dockerfile, then rebuild it from the cache"), builds, samples);
    let mut notes = vec![format!("{build_runs} runs each; every cached rebuild of ours printed CACHED for each step and ended with the first build's image id.")];
    notes.extend(table.ratio_line("ours, cached rebuild", "podman, cached rebuild", "Cached rebuild, ours ÷ podman"));
    notes.extend(table.ratio_line("ours, first build (--no-cache)", "podman, first build (--no-cache)", "First build, ours ÷ podman"));
    notes.extend(podman_notes.into_iter().chain(check.notes));
    table.notes = notes;
    tables.push(table);

    let markdown = render(&tables, runs, &missing);
    print!("{markdown}");
    let out = args.out.clone().unwrap_or_else(|| {
        if args.quick { testkit::workspace::target().join("bench-quick.md") } else { testkit::workspace::root().join("book/src/bench-results.md") }
    });
    std::fs::write(&out, &markdown).with_context(|| format!("writing {}", out.display()))?;
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

/// The name the rootfs is imported under into podman's store.
const PODMAN_IMAGE: &str = "localhost/coracle-bench:latest";

/// podman with the settings this machine needs (PEERS.md), its own storage, and the rootfs imported.
struct Podman {
    /// `podman` and its global flags.
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

impl Podman {
    fn new(work: &Path, tar: &Path) -> Result<Podman> {
        let conf = work.join("containers.conf");
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=20000:20000\"]\n\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )?;
        let root = work.join("podman-root").display().to_string();
        let runroot = work.join("podman-runroot").display().to_string();
        let podman = Podman {
            argv: words(&["podman", "--root", &root, "--runroot", &runroot, "--storage-driver", "vfs"]),
            env: vec![("CONTAINERS_CONF".to_string(), conf.display().to_string())],
        };
        let mut import = Command::new(&podman.argv[0]);
        import.args(&podman.argv[1..]).arg("import").arg(tar).arg(PODMAN_IMAGE).envs(podman.env.clone()).stdout(Stdio::null());
        checked(&mut import)?;
        Ok(podman)
    }

    fn contender(&self, name: &'static str, args: &[&str]) -> Contender {
        self.contender_owned(name, words(args))
    }

    fn contender_owned(&self, name: &'static str, args: Vec<String>) -> Contender {
        Contender { name, argv: self.argv.iter().cloned().chain(args).collect(), env: self.env.clone() }
    }
}

/// Directories the bench made, removed when it ends however it ends: first whatever is still
/// mounted below them (lazily), then the trees, then `parent` if no other bench uses it.
struct Scratch {
    dirs: Vec<PathBuf>,
    parent: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            // Field 5 is the mount point, with spaces and the like written as octal escapes.
            let mut below: Vec<&str> = mountinfo.lines().filter_map(|l| l.split(' ').nth(4)).filter(|m| Path::new(m).starts_with(dir)).collect();
            below.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for point in below {
                let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
            }
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = std::fs::remove_dir(&self.parent);
    }
}

/// What [`measure`] does around each run of contender `index`, besides timing it.
trait Hooks {
    /// Before the run (not timed).
    fn before(&mut self, _index: usize) -> Result<()> {
        Ok(())
    }
    /// After a successful run, with what it printed: fail to stop the bench.
    fn after(&mut self, _index: usize, _stdout: &str) -> Result<()> {
        Ok(())
    }
}

struct NoHooks;
impl Hooks for NoHooks {}

/// Every run starts from nothing: `dir` is removed, `make` created, and the previous run's
/// writes are flushed so that they do not land in the next one's time.
struct Fresh {
    dir: PathBuf,
    make: PathBuf,
}

impl Hooks for Fresh {
    fn before(&mut self, _index: usize) -> Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
        }
        std::fs::create_dir_all(&self.make)?;
        nix::unistd::sync();
        Ok(())
    }
}

/// Checks the builds' output, in the order of [`run`]'s contenders: ours first build, ours cached
/// rebuild, then podman's (optional) in the same order. Ours must rebuild entirely from the
/// cache, to the same image; podman's misses are noted, not fatal.
#[derive(Default)]
struct BuildCheck {
    steps: usize,
    first_id: Option<String>,
    notes: Vec<String>,
}

impl Hooks for BuildCheck {
    fn after(&mut self, index: usize, stdout: &str) -> Result<()> {
        let built = || stdout.lines().find_map(|l| l.strip_prefix("Successfully built ")).map(|id| id.trim().to_string());
        match index {
            0 => {
                if stdout.contains("] CACHED ") {
                    bail!("the --no-cache build used the cache:\n{stdout}");
                }
                self.first_id = Some(built().with_context(|| format!("the first build printed no image id:\n{stdout}"))?);
            }
            1 => {
                let uncached: Vec<usize> = (2..=self.steps).filter(|n| !stdout.lines().any(|l| l.starts_with(&format!("[{n}/{}] CACHED ", self.steps)))).collect();
                if !uncached.is_empty() {
                    bail!("the rebuild of an unchanged Dockerfile did not reuse the cache for step(s) {uncached:?}:\n{stdout}");
                }
                if built() != self.first_id {
                    bail!("the cached rebuild made image {:?}, the first build {:?}: the cache must give the same image", built(), self.first_id);
                }
            }
            3 => {
                let hits = stdout.lines().filter(|l| l.starts_with("--> Using cache ")).count();
                let note = format!("podman's cached rebuild reused its cache for only {hits} of {} steps in some runs.", self.steps - 1);
                if hits < self.steps - 1 && !self.notes.contains(&note) {
                    self.notes.push(note);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A context and a Dockerfile of ten steps (the busybox base has no adduser: its /etc/passwd has
/// `app`, uid 1000). Returns the number of steps.
fn build_context(dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("app.conf"), "listen = 8080\nworkers = 2\n")?;
    std::fs::write(dir.join("run.sh"), "#!/bin/sh\nexec cat /app/app.conf\n")?;
    let data: String = (0..4096).map(|i| format!("{i:08x} {}\n", i * 2_654_435_761u64 % 1_000_003)).collect();
    std::fs::write(dir.join("data.txt"), data)?;
    let dockerfile = "FROM base\n\
                      WORKDIR /app\n\
                      COPY app.conf run.sh data.txt ./\n\
                      RUN chmod 755 run.sh && echo built > /app/stamp\n\
                      RUN seq 1 10000 > /app/numbers.txt && sort -r /app/numbers.txt > /app/reversed.txt\n\
                      RUN mkdir -p /app/cache /app/logs && cp data.txt /app/cache/ && chown -R app:app /app/cache /app/logs\n\
                      ENV APP_MODE=bench APP_PORT=8080\n\
                      EXPOSE 8080\n\
                      USER app\n\
                      CMD [\"/app/run.sh\"]\n";
    std::fs::write(dir.join("Dockerfile"), dockerfile)?;
    Ok(dockerfile.lines().count())
}

/// The last non-empty line of an error: the reason, without the command line before it.
fn last_line(text: &str) -> String {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or(text).to_string()
}

/// Runs each contender `warmup + runs` times, alternating, and keeps the last `runs` samples;
/// then, with GNU time, `rss_runs` more runs each for the peak RSS. `hooks` run around each run.
fn measure(contenders: &[Contender], runs: usize, warmup: usize, gnu_time: Option<&Path>, rss_runs: usize, hooks: &mut dyn Hooks) -> Result<Vec<Samples>> {
    let mut samples: Vec<Samples> = contenders.iter().map(|_| Samples::default()).collect();
    let mut id = 0u64;
    let mut fresh = |argv: &[String]| -> Vec<String> {
        id += 1;
        argv.iter().map(|a| a.replace("{id}", &format!("{}-{id}", std::process::id()))).collect()
    };
    for round in 0..warmup + runs {
        // The order rotates from round to round, so that no contender always runs right after the
        // same one: podman, for one, leaves its cleanup (cgroups, storage) running in the
        // background, which slows whatever comes next.
        let n = contenders.len();
        for index in (0..n).map(|k| (k + round) % n) {
            let (contender, sample) = (&contenders[index], &mut samples[index]);
            let argv = fresh(&contender.argv);
            hooks.before(index)?;
            let run = time_one(&argv, &contender.env).with_context(|| format!("running {}", contender.name))?;
            hooks.after(index, &run.stdout).with_context(|| format!("checking {}", contender.name))?;
            if round >= warmup {
                sample.wall.push(run.wall);
            }
        }
    }
    let Some(gnu_time) = gnu_time else { return Ok(samples) };
    for _ in 0..rss_runs {
        for (index, (contender, sample)) in contenders.iter().zip(samples.iter_mut()).enumerate() {
            let mut argv = vec![gnu_time.display().to_string(), "-f".into(), "coracle-rss %M".into()];
            argv.extend(fresh(&contender.argv));
            hooks.before(index)?;
            let run = time_one(&argv, &contender.env).with_context(|| format!("running {} under time", contender.name))?;
            hooks.after(index, &run.stdout).with_context(|| format!("checking {}", contender.name))?;
            if let Some(kib) = run.stderr.lines().find_map(|l| l.strip_prefix("coracle-rss ")).and_then(|v| v.trim().parse().ok()) {
                sample.max_rss_kib.push(kib);
            }
        }
    }
    Ok(samples)
}

/// What one run took and printed.
struct Run {
    wall: Duration,
    stdout: String,
    stderr: String,
}

fn time_one(argv: &[String], env: &[(String, String)]) -> Result<Run> {
    let started = Instant::now();
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let output = child.wait_with_output()?;
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        bail!("{} failed ({}): {}", argv.join(" "), output.status, stderr.trim());
    }
    Ok(Run { wall, stdout: String::from_utf8_lossy(&output.stdout).into_owned(), stderr })
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

/// One table of the page: its rows, and for each row the row its ratio is taken to.
struct Table {
    title: String,
    /// The ratio column's header, after `÷`.
    reference: String,
    contenders: Vec<Contender>,
    samples: Vec<Samples>,
    reference_of: Vec<Option<usize>>,
    /// Lines printed below the table.
    notes: Vec<String>,
}

fn ms(s: &Samples) -> Vec<f64> {
    s.wall.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
}

impl Table {
    /// Every row against the one named `reference` (no ratios if it is missing).
    fn against(title: &str, reference: &str, contenders: Vec<Contender>, samples: Vec<Samples>) -> Table {
        let at = contenders.iter().position(|c| c.name == reference);
        let reference_of = vec![at; contenders.len()];
        Table { title: title.into(), reference: reference.into(), contenders, samples, reference_of, notes: Vec::new() }
    }

    /// Every row against the first row of the same tool (the name up to its comma).
    fn per_tool(title: &str, contenders: Vec<Contender>, samples: Vec<Samples>) -> Table {
        let tool = |c: &Contender| c.name.split(',').next().unwrap_or(c.name).to_string();
        let reference_of = contenders.iter().map(|c| contenders.iter().position(|r| tool(r) == tool(c))).collect();
        Table { title: title.into(), reference: "its first build".into(), contenders, samples, reference_of, notes: Vec::new() }
    }

    fn median_of(&self, name: &str) -> Option<f64> {
        self.contenders.iter().position(|c| c.name == name).map(|i| median(&mut ms(&self.samples[i])))
    }

    /// "`label`: 0.12×", if both rows are there.
    fn ratio_line(&self, name: &str, reference: &str, label: &str) -> Option<String> {
        Some(format!("{label}: {}.", ratio(self.median_of(name)? / self.median_of(reference)?)))
    }
}

/// Two decimals, three below 0.1 (where two would round a 30-fold gain away).
fn ratio(value: f64) -> String {
    if value < 0.1 { format!("{value:.3}×") } else { format!("{value:.2}×") }
}

/// Milliseconds below a second, seconds above.
fn duration(value: f64, unit_of: f64) -> String {
    if unit_of >= 1000.0 { format!("{:.2}", value / 1000.0) } else { format!("{value:.2}") }
}

fn unit(unit_of: f64) -> &'static str {
    if unit_of >= 1000.0 { "s" } else { "ms" }
}

fn render(tables: &[Table], runs: usize, missing: &[String]) -> String {
    let mut out = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    out.push_str(&format!(
        "Measured by `cargo xtask bench` on {} CPUs, Linux {}, {runs} runs each (unless a table says otherwise), \
         alternating; median wall time (10th–90th percentile), and the ratio to the reference of each table.\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel.trim()
    ));
    for table in tables {
        out.push_str(&format!("**{}**\n\n| runtime | median | spread | ÷ {} | peak RSS |\n|---|---|---|---|---|\n", table.title, table.reference));
        for (row, (contender, sample)) in table.contenders.iter().zip(&table.samples).enumerate() {
            let values = ms(sample);
            let m = median(&mut values.clone());
            let ratio = table.reference_of[row].map_or("–".to_string(), |r| ratio(m / median(&mut ms(&table.samples[r]))));
            let mut rss: Vec<f64> = sample.max_rss_kib.iter().map(|k| k / 1024.0).collect();
            let rss = if rss.is_empty() { "–".to_string() } else { format!("{:.1} MiB", median(&mut rss)) };
            out.push_str(&format!(
                "| {} | {} {u} | {}–{} {u} | {ratio} | {rss} |\n",
                contender.name,
                duration(m, m),
                duration(percentile(&values, 0.1), m),
                duration(percentile(&values, 0.9), m),
                u = unit(m),
            ));
        }
        out.push('\n');
        if !table.notes.is_empty() {
            out.push_str(&format!("{}\n\n", table.notes.join(" ")));
        }
    }
    if !missing.is_empty() {
        out.push_str(&format!("Not installed when this was measured: {}.\n", missing.join(", ")));
    }
    out
}
