//! zip: the reproducible `.zip` of a Windows bundle.
//!
//! Entries are `<top>/<path>` (directories included), sorted by path, deflated at
//! a fixed level, every timestamp SOURCE_DATE_EPOCH (zip's DOS time, UTC), every
//! mode fixed (0755 directories, 0644 files: Windows ignores them, unzip on a
//! Unix host does not), so the same bundle gives the same bytes.

use super::{Meta, Packager};
use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::Path;
use zip::write::SimpleFileOptions;

/// The platform part of a Windows package's file name.
pub const PLATFORM: &str = crate::target::TargetName::WindowsX86_64.as_str();

/// The `.zip` of a Windows bundle: `root` is the bundle (the install dir's
/// contents), zipped under `meta.zip_top`.
pub struct Zip;

impl Packager for Zip {
    fn format(&self) -> &'static str {
        "zip"
    }
    fn file_name(&self, meta: &Meta) -> String {
        format!("{}-{}.{PLATFORM}.zip", meta.name, meta.full_version())
    }
    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()> {
        write(root, &meta.zip_top, meta.epoch, out)
    }
}

/// Zip's DOS date-time of a Unix time (clamped to zip's 1980..2107 range).
pub fn dos_time(epoch: u64) -> Result<zip::DateTime> {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .context("SOURCE_DATE_EPOCH out of range")?;
    let year = t.year().clamp(1980, 2107) as u16;
    zip::DateTime::from_date_and_time(
        year,
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .map_err(|e| anyhow::anyhow!("SOURCE_DATE_EPOCH {epoch} as a zip time: {e}"))
}

/// Every directory and file under `dir`, as `/`-separated relative paths, sorted
/// (directories end with `/`).
pub fn tree(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.with_context(|| format!("walking {}", dir.display()))?;
        let rel = e
            .path()
            .strip_prefix(dir)?
            .to_string_lossy()
            .replace('\\', "/");
        if e.file_type().is_dir() {
            out.push((format!("{rel}/"), true));
        } else if e.file_type().is_file() {
            out.push((rel, false));
        } else {
            anyhow::bail!(
                "{}: a Windows bundle holds only files and directories",
                e.path().display()
            );
        }
    }
    out.sort();
    Ok(out)
}

/// Write `dir` as `<top>/...` into the zip `out`.
pub fn write(dir: &Path, top: &str, epoch: u64, out: &Path) -> Result<()> {
    let time = dos_time(epoch)?;
    let file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut z = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let dir_opts = SimpleFileOptions::default()
        .last_modified_time(time)
        .unix_permissions(0o755);
    let file_opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(time)
        .unix_permissions(0o644)
        .large_file(false);
    z.add_directory(format!("{top}/"), dir_opts)?;
    for (rel, is_dir) in tree(dir)? {
        let name = format!("{top}/{rel}");
        if is_dir {
            z.add_directory(name, dir_opts)?;
        } else {
            let data = fs::read(dir.join(&rel))?;
            z.start_file(name, file_opts)?;
            z.write_all(&data)?;
        }
    }
    z.finish()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tree_gives_the_same_bytes() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("b");
        fs::create_dir_all(d.join("python/Lib")).unwrap();
        fs::write(d.join("python/python.exe"), b"MZ").unwrap();
        fs::write(d.join("LICENSE"), b"x").unwrap();
        write(&d, "app", 1_700_000_000, &t.path().join("1.zip")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        fs::write(d.join("LICENSE"), b"x").unwrap();
        write(&d, "app", 1_700_000_000, &t.path().join("2.zip")).unwrap();
        let a = fs::read(t.path().join("1.zip")).unwrap();
        assert_eq!(a, fs::read(t.path().join("2.zip")).unwrap());
        let z = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
        let names: Vec<String> = z.file_names().map(|n| n.unwrap().to_string()).collect();
        assert!(
            names.iter().any(|n| n == "app/python/python.exe"),
            "{names:?}"
        );
    }
}
