//! `USER` and `-u`: `name`, `uid`, `name:group` or `uid:gid`, resolved through the image's own
//! `/etc/passwd` and `/etc/group` (never the host's: the same name can be another uid there).
//!
//! The lecture's advice, "don't run as root": a process that escapes a container as root is root
//! on the host unless a user namespace maps it; as an unprivileged uid it is nobody in particular.

use crate::error::Error;

/// Who the command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: those of `/etc/group` that list the user by name.
    pub groups: Vec<u32>,
    /// From `/etc/passwd`, or `/` (as runc does) when the user has no entry.
    pub home: String,
}

impl User {
    pub fn root() -> User {
        User { uid: 0, gid: 0, groups: Vec::new(), home: "/root".into() }
    }
}

/// Resolves `spec` in the image whose extracted layers are `layers_top_first`, reading its
/// `/etc/passwd` and `/etc/group` safely (see `layer::read_small_file`).
pub fn resolve_in_image(spec: &str, layers_top_first: &[std::path::PathBuf]) -> Result<User, Error> {
    let read = |path: &str| crate::layer::read_small_file(layers_top_first, path);
    resolve(spec, &read("/etc/passwd"), &read("/etc/group"))
}

// ANCHOR: resolve
/// Resolves `spec` with the contents of the image's `/etc/passwd` and `/etc/group` (empty when
/// the image has none: then only numeric ids work).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<User, Error> {
    let bad = |why: String| Error::BadUser { spec: spec.to_string(), why };
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() || group_part.is_some_and(str::is_empty) {
        return Err(bad("expected USER, UID, USER:GROUP or UID:GID".into()));
    }
    let entries: Vec<Vec<&str>> = passwd.lines().map(|l| l.split(':').collect()).filter(|f: &Vec<&str>| f.len() >= 7).collect();
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => entries.iter().find(|f| f[2].parse() == Ok(uid)),
        Err(_) => entries.iter().find(|f| f[0] == user_part),
    };
    let (uid, primary, name, home) = match (user_part.parse::<u32>(), entry) {
        (_, Some(f)) => {
            let uid = f[2].parse().map_err(|_| bad(format!("its /etc/passwd entry has a bad uid {:?}", f[2])))?;
            let gid = f[3].parse().map_err(|_| bad(format!("its /etc/passwd entry has a bad gid {:?}", f[3])))?;
            (uid, gid, Some(f[0]), f[5].to_string())
        }
        // A uid without an entry is fine (docker runs it with gid 0 and HOME=/).
        (Ok(uid), None) => (uid, 0, None, "/".to_string()),
        (Err(_), None) => return Err(bad(format!("no user {user_part:?} in the image's /etc/passwd"))),
    };
    let groups_file: Vec<Vec<&str>> = group.lines().map(|l| l.split(':').collect()).filter(|f: &Vec<&str>| f.len() >= 4).collect();
    let gid = match group_part {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match groups_file.iter().find(|f| f[0] == g) {
                Some(f) => f[2].parse().map_err(|_| bad(format!("its /etc/group entry has a bad gid {:?}", f[2])))?,
                None => return Err(bad(format!("no group {g:?} in the image's /etc/group"))),
            },
        },
    };
    // Supplementary groups come with a user name and no explicit group, as `su -` would give.
    let mut groups: Vec<u32> = match (name, group_part) {
        (Some(name), None) => groups_file
            .iter()
            .filter(|f| f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .collect(),
        _ => Vec::new(),
    };
    groups.retain(|g| *g != gid);
    groups.sort_unstable();
    groups.dedup();
    Ok(User { uid, gid, groups, home })
}
// ANCHOR_END: resolve

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:app\napp:x:1000:\n";

    #[test]
    fn names_numbers_and_groups() {
        let app = resolve("app", PASSWD, GROUP).unwrap();
        assert_eq!((app.uid, app.gid, app.groups.as_slice(), app.home.as_str()), (1000, 1000, &[10][..], "/home/app"));
        assert_eq!(resolve("1000:wheel", PASSWD, GROUP).unwrap().gid, 10);
        let nobody = resolve("4242", PASSWD, GROUP).unwrap();
        assert_eq!((nobody.uid, nobody.gid, nobody.home.as_str()), (4242, 0, "/"));
        assert!(resolve("ghost", PASSWD, GROUP).is_err());
        assert!(resolve("app:ghosts", PASSWD, GROUP).is_err());
        assert!(resolve(":", PASSWD, GROUP).is_err());
    }
}
