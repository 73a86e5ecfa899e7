//! Layers in the store: each layer blob is hashed, kept, and extracted exactly once, into a
//! directory named by its diff id (the digest of the uncompressed tar), which then serves as an
//! overlayfs lower directory for every image and container that uses it.

use super::{Store, remove_any};
use crate::digest::{Digest, HashingReader, TeeReader};
use crate::error::Error;
use crate::layer::{self, ExtractOptions};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

pub const MEDIA_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What the store knows about a layer, kept in `layers/<diff id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// The digest of the uncompressed tar: the name the image config uses.
    pub diff_id: Digest,
    /// The digest of the blob as stored (the same as `diff_id` unless compressed).
    pub blob: Digest,
    pub media_type: String,
    pub blob_size: u64,
    /// The size of the uncompressed tar, which `history` and `images` show.
    pub size: u64,
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not a sha256 digest: {text}")))
    }
}

impl Store {
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn layer(&self, diff_id: &Digest) -> Result<Layer, Error> {
        let path = self.root.join("layers").join(format!("{}.json", diff_id.hex()));
        let bytes = fs::read(&path).map_err(Error::io(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Store { path, why: e.to_string() })
    }

    // ANCHOR: add_layer
    /// Adds the layer tar (plain or gzip) read from `source`, in one pass: the bytes are copied
    /// into a staged blob while hashed, decompressed, hashed again (the diff id) and extracted into
    /// a staged directory. Only when all of it succeeded are blob and directory renamed into place;
    /// on any error, nothing of the layer stays. Needs the store's lock.
    pub fn add_layer(&self, source: impl Read) -> Result<Layer, Error> {
        let staged_blob = self.staging("blob");
        let staged_dir = self.staging("layer");
        let result = self.stage_layer(source, &staged_blob, &staged_dir);
        let layer = match result {
            Ok(layer) => layer,
            Err(e) => {
                let _ = remove_any(&staged_blob);
                let _ = remove_any(&staged_dir);
                return Err(e);
            }
        };
        let (blob, dir) = (self.blob_path(&layer.blob), self.layer_dir(&layer.diff_id));
        // The same content twice (the same tar imported again, a RUN that changed the same
        // bytes): keep the copy already there, which images may be using right now.
        if dir.exists() {
            let _ = remove_any(&staged_dir);
        } else {
            fs::rename(&staged_dir, &dir).map_err(Error::io(&dir))?;
        }
        fs::rename(&staged_blob, &blob).map_err(Error::io(&blob))?;
        let meta = serde_json::to_vec_pretty(&layer).expect("a layer serializes");
        self.write_atomic(&self.root.join("layers").join(format!("{}.json", layer.diff_id.hex())), &meta)?;
        Ok(layer)
    }
    // ANCHOR_END: add_layer

    fn stage_layer(&self, source: impl Read, staged_blob: &Path, staged_dir: &Path) -> Result<Layer, Error> {
        let blob_file = File::create(staged_blob).map_err(Error::io(staged_blob))?;
        let mut compressed = HashingReader::new(TeeReader { inner: BufReader::with_capacity(1 << 16, source), copy: std::io::BufWriter::new(blob_file) });
        // gzip starts with 1f 8b; anything else is taken as a plain tar.
        let gzip = {
            let mut magic = [0u8; 2];
            let n = read_up_to(&mut compressed, &mut magic).map_err(Error::io(staged_blob))?;
            (n == 2 && magic == [0x1f, 0x8b], magic[..n].to_vec())
        };
        let (is_gzip, head) = gzip;
        let head = std::io::Cursor::new(head);
        let mut uncompressed: HashingReader<Box<dyn Read + '_>> = if is_gzip {
            HashingReader::new(Box::new(flate2::read::MultiGzDecoder::new(head.chain(&mut compressed))))
        } else {
            HashingReader::new(Box::new(head.chain(&mut compressed)))
        };
        fs::create_dir(staged_dir).map_err(Error::io(staged_dir))?;
        let options = ExtractOptions { rootless: self.rootless };
        let extracted = layer::extract(&mut uncompressed, staged_dir, &options).map_err(|e| Error::BadLayer(e.to_string()))?;
        for skipped in &extracted.skipped {
            eprintln!("warning: layer entry skipped: {skipped}");
        }
        if extracted.owners_dropped > 0 {
            eprintln!(
                "warning: {} layer entries belong to other users than root; a rootless store keeps them as yours (root inside)",
                extracted.owners_dropped
            );
        }
        let (diff_id, size, _) = uncompressed.finish().map_err(|e| Error::BadLayer(format!("reading the archive: {e}")))?;
        if size == 0 {
            return Err(Error::BadLayer("the file is empty: not a tar archive".into()));
        }
        let (blob, blob_size, tee) = compressed.finish().map_err(Error::io(staged_blob))?;
        let mut file = tee.copy.into_inner().map_err(|e| Error::io(staged_blob)(e.into_error()))?;
        std::io::Write::flush(&mut file).and_then(|()| file.sync_data()).map_err(Error::io(staged_blob))?;
        let media_type = if is_gzip { MEDIA_TAR_GZIP } else { MEDIA_TAR }.to_string();
        Ok(Layer { diff_id, blob, media_type, blob_size, size })
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
