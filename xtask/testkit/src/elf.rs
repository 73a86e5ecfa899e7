//! Just enough ELF to tell whether a binary is static: a dynamic one names its loader in a
//! `PT_INTERP` program header, and that loader must then exist inside the rootfs too.

use std::path::Path;

const PT_INTERP: u32 = 3;

/// `Some(true)` for a static ELF, `Some(false)` for a dynamic one, `None` for anything else
/// (not ELF, or not the 64-bit little-endian kind this course runs on).
pub fn is_static(path: &Path) -> Option<bool> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 || *bytes.get(5)? != 1 {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_shell_is_dynamic() {
        // Every Debian or Ubuntu /bin/sh (dash) is dynamically linked.
        assert_eq!(super::is_static(std::path::Path::new("/bin/sh")), Some(false));
        assert_eq!(super::is_static(std::path::Path::new("/etc/passwd")), None);
    }
}
