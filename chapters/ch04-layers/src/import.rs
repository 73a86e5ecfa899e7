//! `import TAR|DIR NAME[:TAG]`: an image of one layer, like `docker import`. A directory is first
//! written as a tar, so that both go through the same safe extraction and get a digest.

use crate::error::Error;
use crate::layer::{self, TreeKind};
use crate::reference::Reference;
use crate::store::Store;
use crate::store::images::Image;
use oci_spec::image::{Arch, ConfigBuilder, HistoryBuilder, ImageConfigurationBuilder, Os, RootFsBuilder};
use std::fs::File;
use std::path::Path;

// ANCHOR: import
pub fn import(store: &Store, source: &Path, reference: &str) -> Result<Image, Error> {
    let reference = Reference::parse(reference).map_err(Error::Reference)?;
    let fail = |why: String| Error::Import { path: source.to_path_buf(), why };
    let meta = std::fs::metadata(source).map_err(|e| fail(ch01_chroot::error::describe_io(&e)))?;
    let _lock = store.lock()?;
    let layer = if meta.is_dir() {
        let staged = store.staging("import.tar");
        let file = File::create(&staged).map_err(Error::io(&staged))?;
        if let Err(e) = layer::write_tree(source, TreeKind::Plain, std::io::BufWriter::new(file)) {
            let _ = std::fs::remove_file(&staged);
            return Err(fail(format!("archiving the directory: {}", ch01_chroot::error::describe_io(&e))));
        }
        let layer = store.add_layer(File::open(&staged).map_err(Error::io(&staged))?);
        let _ = std::fs::remove_file(&staged);
        layer
    } else {
        store.add_layer(File::open(source).map_err(|e| fail(ch01_chroot::error::describe_io(&e)))?)
    };
    let layer = layer.map_err(|e| match e {
        Error::BadLayer(why) => fail(why),
        other => other,
    })?;
    let created = crate::time::rfc3339(crate::time::now());
    let name = source.file_name().map_or_else(|| source.display().to_string(), |n| n.to_string_lossy().into_owned());
    let history = HistoryBuilder::default().created(created.clone()).created_by(String::new()).comment(format!("Imported from {name}")).build();
    let config = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(arch())
        .os(Os::Linux)
        .config(ConfigBuilder::default().build().expect("an empty config builds"))
        .rootfs(RootFsBuilder::default().typ("layers").diff_ids(vec![layer.diff_id.to_string()]).build().expect("rootfs builds"))
        .history(vec![history.expect("history builds")])
        .build()
        .expect("an image config builds");
    let image = store.commit(&config, &[layer], None)?;
    store.tag(&reference, &image)?;
    Ok(image)
}
// ANCHOR_END: import

/// This machine's architecture, in Go's names as image configs use them.
pub fn arch() -> Arch {
    match std::env::consts::ARCH {
        "x86_64" => Arch::Amd64,
        "aarch64" => Arch::ARM64,
        other => Arch::Other(other.to_string()),
    }
}
