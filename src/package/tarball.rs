//! tarball: `tar.xz` and `tar.zst` of the install dir, compressed on every core.
//!
//! The archive holds `<name>/...` (the install dir's last component), so
//! `tar -C /opt -xf` installs it. Output does not depend on the number of threads:
//! xz's block size and zstd's job layout are fixed.

use super::archive::{entries, write_tar};
use super::{Meta, Packager};
use anyhow::Result;
use std::fs;
use std::io::Write;
use std::path::Path;

/// The two tarball formats.
pub enum Tarball {
    /// xz, the project's preset, 8 MiB blocks.
    Xz,
    /// zstd, the project's level.
    Zst,
}

fn threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// A multithreaded xz encoder of preset `level` whose output does not depend on
/// the thread count: the block size is fixed (8 MiB: enough blocks to keep every
/// core busy on a ~70 MB tree, 1.3% larger than 24 MiB blocks at preset 6).
pub fn xz_writer<W: std::io::Write>(w: W, level: u32) -> Result<liblzma::write::XzEncoder<W>> {
    let stream = liblzma::stream::MtStreamBuilder::new()
        .threads(threads())
        .preset(level)
        .block_size(8 << 20)
        .check(liblzma::stream::Check::Crc64)
        .encoder()?;
    Ok(liblzma::write::XzEncoder::new_stream(w, stream))
}

impl Packager for Tarball {
    fn format(&self) -> &'static str {
        match self {
            Tarball::Xz => "tar.xz",
            Tarball::Zst => "tar.zst",
        }
    }

    fn file_name(&self, meta: &Meta) -> String {
        format!(
            "{}-{}-{}.linux-{}.{}",
            meta.name,
            meta.version,
            meta.iteration,
            meta.arch.uname(),
            self.format()
        )
    }

    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()> {
        let dir = root.join(meta.install_dir.trim_start_matches('/'));
        let top = Path::new(&meta.install_dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| meta.name.clone());
        let mut list = entries(&dir)?;
        list.insert(
            0,
            super::archive::Entry {
                rel: String::new(),
                path: dir.clone(),
                kind: super::archive::Kind::Dir,
                mode: 0o755,
                size: 0,
            },
        );
        // The root entry is "<top>/"; the others "<top>/<rel>".
        let prefix = format!("{top}/");
        let file = fs::File::create(out)?;
        match self {
            Tarball::Xz => {
                let enc = write_tar(xz_writer(file, meta.xz_level)?, &list, &prefix, meta.epoch)?;
                enc.finish()?.flush()?;
            }
            Tarball::Zst => {
                let mut enc = zstd::stream::Encoder::new(file, meta.zstd_level)?;
                enc.multithread(threads())?;
                enc.include_checksum(true)?;
                let enc = write_tar(enc, &list, &prefix, meta.epoch)?;
                enc.finish()?.flush()?;
            }
        }
        Ok(())
    }
}
