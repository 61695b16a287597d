//! publish: adds a project's built packages to a repository directory that any
//! static file server, object store or artifact server can serve: an apt
//! repository under `deb/` ([`apt`]), a yum/dnf repository under `rpm/`
//! ([`yum`]), and the public keys clients trust under `keys/`, all signed with
//! one or more OpenPGP keys ([`openpgp`]).
//!
//! Earlier versions stay (a file in the pool is never rewritten; a different
//! file under a published name is an error). Publishing the same packages with
//! the same keys again changes nothing. Runs on one repository take turns
//! (a lock under `.ferrobus/`, where the publisher's own records live).

pub mod apt;
pub mod openpgp;
pub mod yum;

use anyhow::{Context, Result, bail};
use openpgp::RepoKey;
use std::path::{Path, PathBuf};

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The repository's root directory.
    pub repo: PathBuf,
    /// The apt suite and the repository's names.
    pub suite: apt::Suite,
    /// The signing keys: every index is signed by each (rotation: old and new).
    pub keys: Vec<RepoKey>,
    /// The time the indexes are dated and signed at (unix seconds).
    pub now: u64,
}

/// One signing key, as the report shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyReport {
    /// Primary key fingerprint.
    pub fingerprint: String,
    /// Expiry (unix seconds), if the key expires.
    pub expires: Option<u64>,
}

/// What a publish did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The repository.
    pub repo: PathBuf,
    /// The apt side, when debs were given or are there.
    pub apt: Option<apt::AptOutcome>,
    /// The yum side, when rpms were given or are there.
    pub yum: Option<YumOutcome>,
    /// The keys that signed.
    pub keys: Vec<KeyReport>,
    /// The exported public keys (`keys/`).
    pub public_keys: Vec<PathBuf>,
    /// Warnings (a key about to expire).
    pub warnings: Vec<String>,
}

impl Report {
    /// The report as text: what was added and whether the indexes changed.
    pub fn render(&self) -> String {
        let mut s = format!("repository {}\n", self.repo.display());
        let side = |name: &str, added: &[String], indexed: bool, n: usize| {
            let mut t = String::new();
            for a in added {
                t.push_str(&format!("  {name}: added {a}\n"));
            }
            t.push_str(&format!(
                "  {name}: {n} packages, {}\n",
                if indexed {
                    "indexed and signed"
                } else {
                    "unchanged"
                }
            ));
            t
        };
        if let Some(a) = &self.apt {
            s.push_str(&side("apt", &a.added, a.indexed, a.packages));
        }
        if let Some(y) = &self.yum {
            s.push_str(&side("yum", &y.added, y.indexed, y.packages));
        }
        for k in &self.keys {
            let until = k
                .expires
                .map(|e| format!(" (expires {})", crate::util::rfc2822_utc(e)))
                .unwrap_or_default();
            s.push_str(&format!("  signed by {}{until}\n", k.fingerprint));
        }
        for p in &self.public_keys {
            s.push_str(&format!("  public key {}\n", p.display()));
        }
        s
    }
}

/// A different file already published under `dst`'s name is an error:
/// clients that hashed the published one would fail on it.
fn check_new(src: &Path, dst: &Path) -> Result<()> {
    if dst.is_file() && crate::util::sha256_file(src)? != crate::util::sha256_file(dst)? {
        bail!(
            "{} is already published with different contents as {}: a published file never changes (bump the version or the iteration)",
            src.display(),
            dst.display()
        );
    }
    Ok(())
}

/// Copy `src` to `dst` unless it is there (false: nothing to do; it was
/// checked by [`check_new`]).
pub(crate) fn add_file(src: &Path, dst: &Path) -> Result<bool> {
    if dst.is_file() {
        return Ok(false);
    }
    let dir = dst.parent().context("a published file has a directory")?;
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::copy(src, tmp.path())
        .with_context(|| format!("copying {} into the repository", src.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(dst)
        .with_context(|| format!("writing {}", dst.display()))?;
    Ok(true)
}

/// Replace the index file `path` with `data` (atomically), its mtime at least
/// a second after the old file's: HTTP servers compare `If-Modified-Since`
/// in whole seconds, so two publishes within one second would otherwise let a
/// client that fetched the first get "304 Not Modified" for the second.
pub(crate) fn replace_index(path: &Path, data: &[u8]) -> Result<()> {
    let old = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    crate::util::write_atomic(path, data)?;
    if let Some(old) = old {
        let floor = old + std::time::Duration::from_secs(1);
        if std::fs::metadata(path)?.modified()? < floor {
            std::fs::File::options()
                .write(true)
                .open(path)?
                .set_modified(floor)?;
        }
    }
    Ok(())
}

/// A record under `.ferrobus/` (a missing or unreadable one is empty: the
/// indexes are then written again).
pub(crate) fn read_state<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Files under `dir` (recursively, sorted) whose name ends in `.<ext>` (every
/// file when `ext` is empty); hidden files (temporary ones) are left out.
pub(crate) fn files_under(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e?;
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file()
            && !name.starts_with('.')
            && (ext.is_empty() || name.ends_with(&format!(".{ext}")))
        {
            out.push(e.into_path());
        }
    }
    Ok(out)
}

/// Export the public keys: `keys/<label>.asc` (armoured: dnf's `gpgkey`),
/// `keys/<label>.gpg` (a binary keyring: apt's `signed-by`), and each key
/// alone as `keys/<fingerprint>.{asc,gpg}`. Rewritten only when they change.
fn export_keys(repo: &Path, label: &str, keys: &[RepoKey]) -> Result<Vec<PathBuf>> {
    let dir = repo.join("keys");
    let mut files = vec![
        (
            dir.join(format!("{label}.asc")),
            openpgp::public_armored(keys)?.into_bytes(),
        ),
        (
            dir.join(format!("{label}.gpg")),
            openpgp::public_binary(keys)?,
        ),
    ];
    for k in keys {
        let one = std::slice::from_ref(k);
        files.push((
            dir.join(format!("{}.asc", k.fingerprint)),
            openpgp::public_armored(one)?.into_bytes(),
        ));
        files.push((
            dir.join(format!("{}.gpg", k.fingerprint)),
            openpgp::public_binary(one)?,
        ));
    }
    for (path, data) in &files {
        if std::fs::read(path).ok().as_deref() != Some(&data[..]) {
            crate::util::write_atomic(path, data)?;
        }
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// Add `packages` (debs and rpms) to the repository and re-index and re-sign
/// what changed.
pub fn publish(packages: &[PathBuf], s: &Settings) -> Result<Report> {
    if s.keys.is_empty() {
        bail!(
            "publishing needs a signing key: --key KEY.asc (repeatable: old and new during a rotation) or FERROBUS_SIGNING_KEY"
        );
    }
    let mut warnings = Vec::new();
    for k in &s.keys {
        warnings.extend(openpgp::expiry_warning(k, s.now)?);
    }
    let (mut debs, mut rpms) = (Vec::new(), Vec::new());
    for p in packages {
        match p.extension().and_then(|e| e.to_str()) {
            Some("deb") => debs.push(p.clone()),
            Some("rpm") => rpms.push(p.clone()),
            _ => bail!(
                "{}: not a deb or an rpm; only those go into a repository",
                p.display()
            ),
        }
        if !p.is_file() {
            bail!("{}: no such package (build it first)", p.display());
        }
    }
    let meta = s.repo.join(".ferrobus");
    std::fs::create_dir_all(&meta)
        .with_context(|| format!("creating the repository {}", s.repo.display()))?;
    let lock = std::fs::File::create(meta.join("lock"))?;
    fs2::FileExt::lock_exclusive(&lock)?;

    // Every package is checked before anything is written: a bad one leaves
    // the repository as it was.
    let (deb_root, rpm_root) = (s.repo.join("deb"), s.repo.join("rpm"));
    let debs = debs
        .into_iter()
        .map(|d| {
            let rel = apt::place(&d, &s.suite.component)?;
            check_new(&d, &deb_root.join(&rel))?;
            Ok((d, rel))
        })
        .collect::<Result<Vec<_>>>()?;
    let rpms = rpms
        .into_iter()
        .map(|r| {
            let rel = rpm_place(&r, &s.keys)?;
            check_new(&r, &rpm_root.join(&rel))?;
            Ok((r, rel))
        })
        .collect::<Result<Vec<_>>>()?;

    let public_keys = export_keys(&s.repo, &s.suite.label, &s.keys)?;
    let apt = if !debs.is_empty() || deb_root.is_dir() {
        Some(apt::publish(
            &deb_root, &meta, &debs, &s.suite, &s.keys, s.now,
        )?)
    } else {
        None
    };
    let yum = if !rpms.is_empty() || rpm_root.is_dir() {
        Some(publish_yum(&rpm_root, &meta, &rpms, &s.keys, s.now)?)
    } else {
        None
    };
    Ok(Report {
        repo: s.repo.clone(),
        apt,
        yum,
        keys: s
            .keys
            .iter()
            .map(|k| KeyReport {
                fingerprint: k.fingerprint.clone(),
                expires: k.expires,
            })
            .collect(),
        public_keys,
        warnings,
    })
}

/// What publishing the yum side did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct YumOutcome {
    /// Rpms copied into `Packages/` by this run.
    pub added: Vec<String>,
    /// Whether the repodata was written (false: nothing changed).
    pub indexed: bool,
    /// Rpms in the repository (every version kept).
    pub packages: usize,
}

/// The record of what the current `repomd.xml` covers.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct YumState {
    /// sha256 of the rpms' names and sizes and of the signing keys.
    id: String,
    /// The repodata files of the last generations, newest first.
    generations: Vec<Vec<String>>,
}

/// Where `rpm` goes in the yum repository (`Packages/<file>`), once its
/// header signature is checked: it must be made by one of `keys`, as
/// clients check packages with `gpgcheck=1`.
fn rpm_place(rpm: &Path, keys: &[RepoKey]) -> Result<String> {
    let public = openpgp::public_armored(keys)?;
    let pkg = rpm::Package::open(rpm)
        .map_err(|e| anyhow::anyhow!("{}: not an rpm: {e}", rpm.display()))?;
    if let Err(e) = crate::package::sign::verify_rpm(public.as_bytes(), &pkg) {
        let fprs: Vec<&str> = keys.iter().map(|k| k.fingerprint.as_str()).collect();
        bail!(
            "{}: not signed by a repository key ({}): dnf's gpgcheck refuses it; build it with --signing-key ({e:#})",
            rpm.display(),
            fprs.join(", ")
        );
    }
    let file = rpm.file_name().context("an rpm has a file name")?;
    Ok(format!("Packages/{}", file.to_string_lossy()))
}

/// Add `rpms` (each with its place, [`rpm_place`]) to the yum repository at
/// `root` (`Packages/`, `repodata/`). The repodata files have content-addressed
/// names and are written first; `repomd.xml` and `repomd.xml.asc` are renamed
/// into place last (a client that fetches the two across that instant fails
/// its check once and retries; nothing else can mix).
fn publish_yum(
    root: &Path,
    meta: &Path,
    rpms: &[(PathBuf, String)],
    keys: &[RepoKey],
    now: u64,
) -> Result<YumOutcome> {
    let mut added = Vec::new();
    for (rpm, rel) in rpms {
        if add_file(rpm, &root.join(rel))? {
            added.push(rel.clone());
        }
    }
    let mut entries = Vec::new();
    let mut id = sha2::Sha256::new();
    use sha2::Digest;
    for f in files_under(&root.join("Packages"), "rpm")? {
        let href = f.strip_prefix(root)?.to_string_lossy().to_string();
        id.update(format!("{href} {}\n", f.metadata()?.len()).as_bytes());
        entries.push(yum::RpmEntry { path: f, href });
    }
    for k in keys {
        id.update(k.fingerprint.as_bytes());
    }
    let id = hex::encode(id.finalize());
    let state_file = meta.join("yum-state.json");
    let mut state: YumState = read_state(&state_file);
    let repodata_dir = root.join("repodata");
    let outcome = |indexed| YumOutcome {
        added: added.clone(),
        indexed,
        packages: entries.len(),
    };
    if state.id == id && repodata_dir.join("repomd.xml.asc").is_file() {
        return Ok(outcome(false));
    }
    let data = yum::repodata(&entries, now)?;
    let mut names = Vec::new();
    for (name, bytes) in &data.files {
        let path = repodata_dir.join(name);
        if !path.is_file() {
            crate::util::write_atomic(&path, bytes)?;
        }
        names.push(name.clone());
    }
    let signature = openpgp::detached(keys, &data.repomd, now)?;
    replace_index(&repodata_dir.join("repomd.xml"), &data.repomd)?;
    replace_index(&repodata_dir.join("repomd.xml.asc"), signature.as_bytes())?;
    state.generations.insert(0, names);
    state.generations.truncate(apt::KEEP);
    let keep: std::collections::BTreeSet<&String> = state.generations.iter().flatten().collect();
    for f in files_under(&repodata_dir, "")? {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !name.starts_with("repomd.xml") && !keep.contains(&name) {
            std::fs::remove_file(&f)?;
        }
    }
    state.id = id;
    crate::util::write_atomic(&state_file, &serde_json::to_vec_pretty(&state)?)?;
    Ok(outcome(true))
}
