//! What the operations return: plain data that serialises to the `--json`
//! output and renders as the text the command line prints.

use crate::build::{ComponentReport, Outcome};
use crate::cache::{ArtifactStore, PrefixState};
use crate::check::Health;
use crate::package::Packaged;
use crate::paths::Layout;
use crate::plan::Plan;
use crate::relocate;
use crate::target::TargetName;
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The app layer of a build.
#[derive(Debug, Clone, Serialize)]
pub struct AppReport {
    /// The wheelhouse (one wheel per locked distribution).
    pub wheels: Vec<PathBuf>,
    /// How many of them were built now (the rest came from the cache).
    pub wheels_built: usize,
    /// Per distribution: key, built or cached, time, log.
    pub units: Vec<crate::app::wheels::WheelReport>,
    /// The application's own wheel.
    pub app_wheel: PathBuf,
    /// Seconds spent.
    pub seconds: f64,
}

/// The result of a build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// Project name.
    pub project: String,
    /// The target built.
    pub target: TargetName,
    /// The build prefix (targets whose runtime is built).
    pub prefix: Option<PathBuf>,
    /// The staged file-system image.
    pub stage: PathBuf,
    /// The install tree inside it (`embedded/` on Linux, the bundle on Windows).
    pub embedded: PathBuf,
    /// False when the staged tree was already current.
    pub updated: bool,
    /// Seconds, total.
    pub seconds: f64,
    /// Per component, in build order.
    pub components: Vec<ComponentReport>,
    /// The application layer.
    pub app: Option<AppReport>,
    /// Relocation (when the tree was staged again).
    pub relocate: Option<relocate::Report>,
    /// The health check (when the tree was staged again).
    pub check: Option<Health>,
    /// Installers written.
    pub packages: Vec<Packaged>,
    /// Version manifest, SBOM, SHA256SUMS signature written beside them.
    pub provenance: Vec<PathBuf>,
    /// Lint tools' configurations written beside them (the rpm's
    /// `<name>-<v>-<i>.rpmlint.toml`).
    pub lint: Vec<PathBuf>,
    /// The remote cache's transfers, hits, misses and warnings (when one is
    /// configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteReport>,
}

/// What `build --component` did.
#[derive(Debug, Clone, Serialize)]
pub struct PartReport {
    /// Project name.
    pub project: String,
    /// Seconds, total.
    pub seconds: f64,
    /// The components asked for and their dependencies, in build order.
    pub components: Vec<ComponentReport>,
    /// The application's wheels (when `wheels` was asked for).
    pub wheels: Vec<crate::app::wheels::WheelReport>,
    /// The remote cache's transfers.
    pub remote: Option<RemoteReport>,
}

impl PartReport {
    /// The text the command line prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.components {
            let _ = writeln!(s, "{:<15} {:<16} {:?}", c.name, c.version, c.outcome);
        }
        for w in &self.wheels {
            let how = if w.built {
                "built"
            } else if w.pulled {
                "pulled"
            } else {
                "cached"
            };
            let _ = writeln!(s, "wheel {:<20} {:<10} {how}", w.name, w.version);
        }
        if let Some(r) = &self.remote {
            let pushed = r.events.iter().filter(|e| e.action == "pushed").count();
            let _ = writeln!(s, "remote cache {}: {pushed} pushed", r.url);
        }
        s
    }
}

impl RemoteReport {
    /// One line: how many things moved which way, and how many bytes.
    pub fn summary(&self) -> String {
        let n = |a: &str| self.events.iter().filter(|e| e.action == a).count();
        let bytes: u64 = self.events.iter().map(|e| e.bytes).sum();
        format!(
            "{}: {} pulled, {} pushed, {} already there, {} missing, {} refused ({:.1} MB)",
            self.url,
            n("pulled"),
            n("pushed"),
            n("present"),
            n("miss"),
            n("refused"),
            bytes as f64 / 1e6
        )
    }

    /// The report of `remote`'s run so far.
    pub fn of(remote: &crate::cache::remote::Remote) -> RemoteReport {
        RemoteReport {
            url: remote.url().to_string(),
            events: remote.events(),
            warnings: remote.warnings(),
        }
    }
}

/// What the remote cache did in one build.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    /// Its URL.
    pub url: String,
    /// Every pull, push, miss and refusal.
    pub events: Vec<crate::cache::remote::Event>,
    /// Warnings (an unreachable registry, a refused artifact).
    pub warnings: Vec<String>,
}

impl BuildReport {
    /// The text the command line prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.components {
            let what = match c.outcome {
                Outcome::UpToDate => "up to date".to_string(),
                Outcome::Restored => format!("restored from cache ({:.1}s)", c.seconds),
                Outcome::Pulled => format!("pulled from the remote cache ({:.1}s)", c.seconds),
                Outcome::Built => format!("built ({:.1}s)", c.seconds),
                Outcome::Failed => "failed".into(),
            };
            let _ = writeln!(s, "{:<15} {:<16} {what}", c.name, c.version);
        }
        if let Some(a) = &self.app {
            let _ = writeln!(
                s,
                "wheelhouse   {} wheels, {} built now; app wheel {}",
                a.wheels.len(),
                a.wheels_built,
                a.app_wheel.display()
            );
        }
        if let Some(r) = &self.relocate {
            let _ = writeln!(
                s,
                "relocated: {} rpaths, {} binary and {} text files rewritten, {} stripped, {} .pyc recompiled ({:.2}s)",
                r.rpaths_rewritten,
                r.binary_files,
                r.text_files,
                r.stripped,
                r.pyc_recompiled,
                r.seconds
            );
        }
        if let Some(h) = &self.check {
            let _ = writeln!(s, "{}", h.summary());
        }
        for p in &self.packages {
            if p.seconds > 0.0 {
                let _ = writeln!(s, "installer {} ({:.1}s)", p.path.display(), p.seconds);
            } else {
                let _ = writeln!(s, "installer {} (unchanged)", p.path.display());
            }
        }
        for p in &self.provenance {
            let _ = writeln!(s, "provenance {}", p.display());
        }
        for p in &self.lint {
            let _ = writeln!(s, "lint config {}", p.display());
        }
        let state = if self.updated { "updated" } else { "unchanged" };
        let _ = writeln!(
            s,
            "staged {} ({state}) in {:.1}s",
            self.embedded.display(),
            self.seconds
        );
        s
    }
}

/// One component of a plan with its cache status.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedComponent {
    /// The component as planned.
    #[serde(flatten)]
    pub component: crate::plan::Component,
    /// `up-to-date`, `changed (cached)`, `changed (build)`, `cached`, `build`.
    pub status: &'static str,
    /// The key the prefix holds now, when it differs.
    pub previous_key: Option<String>,
}

/// The resolved plan of a session, with each component's cache status.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// Project name.
    pub project: String,
    /// Install dir on the target.
    pub install_dir: String,
    /// The build prefix.
    pub prefix: PathBuf,
    /// The toolchain.
    pub toolchain: crate::toolchain::Toolchain,
    /// Components in build order.
    pub components: Vec<PlannedComponent>,
    /// The application's distributions, in the lock's order.
    pub wheels: Vec<PlannedWheel>,
}

/// One distribution in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedWheel {
    /// Distribution.
    pub name: String,
    /// Version.
    pub version: String,
    /// `sdist` (built here) or `wheel` (the published one).
    pub kind: crate::app::wheels::Kind,
    /// Its key.
    pub key: String,
    /// `cached` or `build`.
    pub status: &'static str,
    /// The key the project's last build used, when it differs.
    pub previous_key: Option<String>,
    /// Components it links besides python's.
    pub links: Vec<String>,
}

impl PlanReport {
    /// The plan's components with their status against the prefix and cache.
    pub fn new(plan: &Plan, layout: &Layout, planned: &super::Planned) -> PlanReport {
        let last = crate::app::wheels::last_keys(&planned.builder);
        let wheels = planned
            .units
            .iter()
            .map(|u| PlannedWheel {
                name: u.name.to_string(),
                version: u.version.clone(),
                kind: u.kind,
                key: u.key.clone(),
                status: if u.cached(layout) { "cached" } else { "build" },
                previous_key: last.get(u.name.as_str()).filter(|k| **k != u.key).cloned(),
                links: u.links.clone(),
            })
            .collect();
        let state = PrefixState::load(&layout.prefix_root(&plan.slot).join("state.json"));
        let store = ArtifactStore::new(&layout.artifacts());
        let components = plan
            .components
            .iter()
            .map(|c| {
                let cached = store.lookup(&c.name, &c.key).is_some();
                let (status, previous_key) = match state.components.get(&c.name) {
                    Some(i) if i.key == c.key => ("up-to-date", None),
                    Some(i) if cached => ("changed (cached)", Some(i.key.clone())),
                    Some(i) => ("changed (build)", Some(i.key.clone())),
                    None if cached => ("cached", None),
                    None => ("build", None),
                };
                PlannedComponent {
                    component: c.clone(),
                    status,
                    previous_key,
                }
            })
            .collect();
        PlanReport {
            project: plan.project.clone(),
            install_dir: plan.install_dir.clone(),
            prefix: plan.prefix.clone(),
            toolchain: plan.toolchain.clone(),
            components,
            wheels,
        }
    }

    /// The text the command line prints.
    pub fn render(&self) -> String {
        let tc = &self.toolchain;
        let mut s = format!(
            "project {} -> {}\nprefix  {}\ntoolchain {} ({}, {}, {})\n",
            self.project,
            self.install_dir,
            self.prefix.display(),
            tc.cc,
            tc.cc_version,
            tc.triple,
            tc.libc
        );
        let _ = writeln!(
            s,
            "{:<15} {:<22} {:<18} {:<18} depends",
            "component", "version", "key", "status"
        );
        for p in &self.components {
            let c = &p.component;
            let ver = if c.version_from == "default" {
                c.version.clone()
            } else {
                format!("{} ({})", c.version, c.version_from)
            };
            let _ = writeln!(
                s,
                "{:<15} {:<22} {:<18} {:<18} {}",
                c.name,
                ver,
                &c.key[..16],
                p.status,
                c.depends.join(",")
            );
            if let Some(prev) = &p.previous_key {
                let _ = writeln!(s, "{:<15} {:<22} was {}", "", "", &prev[..16]);
            }
            for (k, v) in &c.choices {
                let _ = writeln!(s, "{:<15} {:<22} {k} = {v}", "", "");
            }
        }
        if !self.wheels.is_empty() {
            let _ = writeln!(
                s,
                "{:<15} {:<22} {:<18} {:<18} links",
                "distribution", "version", "key", "status"
            );
        }
        for w in &self.wheels {
            let kind = match w.kind {
                crate::app::wheels::Kind::Sdist => "",
                crate::app::wheels::Kind::Wheel => " (wheel)",
            };
            let _ = writeln!(
                s,
                "{:<15} {:<22} {:<18} {:<18} {}",
                w.name,
                format!("{}{kind}", w.version),
                &w.key[..16],
                w.status,
                w.links.join(",")
            );
            if let Some(prev) = &w.previous_key {
                let _ = writeln!(s, "{:<15} {:<22} was {}", "", "", &prev[..16]);
            }
        }
        s
    }
}

/// One cached source archive.
#[derive(Debug, Clone, Serialize)]
pub struct CachedSource {
    /// Its sha256 (the file's name in the cache).
    pub sha256: String,
    /// The name it was fetched as.
    pub file: String,
    /// Bytes.
    pub size: u64,
}

/// One cached component artifact.
#[derive(Debug, Clone, Serialize)]
pub struct CachedArtifact {
    /// Component name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Cache key.
    pub key: String,
    /// Files it installs.
    pub files: usize,
    /// Bytes.
    pub size: u64,
    /// Where it is.
    pub dir: PathBuf,
}

/// What the cache holds.
#[derive(Debug, Clone, Serialize)]
pub struct CacheListing {
    /// The cache root.
    pub cache: PathBuf,
    /// Source archives, by file name.
    pub sources: Vec<CachedSource>,
    /// Component artifacts.
    pub artifacts: Vec<CachedArtifact>,
}

impl CacheListing {
    /// Read the cache of `layout`.
    pub fn read(layout: &Layout) -> CacheListing {
        let mut sources = Vec::new();
        if let Ok(rd) = std::fs::read_dir(layout.sources()) {
            for e in rd.filter_map(|e| e.ok()) {
                let sha256 = e.file_name().to_string_lossy().into_owned();
                if sha256.len() == 64 {
                    let name = layout.sources().join(format!("{sha256}.name"));
                    sources.push(CachedSource {
                        file: std::fs::read_to_string(name).unwrap_or_default(),
                        size: e.metadata().map(|m| m.len()).unwrap_or(0),
                        sha256,
                    });
                }
            }
        }
        sources.sort_by(|a, b| a.file.cmp(&b.file));
        let artifacts = ArtifactStore::new(&layout.artifacts())
            .list()
            .into_iter()
            .map(|a| CachedArtifact {
                name: a.manifest.name,
                version: a.manifest.version,
                key: a.manifest.key,
                files: a.manifest.files.len(),
                size: a.manifest.size,
                dir: a.dir,
            })
            .collect();
        CacheListing {
            cache: layout.cache.clone(),
            sources,
            artifacts,
        }
    }

    /// The text the command line prints.
    pub fn render(&self) -> String {
        let mut s = format!("cache {}\nsources:\n", self.cache.display());
        for c in &self.sources {
            let _ = writeln!(s, "  {:<44} {:>10} {}", c.file, c.size, &c.sha256[..16]);
        }
        s.push_str("artifacts:\n");
        for a in &self.artifacts {
            let _ = writeln!(
                s,
                "  {:<15} {:<22} {} {:>6} files {:>6.1} MB",
                a.name,
                a.version,
                &a.key[..16],
                a.files,
                a.size as f64 / 1e6
            );
        }
        s
    }
}

/// Bytes of the files under `p`.
pub fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
