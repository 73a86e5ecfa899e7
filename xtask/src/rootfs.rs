//! `cargo xtask rootfs`: build the course rootfs and say what it was made from.

use anyhow::Result;

pub fn run() -> Result<()> {
    let report = testkit::rootfs::ensure()?;
    println!("{report}");
    Ok(())
}
