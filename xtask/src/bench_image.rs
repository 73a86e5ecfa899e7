//! The bench's big layer: a tar.gz of mixed content (thousands of small files, a few big ones,
//! some symlinks), pseudo-random from a fixed seed and made once into `target/bench-data/`.
//! GNU tar writes it with sorted names, zero times and owners, and `gzip -n` compresses it, so
//! the same tar and gzip give the same bytes every time.

use anyhow::{Context, Result, bail};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A generated layer and what is in it.
pub struct Layer {
    pub path: PathBuf,
    pub files: usize,
    /// The files' bytes, uncompressed.
    pub bytes: u64,
    /// The size of the tar.gz.
    pub compressed: u64,
}

/// Bump when the generator changes, so that a cached archive of the old recipe is not reused.
const VERSION: u32 = 1;
const SEED: u64 = 0x636f_7261_636c_6521;

/// One entry of the layer: a file of `size` bytes, `random` of its 1 KiB chunks out of 16 being
/// incompressible (the rest text from a small vocabulary), or a symlink.
enum Entry {
    File { path: String, size: usize, random: u64, seed: u64 },
    Symlink { path: String, target: String },
}

/// The layer of about `mib` MiB of files, made if `dir` does not hold it yet.
pub fn ensure(dir: &Path, mib: u64) -> Result<Layer> {
    let plan = plan(mib << 20);
    let files = plan.iter().filter(|e| matches!(e, Entry::File { .. })).count();
    let bytes = plan.iter().map(|e| if let Entry::File { size, .. } = e { *size as u64 } else { 0 }).sum();
    let path = dir.join(format!("layer-{mib}m-v{VERSION}.tar.gz"));
    if !path.is_file() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        println!("bench: generating {} (once; kept for the next runs)", path.display());
        let tree = dir.join(format!("tree-{}", std::process::id()));
        let partial = dir.join(format!("partial-{}.tar.gz", std::process::id()));
        let result = write_tree(&tree, &plan).and_then(|()| archive(&tree, &partial)).and_then(|()| Ok(std::fs::rename(&partial, &path)?));
        let _ = std::fs::remove_dir_all(&tree);
        let _ = std::fs::remove_file(&partial);
        result.with_context(|| format!("generating {}", path.display()))?;
    }
    let compressed = std::fs::metadata(&path)?.len();
    Ok(Layer { path, files, bytes, compressed })
}

/// xorshift64*: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 40% of `total` in small files (64 B to 64 KiB, log-uniform, in 64 directories, one in 50 with
/// a symlink to it), 60% in four big ones, from text-like to nearly incompressible.
fn plan(total: u64) -> Vec<Entry> {
    let mut rng = Rng(SEED);
    let mut entries = Vec::new();
    let mut small = 0u64;
    let mut i = 0;
    while small < total * 2 / 5 {
        let size = (64f64 * 1024f64.powf((rng.below(1 << 20) as f64) / (1u64 << 20) as f64)) as usize;
        let ext = ["txt", "json", "html", "so", "conf"][rng.below(5) as usize];
        let path = format!("srv/data/{:02x}/file-{i:05}.{ext}", i % 64);
        if i % 50 == 0 {
            entries.push(Entry::Symlink { path: format!("srv/links/link-{i:05}"), target: format!("../../{path}") });
        }
        let random = if ext == "so" { 12 } else { rng.below(4) };
        entries.push(Entry::File { path, size, random, seed: rng.next() | 1 });
        small += size as u64;
        i += 1;
    }
    for (n, random) in [1, 4, 8, 15].into_iter().enumerate() {
        let base = total * 3 / 20;
        let size = (base - base / 16 + rng.below(base / 8 + 1)) as usize;
        entries.push(Entry::File { path: format!("opt/big/blob-{n}.bin"), size, random, seed: rng.next() | 1 });
    }
    entries
}

fn write_tree(tree: &Path, plan: &[Entry]) -> Result<()> {
    let _ = std::fs::remove_dir_all(tree);
    let vocabulary = vocabulary();
    for entry in plan {
        let path = match entry {
            Entry::File { path, .. } | Entry::Symlink { path, .. } => tree.join(path),
        };
        let parent = path.parent().expect("entries are below the tree");
        std::fs::create_dir_all(parent)?;
        match entry {
            Entry::File { size, random, seed, .. } => {
                std::fs::write(&path, content(*size, *random, *seed, &vocabulary))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
            }
            Entry::Symlink { target, .. } => std::os::unix::fs::symlink(target, &path)?,
        }
    }
    // Modes that do not depend on the umask (times and owners are tar's flags).
    let mut dirs = vec![tree.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    Ok(())
}

/// 256 words of 2 to 9 letters.
fn vocabulary() -> Vec<Vec<u8>> {
    let mut rng = Rng(SEED ^ 0xff);
    (0..256).map(|_| (0..2 + rng.below(8)).map(|_| b'a' + rng.below(26) as u8).collect()).collect()
}

fn content(size: usize, random: u64, seed: u64, vocabulary: &[Vec<u8>]) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(size + 1024);
    while out.len() < size {
        let end = out.len() + 1024;
        if rng.below(16) < random {
            while out.len() < end {
                out.extend_from_slice(&rng.next().to_le_bytes());
            }
        } else {
            while out.len() < end {
                let r = rng.next();
                for k in 0..4 {
                    out.extend_from_slice(&vocabulary[((r >> (8 * k)) & 0xff) as usize]);
                    out.push(if (r >> (32 + 4 * k)) & 0xf == 0 { b'\n' } else { b' ' });
                }
            }
        }
    }
    out.truncate(size);
    out
}

/// `tar -c | gzip -n`, reproducibly.
fn archive(tree: &Path, out: &Path) -> Result<()> {
    let mut tar = Command::new("tar")
        .args(["--sort=name", "--format=gnu", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C"])
        .arg(tree)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("running GNU tar")?;
    let file = std::fs::File::create(out)?;
    let gzip = Command::new("gzip").args(["-n", "-6"]).stdin(tar.stdout.take().expect("piped")).stdout(file).status().context("running gzip")?;
    let tar = tar.wait()?;
    if !tar.success() || !gzip.success() {
        bail!("tar ({tar}) | gzip ({gzip}) failed");
    }
    Ok(())
}
