//! The build cache key of a step: what, if unchanged, makes running the step again pointless.
//!
//! The key hashes the image the step starts from (so a changed step invalidates every later one:
//! their parents differ), the instruction with its variables expanded, and what else the result
//! depends on: for `RUN`, the build arguments in its environment; for `COPY`, the content of the
//! files it copies. Docker's classic builder keyed on the same things; BuildKit keys a graph of
//! operations, which also lets it run independent stages at once and share cache across machines.

use crate::digest::Digest;
use sha2::{Digest as _, Sha256};

// ANCHOR: key
/// Builds a key from its parts, each written with a label and a length so that no two different
/// lists of parts give the same bytes.
pub struct Key(Sha256);

impl Key {
    pub fn new(parent: &Digest, instruction: &str) -> Key {
        let mut key = Key(Sha256::new());
        key.part("parent", parent.to_string().as_bytes());
        key.part("instruction", instruction.as_bytes());
        key
    }

    pub fn part(&mut self, label: &str, value: &[u8]) {
        self.0.update(format!("{label} {}\n", value.len()).as_bytes());
        self.0.update(value);
    }

    /// The hasher, for the COPY sources' content.
    pub fn hasher(&mut self) -> &mut Sha256 {
        &mut self.0
    }

    pub fn finish(self) -> Digest {
        Digest::from_hasher(self.0)
    }
}
// ANCHOR_END: key

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_run_together() {
        let parent = Digest::of(b"p");
        let mut a = Key::new(&parent, "RUN a");
        a.part("x", b"bc");
        let mut b = Key::new(&parent, "RUN a");
        b.part("x", b"b");
        b.part("c", b"");
        assert_ne!(a.finish(), b.finish());
        assert_eq!(Key::new(&parent, "RUN a").finish(), Key::new(&parent, "RUN a").finish());
    }
}
