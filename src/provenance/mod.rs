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

pub mod assembled;
pub mod licenses;
pub mod manifest;
pub mod policy;
pub mod sbom;
pub mod seal;

use crate::fingerprint::Fingerprint;
use crate::load::Project;
use crate::plan::Plan;
use crate::pypkg::{LockedApp, PackageName, WheelSource};
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
    /// SPDX license (from its metadata once installed), `NOASSERTION` if unknown.
    pub license: String,
    /// Its license files' places, relative to the install dir, once installed.
    pub license_dests: Vec<String>,
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
    /// The application itself, from its source (`kind` "source" until its
    /// wheel is built).
    pub fn of_app(app: &impl LockedApp) -> Distribution {
        Distribution {
            name: app.name().clone(),
            version: app.version().to_string(),
            kind: "source".into(),
            file: None,
            sha256: None,
            lock_hashes: vec![],
            license: match app.license() {
                "" => "NOASSERTION".into(),
                l => l.to_string(),
            },
            license_dests: vec![],
        }
    }
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
        let mut distributions: Vec<Distribution> = app
            .map(|a| {
                a.requirements()
                    .iter()
                    .map(|r| Distribution {
                        name: r.name.clone(),
                        version: r.version.to_string(),
                        kind: if a.uses_published_wheel(&r.name) {
                            "wheel"
                        } else {
                            "sdist"
                        }
                        .into(),
                        file: None,
                        sha256: None,
                        lock_hashes: {
                            let mut h = r.hashes.clone();
                            h.sort();
                            h
                        },
                        license: "NOASSERTION".into(),
                        license_dests: vec![],
                    })
                    .collect()
            })
            .unwrap_or_default();
        distributions.sort_by(|a, b| a.name.cmp(&b.name));
        let app = app.map(Distribution::of_app);
        let mut allow = project.provenance.allow_missing_licenses.clone();
        allow.sort();
        Contents {
            project: ProjectInfo::of(project, &project.install_dir),
            source_date_epoch: plan.source_date_epoch,
            target: plan.toolchain.target.clone(),
            toolchain: Some(plan.toolchain.clone()),
            components,
            roots,
            distributions,
            app,
            allow_missing_licenses: allow,
            deny_licenses: project.provenance.deny_licenses.clone(),
            build_only: vec![],
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
                return Err(no_license(&c.name));
            }
        }
        Ok(())
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
            let what = format!("Python distribution {} {}", d.name, d.version);
            policy::check(&what, &d.license, deny, &file)?;
        }
        Ok(())
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
                self.distributions.push(Distribution {
                    name: name.clone(),
                    version: info.version.clone(),
                    kind: "bundled".into(),
                    file: None,
                    sha256: None,
                    lock_hashes: vec![],
                    license: "NOASSERTION".into(),
                    license_dests: vec![],
                });
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
            if let Some(l) = &info.license {
                d.license = l.clone();
            }
            d.license_dests = info
                .license_files
                .iter()
                .map(|(rel, _)| format!("LICENSES/python-{}/{rel}", d.name))
                .collect();
        }
        Ok(())
    }
}

/// The error for a component without a license.
fn no_license(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{name}: no license in its definition; set `license` (SPDX) and `license_files`, \
         or allow it with [provenance] allow_missing_licenses = [\"{name}\"]"
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
    // The distributions' licenses are known now, from their metadata.
    contents.check_denied()?;
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

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
