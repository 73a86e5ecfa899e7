//! Image references: `NAME[:TAG]`, checked with docker's rules, and `latest` when no tag is given.
//!
//! Docker's full grammar also has a registry host with a port (`registry.example:5000/app`) and a
//! digest (`app@sha256:…`); this store is local, so a name is slash-separated lowercase components
//! and a host-like first component (`docker.io/library/busybox`) is just a component.

use std::fmt;

/// A checked `name:tag`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

// ANCHOR: reference
impl Reference {
    /// Parses `NAME[:TAG]`. The error says what is wrong, docker's way.
    pub fn parse(text: &str) -> Result<Reference, String> {
        let invalid = |why: &str| format!("invalid reference format {text:?}: {why}");
        if text.contains('@') {
            return Err(invalid("digest references (NAME@sha256:...) are not supported here"));
        }
        // A colon after the last slash starts the tag (one before it would be a registry port).
        let (name, tag) = match text.rfind(':') {
            Some(i) if !text[i..].contains('/') => (&text[..i], &text[i + 1..]),
            _ => (text, "latest"),
        };
        if name.is_empty() {
            return Err(invalid("the repository name is empty"));
        }
        if name.len() > 255 {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        if name.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("the repository name must be lowercase"));
        }
        if !name.split('/').all(component_is_valid) {
            return Err(invalid("a name is lowercase letters and digits, separated by '/', and inside a part by '.', '_', '__' or '-'"));
        }
        let tag_ok = tag.len() <= 128
            && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !tag_ok {
            return Err(invalid("a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"));
        }
        Ok(Reference { name: name.to_string(), tag: tag.to_string() })
    }
}

/// One part of a name: `[a-z0-9]+` joined by one separator (`.`, `_`, `__`, or any run of `-`).
fn component_is_valid(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}
// ANCHOR_END: reference

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        assert_eq!(Reference::parse("app").unwrap().to_string(), "app:latest");
        assert_eq!(Reference::parse("my-org/app_1:v1.2").unwrap().to_string(), "my-org/app_1:v1.2");
        for bad in ["App", "app:", ":v1", "a//b", "-a", "a..b", "app:-x", "app@sha256:00", "a b"] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
