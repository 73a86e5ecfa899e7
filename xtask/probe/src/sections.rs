//! The probe's sections: each appends `key: value` lines describing one thing the process sees.

use crate::caps;
use std::fmt::Write;
use std::fs;

type Section = fn(&mut String);

/// Every section, in the order `probe` with no arguments prints them.
pub const ALL: &[(&str, Section)] = &[
    ("ids", ids),
    ("hostname", hostname),
    ("cwd", cwd),
    ("root", root),
    ("caps", capabilities),
    ("ns", namespaces),
    ("cgroup", cgroup),
    ("mounts", mounts),
    ("env", env),
    ("userns", userns),
    ("net", net),
    ("pids", pids),
];

/// Sections that do something before they report, run only when asked for by name.
pub const ACTIONS: &[(&str, Section)] = &[("zombies", zombies)];

const NO_PROC: &str = "unavailable (no /proc)";

fn ids(out: &mut String) {
    use nix::unistd::{getegid, geteuid, getgid, getgroups, getpid, getppid, getuid};
    let groups = getgroups().map_or_else(
        |e| format!("error: {e}"),
        |g| g.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(" "),
    );
    let _ = writeln!(out, "pid: {}", getpid());
    let _ = writeln!(out, "ppid: {}", getppid());
    let _ = writeln!(out, "uid: {} (effective {})", getuid(), geteuid());
    let _ = writeln!(out, "gid: {} (effective {})", getgid(), getegid());
    let _ = writeln!(out, "groups: {}", if groups.is_empty() { "none".into() } else { groups });
}

fn hostname(out: &mut String) {
    let name = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("error: {e}"));
    let _ = writeln!(out, "hostname: {name}");
}

fn cwd(out: &mut String) {
    let dir = nix::unistd::getcwd()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|e| format!("error: {e}"));
    let _ = writeln!(out, "cwd: {dir}");
}

/// What `/` holds, and which system the rootfs says it is: enough to tell the course rootfs from
/// the host's root at a glance.
fn root(out: &mut String) {
    let mut names: Vec<String> = fs::read_dir("/")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    let _ = writeln!(out, "root: {}", names.join(" "));
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(out, "os: {os}");
}

fn capabilities(out: &mut String) {
    match caps::current() {
        Ok([effective, permitted, inheritable]) => {
            let _ = writeln!(out, "caps.effective: {}", caps::describe(effective));
            let _ = writeln!(out, "caps.permitted: {}", caps::describe(permitted));
            let _ = writeln!(out, "caps.inheritable: {}", caps::describe(inheritable));
        }
        Err(e) => {
            let _ = writeln!(out, "caps: error: {e}");
        }
    }
    let _ = writeln!(out, "caps.bounding: {}", caps::describe(caps::bounding()));
    let nnp = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find_map(|l| l.strip_prefix("NoNewPrivs:").map(|v| v.trim().to_string()))
    });
    let _ = writeln!(out, "no_new_privs: {}", nnp.as_deref().unwrap_or(NO_PROC));
}

/// The namespaces of this process. With `PROBE_HOST_NS` set to the host's ids (`pid:4026531836
/// mnt:...`, as the tests pass them), each is said to be `same as host` or `own`, so snapshots do not
/// depend on inode numbers.
fn namespaces(out: &mut String) {
    const KINDS: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];
    if fs::metadata("/proc/self/ns").is_err() {
        let _ = writeln!(out, "ns: {NO_PROC}");
        return;
    }
    let host = std::env::var("PROBE_HOST_NS").unwrap_or_default();
    for kind in KINDS {
        let id = fs::read_link(format!("/proc/self/ns/{kind}"))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("error: {e}"));
        // The link reads `pid:[4026531836]`: keep the number.
        let number = id.trim_start_matches(|c: char| !c.is_ascii_digit()).trim_end_matches(']');
        let shown = if host.is_empty() {
            id.clone()
        } else if host.split_whitespace().any(|h| h == format!("{kind}:{number}")) {
            "same as host".into()
        } else {
            "own".into()
        };
        let _ = writeln!(out, "ns.{kind}: {shown}");
    }
}

/// This process's cgroups, and the limits it can read at `/sys/fs/cgroup`: the v2 files when that
/// is a cgroup2 mount, the v1 ones (`memory/memory.limit_in_bytes`...) otherwise.
fn cgroup(out: &mut String) {
    match fs::read_to_string("/proc/self/cgroup") {
        Ok(text) => {
            // `N:controllers:/path`, one per hierarchy (v1) or `0::/path` (v2). Which hierarchies
            // a v1 machine has varies, so when every path is the same, say it once.
            let paths: Vec<&str> = text.lines().filter_map(|l| l.splitn(3, ':').nth(2)).collect();
            if !paths.is_empty() && paths.iter().all(|p| *p == paths[0]) {
                let _ = writeln!(out, "cgroup: {} (in every hierarchy)", paths[0]);
            } else {
                let mut lines: Vec<&str> = text.lines().collect();
                lines.sort();
                for line in lines {
                    let _ = writeln!(out, "cgroup: {line}");
                }
            }
        }
        Err(_) => {
            let _ = writeln!(out, "cgroup: {NO_PROC}");
        }
    }
    let read = |path: &str| fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    let files: &[&str] = if read("/sys/fs/cgroup/cgroup.controllers").is_some() {
        &["memory.max", "cpu.max", "pids.max"]
    } else {
        &["memory/memory.limit_in_bytes", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us", "pids/pids.max"]
    };
    for file in files {
        let value = read(&format!("/sys/fs/cgroup/{file}")).unwrap_or_else(|| "unavailable".into());
        let _ = writeln!(out, "cgroup.limit: {file} = {value}");
    }
}

/// `hog MIB` and `spin SECONDS`, or `None` when `action` is neither.
pub fn load(action: &str, amount: &str) -> Option<std::process::ExitCode> {
    match action {
        "hog" => {
            let mib: usize = amount.parse().ok()?;
            // One page at a time, touched, so every byte is really charged to the cgroup.
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            for _ in 0..mib {
                let mut block = vec![0u8; 1 << 20];
                for page in block.chunks_mut(4096) {
                    page[0] = 1;
                }
                blocks.push(block);
            }
            println!("allocated {mib} MiB");
            Some(std::process::ExitCode::SUCCESS)
        }
        "spin" => {
            let seconds: f64 = amount.parse().ok()?;
            let start = std::time::Instant::now();
            let mut spins: u64 = 0;
            while start.elapsed().as_secs_f64() < seconds {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
            println!("spun for {seconds} s");
            Some(std::process::ExitCode::SUCCESS)
        }
        _ => None,
    }
}

/// The mount table as this process sees it: mount point, filesystem type and `ro`/`rw`.
fn mounts(out: &mut String) {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        let _ = writeln!(out, "mounts: {NO_PROC}");
        return;
    };
    for line in text.lines() {
        // mountinfo: id parent major:minor root mountpoint options ... - fstype source superoptions
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(opts)) = (fields.get(4), fields.get(5)) else { continue };
        let fstype = fields.iter().skip_while(|f| **f != "-").nth(1).unwrap_or(&"?");
        let mode = if opts.split(',').any(|o| o == "ro") { "ro" } else { "rw" };
        let _ = writeln!(out, "mount: {point} {fstype} {mode}");
    }
}

fn env(out: &mut String) {
    for (key, value) in std::env::vars_os() {
        let _ = writeln!(out, "env: {}={}", key.to_string_lossy(), value.to_string_lossy());
    }
}

/// The user namespace maps: `0 1000 1` means uid 0 inside is uid 1000 outside.
fn userns(out: &mut String) {
    for file in ["uid_map", "gid_map"] {
        match fs::read_to_string(format!("/proc/self/{file}")) {
            Ok(text) => {
                for line in text.lines() {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let _ = writeln!(out, "{file}: {}", fields.join(" "));
                }
            }
            Err(_) => {
                let _ = writeln!(out, "{file}: {NO_PROC}");
            }
        }
    }
}

/// The network interfaces this process sees, and whether each is up (`IFF_UP` in its flags).
fn net(out: &mut String) {
    let Ok(entries) = fs::read_dir("/sys/class/net") else {
        let _ = writeln!(out, "net: unavailable (no /sys)");
        return;
    };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in names {
        let flags = fs::read_to_string(format!("/sys/class/net/{name}/flags")).unwrap_or_default();
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
        let _ = writeln!(out, "net: {name} {}", if flags & 1 != 0 { "up" } else { "down" });
    }
}

/// The processes this process can see in `/proc`: pid, state and command name.
fn pids(out: &mut String) {
    let Ok(entries) = fs::read_dir("/proc") else {
        let _ = writeln!(out, "pids: {NO_PROC}");
        return;
    };
    let mut pids: Vec<u32> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    pids.sort();
    for pid in pids {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ...`: the name may hold spaces and parentheses, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map_or("?", |(_, c)| c);
        let state = rest.split_whitespace().next().unwrap_or("?");
        let _ = writeln!(out, "process: {pid} {state} {comm}");
    }
}

/// Makes an orphan and lets it die: a child forks a grandchild and exits at once, so the
/// grandchild is re-parented to PID 1 (or the nearest subreaper) and exits. Whether it stays a
/// zombie depends on PID 1 reaping it. Then counts the zombies in sight.
fn zombies(out: &mut String) {
    use nix::sys::wait::waitpid;
    use nix::unistd::{ForkResult, fork, pipe, read, write};
    let Ok((from_child, to_parent)) = pipe() else {
        let _ = writeln!(out, "zombies: pipe failed");
        return;
    };
    // SAFETY: the probe is single-threaded; the children only sleep, write and `_exit`.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            if let Ok(ForkResult::Parent { child: grandchild }) = unsafe { fork() } {
                let _ = write(&to_parent, &grandchild.as_raw().to_le_bytes());
            } else {
                // The grandchild: outlive the child briefly, then exit as an orphan.
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(to_parent);
            let _ = waitpid(child, None);
        }
        Err(e) => {
            let _ = writeln!(out, "zombies: fork failed: {e}");
            return;
        }
    }
    let mut pid = [0u8; 4];
    let orphan = match read(&from_child, &mut pid) {
        Ok(4) => i32::from_le_bytes(pid),
        _ => 0,
    };
    // Wait (up to 5 s, for slow machines) until the orphan has exited: it is then a zombie, or
    // gone if something reaped it. Give a reaper a moment more, then count.
    let state = || {
        fs::read_to_string(format!("/proc/{orphan}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string)))
    };
    let started = std::time::Instant::now();
    while state().is_some_and(|s| s != "Z") && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut text = String::new();
    pids(&mut text);
    let count = text.lines().filter(|l| l.split_whitespace().nth(2) == Some("Z")).count();
    let _ = writeln!(out, "zombies: {count}");
}

