//! extract: safe unpacking of source archives (tar.gz/xz/bz2/zst, plain tar, zip).
//!
//! Every entry is checked before anything is written: absolute paths, `..`
//! components, symlinks and hard links that point out of the tree, and entries
//! written through a symlink are refused with the archive name and entry path.

use anyhow::{Context, Result, bail};
use std::fs;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// Archive format, detected from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip-compressed tar.
    TarGz,
    /// xz-compressed tar.
    TarXz,
    /// bzip2-compressed tar.
    TarBz2,
    /// zstd-compressed tar.
    TarZst,
    /// Uncompressed tar.
    Tar,
    /// zip.
    Zip,
}

/// Detect the format of `path` from its magic bytes.
pub fn detect(path: &Path) -> Result<Format> {
    let mut head = [0u8; 262];
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = f.read(&mut head)?;
    let h = &head[..n];
    Ok(if h.starts_with(&[0x1f, 0x8b]) {
        Format::TarGz
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Format::TarXz
    } else if h.starts_with(b"BZh") {
        Format::TarBz2
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::TarZst
    } else if h.starts_with(b"PK\x03\x04") {
        Format::Zip
    } else if n >= 262 && &h[257..262] == b"ustar" {
        Format::Tar
    } else {
        bail!(
            "{}: not a supported archive (tar.gz/xz/bz2/zst, tar, zip)",
            path.display()
        )
    })
}

/// Lexically normalise a relative path; `None` if it is absolute or climbs out.
fn normalise(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Check one entry path; returns its normalised relative path.
fn check_path(archive: &Path, entry: &Path) -> Result<PathBuf> {
    if entry.is_absolute() {
        bail!(
            "{}: refusing entry with absolute path {}",
            archive.display(),
            entry.display()
        );
    }
    if entry.components().any(|c| c == Component::ParentDir) {
        bail!(
            "{}: refusing entry {} (contains ..)",
            archive.display(),
            entry.display()
        );
    }
    normalise(entry)
        .ok_or_else(|| anyhow::anyhow!("{}: refusing entry {}", archive.display(), entry.display()))
}

/// Check a link target relative to the entry's directory stays inside the tree.
fn check_link(archive: &Path, entry: &Path, target: &Path, hard: bool) -> Result<()> {
    let kind = if hard { "hard link" } else { "symlink" };
    let resolved = if target.is_absolute() {
        None
    } else if hard {
        normalise(target)
    } else {
        normalise(&entry.parent().unwrap_or(Path::new("")).join(target))
    };
    if resolved.is_none() {
        bail!(
            "{}: refusing {kind} {} -> {} (points out of the tree)",
            archive.display(),
            entry.display(),
            target.display()
        );
    }
    Ok(())
}

/// Refuse to write through a symlink that an earlier entry created.
fn check_parents(archive: &Path, root: &Path, rel: &Path) -> Result<()> {
    let mut cur = root.to_path_buf();
    let mut comps = rel.components().peekable();
    while let Some(c) = comps.next() {
        if comps.peek().is_none() {
            break;
        }
        cur.push(c);
        if let Ok(m) = fs::symlink_metadata(&cur)
            && m.file_type().is_symlink()
        {
            bail!(
                "{}: refusing entry {} (written through the symlink {})",
                archive.display(),
                rel.display(),
                cur.strip_prefix(root).unwrap_or(&cur).display()
            );
        }
    }
    Ok(())
}

fn open_tar(path: &Path, fmt: Format) -> Result<tar::Archive<Box<dyn Read>>> {
    let f = BufReader::new(fs::File::open(path)?);
    let r: Box<dyn Read> = match fmt {
        Format::TarGz => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Format::TarXz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(f)),
        Format::TarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(f)),
        Format::TarZst => Box::new(zstd::stream::read::Decoder::new(f)?),
        Format::Tar => Box::new(f),
        Format::Zip => unreachable!(),
    };
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    Ok(a)
}

/// Unpack `archive` into `dest` (created). Nothing is extracted if a check fails
/// on a tar entry before it; the caller removes `dest` on error.
pub fn unpack(archive: &Path, dest: &Path) -> Result<()> {
    let fmt = detect(archive)?;
    fs::create_dir_all(dest)?;
    if fmt == Format::Zip {
        return unpack_zip(archive, dest);
    }
    // First pass: validate every entry, so a hostile archive writes nothing.
    let mut a = open_tar(archive, fmt)?;
    for e in a
        .entries()
        .with_context(|| format!("reading {}", archive.display()))?
    {
        let e = e.with_context(|| format!("reading {}", archive.display()))?;
        let p = e.path()?.into_owned();
        let rel = check_path(archive, &p)?;
        let et = e.header().entry_type();
        if et.is_symlink() || et.is_hard_link() {
            let target = e.link_name()?.ok_or_else(|| {
                anyhow::anyhow!("{}: link {} has no target", archive.display(), p.display())
            })?;
            check_link(archive, &rel, &target, et.is_hard_link())?;
        }
    }
    // Second pass: extract.
    let mut a = open_tar(archive, fmt)?;
    for e in a.entries()? {
        let mut e = e.with_context(|| format!("reading {}", archive.display()))?;
        let p = e.path()?.into_owned();
        let rel = check_path(archive, &p)?;
        check_parents(archive, dest, &rel)?;
        e.unpack_in(dest)
            .with_context(|| format!("{}: extracting {}", archive.display(), p.display()))?;
    }
    Ok(())
}

fn unpack_zip(archive: &Path, dest: &Path) -> Result<()> {
    let f = fs::File::open(archive)?;
    let mut z =
        zip::ZipArchive::new(f).with_context(|| format!("reading {}", archive.display()))?;
    for i in 0..z.len() {
        let entry = z.by_index(i)?;
        let name = entry.name()?.to_string();
        check_path(archive, Path::new(&name))?;
        if entry.is_symlink() {
            bail!(
                "{}: refusing symlink entry {name} in a zip",
                archive.display()
            );
        }
    }
    for i in 0..z.len() {
        let mut entry = z.by_index(i)?;
        let name = entry.name()?.to_string();
        let rel = check_path(archive, Path::new(&name))?;
        check_parents(archive, dest, &rel)?;
        let out = dest.join(&rel);
        if entry.is_dir() {
            fs::create_dir_all(&out)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut w = fs::File::create(&out)?;
        std::io::copy(&mut entry, &mut w)?;
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&out, fs::Permissions::from_mode(mode & 0o777))?;
        }
    }
    Ok(())
}

/// The directory holding the sources: the single top-level directory of the
/// unpacked tree if there is exactly one, else the tree itself.
pub fn source_root(dest: &Path) -> Result<PathBuf> {
    let entries: Vec<_> = fs::read_dir(dest)?.filter_map(|e| e.ok()).collect();
    if entries.len() == 1 && entries[0].file_type()?.is_dir() {
        return Ok(entries[0].path());
    }
    Ok(dest.to_path_buf())
}

/// Read the regular files of `archive` whose checked, normalised entry path
/// `wanted` accepts, without unpacking anything: (path, contents) in archive order.
/// Entries are checked as [`unpack`] checks them; links are not followed.
pub fn read_files(
    archive: &Path,
    wanted: &dyn Fn(&Path) -> bool,
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let fmt = detect(archive)?;
    let mut out = Vec::new();
    if fmt == Format::Zip {
        let f = fs::File::open(archive)?;
        let mut z =
            zip::ZipArchive::new(f).with_context(|| format!("reading {}", archive.display()))?;
        for i in 0..z.len() {
            let mut entry = z.by_index(i)?;
            let name = entry.name()?.to_string();
            let rel = check_path(archive, Path::new(&name))?;
            if entry.is_file() && !entry.is_symlink() && wanted(&rel) {
                let mut data = Vec::new();
                entry.read_to_end(&mut data)?;
                out.push((rel, data));
            }
        }
        return Ok(out);
    }
    let mut a = open_tar(archive, fmt)?;
    for e in a
        .entries()
        .with_context(|| format!("reading {}", archive.display()))?
    {
        let mut e = e.with_context(|| format!("reading {}", archive.display()))?;
        let p = e.path()?.into_owned();
        let rel = check_path(archive, &p)?;
        if e.header().entry_type().is_file() && wanted(&rel) {
            let mut data = Vec::new();
            e.read_to_end(&mut data)
                .with_context(|| format!("{}: reading {}", archive.display(), p.display()))?;
            out.push((rel, data));
        }
    }
    Ok(out)
}
