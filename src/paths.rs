//! paths: where ferrobus keeps its caches, its build trees and the padded build prefix.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// Length every build prefix is padded to. A long, fixed-length prefix leaves room
/// for in-place rewrites of embedded paths later (relocation) and makes the prefix
/// independent of the checkout, so caches are shared between clones.
pub const PREFIX_LEN: usize = 100;

/// The build prefix as cached things hold it: every artifact and wheel is
/// stored with its build prefix replaced by this string of the same length,
/// and gets the prefix of the build that restores it (the conda placeholder
/// technique). So what a component or wheel is does not depend on the project,
/// the user or the machine that built it, and neither does its key.
pub const PLACEHOLDER: &str = "/ferrobus-placeholder-build-prefix/p\
     ________________________________________________________________";

/// The cache root: `$FERROBUS_CACHE`, else `$XDG_CACHE_HOME/ferrobus`, else
/// `~/.cache/ferrobus`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROBUS_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("ferrobus");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("ferrobus")
}

/// All locations one run works with.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Root of every cache (sources, artifacts, prefixes).
    pub cache: PathBuf,
    /// Per-checkout build tree (logs, work dirs, staged install trees).
    pub build: PathBuf,
}

impl Layout {
    /// A layout from the two roots; both are made absolute.
    pub fn new(cache: &Path, build: &Path) -> Result<Self> {
        Ok(Layout {
            cache: crate::util::absolute(cache)?,
            build: crate::util::absolute(build)?,
        })
    }
    /// Content-addressed source files (component sources, the Python files of
    /// the build lock): `sources/<sha256>`, or `FERROBUS_SOURCE_CACHE`.
    pub fn sources(&self) -> PathBuf {
        std::env::var_os("FERROBUS_SOURCE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.cache.join("sources"))
    }
    /// Built wheels and build environments: `wheels/`, or
    /// `FERROBUS_WHEEL_CACHE` (e.g. an empty one, to build every wheel again
    /// against a warm component cache).
    pub fn wheels(&self) -> PathBuf {
        std::env::var_os("FERROBUS_WHEEL_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.cache.join("wheels"))
    }
    /// Component artifacts: `artifacts/<name>-<key>`.
    pub fn artifacts(&self) -> PathBuf {
        self.cache.join("artifacts")
    }
    /// Compiler wrappers and their caches: `toolchains/<id>`.
    pub fn toolchains(&self) -> PathBuf {
        self.cache.join("toolchains")
    }
    /// Root of one project's build prefix (holds the prefix, its state and lock).
    pub fn prefix_root(&self, project: &str) -> PathBuf {
        self.cache.join("prefixes").join(project)
    }
    /// The padded build prefix of one project, exactly [`PREFIX_LEN`] bytes long.
    pub fn prefix(&self, project: &str) -> Result<PathBuf> {
        let base = format!("{}/p", self.prefix_root(project).display());
        if base.len() > PREFIX_LEN - 8 {
            bail!(
                "cache directory {} is too long for a {}-character build prefix; \
                 set FERROBUS_CACHE to a shorter path",
                self.cache.display(),
                PREFIX_LEN
            );
        }
        Ok(PathBuf::from(format!("{base:_<PREFIX_LEN$}")))
    }
    /// The paths a cache key must not depend on, for [`crate::fingerprint::Places`]:
    /// the project's build prefix and the cache root (which holds the compiler
    /// wrappers every build environment names).
    pub fn places(&self, project: &str) -> Result<crate::fingerprint::Places> {
        Ok(crate::fingerprint::Places::new([
            (self.prefix(project)?, PLACEHOLDER),
            (self.cache.clone(), "@CACHE@"),
        ]))
    }
    /// The per-project build tree under the build dir.
    pub fn project_build(&self, project: &str) -> PathBuf {
        self.build.join(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_has_the_length_of_every_build_prefix() {
        assert_eq!(PLACEHOLDER.len(), PREFIX_LEN);
        let l = Layout::new(Path::new("/c"), Path::new("/b")).unwrap();
        assert_eq!(l.prefix("x").unwrap().as_os_str().len(), PREFIX_LEN);
    }
}
