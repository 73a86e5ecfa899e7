//! Images in the store: an OCI config and manifest as blobs, a record of which image each one was
//! built on, the tags that name them, and the build cache. `rmi` untags, then collects whatever
//! no tag, no container and no later image needs any more.

use super::Store;
use crate::digest::Digest;
use crate::error::Error;
use crate::reference::Reference;
use crate::store::layers::Layer;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, ImageManifestBuilder, MediaType};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

/// An image: its id (the digest of its config), the config and the manifest.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: Digest,
    pub manifest_digest: Digest,
    pub config: ImageConfiguration,
    pub manifest: ImageManifest,
    /// The image this one was built on by one Dockerfile step (for `history`), if built here.
    pub parent: Option<Digest>,
}

/// `images/<id>.json`: what is not in the OCI blobs.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    manifest: Digest,
    parent: Option<Digest>,
}

impl Image {
    /// The diff ids of the layers, bottom first.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.config.rootfs().diff_ids().iter().filter_map(|d| Digest::parse(d)).collect()
    }
}

/// A config as bytes with sorted keys: the same config always has the same digest (the OCI types
/// keep labels in a HashMap, whose order changes from run to run).
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("OCI types serialize");
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

impl Store {
    // ANCHOR: commit
    /// Stores an image made of `config` and `layers` (already in the store), built on `parent`.
    /// Its id is the digest of the config, which lists the layers' diff ids: the same content
    /// always gets the same id. Needs the store's lock.
    pub fn commit(&self, config: &ImageConfiguration, layers: &[Layer], parent: Option<&Digest>) -> Result<Image, Error> {
        let config_bytes = canonical_json(config);
        let id = self.put_blob(&config_bytes)?;
        let descriptors: Vec<Descriptor> = layers
            .iter()
            .map(|l| Descriptor::new(MediaType::Other(l.media_type.clone()), l.blob_size, l.blob.to_oci()))
            .collect();
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, config_bytes.len() as u64, id.to_oci()))
            .layers(descriptors)
            .build()
            .map_err(|e| Error::Store { path: self.root.clone(), why: format!("building the manifest: {e}") })?;
        let manifest_digest = self.put_blob(&canonical_json(&manifest))?;
        let record = Record { manifest: manifest_digest.clone(), parent: parent.cloned() };
        self.write_atomic(&self.record_path(&id), &serde_json::to_vec_pretty(&record).expect("a record serializes"))?;
        Ok(Image { id, manifest_digest, config: config.clone(), manifest, parent: parent.cloned() })
    }
    // ANCHOR_END: commit

    fn record_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    /// Loads the image with this id.
    pub fn image(&self, id: &Digest) -> Result<Image, Error> {
        let path = self.record_path(id);
        let bytes = fs::read(&path).map_err(|_| Error::NoSuchImage(id.to_string()))?;
        let record: Record = serde_json::from_slice(&bytes).map_err(|e| Error::Store { path: path.clone(), why: e.to_string() })?;
        let parse_err = |what: &str, e: serde_json::Error| Error::Store { path: path.clone(), why: format!("{what}: {e}") };
        let config: ImageConfiguration = serde_json::from_slice(&self.get_blob(id)?).map_err(|e| parse_err("config", e))?;
        let manifest: ImageManifest = serde_json::from_slice(&self.get_blob(&record.manifest)?).map_err(|e| parse_err("manifest", e))?;
        Ok(Image { id: id.clone(), manifest_digest: record.manifest, config, manifest, parent: record.parent })
    }

    /// Every image id in the store, intermediate build steps included.
    pub fn image_ids(&self) -> Vec<Digest> {
        let mut ids: Vec<Digest> = fs::read_dir(self.root.join("images"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").and_then(Digest::parse))
            .collect();
        ids.sort();
        ids
    }

    /// `name:tag -> image id`, sorted by name.
    pub fn tags(&self) -> Result<BTreeMap<Reference, Digest>, Error> {
        let path = self.root.join("tags.json");
        let manifests: BTreeMap<String, Digest> = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Store { path: path.clone(), why: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io(&path)(e)),
        };
        // A tag names a manifest; the manifest names the config, whose digest is the image id.
        let image_of = |manifest: &Digest| -> Option<Digest> {
            let manifest: ImageManifest = serde_json::from_slice(&self.get_blob(manifest).ok()?).ok()?;
            Digest::parse(manifest.config().digest().as_ref())
        };
        Ok(manifests
            .into_iter()
            .filter_map(|(name, manifest)| Some((Reference::parse(&name).ok()?, image_of(&manifest)?)))
            .collect())
    }

    fn write_tags(&self, tags: &BTreeMap<Reference, Digest>) -> Result<(), Error> {
        let mut manifests = BTreeMap::new();
        for (reference, id) in tags {
            manifests.insert(reference.to_string(), self.image(id)?.manifest_digest);
        }
        self.write_atomic(&self.root.join("tags.json"), &serde_json::to_vec_pretty(&manifests).expect("tags serialize"))
    }

    /// Points `reference` at `image`. An image that loses its last tag this way (a rebuild) is
    /// collected, as `docker image prune` would. Needs the store's lock.
    pub fn tag(&self, reference: &Reference, image: &Image) -> Result<(), Error> {
        let mut tags = self.tags()?;
        let old = tags.insert(reference.clone(), image.id.clone());
        self.write_tags(&tags)?;
        if old.is_some_and(|old| old != image.id) {
            self.collect()?;
        }
        Ok(())
    }

    // ANCHOR: resolve
    /// The image a user means by `text`: a `name[:tag]`, else a full or short image id.
    pub fn resolve(&self, text: &str) -> Result<Image, Error> {
        if let Ok(reference) = Reference::parse(text)
            && let Some(id) = self.tags()?.get(&reference)
        {
            return self.image(id);
        }
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<Digest> = self.image_ids().into_iter().filter(|id| id.hex().starts_with(hex)).collect();
            match matches.as_slice() {
                [id] => return self.image(id),
                [] => {}
                _ => return Err(Error::AmbiguousImage(text.to_string())),
            }
        }
        match Reference::parse(text) {
            Ok(reference) => Err(Error::NoSuchImage(reference.to_string())),
            Err(why) => Err(Error::Reference(why)),
        }
    }
    // ANCHOR_END: resolve

    /// `rmi`: removes the tag `text` (or the image, when it is given by id and has at most one
    /// tag), then collects what is no longer needed. Returns docker's lines: `Untagged: …`,
    /// `Deleted: sha256:…`. Needs the store's lock.
    pub fn remove_image(&self, text: &str) -> Result<Vec<String>, Error> {
        let image = self.resolve(text)?;
        let mut tags = self.tags()?;
        let named: Vec<Reference> = tags.iter().filter(|(_, id)| **id == image.id).map(|(r, _)| r.clone()).collect();
        let untag: Vec<Reference> = match Reference::parse(text).ok().filter(|r| tags.contains_key(r)) {
            Some(reference) => vec![reference],
            None if named.len() > 1 => {
                let names: Vec<String> = named.iter().map(ToString::to_string).collect();
                return Err(Error::ImageHasTags { image: image.id.short().to_string(), tags: names.join(", ") });
            }
            None => named,
        };
        // Removing the last name of an image a container uses would leave the container without
        // its layers: refuse, as docker does.
        let last_name = tags.values().filter(|id| **id == image.id).count() <= untag.len();
        if last_name
            && let Some(container) = self.containers()?.into_iter().find(|c| c.image_id == image.id)
        {
            if container.status == crate::store::containers::Status::Building && container.runtime_alive() {
                return Err(Error::ImageInBuild { image: text.to_string(), build: container.image });
            }
            return Err(Error::ImageInUse { image: text.to_string(), container: container.display_name() });
        }
        let mut lines = Vec::new();
        for reference in &untag {
            tags.remove(reference);
            lines.push(format!("Untagged: {reference}"));
        }
        self.write_tags(&tags)?;
        lines.extend(self.collect()?.iter().map(|id| format!("Deleted: {id}")));
        Ok(lines)
    }

    // ANCHOR: collect
    /// Garbage collection, mark and sweep: an image is live if a tag or a container names it, or a
    /// live image was built on it; a layer is live if a live image has it. Everything else goes,
    /// with the cache entries that point at it. Returns the ids of the images removed.
    pub fn collect(&self) -> Result<Vec<Digest>, Error> {
        let mut live: BTreeSet<Digest> = BTreeSet::new();
        let mut roots: Vec<Digest> = self.tags()?.into_values().collect();
        roots.extend(self.containers()?.into_iter().map(|c| c.image_id));
        while let Some(id) = roots.pop() {
            if live.insert(id.clone())
                && let Ok(image) = self.image(&id)
            {
                roots.extend(image.parent);
            }
        }
        let mut live_layers = BTreeSet::new();
        let mut live_blobs = BTreeSet::new();
        let mut removed = Vec::new();
        for id in self.image_ids() {
            let Ok(image) = self.image(&id) else { continue };
            if live.contains(&id) {
                live_layers.extend(image.diff_ids());
                live_blobs.extend([image.id.clone(), image.manifest_digest.clone()]);
                live_blobs.extend(image.manifest.layers().iter().filter_map(|d| Digest::parse(d.digest().as_ref())));
            } else {
                let _ = fs::remove_file(self.record_path(&id));
                removed.push(id);
            }
        }
        for entry in fs::read_dir(self.root.join("cache")).into_iter().flatten().flatten() {
            let target = fs::read_to_string(entry.path()).ok().and_then(|t| Digest::parse(t.trim()));
            if !target.is_some_and(|t| live.contains(&t)) {
                let _ = fs::remove_file(entry.path());
            }
        }
        for entry in fs::read_dir(self.root.join("layers")).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let hex = name.strip_suffix(".json").unwrap_or(&name);
            if Digest::parse(hex).is_some_and(|d| !live_layers.contains(&d)) {
                let _ = super::remove_any(&entry.path());
            }
        }
        for entry in fs::read_dir(self.root.join("blobs/sha256")).into_iter().flatten().flatten() {
            let digest = entry.file_name().to_str().and_then(Digest::parse);
            if digest.is_some_and(|d| !live_blobs.contains(&d)) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(removed)
    }
    // ANCHOR_END: collect

    /// The build cache: the image a step with this key made before, if it is still in the store.
    pub fn cached(&self, key: &Digest) -> Option<Image> {
        let target = fs::read_to_string(self.root.join("cache").join(key.hex())).ok()?;
        self.image(&Digest::parse(target.trim())?).ok()
    }

    /// Remembers that the step with this key made `image`. Needs the store's lock.
    pub fn remember(&self, key: &Digest, image: &Image) -> Result<(), Error> {
        self.write_atomic(&self.root.join("cache").join(key.hex()), image.id.to_string().as_bytes())
    }
}
