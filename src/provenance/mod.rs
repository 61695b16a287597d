//! provenance: what a build ships and where it came from.
//!
//! Written into the staged install dir after the application is installed and
//! before relocation, so every package carries it, and copied beside the packages
//! in `dist/`:
//!
//! - `version-manifest.json` ([`manifest`]): the project, build date, ferrobus
//!   version, target and toolchain; every shipped component's version, sources,
//!   license, cache key and patches; every Python distribution with the sha256 of
//!   the file it was made from;
//! - `LICENSES/` and a summary `LICENSE` ([`licenses`]): the components' license
//!   files read straight out of their cached source archives, the distributions'
//!   from their installed `.dist-info`;
//! - `bom.json` ([`sbom`]): a CycloneDX 1.5 SBOM of the same.
//!
//! Every output is a function of the plan and of content-addressed inputs (no
//! wall-clock time, sorted keys and lists), so it is byte-reproducible. The part
//! the plan decides goes into [`key`], which is part of the staged tree's identity.
//!
//! Nothing is shipped under an unknown license. A component needs one in its
//! definition (or the project's `allow_missing_licenses`); a Python distribution
//! gets its license from its metadata ([`crate::pypkg::Metadata::license`]) or
//! from the project (`[provenance.licenses]`, [`crate::load::StatedLicense`]):
//! a stated license is the one shipped, the one the deny policy judges, and the
//! one `LICENSE` and the SBOM show, whatever the metadata says (the project
//! states what it read in the distribution's license files; the metadata's
//! fields are often prose or a license family); the version manifest records
//! both. A distribution with neither fails the build before any provenance file
//! is written, naming it, where it is locked and what its metadata says.

pub mod assembled;
pub mod licenses;
pub mod manifest;
pub mod policy;
pub mod sbom;
pub mod seal;

use crate::fingerprint::Fingerprint;
use crate::load::{Project, StatedLicense};
use crate::plan::Plan;
use crate::pypkg::{LockedApp, PackageName, Requirement, WheelSource};
use crate::toolchain::Toolchain;
use crate::util::{sha256_file, write_atomic};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// The version manifest's name in the install dir.
pub const MANIFEST_FILE: &str = "version-manifest.json";
/// The SBOM's name in the install dir.
pub const SBOM_FILE: &str = "bom.json";
/// The license of what has none (yet): SPDX's "no assertion".
pub const NOASSERTION: &str = "NOASSERTION";

/// The project being described.
#[derive(Debug, Clone)]
pub struct ProjectInfo {
    /// Package name.
    pub name: String,
    /// Upstream version.
    pub version: String,
    /// Package iteration.
    pub iteration: u32,
    /// The project's own license (SPDX), possibly empty.
    pub license: String,
    /// The install dir on the target.
    pub install_dir: String,
}

/// One shipped component.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SPDX license expression (empty when the definition has none).
    pub license: String,
    /// License files inside the unpacked source (the definition's `license_files`).
    pub license_files: Vec<String>,
    /// Where each license file lands, relative to the install dir
    /// (`LICENSES/<name>/<file>`); after [`licenses::collect`], only those found.
    pub license_dests: Vec<String>,
    /// Source URLs, in order.
    pub urls: Vec<String>,
    /// The source archive's sha256.
    pub sha256: String,
    /// The source archive's file name.
    pub file_name: String,
    /// The Debian orig tarball with the same bytes, if the definition names one
    /// (for some, e.g. a Debian repack, the upstream URLs serve other bytes).
    pub debian: Option<String>,
    /// The cache key.
    pub key: String,
    /// Patches: (file name, sha256).
    pub patches: Vec<(String, String)>,
    /// Shipped components it depends on.
    pub depends: Vec<String>,
    /// Its definition file (for messages; not written anywhere).
    pub definition: PathBuf,
}

/// One Python distribution (a locked requirement, or the application itself).
#[derive(Debug, Clone)]
pub struct Distribution {
    /// Its name.
    pub name: PackageName,
    /// Version (as its lock or metadata gives it).
    pub version: String,
    /// What it was installed from: `sdist`, `wheel`, `source` for the app, or
    /// `bundled` for what the interpreter installed itself (pip).
    pub kind: String,
    /// The file it was made from, once built.
    pub file: Option<String>,
    /// That file's sha256, once built.
    pub sha256: Option<String>,
    /// The hashes the lock allows.
    pub lock_hashes: Vec<String>,
    /// The SPDX license it ships under: the stated one, else its metadata's;
    /// `NOASSERTION` while neither is known (before the build reads its
    /// metadata; a build fails on one still unknown after).
    pub license: String,
    /// The license its metadata determines, if any (the app's pyproject.toml's
    /// before its wheel is built).
    pub license_metadata: Option<String>,
    /// The license the project states (`[provenance.licenses]`), if any.
    pub license_stated: Option<String>,
    /// What its metadata says about the license, as written (for the error
    /// when it determines none).
    pub license_evidence: String,
    /// Where it comes from, for messages: `lock:line`, the application's
    /// pyproject.toml, or the interpreter.
    pub origin: String,
    /// Its license files' places, relative to the install dir, once installed.
    pub license_dests: Vec<String>,
    /// The same files where they were found, in its installed `.dist-info`
    /// (for messages).
    pub license_sources: Vec<PathBuf>,
}

impl ProjectInfo {
    /// The project, installed in `install_dir`.
    pub fn of(project: &Project, install_dir: &str) -> ProjectInfo {
        ProjectInfo {
            name: project.name.clone(),
            version: project.version.clone(),
            iteration: project.iteration,
            license: project.license.clone(),
            install_dir: install_dir.to_string(),
        }
    }
}

impl Distribution {
    /// A locked distribution, installed from `kind` (`sdist`, `wheel`), with the
    /// license the project states for it, if any.
    pub fn locked(r: &Requirement, kind: &str, stated: &[StatedLicense]) -> Distribution {
        let mut lock_hashes = r.hashes.clone();
        lock_hashes.sort();
        let mut d = Distribution {
            name: r.name.clone(),
            version: r.version.to_string(),
            kind: kind.into(),
            file: None,
            sha256: None,
            lock_hashes,
            license: String::new(),
            license_metadata: None,
            license_stated: stated_for(stated, &r.name),
            license_evidence: String::new(),
            origin: format!("locked at {}", r.at()),
            license_dests: vec![],
            license_sources: vec![],
        };
        d.settle_license();
        d
    }

    /// The application itself, from its source (`kind` "source" until its
    /// wheel is built); its pyproject.toml's license counts as its metadata's
    /// when it is SPDX.
    pub fn of_app(app: &impl LockedApp, stated: &[StatedLicense]) -> Distribution {
        let declared = app.license().trim();
        let mut d = Distribution {
            name: app.name().clone(),
            version: app.version().to_string(),
            kind: "source".into(),
            file: None,
            sha256: None,
            lock_hashes: vec![],
            license: String::new(),
            license_metadata: crate::pypkg::is_spdx(declared).then(|| declared.to_string()),
            license_stated: stated_for(stated, app.name()),
            license_evidence: match declared {
                "" => "no license in its pyproject.toml [project]".into(),
                l => format!("its pyproject.toml [project] license \"{l}\" is not SPDX"),
            },
            origin: "the application, from its pyproject.toml".into(),
            license_dests: vec![],
            license_sources: vec![],
        };
        d.settle_license();
        d
    }

    /// A distribution the interpreter installed itself (pip, by ensurepip).
    fn bundled(name: &PackageName, version: &str, stated: &[StatedLicense]) -> Distribution {
        let mut d = Distribution {
            name: name.clone(),
            version: version.to_string(),
            kind: "bundled".into(),
            file: None,
            sha256: None,
            lock_hashes: vec![],
            license: String::new(),
            license_metadata: None,
            license_stated: stated_for(stated, name),
            license_evidence: String::new(),
            origin: "installed by the interpreter itself, not locked; [stage] prune \
                     removes it if the application does not need it"
                .into(),
            license_dests: vec![],
            license_sources: vec![],
        };
        d.settle_license();
        d
    }

    /// `license` from what is known: the stated license, else the metadata's,
    /// else `NOASSERTION`.
    fn settle_license(&mut self) {
        self.license = self
            .license_stated
            .clone()
            .or_else(|| self.license_metadata.clone())
            .unwrap_or_else(|| NOASSERTION.into());
    }

    /// True when neither the project nor the metadata gives its license.
    pub fn license_unknown(&self) -> bool {
        self.license_stated.is_none() && self.license_metadata.is_none()
    }
}

/// The license `stated` gives `name`, if any.
fn stated_for(stated: &[StatedLicense], name: &PackageName) -> Option<String> {
    stated
        .iter()
        .find(|s| &s.name == name)
        .map(|s| s.expression.clone())
}

/// Everything the provenance files describe.
#[derive(Debug, Clone)]
pub struct Contents {
    /// The project.
    pub project: ProjectInfo,
    /// SOURCE_DATE_EPOCH: the build date.
    pub source_date_epoch: u64,
    /// The target built for (`linux-x86_64`, `windows-x86_64`).
    pub target: String,
    /// The C toolchain, when the runtime was compiled here (none when it was
    /// assembled from a published distribution).
    pub toolchain: Option<Toolchain>,
    /// Shipped components, sorted by name.
    pub components: Vec<ComponentInfo>,
    /// The project's root components that are shipped, sorted.
    pub roots: Vec<String>,
    /// Locked Python distributions, sorted by name.
    pub distributions: Vec<Distribution>,
    /// The application itself.
    pub app: Option<Distribution>,
    /// Components allowed to ship without a license or its files.
    pub allow_missing_licenses: Vec<String>,
    /// Licenses the project denies (`[provenance] deny_licenses`).
    pub deny_licenses: Vec<String>,
    /// Licenses the project states for distributions (`[provenance.licenses]`).
    pub stated_licenses: Vec<StatedLicense>,
    /// The application's lock, if it has one (for messages).
    pub lock: Option<PathBuf>,
    /// The project file (for messages).
    pub project_file: PathBuf,
    /// Build-only Python wheels (the build lock's build requirements): listed
    /// as build dependencies, never shipped.
    pub build_only: Vec<crate::pypkg::buildlock::LockedFile>,
}

impl Contents {
    /// What a build of `plan` will ship, from the plan alone.
    pub fn from_plan(project: &Project, plan: &Plan, app: Option<&impl LockedApp>) -> Contents {
        let shipped: BTreeSet<&str> = plan
            .components
            .iter()
            .filter(|c| !c.build_only)
            .map(|c| c.name.as_str())
            .collect();
        let mut components: Vec<ComponentInfo> = plan
            .components
            .iter()
            .filter(|c| !c.build_only)
            .map(|c| ComponentInfo {
                name: c.name.clone(),
                version: c.version.clone(),
                license: c.license.trim().to_string(),
                license_dests: licenses::component_dests(&c.name, &c.license_files)
                    .into_iter()
                    .map(|(_, d)| d)
                    .collect(),
                license_files: c.license_files.clone(),
                urls: c.source.urls.clone(),
                sha256: c.source.sha256.clone(),
                file_name: c.source.file_name.clone(),
                debian: c.source.debian.clone(),
                key: c.key.clone(),
                patches: c
                    .patches
                    .iter()
                    .map(|(p, s)| {
                        let f = p.file_name().unwrap_or_default().to_string_lossy();
                        (f.into_owned(), s.clone())
                    })
                    .collect(),
                depends: c
                    .depends
                    .iter()
                    .filter(|d| shipped.contains(d.as_str()))
                    .cloned()
                    .collect(),
                definition: c.definition.clone(),
            })
            .collect();
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let mut roots: Vec<String> = project
            .components
            .iter()
            .filter(|c| shipped.contains(c.as_str()))
            .cloned()
            .collect();
        roots.sort();
        roots.dedup();
        let stated = &project.provenance.stated;
        let mut distributions: Vec<Distribution> = app
            .map(|a| {
                a.requirements()
                    .iter()
                    .map(|r| {
                        let kind = if a.uses_published_wheel(&r.name) {
                            "wheel"
                        } else {
                            "sdist"
                        };
                        Distribution::locked(r, kind, stated)
                    })
                    .collect()
            })
            .unwrap_or_default();
        distributions.sort_by(|a, b| a.name.cmp(&b.name));
        let lock = app.and_then(|a| a.requirements().first().map(|r| r.lock.clone()));
        let app = app.map(|a| Distribution::of_app(a, stated));
        let mut allow = project.provenance.allow_missing_licenses.clone();
        allow.sort();
        Contents {
            project: ProjectInfo::of(project, &project.install_dir),
            source_date_epoch: plan.source_date_epoch,
            target: plan.toolchain.target.clone(),
            // Its compiler paths as the keys see them (`@CACHE@/toolchains/…`):
            // where the build machine keeps its cache is not a fact of the
            // build, and would make two machines' manifests differ.
            toolchain: Some({
                let mut t = plan.toolchain.clone();
                t.cc = plan.places.apply(&t.cc);
                t.cxx = plan.places.apply(&t.cxx);
                t
            }),
            components,
            roots,
            distributions,
            app,
            allow_missing_licenses: allow,
            deny_licenses: project.provenance.deny_licenses.clone(),
            build_only: vec![],
            stated_licenses: stated.clone(),
            lock,
            project_file: project.path.clone(),
        }
    }

    /// True when `component` may ship without a license or its files.
    pub fn allowed_missing(&self, component: &str) -> bool {
        self.allow_missing_licenses.iter().any(|a| a == component)
    }

    /// Fail, naming the component, when a shipped component has no license and
    /// the project does not allow it (checked before anything is built).
    pub fn check_declared(&self) -> Result<()> {
        for c in &self.components {
            if c.license.is_empty() && !self.allowed_missing(&c.name) {
                return Err(no_license(c));
            }
        }
        Ok(())
    }

    /// The project's license policy, as far as it is known: every name of
    /// `[provenance.licenses]` is a distribution of the lock or the application
    /// itself (an error at the entry's line otherwise), and no component or
    /// distribution has a license the project denies (`[provenance]
    /// deny_licenses`: the stated license where there is one). Checked by the
    /// plan, and again once the distributions' metadata is read.
    pub fn check_policy(&self) -> Result<()> {
        self.check_stated_names()?;
        self.check_denied()
    }

    /// Fail, naming it and its license, when a component or distribution has a
    /// license the project denies (`[provenance] deny_licenses`).
    pub fn check_denied(&self) -> Result<()> {
        let file = self.project_file.display().to_string();
        let deny = &self.deny_licenses;
        for c in &self.components {
            let what = format!("component {} {}", c.name, c.version);
            policy::check(&what, &c.license, deny, &file)?;
        }
        for d in self.distributions.iter().chain(self.app.iter()) {
            let what = match &d.license_stated {
                Some(_) => format!(
                    "Python distribution {} {} (license stated in [provenance.licenses])",
                    d.name, d.version
                ),
                None => format!("Python distribution {} {}", d.name, d.version),
            };
            policy::check(&what, &d.license, deny, &file)?;
        }
        Ok(())
    }

    /// Fail when `[provenance.licenses]` names a distribution that is neither
    /// locked nor the application: a typo, or a distribution no longer locked,
    /// would otherwise state nothing.
    fn check_stated_names(&self) -> Result<()> {
        let known = |n: &PackageName| {
            self.distributions
                .iter()
                .filter(|d| d.kind != "bundled")
                .chain(self.app.iter())
                .any(|d| &d.name == n)
        };
        let Some(s) = self.stated_licenses.iter().find(|s| !known(&s.name)) else {
            return Ok(());
        };
        let Some(lock) = &self.lock else {
            bail!(
                "{}: [provenance.licenses] states the license of {}, but the project has \
                 no [app]: there is no Python distribution to state a license for",
                s.at,
                s.name
            );
        };
        let mut locked: Vec<String> = self
            .distributions
            .iter()
            .filter(|d| d.kind != "bundled")
            .map(|d| d.name.to_string())
            .collect();
        locked.sort();
        bail!(
            "{}: [provenance.licenses] states the license of {}, which is neither locked in {} \
             (locked: {}) nor the application ({}); remove the entry or fix the name",
            s.at,
            s.name,
            lock.display(),
            locked.join(", "),
            self.app.as_ref().map_or("none", |a| a.name.as_str()),
        )
    }

    /// Fail before anything is written when something shipped has no known
    /// license: a component without one (unless allowed) or with one that is
    /// not SPDX, and every Python distribution whose metadata determines none
    /// and whose license the project does not state, all named in one error
    /// with where they are locked, what their metadata says, where their
    /// license files are, and the table to fill in.
    pub fn check_known(&self) -> Result<()> {
        for c in &self.components {
            if c.license.is_empty() {
                if !self.allowed_missing(&c.name) {
                    return Err(no_license(c));
                }
            } else if let Some(e) = crate::util::spdx_error(&c.license) {
                bail!(
                    "component {} {}: license \"{}\" in {} is not an SPDX license expression ({e})",
                    c.name,
                    c.version,
                    c.license,
                    c.definition.display()
                );
            }
        }
        let unknown: Vec<&Distribution> = self
            .distributions
            .iter()
            .chain(self.app.iter())
            .filter(|d| d.license_unknown())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let (what, their, fix) = match unknown.len() {
            1 => (
                "the license of 1 Python distribution".to_string(),
                "its",
                "Read its license and state it, as an SPDX expression,",
            ),
            n => (
                format!("the licenses of {n} Python distributions"),
                "their",
                "Read their licenses and state them, as SPDX expressions,",
            ),
        };
        let mut msg = format!(
            "{what} cannot be determined from {their} metadata (it takes an SPDX \
             License-Expression or License, or license classifiers that each name one \
             license), and nothing is shipped under an unknown license:\n"
        );
        for d in &unknown {
            msg.push_str(&format!(
                "  {} {} ({}): {}\n",
                d.name, d.version, d.origin, d.license_evidence
            ));
            for f in &d.license_sources {
                msg.push_str(&format!("    its license file: {}\n", f.display()));
            }
            if d.license_sources.is_empty() {
                msg.push_str("    it ships no license file\n");
            }
        }
        msg.push_str(&format!(
            "{fix} in {}:\n  [provenance.licenses]\n",
            self.project_file.display()
        ));
        for d in &unknown {
            msg.push_str(&format!("  {} = \"<SPDX expression>\"\n", d.name));
        }
        bail!("{}", msg.trim_end())
    }

    /// Fill in what only the build knows: the file each distribution was made
    /// from (recorded beside its cached wheel), the app wheel's sha256, and each
    /// distribution's license and license files from its installed `.dist-info`.
    /// `wheelhouse` is in the lock's order, as `app::wheelhouse` returns it.
    pub fn add_installed(
        &mut self,
        app_plan: &impl LockedApp,
        wheelhouse: &[PathBuf],
        app_wheel: &Path,
        site_packages: &Path,
    ) -> Result<()> {
        for (r, w) in app_plan.requirements().iter().zip(wheelhouse) {
            let src = WheelSource::read(w)?;
            if let Some(d) = self.distributions.iter_mut().find(|d| d.name == r.name) {
                d.kind = src.kind;
                d.file = Some(src.file);
                d.sha256 = Some(src.sha256);
            }
        }
        if let Some(a) = &mut self.app {
            a.kind = "wheel".into();
            a.file = Some(
                app_wheel
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            );
            a.sha256 = Some(sha256_file(app_wheel)?);
        }
        self.add_dist_infos(site_packages)
    }

    /// Each distribution's license and license files from its installed
    /// `.dist-info` in `site_packages` (the one `.dist-info` scan: every target),
    /// and the distributions the interpreter brought itself, as `bundled`.
    pub fn add_dist_infos(&mut self, site_packages: &Path) -> Result<()> {
        let infos = licenses::dist_infos(site_packages)?;
        // Distributions the interpreter brought (pip, from ensurepip) are shipped
        // too: listed as `bundled`, so the SBOM names everything installed.
        for (name, info) in &infos {
            let mut known = self.distributions.iter().chain(self.app.iter());
            if known.all(|d| &d.name != name) {
                let d = Distribution::bundled(name, &info.version, &self.stated_licenses);
                self.distributions.push(d);
            }
        }
        self.distributions.sort_by(|a, b| a.name.cmp(&b.name));
        for d in self.distributions.iter_mut().chain(self.app.iter_mut()) {
            let Some(info) = infos.get(&d.name) else {
                bail!(
                    "{} {}: no .dist-info in {}",
                    d.name,
                    d.version,
                    site_packages.display()
                );
            };
            if d.version.is_empty() {
                d.version = info.version.clone();
            }
            // The installed metadata is the distribution's own word (the app's
            // pyproject.toml license, if SPDX, stays when its wheel says none).
            if let Some(l) = &info.license {
                d.license_metadata = Some(l.clone());
            }
            d.license_evidence = info.license_evidence.clone();
            d.settle_license();
            d.license_dests = info
                .license_files
                .iter()
                .map(|(rel, _)| format!("LICENSES/python-{}/{rel}", d.name))
                .collect();
            d.license_sources = info.license_files.iter().map(|(_, p)| p.clone()).collect();
        }
        Ok(())
    }
}

/// The error for a component without a license.
fn no_license(c: &ComponentInfo) -> anyhow::Error {
    anyhow::anyhow!(
        "component {} {}: no license in its definition {}; set `license` (SPDX) and \
         `license_files` there, or allow it with [provenance] allow_missing_licenses = [\"{}\"]",
        c.name,
        c.version,
        c.definition.display(),
        c.name
    )
}

/// Identity of the provenance files as far as the plan decides them (the rest
/// follows from component and wheel keys): part of the staged tree's identity.
pub fn key(contents: &Contents) -> String {
    Fingerprint::new("provenance")
        .with("allow_missing_licenses", &contents.allow_missing_licenses)
        .with("deny_licenses", &contents.deny_licenses)
        .with("manifest", manifest::render(contents))
        .key()
}

/// Pretty JSON with a final newline (keys are sorted: serde_json's map is a BTreeMap).
pub fn render(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialise");
    s.push('\n');
    s
}

/// The site-packages directory of an embedded prefix, if it has a Python.
pub fn site_packages(embedded: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(embedded.join("lib"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
                && p.join("site-packages").is_dir()
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|p| p.join("site-packages"))
}

/// Write the provenance files into `install_dir` (the staged `<install_dir>`,
/// beside `embedded/`): the license files (failing, naming the component, on a
/// missing one the project does not allow), `LICENSE`, `version-manifest.json`
/// and `bom.json`. `sources` maps each component to its cached source archive.
pub fn write(
    contents: &mut Contents,
    sources: &HashMap<String, PathBuf>,
    install_dir: &Path,
) -> Result<()> {
    let mut files = licenses::component_files(contents, sources)?;
    if let Some(site) = site_packages(&install_dir.join("embedded")) {
        files.extend(licenses::dist_files(contents, &site)?);
    }
    write_all(contents, files, install_dir)
}

/// The provenance files of an assembled runtime: its components' license
/// files are given (`component_files`: destination, contents; read out of the
/// published distribution), the distributions' are found in `site_packages`.
pub fn write_assembled(
    contents: &mut Contents,
    component_files: Vec<(String, Vec<u8>)>,
    site_packages: &Path,
    install_dir: &Path,
) -> Result<()> {
    contents.add_dist_infos(site_packages)?;
    let mut files = component_files;
    files.extend(licenses::dist_files(contents, site_packages)?);
    write_all(contents, files, install_dir)
}

/// Write `LICENSES/` (exactly `files`), `LICENSE`, the version manifest and
/// the SBOM into `install_dir`: the one writer of every target.
fn write_all(contents: &Contents, mut files: Vec<(String, Vec<u8>)>, dir: &Path) -> Result<()> {
    // The distributions' licenses are known now, from their metadata or the
    // project: all of them, or nothing is written.
    contents.check_known()?;
    contents.check_policy()?;
    files.sort();
    crate::util::remove_any(&dir.join("LICENSES"))?;
    for (rel, data) in &files {
        let to = dir.join(rel);
        fs::create_dir_all(to.parent().unwrap_or(dir))?;
        fs::write(&to, data).with_context(|| format!("writing {}", to.display()))?;
    }
    let summary = licenses::summary(contents);
    write_atomic(&dir.join("LICENSE"), summary.as_bytes())?;
    let manifest = render(&manifest::render(contents));
    write_atomic(&dir.join(MANIFEST_FILE), manifest.as_bytes())?;
    write_atomic(
        &dir.join(SBOM_FILE),
        render(&sbom::render(contents)).as_bytes(),
    )?;
    Ok(())
}

/// Copy the manifest and SBOM of the staged install dir `from` beside the
/// packages: `<dist>/<stem>.version-manifest.json` and `<dist>/<stem>.cdx.json`
/// (`crate::package::publish` lists them in `SHA256SUMS`).
pub fn copy_to_dist(from: &Path, stem: &str, dist: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (file, suffix) in [
        (MANIFEST_FILE, "version-manifest.json"),
        (SBOM_FILE, "cdx.json"),
    ] {
        let src = from.join(file);
        let data = fs::read(&src).with_context(|| {
            format!(
                "reading {} (staged by an older ferrobus? build again)",
                src.display()
            )
        })?;
        let to = dist.join(format!("{stem}.{suffix}"));
        write_atomic(&to, &data)?;
        out.push(to);
    }
    Ok(out)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (UTC).
pub fn rfc3339(epoch: u64) -> String {
    let (days, secs) = ((epoch / 86_400) as i64, epoch % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pypkg::lock::parse_entry;

    /// Contents with the locked distributions `plain` (License-Expression MIT),
    /// `prose` (License: BSD, a LICENSE file) and `other` (MIT by classifier),
    /// installed in `site`, and the stated licenses `stated`.
    fn contents(site: &Path, stated: &[(&str, &str)], deny: &[&str]) -> Result<Contents> {
        for (dir, meta, license) in [
            (
                "plain-1.0",
                "Name: plain\nVersion: 1.0\nLicense-Expression: MIT\n",
                false,
            ),
            (
                "prose-2.0",
                "Name: Prose\nVersion: 2.0\nLicense: BSD\n",
                true,
            ),
            (
                "other-3.0",
                "Name: other\nVersion: 3.0\n\
                 Classifier: License :: OSI Approved :: MIT License\n",
                false,
            ),
        ] {
            let d = site.join(format!("{dir}.dist-info"));
            fs::create_dir_all(&d)?;
            fs::write(d.join("METADATA"), meta)?;
            if license {
                fs::write(d.join("LICENSE"), "Copyright ... BSD ...")?;
            }
        }
        let lock = Path::new("/p/requirements.lock");
        let h = "a".repeat(64);
        let stated: Vec<StatedLicense> = stated
            .iter()
            .enumerate()
            .map(|(i, (n, e))| StatedLicense {
                name: n.parse().unwrap(),
                expression: e.to_string(),
                at: format!("/p/p.toml:{}:1", 20 + i),
            })
            .collect();
        let distributions = ["plain==1.0", "prose==2.0", "other==3.0"]
            .iter()
            .enumerate()
            .map(|(i, pin)| {
                let r = parse_entry(&format!("{pin} --hash=sha256:{h}"), lock, i + 1).unwrap();
                Distribution::locked(&r, "sdist", &stated)
            })
            .collect();
        let mut c = Contents {
            project: ProjectInfo {
                name: "p".into(),
                version: "1".into(),
                iteration: 1,
                license: "MIT".into(),
                install_dir: "/opt/p".into(),
            },
            source_date_epoch: 0,
            target: "linux-x86_64".into(),
            toolchain: None,
            components: vec![],
            roots: vec![],
            distributions,
            app: None,
            allow_missing_licenses: vec![],
            deny_licenses: deny.iter().map(|d| d.to_string()).collect(),
            stated_licenses: stated,
            lock: Some(lock.to_path_buf()),
            project_file: "/p/p.toml".into(),
            build_only: vec![],
        };
        c.check_policy()?;
        c.add_dist_infos(site)?;
        c.check_known()?;
        c.check_policy()?;
        Ok(c)
    }

    fn dist<'a>(c: &'a Contents, name: &str) -> &'a Distribution {
        c.distributions.iter().find(|d| d.name == name).unwrap()
    }

    #[test]
    fn an_unknown_license_fails_naming_the_distribution_and_the_fix() {
        let t = tempfile::tempdir().unwrap();
        let e = contents(t.path(), &[], &[]).unwrap_err().to_string();
        assert!(
            e.contains("the license of 1 Python distribution cannot be determined")
                && e.contains(
                    "  prose 2.0 (locked at /p/requirements.lock:2): License: \"BSD\" (not SPDX)"
                )
                && e.contains(&format!(
                    "its license file: {}",
                    t.path().join("prose-2.0.dist-info/LICENSE").display()
                ))
                && e.contains("state it, as an SPDX expression, in /p/p.toml")
                && e.ends_with("[provenance.licenses]\n  prose = \"<SPDX expression>\""),
            "{e}"
        );
        assert!(!e.contains("plain") && !e.contains("other"), "{e}");
        // Every unknown one is named in the one error.
        let mut c = contents(t.path(), &[("prose", "BSD-3-Clause")], &[]).unwrap();
        for d in c.distributions.iter_mut().filter(|d| d.name != "plain") {
            d.license_stated = None;
            d.license_metadata = None;
        }
        let e = c.check_known().unwrap_err().to_string();
        assert!(
            e.starts_with(
                "the licenses of 2 Python distributions cannot be determined from their metadata"
            ) && e
                .contains("Read their licenses and state them, as SPDX expressions, in /p/p.toml")
                && e.contains("  other 3.0 (locked at /p/requirements.lock:3): ")
                && e.ends_with("  other = \"<SPDX expression>\"\n  prose = \"<SPDX expression>\""),
            "{e}"
        );
    }

    #[test]
    fn a_stated_license_is_shipped_and_both_are_recorded() {
        let t = tempfile::tempdir().unwrap();
        let c = contents(
            t.path(),
            &[("PROSE", "BSD-3-Clause"), ("other", "MIT OR Apache-2.0")],
            &[],
        )
        .unwrap();
        let prose = dist(&c, "prose");
        assert_eq!(prose.license, "BSD-3-Clause");
        assert_eq!(prose.license_metadata, None);
        let other = dist(&c, "other");
        assert_eq!(other.license, "MIT OR Apache-2.0");
        assert_eq!(other.license_metadata.as_deref(), Some("MIT"));
        assert_eq!(dist(&c, "plain").license, "MIT");

        let m = manifest::render(&c);
        let md = |n: &str| {
            m["python_distributions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["name"] == n)
                .unwrap()
                .clone()
        };
        assert_eq!(md("prose")["license"], "BSD-3-Clause");
        assert_eq!(md("prose")["license_stated"], "BSD-3-Clause");
        assert!(md("prose")["license_metadata"].is_null());
        assert_eq!(md("other")["license_metadata"], "MIT");
        assert!(md("plain")["license_stated"].is_null());
        assert_eq!(md("plain")["license_metadata"], "MIT");

        let bom = sbom::render(&c);
        let comp = |n: &str| {
            bom["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == n)
                .unwrap()
                .clone()
        };
        let prop = |x: &serde_json::Value, k: &str| -> Vec<String> {
            x["properties"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["name"] == k)
                .map(|p| p["value"].as_str().unwrap().to_string())
                .collect()
        };
        let other = comp("other");
        assert_eq!(
            other["licenses"],
            serde_json::json!([{"expression": "MIT OR Apache-2.0"}])
        );
        assert_eq!(prop(&other, "ferrobus:license-source"), ["project"]);
        assert_eq!(prop(&other, "ferrobus:license-metadata"), ["MIT"]);
        let prose = comp("prose");
        assert_eq!(
            prop(&prose, "ferrobus:license-metadata"),
            Vec::<String>::new()
        );
        assert_eq!(
            prop(&comp("plain"), "ferrobus:license-source"),
            ["metadata"]
        );

        let summary = licenses::summary(&c);
        assert!(
            summary.contains("python-prose                 2.0                  BSD-3-Clause *\n")
                && summary.contains("python-plain                 1.0                  MIT\n")
                && summary.contains("* stated by the packager"),
            "{summary}"
        );
    }

    #[test]
    fn the_policy_judges_the_stated_license_and_stated_names_must_be_locked() {
        let t = tempfile::tempdir().unwrap();
        // Stated at plan time: refused before anything is read.
        let e = contents(t.path(), &[("prose", "GPL-3.0-only")], &["GPL-*"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Python distribution prose 2.0 (license stated in [provenance.licenses])")
                && e.contains("license GPL-3.0-only is denied"),
            "{e}"
        );
        // The stated license replaces the metadata's for the policy too.
        let c = contents(
            t.path(),
            &[("prose", "BSD-3-Clause"), ("plain", "Apache-2.0")],
            &["MIT"],
        );
        assert!(c.is_err(), "other (MIT by its classifier) passed a MIT ban");
        contents(
            t.path(),
            &[
                ("prose", "BSD-3-Clause"),
                ("plain", "Apache-2.0"),
                ("other", "ISC"),
            ],
            &["MIT"],
        )
        .unwrap();
        let e = contents(t.path(), &[("prose", "MIT"), ("prsoe", "MIT")], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/p/p.toml:21:1: [provenance.licenses] states the license of prsoe, \
                        which is neither locked in /p/requirements.lock (locked: other, plain, prose)"),
            "{e}"
        );
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
