//! util: small file-system and hashing helpers shared by the stages.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// `path` made absolute against the current directory (without resolving links).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// Hex sha256 of a byte slice.
pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Feed the file at `path` to `f` in 1 MiB chunks; returns its size. For
/// digests of large files computed in one read.
pub fn read_chunks(path: &Path, mut f: impl FnMut(&[u8])) -> Result<u64> {
    let mut file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            return Ok(size);
        }
        f(&buf[..n]);
        size += n as u64;
    }
}

/// Write `data` to `path` atomically: a temporary file beside it, then rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, data)?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Remove a file, symlink or directory tree if it exists.
pub fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("removing {}", path.display())),
        Err(_) => Ok(()),
    }
}

/// Copy a tree (files, directories, symlinks as links), keeping modes and mtimes.
/// Existing files in `dst` are replaced. Returns the relative paths of every
/// non-directory entry copied, sorted.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<Vec<String>> {
    copy_tree_swapping(src, dst, None)
}

/// [`copy_tree`], with every occurrence of `swap.0` in the files and link
/// targets replaced by `swap.1`, which has the same length (so that binaries
/// keep their layout: the build prefix and [`crate::paths::PLACEHOLDER`]).
pub fn copy_tree_swapping(
    src: &Path,
    dst: &Path,
    swap: Option<(&[u8], &[u8])>,
) -> Result<Vec<String>> {
    if let Some((from, to)) = swap {
        anyhow::ensure!(from.len() == to.len(), "swapped strings differ in length");
    }
    let mut copied = Vec::new();
    fs::create_dir_all(dst)?;
    for entry in walkdir::WalkDir::new(src).min_depth(1).sort_by_file_name() {
        let entry = entry?;
        let rel = entry.path().strip_prefix(src)?;
        let to = dst.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            match fs::symlink_metadata(&to) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&to)?;
                    fs::create_dir(&to)?;
                }
                Err(_) => fs::create_dir(&to)?,
            }
            let perm = entry.metadata()?.permissions();
            fs::set_permissions(&to, perm)?;
            continue;
        }
        if fs::symlink_metadata(&to).is_ok() {
            remove_any(&to)?;
        }
        if ft.is_symlink() {
            let mut target = fs::read_link(entry.path())?
                .into_os_string()
                .into_encoded_bytes();
            if let Some((from, to)) = swap {
                swap_bytes(&mut target, from, to);
            }
            let target = <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(target);
            std::os::unix::fs::symlink(&target, &to)
                .with_context(|| format!("linking {}", to.display()))?;
        } else {
            let swapped = match swap {
                Some((from, to)) => {
                    let mut data = fs::read(entry.path())?;
                    (swap_bytes(&mut data, from, to) > 0).then_some(data)
                }
                None => None,
            };
            match swapped {
                Some(data) => {
                    fs::write(&to, data)?;
                    fs::set_permissions(&to, entry.metadata()?.permissions())?;
                }
                None => {
                    fs::copy(entry.path(), &to).with_context(|| {
                        format!("copying {} to {}", entry.path().display(), to.display())
                    })?;
                }
            }
            let mtime = entry.metadata()?.modified()?;
            // Setting an explicit time needs ownership, not write access.
            fs::File::open(&to)?.set_modified(mtime)?;
        }
        copied.push(rel.to_string_lossy().into_owned());
    }
    Ok(copied)
}

/// Replace every occurrence of `from` in `data` by `to` (same length), in
/// place; returns how many there were.
pub fn swap_bytes(data: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    debug_assert_eq!(from.len(), to.len());
    let hits: Vec<usize> = memchr::memmem::find_iter(data, from).collect();
    for &at in &hits {
        data[at..at + to.len()].copy_from_slice(to);
    }
    hits.len()
}

/// The last `n` lines of a text file (for failure reports).
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Remove what the `prune` globs (relative to `root`) match, except paths the
/// `keep` globs match. Returns how many paths went.
pub fn prune(root: &Path, prune: &[String], keep: &[String]) -> Result<usize> {
    let keep: Vec<glob::Pattern> = keep
        .iter()
        .map(|g| glob::Pattern::new(g).with_context(|| format!("bad keep glob {g}")))
        .collect::<Result<_>>()?;
    let mut removed = 0;
    for pat in prune {
        let full = format!("{}/{pat}", root.display());
        for m in glob::glob(&full).with_context(|| format!("bad prune glob {pat}"))? {
            let m = m?;
            if keep
                .iter()
                .any(|k| k.matches_path(m.strip_prefix(root).unwrap_or(&m)))
            {
                continue;
            }
            if fs::symlink_metadata(&m).is_ok() {
                remove_any(&m)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The one file a download (pip's) put into `dir`; an error naming `what` if there
/// are none or several.
pub fn single_file(dir: &Path, what: &str) -> Result<PathBuf> {
    let files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    match &files[..] {
        [f] => Ok(f.clone()),
        _ => anyhow::bail!("fetching {what}: expected one file, got {}", files.len()),
    }
}

/// Expand `{placeholders}` in a step or environment value.
pub fn expand(s: &str, vars: &std::collections::BTreeMap<&str, String>) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Why `expression` is not an SPDX license expression ferrobus can write into a
/// CycloneDX SBOM, if it is not: it must parse strictly (SPDX ids and
/// `LicenseRef-` references joined by `AND`, `OR` and `WITH`; no imprecise
/// names, no deprecated ids), and it must assert something: `NOASSERTION` and
/// `NONE` say that the license is unknown, which is what it replaces.
pub fn spdx_error(expression: &str) -> Option<String> {
    match spdx::Expression::parse(expression) {
        Err(e) => Some(e.reason.to_string()),
        Ok(expr) => expr
            .requirements()
            .map(|r| r.req.license.to_string())
            .find(|id| id == "NOASSERTION" || id == "NONE")
            .map(|id| format!("{id} asserts no license")),
    }
}

/// An RFC 2822 date in UTC (`Tue, 01 Dec 2026 09:00:00 UTC`), as apt's
/// `Release` files carry it.
pub fn rfc2822_utc(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        [t.weekday().number_days_from_monday() as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][u8::from(t.month()) as usize - 1];
    format!(
        "{day}, {:02} {month} {} {:02}:{:02}:{:02} UTC",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
