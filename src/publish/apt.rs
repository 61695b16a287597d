//! apt: a Debian repository in the layout apt reads (`pool/` and
//! `dists/<suite>/`), its `Packages` indexes built from the debs in the pool,
//! `Release` signed into `Release.gpg` and `InRelease`.
//!
//! Atomic for readers: the indexes are first written under `by-hash/SHA256/`
//! (`Acquire-By-Hash: yes`, so apt fetches them by the hash the `InRelease` it
//! read names, never a newer or older file under the same name), then the
//! plain `Packages` files, `Release`, `Release.gpg` and `InRelease` are each
//! renamed into place, `InRelease` last. The by-hash files of the last
//! [`KEEP`] generations stay, so a client that read an older `InRelease` still
//! finds what it names. Pool files are never rewritten.

use super::openpgp::{self, RepoKey};
use anyhow::{Context, Result, bail};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Generations of by-hash indexes kept for clients that read an older `InRelease`.
pub const KEEP: usize = 5;

/// What the `Release` file says about the repository.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Suite {
    /// `Suite` and `Codename` (the distribution clients name in sources).
    pub suite: String,
    /// The one component (`main`).
    pub component: String,
    /// `Origin` and `Label`.
    pub origin: String,
    /// `Label`.
    pub label: String,
}

/// One deb's entry in `Packages`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Stanza {
    /// Package name.
    pub name: String,
    /// `Architecture` (`amd64`, `arm64`, `all`).
    pub arch: String,
    /// Its path under the repository root (`pool/main/d/demo-agent/…`).
    pub filename: String,
    /// The paragraph, without its trailing blank line.
    pub text: String,
}

/// The text of `./control` in a deb's `control.tar.{xz,zst,gz}`.
pub fn read_control(deb: &Path) -> Result<String> {
    let file = std::fs::File::open(deb).with_context(|| format!("opening {}", deb.display()))?;
    let mut ar = ar::Archive::new(file);
    while let Some(entry) = ar.next_entry() {
        let mut entry =
            entry.with_context(|| format!("{}: not a deb (ar archive)", deb.display()))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).to_string();
        let Some(ext) = name.strip_prefix("control.tar") else {
            continue;
        };
        let mut raw = Vec::new();
        entry.read_to_end(&mut raw)?;
        let tar_bytes = match ext {
            ".xz" => {
                let mut out = Vec::new();
                liblzma::read::XzDecoder::new(&raw[..]).read_to_end(&mut out)?;
                out
            }
            ".zst" => zstd::decode_all(&raw[..])?,
            ".gz" => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out)?;
                out
            }
            "" => raw,
            other => bail!(
                "{}: unknown control member control.tar{other}",
                deb.display()
            ),
        };
        let mut tar = tar::Archive::new(&tar_bytes[..]);
        for f in tar.entries()? {
            let mut f = f?;
            if f.path()?.to_string_lossy().trim_start_matches("./") == "control" {
                let mut text = String::new();
                f.read_to_string(&mut text)?;
                return Ok(text);
            }
        }
        bail!("{}: no control file in {name}", deb.display());
    }
    bail!("{}: no control.tar member: not a deb", deb.display())
}

/// A control field's value (first line).
fn field<'a>(control: &'a str, name: &str) -> Option<&'a str> {
    control.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Where a package's files go in the pool: `pool/<component>/<p>/<name>/`,
/// `<p>` being the first letter (the first four for `lib*`), as Debian does.
pub fn pool_dir(component: &str, name: &str) -> String {
    let p = if name.starts_with("lib") && name.len() > 3 {
        &name[..4]
    } else {
        &name[..1]
    };
    format!("pool/{component}/{p}/{name}")
}

/// Where `deb` goes in the repository: `pool/<component>/<p>/<name>/<file>`.
pub fn place(deb: &Path, component: &str) -> Result<String> {
    let control = read_control(deb)?;
    let name = field(&control, "Package")
        .with_context(|| format!("{}: control has no Package", deb.display()))?;
    let file = deb.file_name().context("a deb has a file name")?;
    Ok(format!(
        "{}/{}",
        pool_dir(component, name),
        file.to_string_lossy()
    ))
}

/// The `Packages` entry of `deb`, placed at `filename` in the repository.
pub fn stanza(deb: &Path, filename: &str) -> Result<Stanza> {
    let control = read_control(deb)?;
    let name = field(&control, "Package")
        .with_context(|| format!("{}: control has no Package", deb.display()))?
        .to_string();
    let arch = field(&control, "Architecture")
        .with_context(|| format!("{}: control has no Architecture", deb.display()))?
        .to_string();
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let size = crate::util::read_chunks(deb, |b| {
        md5.update(b);
        sha.update(b);
    })?;
    let mut text = control.trim_end().to_string();
    text.push_str(&format!(
        "\nFilename: {filename}\nSize: {size}\nMD5sum: {}\nSHA256: {}",
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize())
    ));
    Ok(Stanza {
        name,
        arch,
        filename: filename.to_string(),
        text,
    })
}

/// The architectures the repository serves: those of its debs (`all` goes
/// into each), amd64 when there are none.
fn architectures(stanzas: &[Stanza]) -> BTreeSet<String> {
    let mut archs: BTreeSet<String> = stanzas
        .iter()
        .filter(|s| s.arch != "all")
        .map(|s| s.arch.clone())
        .collect();
    if archs.is_empty() {
        archs.insert("amd64".into());
    }
    archs
}

/// Each index file under `dists/<suite>/`: (path relative to it, contents).
pub fn indexes(stanzas: &[Stanza], component: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for arch in architectures(stanzas) {
        let mut text = String::new();
        let mut mine: Vec<&Stanza> = stanzas
            .iter()
            .filter(|s| s.arch == arch || s.arch == "all")
            .collect();
        mine.sort_by(|a, b| (&a.name, &a.filename).cmp(&(&b.name, &b.filename)));
        for s in mine {
            text.push_str(&s.text);
            text.push_str("\n\n");
        }
        let dir = format!("{component}/binary-{arch}");
        let mut xz = crate::package::tarball::xz_writer(Vec::new(), 6)?;
        xz.write_all(text.as_bytes())?;
        out.push((format!("{dir}/Packages.xz"), xz.finish()?));
        out.push((format!("{dir}/Packages"), text.into_bytes()));
    }
    Ok(out)
}

/// The `Release` text for `indexes`, dated `now`.
pub fn release(
    suite: &Suite,
    stanzas: &[Stanza],
    indexes: &[(String, Vec<u8>)],
    now: u64,
) -> String {
    let archs: Vec<String> = architectures(stanzas).into_iter().collect();
    let mut s = format!(
        "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\nDate: {}\nArchitectures: {}\nComponents: {}\nDescription: {} packages published by ferrobus\nAcquire-By-Hash: yes\nSHA256:\n",
        suite.origin,
        suite.label,
        suite.suite,
        suite.suite,
        crate::util::rfc2822_utc(now),
        archs.join(" "),
        suite.component,
        suite.label,
    );
    for (path, data) in indexes {
        s.push_str(&format!(
            " {} {:>16} {path}\n",
            crate::util::sha256_bytes(data),
            data.len()
        ));
    }
    s
}

/// What publishing the apt side did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AptOutcome {
    /// Debs copied into the pool by this run.
    pub added: Vec<String>,
    /// Whether the indexes and signatures were written (false: nothing changed).
    pub indexed: bool,
    /// The architectures served.
    pub architectures: Vec<String>,
    /// Debs in the pool (every version kept).
    pub packages: usize,
}

/// The record of what the current `InRelease` covers, kept under `.ferrobus/`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct State {
    /// sha256 of the index files' contents and of the signing keys.
    id: String,
    /// The by-hash names of the last generations, newest first.
    generations: Vec<Vec<String>>,
}

/// Add `debs` (each with its place in the pool, [`place`]) to the apt
/// repository at `root` and index it.
pub fn publish(
    root: &Path,
    meta_dir: &Path,
    debs: &[(PathBuf, String)],
    suite: &Suite,
    keys: &[RepoKey],
    now: u64,
) -> Result<AptOutcome> {
    let mut added = Vec::new();
    for (deb, rel) in debs {
        if super::add_file(deb, &root.join(rel))? {
            added.push(rel.clone());
        }
    }
    // The stanzas of every deb in the pool, each computed once and kept.
    let cache = meta_dir.join("apt-stanzas");
    let mut stanzas = Vec::new();
    for deb in super::files_under(&root.join("pool"), "deb")? {
        let rel = deb.strip_prefix(root)?.to_string_lossy().to_string();
        let record = cache.join(format!("{}.json", rel.replace('/', "%")));
        let known: Option<Stanza> = std::fs::read(&record)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let s = match known {
            Some(s) if s.filename == rel => s,
            _ => {
                let s = stanza(&deb, &rel)?;
                crate::util::write_atomic(&record, &serde_json::to_vec(&s)?)?;
                s
            }
        };
        stanzas.push(s);
    }
    let indexes = indexes(&stanzas, &suite.component)?;
    let archs: Vec<String> = architectures(&stanzas).into_iter().collect();
    let mut id = Sha256::new();
    for (path, data) in &indexes {
        id.update(path.as_bytes());
        id.update(crate::util::sha256_bytes(data).as_bytes());
    }
    for k in keys {
        id.update(k.fingerprint.as_bytes());
    }
    id.update(serde_json::to_string(suite)?.as_bytes());
    let id = hex::encode(id.finalize());
    let state_file = meta_dir.join("apt-state.json");
    let mut state: State = super::read_state(&state_file);
    let dists = root.join("dists").join(&suite.suite);
    let outcome = |indexed| AptOutcome {
        added: added.clone(),
        indexed,
        architectures: archs.clone(),
        packages: stanzas.len(),
    };
    if state.id == id && dists.join("InRelease").is_file() {
        return Ok(outcome(false));
    }
    // 1. by-hash copies, which clients fetch; 2. the plain names; 3. Release
    // and its signatures, InRelease last.
    let mut names = Vec::new();
    for (path, data) in &indexes {
        let dir = Path::new(path)
            .parent()
            .context("an index is in a directory")?;
        let hash = crate::util::sha256_bytes(data);
        let by_hash = format!("{}/by-hash/SHA256/{hash}", dir.display());
        let target = dists.join(&by_hash);
        if !target.is_file() {
            crate::util::write_atomic(&target, data)?;
        }
        names.push(by_hash);
    }
    for (path, data) in &indexes {
        super::replace_index(&dists.join(path), data)?;
    }
    let release = release(suite, &stanzas, &indexes, now);
    super::replace_index(&dists.join("Release"), release.as_bytes())?;
    super::replace_index(
        &dists.join("Release.gpg"),
        openpgp::detached(keys, release.as_bytes(), now)?.as_bytes(),
    )?;
    super::replace_index(
        &dists.join("InRelease"),
        openpgp::cleartext(keys, &release, now)?.as_bytes(),
    )?;
    // Forget by-hash files no kept generation names.
    state.generations.insert(0, names);
    state.generations.truncate(KEEP);
    let keep: BTreeSet<&String> = state.generations.iter().flatten().collect();
    for f in super::files_under(&dists, "")? {
        let rel = f.strip_prefix(&dists)?.to_string_lossy().to_string();
        if rel.contains("/by-hash/SHA256/") && !keep.contains(&rel) {
            std::fs::remove_file(&f)?;
        }
    }
    state.id = id;
    crate::util::write_atomic(&state_file, &serde_json::to_vec_pretty(&state)?)?;
    Ok(outcome(true))
}
