//! `probe`: prints what the process running it sees, as stable `key: value` lines for snapshots.
//!
//! It is installed as `/bin/probe` in the course rootfs (see the book's "A root filesystem" page) and
//! every chapter's graded tests run it inside the container. It is built static, so it needs nothing
//! from the rootfs it lands in. Each section degrades gracefully: without a mounted `/proc` (chapter 1)
//! the sections that need it say `unavailable (no /proc)` instead of failing.
//!
//! Usage: `probe [SECTION]...` with sections `ids hostname cwd root caps ns cgroup mounts env
//! userns net pids`; no section prints them all. `probe zombies` makes an orphan and counts the
//! zombies left (the book's PID 1 demonstration). `probe hog MIB` allocates and touches MIB
//! mebibytes, `probe spin SECONDS` keeps one CPU busy (chapter 3's limits).

mod caps;
mod sections;

use std::process::ExitCode;

fn main() -> ExitCode {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    // The load generators take an argument: `probe hog MIB`, `probe spin SECONDS`.
    if let [action, amount] = wanted.as_slice()
        && let Some(code) = sections::load(action, amount)
    {
        return code;
    }
    let names: Vec<&str> = if wanted.is_empty() {
        sections::ALL.iter().map(|(name, _)| *name).collect()
    } else {
        wanted.iter().map(String::as_str).collect()
    };
    let mut out = String::new();
    for name in names {
        match sections::ALL.iter().chain(sections::ACTIONS).find(|(n, _)| *n == name) {
            Some((_, section)) => section(&mut out),
            None => {
                let known: Vec<&str> = sections::ALL.iter().chain(sections::ACTIONS).map(|(n, _)| *n).collect();
                eprintln!("probe: unknown section {name:?} (known: {})", known.join(" "));
                return ExitCode::from(2);
            }
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}
