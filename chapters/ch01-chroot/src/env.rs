//! The environment the command gets: a clean one, never the host's.
//!
//! Like docker, the container starts from a few variables of its own (`PATH`, `HOSTNAME`, `HOME`,
//! `TERM` when the host has one) and then the user's `--env` flags, in order; a later value of a
//! name replaces the earlier one in place. Passing the host's environment through would leak
//! secrets and host paths into the container and make runs depend on who started them.

use crate::error::Error;
use std::ffi::CString;

/// Docker's default `PATH` for Linux containers.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An ordered list of `NAME=value` pairs with unique names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    // ANCHOR: clean_env
    /// The variables every container starts with.
    pub fn base(hostname: &str, home: &str) -> Env {
        let mut env = Env::default();
        env.set("PATH", DEFAULT_PATH);
        env.set("HOSTNAME", hostname);
        env.set("HOME", home);
        // Pass the host's terminal type, so programs inside draw for the terminal they run on.
        // (Docker sets TERM=xterm only with `-t`; we have no `-t`, the terminal simply passes through.)
        if let Ok(term) = std::env::var("TERM") {
            env.set("TERM", &term);
        }
        env
    }
    // ANCHOR_END: clean_env

    /// Sets `name`, replacing an earlier value in place.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Applies `--env` flags: `K=V` sets K; a bare `K` passes the host's value of K, if it has one.
    pub fn apply_flags(&mut self, flags: &[String]) -> Result<(), Error> {
        for flag in flags {
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (flag.as_str(), std::env::var(flag).ok()),
            };
            if name.is_empty() || name.contains('\0') || value.as_deref().is_some_and(|v| v.contains('\0')) {
                return Err(Error::BadEnv(flag.clone()));
            }
            if let Some(value) = value {
                self.set(name, &value);
            }
        }
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The `NAME=value` strings `execve(2)` takes. Names and values were checked for NUL bytes.
    pub fn to_cstrings(&self) -> Vec<CString> {
        self.vars
            .iter()
            .filter_map(|(n, v)| CString::new(format!("{n}={v}")).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_flags_replace_in_place() {
        let mut env = Env::base("box", "/root");
        env.apply_flags(&["A=1".into(), "PATH=/bin".into(), "A=2".into()]).unwrap();
        let names: Vec<_> = env.iter().map(|(n, _)| n).collect();
        assert_eq!(&names[..3], ["PATH", "HOSTNAME", "HOME"]);
        assert_eq!(env.get("PATH"), Some("/bin"));
        assert_eq!(env.get("A"), Some("2"));
    }

    #[test]
    fn empty_names_are_refused() {
        assert!(Env::default().apply_flags(&["=x".into()]).is_err());
        assert!(Env::default().apply_flags(&["".into()]).is_err());
    }
}
