//! `--trace`: narrate each kernel call on stderr as it is made, in strace's words.
//!
//! Every chapter routes its kernel calls through [`Trace::call`], so `--trace` shows exactly the calls
//! that build the container, in order: `chroot("/…/rootfs") = 0`, `execve("/bin/sh", ["sh"])`,
//! `wait4(1234) = exited 0`. Graders snapshot these lines, so their format is a contract. A real
//! runtime has no such switch; `strace -f` shows the same calls buried among thousands of others.

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::fmt;
use std::io::Write;

/// The narrator. Cheap to copy; disabled, it costs one branch per call.
#[derive(Debug, Clone, Copy)]
pub struct Trace {
    enabled: bool,
}

/// The prefix of every trace line, so a reader (and a test) can tell them from the command's output.
pub const PREFIX: &str = "[trace] ";

impl Trace {
    pub fn new(enabled: bool) -> Self {
        Trace { enabled }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Narrates a call that has just returned, with its result: `chroot("/r") = 0`, or
    /// `chroot("/r") = -1 EPERM (Operation not permitted)`. Returns the result unchanged, so a call
    /// site reads `trace.call(format_args!("chroot({path:?})"), chroot(path))?`.
    pub fn call<T: Outcome>(&self, call: fmt::Arguments<'_>, result: nix::Result<T>) -> nix::Result<T> {
        if self.enabled {
            match &result {
                Ok(value) => self.line(format_args!("{call} = {}", value.show())),
                Err(errno) => self.line(format_args!("{call} = -1 {errno:?} ({})", errno.desc())),
            }
        }
        result
    }

    /// Writes `text` to the file at `path`, narrated as `write("/path", "text") = 0`: how the kernel
    /// is configured through `/proc` and `/sys` (uid maps in chapter 2, cgroups in chapter 3).
    pub fn write_file(&self, path: &std::path::Path, text: &str) -> nix::Result<()> {
        let result = std::fs::write(path, text).map_err(|e| crate::error::errno_of(&e));
        self.call(format_args!("write({path:?}, {text:?})"), result)
    }

    /// Narrates a call that does not return when it succeeds (`execve`), before it is made.
    pub fn before(&self, call: fmt::Arguments<'_>) {
        if self.enabled {
            self.line(call);
        }
    }

    /// Narrates a step that is not a kernel call (`# looked up "sh" in PATH: /bin/sh`).
    pub fn note(&self, note: fmt::Arguments<'_>) {
        if self.enabled {
            self.line(format_args!("# {note}"));
        }
    }

    fn line(&self, text: fmt::Arguments<'_>) {
        // One write per line, so lines from the parent and the child never interleave mid-line.
        let line = format!("{PREFIX}{text}\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// How a successful call's result is shown after the `=`.
pub trait Outcome {
    fn show(&self) -> String;
}

impl Outcome for () {
    fn show(&self) -> String {
        "0".into()
    }
}

impl Outcome for Pid {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Outcome for WaitStatus {
    fn show(&self) -> String {
        match self {
            WaitStatus::Exited(_, code) => format!("exited {code}"),
            WaitStatus::Signaled(_, signal, core) => {
                format!("killed by {}{}", signal.as_str(), if *core { " (core dumped)" } else { "" })
            }
            other => format!("{other:?}"),
        }
    }
}

/// Formats an argument vector as strace does: `["sh", "-c", "echo hi"]`.
pub fn argv(args: &[String]) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", quoted.join(", "))
}
