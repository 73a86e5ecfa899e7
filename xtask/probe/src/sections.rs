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
];

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

fn cgroup(out: &mut String) {
    match fs::read_to_string("/proc/self/cgroup") {
        Ok(text) => {
            for line in text.lines() {
                let _ = writeln!(out, "cgroup: {line}");
            }
        }
        Err(_) => {
            let _ = writeln!(out, "cgroup: {NO_PROC}");
        }
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
