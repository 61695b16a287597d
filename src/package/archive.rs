//! archive: the one reproducible tar writer every format uses.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One entry of a staged tree, in archive order.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the root, `/`-separated, no leading `./`.
    pub rel: String,
    /// Absolute path on disk.
    pub path: PathBuf,
    /// Kind of entry.
    pub kind: Kind,
    /// Normalised mode.
    pub mode: u32,
    /// Size of a regular file.
    pub size: u64,
}

/// Entry kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Directory.
    Dir,
    /// Regular file.
    File,
    /// Symbolic link with its target.
    Symlink(PathBuf),
}

/// Every entry below `root` (directories included), sorted by path. Modes are
/// normalised: directories and executables 0755, other files 0644, links 0777.
pub fn entries(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e?;
        let rel = e.path().strip_prefix(root)?.to_string_lossy().into_owned();
        let meta = e.path().symlink_metadata()?;
        let ft = meta.file_type();
        let (kind, mode, size) = if ft.is_symlink() {
            (Kind::Symlink(fs::read_link(e.path())?), 0o777, 0)
        } else if ft.is_dir() {
            (Kind::Dir, 0o755, 0)
        } else {
            let exec = meta.permissions().mode() & 0o111 != 0;
            (Kind::File, if exec { 0o755 } else { 0o644 }, meta.len())
        };
        out.push(Entry {
            rel,
            path: e.path().to_path_buf(),
            kind,
            mode,
            size,
        });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Write `entries` as a tar stream into `w`, each name prefixed by `prefix`
/// (e.g. `./` for Debian's data.tar). Returns the writer.
pub fn write_tar<W: Write>(w: W, entries: &[Entry], prefix: &str, epoch: u64) -> Result<W> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(epoch);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root")?;
        h.set_groupname("root")?;
        h.set_mode(e.mode);
        let name = format!("{prefix}{}", e.rel);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                let dir = format!("{}/", name.trim_end_matches('/'));
                b.append_data(&mut h, dir, std::io::empty())?;
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &name, target)?;
            }
            Kind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.size);
                let f = fs::File::open(&e.path)
                    .with_context(|| format!("reading {}", e.path.display()))?;
                b.append_data(&mut h, &name, f)?;
            }
        }
    }
    Ok(b.into_inner()?)
}

/// The synthetic parent directory entries (`opt`, `opt/name`) of an install dir,
/// for archives that hold a whole file-system image.
pub fn parents(install_dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for part in install_dir.trim_matches('/').split('/') {
        if !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(part);
        out.push(cur.clone());
    }
    out
}

/// Every entry of a whole file-system image for a system package: the parent
/// directories of the install dir, the install dir's tree (read from the stage
/// `root`), and `extra` files outside it (written under `scratch`), with their
/// parent directories, sorted by path. Extra files are mode 0644.
pub fn image(
    root: &Path,
    install_dir: &str,
    extra: &[super::scripts::SystemFile],
    scratch: &Path,
) -> Result<Vec<Entry>> {
    let mut dirs = std::collections::BTreeSet::new();
    dirs.extend(parents(install_dir));
    let mut out = Vec::new();
    let inside = root.join(install_dir.trim_start_matches('/'));
    let base = install_dir.trim_matches('/');
    for mut e in entries(&inside)? {
        e.rel = format!("{base}/{}", e.rel);
        out.push(e);
    }
    for f in extra {
        let rel = f.path.trim_start_matches('/').to_string();
        let path = scratch.join(&rel);
        if let Some(parent) = Path::new(&rel).parent() {
            dirs.extend(parents(&parent.to_string_lossy()));
            fs::create_dir_all(scratch.join(parent))?;
        }
        fs::write(&path, &f.data)?;
        out.push(Entry {
            rel,
            path,
            kind: Kind::File,
            mode: 0o644,
            size: f.data.len() as u64,
        });
    }
    out.extend(dirs.into_iter().filter(|d| !d.is_empty()).map(|rel| Entry {
        path: root.join(&rel),
        rel,
        kind: Kind::Dir,
        mode: 0o755,
        size: 0,
    }));
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out.dedup_by(|a, b| a.rel == b.rel);
    Ok(out)
}
