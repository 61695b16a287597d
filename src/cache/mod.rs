//! cache: the per-component artifact store and the record of what a project's
//! build prefix holds.
//!
//! An artifact is exactly the set of files one component installed (its DESTDIR
//! image of the prefix, after pruning), stored under `artifacts/<name>-<key>`.
//! It is written to a temporary directory and renamed into place, so a reader
//! sees a whole artifact or none. It holds [`PLACEHOLDER`] where its files
//! named the build prefix, and gets the prefix of the build that installs it:
//! an artifact (and its key) is the same whichever project, user or machine
//! built it.

pub mod remote;

use crate::paths::PLACEHOLDER;
use crate::util::{copy_tree_swapping, remove_any, write_atomic};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Metadata stored beside an artifact's files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Component name.
    pub name: String,
    /// Version built.
    pub version: String,
    /// Full cache key.
    pub key: String,
    /// Every file and link, relative to the prefix.
    pub files: Vec<String>,
    /// Total size in bytes.
    pub size: u64,
    /// Seconds the build took.
    pub build_seconds: f64,
}

/// The artifact store.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    dir: PathBuf,
}

/// One stored artifact.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Its directory (holds `files/` and `manifest.json`).
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Artifact {
    /// The root of its files (an image of the prefix).
    pub fn files(&self) -> PathBuf {
        self.dir.join("files")
    }
}

impl ArtifactStore {
    /// A store rooted at `dir`.
    pub fn new(dir: &Path) -> Self {
        ArtifactStore {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str, key: &str) -> PathBuf {
        self.dir
            .join(format!("{name}-{}", &key[..key.len().min(24)]))
    }

    /// The artifact of `name` with exactly this key, if stored.
    pub fn lookup(&self, name: &str, key: &str) -> Option<Artifact> {
        let dir = self.path(name, key);
        let text = fs::read_to_string(dir.join("manifest.json")).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        (manifest.key == key && manifest.name == name).then_some(Artifact { dir, manifest })
    }

    /// Store the tree `root`, an image of the build prefix `prefix`, as the
    /// artifact of `name`/`key`, atomically.
    pub fn store(
        &self,
        name: &str,
        version: &str,
        key: &str,
        root: &Path,
        prefix: &Path,
        build_seconds: f64,
    ) -> Result<Artifact> {
        fs::create_dir_all(&self.dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".tmp-{name}-"))
            .tempdir_in(&self.dir)?;
        let swap = (
            prefix.as_os_str().as_encoded_bytes(),
            PLACEHOLDER.as_bytes(),
        );
        let files = copy_tree_swapping(root, &tmp.path().join("files"), Some(swap))?;
        let size = walkdir::WalkDir::new(tmp.path())
            .into_iter()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        let manifest = Manifest {
            name: name.into(),
            version: version.into(),
            key: key.into(),
            files,
            size,
            build_seconds,
        };
        fs::write(
            tmp.path().join("manifest.json"),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
        self.settle(name, key, tmp)
    }

    /// Rename a complete artifact directory into place (unless another build
    /// stored the same key meanwhile: theirs is kept) and read it back.
    fn settle(&self, name: &str, key: &str, tmp: tempfile::TempDir) -> Result<Artifact> {
        let dst = self.path(name, key);
        let tmp = tmp.keep();
        if dst.exists() {
            let _ = fs::remove_dir_all(&tmp);
        } else {
            fs::rename(&tmp, &dst)
                .with_context(|| format!("storing artifact {}", dst.display()))?;
        }
        self.lookup(name, key)
            .with_context(|| format!("artifact {} unreadable after store", dst.display()))
    }

    /// The artifact as one blob for the remote cache: a tar of its
    /// directory (`files/`, `manifest.json`), entries sorted, zstd-compressed.
    pub fn pack(art: &Artifact) -> Result<Vec<u8>> {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 3)?;
        enc.multithread(2)?;
        {
            let mut tar = tar::Builder::new(&mut enc);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Deterministic);
            tar.append_path_with_name(art.dir.join("manifest.json"), "manifest.json")?;
            tar.append_dir_all("files", art.files())?;
            tar.finish()?;
        }
        Ok(enc.finish()?)
    }

    /// Store a blob made by [`ArtifactStore::pack`] (pulled from the remote
    /// cache) as the artifact of `name`/`key`, atomically; it must say it is
    /// that artifact and hold every file its manifest lists.
    pub fn adopt(&self, name: &str, key: &str, blob: &[u8]) -> Result<Artifact> {
        fs::create_dir_all(&self.dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".tmp-{name}-"))
            .tempdir_in(&self.dir)?;
        let dec = zstd::stream::Decoder::new(blob)?;
        let mut ar = tar::Archive::new(dec);
        ar.set_preserve_mtime(true);
        ar.set_preserve_permissions(true);
        ar.unpack(tmp.path()).with_context(|| {
            format!("{name}: unpacking the artifact pulled from the remote cache")
        })?;
        let text = fs::read_to_string(tmp.path().join("manifest.json"))
            .with_context(|| format!("{name}: the pulled artifact has no manifest.json"))?;
        let manifest: Manifest = serde_json::from_str(&text)?;
        if manifest.key != key || manifest.name != name {
            bail!(
                "{name}: the pulled artifact is {} {}, not the key asked for",
                manifest.name,
                manifest.key
            );
        }
        if let Some(f) = manifest
            .files
            .iter()
            .find(|f| fs::symlink_metadata(tmp.path().join("files").join(f)).is_err())
        {
            bail!("{name}: the pulled artifact lacks {f}, which its manifest lists");
        }
        self.settle(name, key, tmp)
    }

    /// Every stored artifact.
    pub fn list(&self) -> Vec<Artifact> {
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return out;
        };
        for e in rd.filter_map(|e| e.ok()) {
            if let Ok(text) = fs::read_to_string(e.path().join("manifest.json"))
                && let Ok(manifest) = serde_json::from_str::<Manifest>(&text)
            {
                out.push(Artifact {
                    dir: e.path(),
                    manifest,
                });
            }
        }
        out.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
        out
    }

    /// Remove leftovers of interrupted stores; returns how many were removed.
    pub fn clean_temporaries(&self) -> usize {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut n = 0;
        for e in rd.filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_dir_all(e.path());
                n += 1;
            }
        }
        n
    }
}

/// One component present in a build prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installed {
    /// Version.
    pub version: String,
    /// Cache key it was built with.
    pub key: String,
    /// Its files, relative to the prefix.
    pub files: Vec<String>,
}

/// What a project's build prefix holds (`prefixes/<project>/state.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrefixState {
    /// Components by name.
    pub components: BTreeMap<String, Installed>,
}

impl PrefixState {
    /// Read the state file (empty state if missing or unreadable).
    pub fn load(path: &Path) -> Self {
        fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Write the state file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }

    /// True when every recorded file of `name` is still in the prefix.
    pub fn intact(&self, name: &str, prefix: &Path) -> bool {
        self.components.get(name).is_some_and(|c| {
            c.files
                .iter()
                .all(|f| fs::symlink_metadata(prefix.join(f)).is_ok())
        })
    }

    /// Remove `name`'s files from the prefix (keeping files other components own).
    pub fn remove(&mut self, name: &str, prefix: &Path) -> Result<()> {
        let Some(gone) = self.components.remove(name) else {
            return Ok(());
        };
        let owned: BTreeSet<&String> = self
            .components
            .values()
            .flat_map(|c| c.files.iter())
            .collect();
        let mut dirs = BTreeSet::new();
        for f in &gone.files {
            if owned.contains(f) {
                continue;
            }
            let p = prefix.join(f);
            remove_any(&p)?;
            let mut d = p.parent();
            while let Some(dir) = d {
                if dir == prefix || !dir.starts_with(prefix) {
                    break;
                }
                dirs.insert(dir.to_path_buf());
                d = dir.parent();
            }
        }
        // Deepest first; only empty directories go.
        for d in dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        Ok(())
    }

    /// Copy an artifact into the prefix (which takes the place of the
    /// placeholder in its files) and record it.
    pub fn install(&mut self, art: &Artifact, prefix: &Path) -> Result<()> {
        let swap = (
            PLACEHOLDER.as_bytes(),
            prefix.as_os_str().as_encoded_bytes(),
        );
        copy_tree_swapping(&art.files(), prefix, Some(swap))?;
        self.components.insert(
            art.manifest.name.clone(),
            Installed {
                version: art.manifest.version.clone(),
                key: art.manifest.key.clone(),
                files: art.manifest.files.clone(),
            },
        );
        Ok(())
    }
}
