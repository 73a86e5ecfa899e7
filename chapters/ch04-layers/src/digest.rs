//! Content addresses: `sha256:<64 hex>`, the name of every blob, layer and image in the store.
//!
//! An image is named by what it contains, not by where it came from: the id of an image is the
//! digest of its config, the config lists the digests of its layers (their "diff ids"), so two
//! stores holding the same bytes agree on every name, and a changed byte changes every name above
//! it. Book: "Chapter 4: layers", content addressing.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// A sha256 digest, as the OCI spec writes it: `sha256:` and 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    pub fn from_hasher(hasher: Sha256) -> Digest {
        let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Digest(hex)
    }

    /// Parses `sha256:<hex>` or a bare 64-digit hex string.
    pub fn parse(text: &str) -> Option<Digest> {
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then(|| Digest(hex.to_string()))
    }

    /// The 64 hex digits, as file names in the store use them.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, as docker shows image ids.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }

    /// The digest as the OCI types want it.
    pub fn to_oci(&self) -> oci_spec::image::Digest {
        std::str::FromStr::from_str(&self.to_string()).expect("a sha256 digest is a valid OCI digest")
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// A reader that hashes and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), count: 0 }
    }

    /// Reads what is left (a tar's end blocks, a gzip trailer), so the digest covers everything.
    pub fn finish(mut self) -> io::Result<(Digest, u64, R)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count, self.inner))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that copies what passes through it into a writer (the blob being stored), so a layer
/// is stored, hashed and extracted in one pass over its bytes.
pub struct TeeReader<R, W> {
    pub inner: R,
    pub copy: W,
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256() {
        let d = Digest::of(b"");
        assert_eq!(d.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::parse(&d.to_string()), Some(d.clone()));
        assert_eq!(Digest::parse("sha256:xyz"), None);
        assert_eq!(d.to_oci().digest(), d.hex());
    }
}
