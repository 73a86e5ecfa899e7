//! From an image's config to the process to start: docker's rules for combining the image's
//! `Entrypoint`, `Cmd`, `Env`, `WorkingDir` and `User` with what `run` was given.

use crate::error::Error;
use ch01_chroot::Env;
use oci_spec::image::{Config, ImageConfiguration};
use std::path::PathBuf;

/// The image's runtime settings, or none (an image may have no `config` at all).
pub fn settings(image: &ImageConfiguration) -> Config {
    image.config().clone().unwrap_or_default()
}

// ANCHOR: argv
/// The command line, by docker's rules:
/// - the arguments after the image replace the image's `Cmd`;
/// - `--entrypoint` replaces the image's `Entrypoint`, and then the image's `Cmd` is dropped too;
/// - the result is `Entrypoint` followed by `Cmd`.
pub fn argv(config: &Config, command: &[String], entrypoint: Option<&str>) -> Result<Vec<String>, Error> {
    let (entry, image_cmd) = match entrypoint {
        Some("") => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.to_string()], Vec::new()),
        None => (config.entrypoint().clone().unwrap_or_default(), config.cmd().clone().unwrap_or_default()),
    };
    let cmd = if command.is_empty() { image_cmd } else { command.to_vec() };
    let argv: Vec<String> = entry.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(argv)
}
// ANCHOR_END: argv

/// The environment: chapter 1's base (`PATH`, `HOSTNAME`, `HOME`), the image's `Env` on top, then
/// `-e` flags on top of that.
pub fn env(config: &Config, hostname: &str, home: &str, flags: &[String]) -> Result<Env, Error> {
    let mut env = Env::base(hostname, home);
    for pair in config.env().iter().flatten() {
        match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() => env.set(name, value),
            _ => {}
        }
    }
    env.apply_flags(flags)?;
    Ok(env)
}

/// `-w`, else the image's `WorkingDir`, else `/`. A relative one is refused, as chapter 1 does.
pub fn workdir(config: &Config, flag: Option<&PathBuf>) -> Result<PathBuf, Error> {
    let dir = match flag {
        Some(dir) => dir.clone(),
        None => config.working_dir().as_deref().filter(|d| !d.is_empty()).map_or_else(|| PathBuf::from("/"), PathBuf::from),
    };
    if !dir.is_absolute() {
        return Err(ch01_chroot::Error::RelativeWorkdir { path: dir }.into());
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_like_docker() {
        let both = ConfigBuilder::default().entrypoint(strings(&["/bin/echo", "hi"])).cmd(strings(&["there"])).build().unwrap();
        assert_eq!(argv(&both, &[], None).unwrap(), strings(&["/bin/echo", "hi", "there"]));
        assert_eq!(argv(&both, &strings(&["you"]), None).unwrap(), strings(&["/bin/echo", "hi", "you"]));
        assert_eq!(argv(&both, &strings(&["-l"]), Some("ls")).unwrap(), strings(&["ls", "-l"]));
        assert!(matches!(argv(&both, &[], Some("")), Err(Error::NoCommand)));
        let cmd_only = ConfigBuilder::default().cmd(strings(&["sh"])).build().unwrap();
        assert_eq!(argv(&cmd_only, &strings(&["id"]), None).unwrap(), strings(&["id"]));
    }
}
