//! pypkg::buildlock: the build lock (`build-requirements.lock`, TOML), written
//! by `ferrobus lock` beside the requirements lock and checked in with it.
//!
//! The requirements lock pins what ships; this one pins what builds it: the
//! exact file each locked distribution is built from (sdist, or wheel where the
//! project installs the published one), and for every sdist (and the
//! application's own build backend) the wheels its build environment holds,
//! each by file name and sha256. With both, a build needs no index at all:
//! `ferrobus fetch` puts every file in the source cache and `build --offline`
//! installs build environments with `--no-index`.

use super::PackageName;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format revision of the file.
pub const FORMAT: u32 = 1;

/// One file: a distribution's sdist or wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    /// Distribution name (normalised).
    pub name: String,
    /// Its version.
    pub version: String,
    /// File name on the index.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
}

impl LockedFile {
    /// `name==version`.
    pub fn pin(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// One distribution of the requirements lock as it is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDist {
    /// The file it is built (or installed) from.
    #[serde(flatten)]
    pub file: LockedFile,
    /// `sdist` or `wheel`.
    pub kind: String,
    /// Pins (`name==version`) of the build-only wheels its build environment
    /// holds (sdists only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

/// The application's own build backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBackend {
    /// `[build-system] requires` of its pyproject.toml when locked (a change
    /// makes the lock stale).
    pub declared: Vec<String>,
    /// Pins of the build-only wheels installed for it.
    pub requires: Vec<String>,
}

/// The whole build lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildLock {
    /// [`FORMAT`].
    pub format: u32,
    /// The distributions of the requirements lock.
    #[serde(default, rename = "dist")]
    pub dists: Vec<LockedDist>,
    /// Build-only wheels (the build requirements, resolved).
    #[serde(default, rename = "build")]
    pub build: Vec<LockedFile>,
    /// The application's backend.
    #[serde(default)]
    pub app: LockedBackend,
}

const HEADER: &str = "\
# The build lock: the file each distribution of the requirements lock is built
# from, and the build requirements of every sdist (and of the application's own
# build backend), pinned with their sha256. Written by `ferrobus lock PROJECT`;
# do not edit: change the requirements lock or the project, then run it again.
# Build-only: nothing here ships (the version manifest lists it as such).
";

impl BuildLock {
    /// Read `path`; errors name it (and the line, for TOML errors).
    pub fn read(path: &Path) -> Result<BuildLock> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the build lock {}", path.display()))?;
        let lock: BuildLock = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    let col = s.start - text[..s.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(":{line}:{col}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{}{at}: {}", path.display(), e.message())
        })?;
        if lock.format != FORMAT {
            bail!(
                "{}: build lock format {} (this ferrobus writes {FORMAT}): run `ferrobus lock` again",
                path.display(),
                lock.format
            );
        }
        Ok(lock)
    }

    /// Write it to `path` (sorted, so that it diffs well).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut me = self.clone();
        me.dists.sort_by(|a, b| a.file.name.cmp(&b.file.name));
        me.build
            .sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        me.build.dedup();
        let text = format!("{HEADER}\n{}", toml::to_string(&me)?);
        crate::util::write_atomic(path, text.as_bytes())
    }

    /// The entry of distribution `name`.
    pub fn dist(&self, name: &PackageName) -> Option<&LockedDist> {
        self.dists.iter().find(|d| d.file.name == name.as_ref())
    }

    /// The build-only wheels `pins` name; an error names a pin the lock lacks.
    pub fn wheels(&self, pins: &[String]) -> Result<Vec<&LockedFile>> {
        pins.iter()
            .map(|p| {
                self.build.iter().find(|f| f.pin() == *p).with_context(|| {
                    format!("the build lock names {p} but has no [[build]] entry for it")
                })
            })
            .collect()
    }
}
