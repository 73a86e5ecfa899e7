//! Just enough of the cpio "newc" format to pack an initramfs: the kernel unpacks it into its
//! first root filesystem at boot. Each entry is a 110-byte ASCII header (magic `070701`, then
//! thirteen 8-digit hex fields), the NUL-terminated name, and the data, each padded to 4 bytes.

use std::io::Write;

pub struct Writer<W: Write> {
    out: W,
    inode: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer { out, inode: 1 }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        let name = name.trim_start_matches('/');
        let fields = [self.inode, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        self.inode += 1;
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.pad(110 + name.len() + 1)?;
        self.out.write_all(data)?;
        self.pad(data.len())
    }

    fn pad(&mut self, written: usize) -> std::io::Result<()> {
        self.out.write_all(&[0u8; 3][..(4 - written % 4) % 4])
    }

    pub fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, 0o040755, &[])
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(name, 0o100000 | (mode & 0o7777), data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> std::io::Result<()> {
        self.entry(name, 0o120777, target.as_bytes())
    }

    /// Adds `dir` from the host under the same absolute path, with every parent directory.
    pub fn tree(&mut self, host: &std::path::Path, at: &str) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(host)?;
        if meta.file_type().is_symlink() {
            return self.symlink(at, &std::fs::read_link(host)?.to_string_lossy());
        }
        if meta.is_dir() {
            self.entry(at, 0o040000 | (meta.permissions().mode() & 0o7777), &[])?;
            let mut names: Vec<_> = std::fs::read_dir(host)?.flatten().map(|e| e.file_name()).collect();
            names.sort();
            for name in names {
                self.tree(&host.join(&name), &format!("{at}/{}", name.to_string_lossy()))?;
            }
            return Ok(());
        }
        self.file(at, meta.permissions().mode(), &std::fs::read(host)?)
    }

    /// Every parent of `path` (`/a`, `/a/b` for `/a/b/c`), as directories.
    pub fn parents(&mut self, path: &str) -> std::io::Result<()> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for i in 1..parts.len() {
            self.dir(&parts[..i].join("/"))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.entry("TRAILER!!!", 0, &[])?;
        Ok(self.out)
    }
}
