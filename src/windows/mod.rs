//! windows: the `windows-x86_64` target, assembled on the Linux build host.
//!
//! Nothing is compiled. CPython is the official embeddable distribution
//! ([`python`]); the application's locked requirements are their published
//! `win_amd64` wheels (downloaded by the host's pip, each sha256 checked against
//! the lock); the application is its own pure-Python wheel, built by the host's
//! pip. Everything is unpacked into one bundle:
//!
//! ```text
//! python\python.exe, python3xx.dll, python3xx.zip, *.pyd, *.dll   (embeddable)
//! python\python3xx._pth            python3xx.zip, ., Lib\site-packages, import site
//! python\Lib\site-packages\...     the wheels, and a sitecustomize.py that turns
//!                                  bytecode writing off (the install dir stays as
//!                                  installed, so uninstall leaves nothing behind)
//! bin\<entry point>.cmd            finds ..\python\python.exe relative to itself
//! LICENSE, LICENSES\, version-manifest.json, bom.json, payload-files.txt
//! ```
//!
//! The bundle's PE files pass [`pe::check`]; its SBOM is sealed to it
//! ([`crate::provenance::seal`], as on Linux); then the formats of `[windows]`
//! are written into `dist/` by the packagers every target uses
//! ([`crate::package::publish`]): a reproducible zip ([`crate::package::zip`])
//! and an MSI ([`crate::package::msi`]), the version manifest and SBOM beside
//! them, all listed in the one `SHA256SUMS` of `dist/` (signed with the signing
//! key, if one is given).

pub mod pe;
pub mod python;

use crate::app::{self, AppPlan, Requirement};
use crate::fetch::FetchOptions;
use crate::load::{self, Project};
use crate::paths::Layout;
use crate::util::{remove_any, sha256_file, write_atomic};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The target name.
pub const TARGET: &str = "windows-x86_64";

/// The Windows bundle of a project (`[windows]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// Installers to write: `zip`, `msi`.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// The embeddable CPython's definition, relative to the software definitions
    /// directory.
    #[serde(default = "default_python")]
    pub python: String,
    /// MSI options (`[windows.msi]`), required when `msi` is listed.
    pub msi: Option<MsiConfig>,
}

/// MSI options (`[windows.msi]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MsiConfig {
    /// Product name: Add/Remove Programs and `ProgramFiles64Folder\<name>`.
    pub product_name: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// The UpgradeCode GUID: the same for every version of the product, so a
    /// newer MSI replaces an installed older one (major upgrade).
    pub upgrade_code: String,
}

fn default_formats() -> Vec<String> {
    vec!["zip".into(), "msi".into()]
}

fn default_python() -> String {
    "windows/python.toml".into()
}

/// Every Windows format name.
pub const FORMATS: &[&str] = crate::package::WINDOWS_FORMATS;

/// What a Windows build needs besides the project.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project file.
    pub project: PathBuf,
    /// The software definitions directory.
    pub defs: PathBuf,
    /// Cache and build roots.
    pub layout: Layout,
    /// Where installers go.
    pub dist: PathBuf,
    /// How sources are fetched.
    pub fetch: FetchOptions,
    /// The key that signs `SHA256SUMS`, if any.
    pub signing: Option<crate::package::sign::SigningKey>,
}

/// The result of a Windows build.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The staged bundle (the install dir's contents).
    pub bundle: PathBuf,
    /// Installers written.
    pub packages: Vec<PathBuf>,
    /// The version manifest and SBOM beside them.
    pub provenance: Vec<PathBuf>,
    /// `SHA256SUMS` of the dist dir.
    pub sums: PathBuf,
    /// Its signature, when signed.
    pub signature: Option<PathBuf>,
    /// The PE health check.
    pub pe: pe::Report,
    /// Files in the bundle.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Seconds, total.
    pub seconds: f64,
}

/// Check a project's `[windows]` section: formats and the MSI's settings.
pub fn validate(p: &Project) -> Result<&WindowsConfig> {
    let file = p.path.display();
    let Some(w) = &p.windows else {
        bail!("{file}: no [windows] section: the project does not build for {TARGET}");
    };
    for f in &w.formats {
        if !FORMATS.contains(&f.as_str()) {
            bail!(
                "{file}: [windows] formats: unknown format \"{f}\" (known: {})",
                FORMATS.join(", ")
            );
        }
    }
    if w.formats.iter().any(|f| f == "msi") {
        let Some(m) = &w.msi else {
            bail!("{file}: [windows] formats lists msi, but there is no [windows.msi]");
        };
        if crate::package::msi::parse_guid(&m.upgrade_code).is_none() {
            bail!(
                "{file}: [windows.msi] upgrade_code \"{}\" is not a GUID ({{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}})",
                m.upgrade_code
            );
        }
        if m.product_name.trim().is_empty()
            || m.product_name
                .contains(['\\', '/', ':', '*', '?', '"', '<', '>', '|'])
        {
            bail!(
                "{file}: [windows.msi] product_name \"{}\" is not a valid folder name",
                m.product_name
            );
        }
        crate::package::msi::product_version(&p.version)
            .with_context(|| format!("{file}: version"))?;
    }
    if p.app.is_none() {
        bail!("{file}: the {TARGET} target needs an [app]");
    }
    Ok(w)
}

/// Build the project for Windows: fetch, stage, check, package.
pub fn build(opts: &Options) -> Result<Built> {
    let t = Instant::now();
    let project = load::load_project(&opts.project)?;
    let win = validate(&project)?.clone();
    let app = app::plan(&project)?.context("no [app]")?;
    let def = python::load(&opts.defs.join(&win.python))?;
    let work = opts.layout.project_build(&project.name).join("windows");
    fs::create_dir_all(&work)?;
    let (py_files, py_prov) = python::fetch(&def, &opts.layout.sources(), &opts.fetch, &work)?;
    let pyver = python_minor(&def.version)?;
    let mut wheels = Vec::new();
    for r in &app.requirements {
        wheels.push(fetch_wheel(
            r,
            &app,
            &pyver,
            &opts.layout,
            &work,
            &opts.fetch,
        )?);
    }
    let app_whl = app_wheel(&app, &work, project.source_date_epoch)?;
    let bundle = work.join("stage");
    remove_any(&bundle)?;
    fs::create_dir_all(&bundle)?;
    let pydir = bundle.join("python");
    for (rel, data) in &py_files {
        let to = pydir.join(rel);
        fs::create_dir_all(to.parent().unwrap_or(&pydir))?;
        fs::write(&to, data)?;
    }
    let site = pydir.join("Lib").join("site-packages");
    fs::create_dir_all(&site)?;
    write_pth(&pydir, &py_files)?;
    fs::write(
        site.join("sitecustomize.py"),
        "# Written by ferrobus: the bundle's files stay exactly as installed, so\n\
         # nothing (no __pycache__) is left behind by an uninstall.\n\
         import sys\n\nsys.dont_write_bytecode = True\n",
    )?;
    let mut dists = Vec::new();
    for w in &wheels {
        dists.push(unpack_wheel(&w.path, &w.file, &site)?);
    }
    let app_dist = unpack_wheel(&app_whl, &file_name(&app_whl), &site)?;
    write_launchers(&bundle, &app, &app_dist)?;
    write_provenance(
        &bundle, &project, &win, &app, &def, &py_prov, &py_files, &wheels, &dists,
    )?;
    let report = pe::check(&bundle)?;
    if !report.ok() {
        bail!(
            "PE health check of {} failed:\n{}",
            bundle.display(),
            report.render()
        );
    }
    // The SBOM records the digest of the final bundle.
    crate::provenance::seal::seal(&bundle)?;
    let (files, bytes) = walkdir::WalkDir::new(&bundle)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .fold((0, 0), |(n, b), e| {
            (n + 1, b + e.metadata().map(|m| m.len()).unwrap_or(0))
        });
    let out = package(&bundle, &project, &win, &opts.dist, opts.signing.clone())?;
    Ok(Built {
        bundle,
        packages: out.packages.into_iter().map(|p| p.path).collect(),
        provenance: out.provenance,
        sums: out.sums,
        signature: out.signature,
        pe: report,
        files,
        bytes,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// `3.13` from `3.13.2`: the interpreter the wheels are chosen for.
fn python_minor(version: &str) -> Result<String> {
    let mut it = version.split('.');
    match (it.next(), it.next()) {
        (Some(a), Some(b)) if a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok() => {
            Ok(format!("{a}.{b}"))
        }
        _ => bail!("python version \"{version}\" is not major.minor.patch"),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// A requirement's win_amd64 wheel, in the source cache.
#[derive(Debug, Clone)]
struct Wheel {
    req: Requirement,
    path: PathBuf,
    file: String,
    sha256: String,
}

/// The win_amd64 wheel of one locked distribution: from the source cache when
/// one of the lock's hashes is there as a wheel, else downloaded by the host's
/// pip for the bundle's interpreter and checked against the lock.
fn fetch_wheel(
    r: &Requirement,
    app: &AppPlan,
    pyver: &str,
    layout: &Layout,
    work: &Path,
    fetch: &FetchOptions,
) -> Result<Wheel> {
    let sources = layout.sources();
    for h in &r.hashes {
        let p = sources.join(h);
        let name = fs::read_to_string(sources.join(format!("{h}.name"))).unwrap_or_default();
        if p.is_file() && wheel_fits(&name, pyver) {
            return Ok(Wheel {
                req: r.clone(),
                path: p,
                file: name,
                sha256: h.clone(),
            });
        }
    }
    let pin = format!("{}=={}", r.name, r.version);
    let where_ = format!("{}:{}", app.lock.display(), r.line);
    if fetch.offline {
        bail!("{where_}: no win_amd64 wheel of {pin} in the cache (offline)");
    }
    fs::create_dir_all(&sources)?;
    let tmp = tempfile::Builder::new()
        .prefix(".wheel-")
        .tempdir_in(work)?;
    python::pip_download(
        &[
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "win_amd64",
            "--python-version",
            pyver,
            "--implementation",
            "cp",
            "--dest",
            &tmp.path().display().to_string(),
            &pin,
        ],
        &format!("{pin} (win_amd64, {where_})"),
    )?;
    let file = crate::util::single_file(tmp.path(), &pin)?;
    let got = sha256_file(&file)?;
    let name = file_name(&file);
    if !wheel_fits(&name, pyver) {
        bail!("{where_}: pip chose {name}, which does not fit CPython {pyver} on win_amd64");
    }
    if !r.hashes.contains(&got) {
        bail!(
            "{where_}: hash mismatch for {pin}: {name} has sha256 {got}, the lock allows {}",
            r.hashes.join(", ")
        );
    }
    let dst = python::store(&file, &sources, &got, &name)?;
    Ok(Wheel {
        req: r.clone(),
        path: dst,
        file: name,
        sha256: got,
    })
}

/// Whether a wheel's file name tags fit CPython `pyver` (`3.13`) on win_amd64:
/// platform `win_amd64` or `any`; and `cp313` (ABI `cp313`, `abi3` or `none`),
/// or a stable-ABI (`abi3`) wheel for an earlier CPython 3, or `py3` with no ABI.
pub fn wheel_fits(file: &str, pyver: &str) -> bool {
    let Some(stem) = file.strip_suffix(".whl") else {
        return false;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    let n = parts.len();
    if n < 5 {
        return false;
    }
    let (py, abi, plat) = (parts[n - 3], parts[n - 2], parts[n - 1]);
    let Some(minor) = pyver.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()) else {
        return false;
    };
    let cp = format!("cp3{minor}");
    let plat_ok = plat.split('.').any(|p| p == "win_amd64" || p == "any");
    let abis: Vec<&str> = abi.split('.').collect();
    let py_ok = py.split('.').any(|t| {
        let earlier_cp3 = t
            .strip_prefix("cp3")
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|v| v <= minor);
        (t == cp
            && abis
                .iter()
                .any(|a| *a == cp || *a == "abi3" || *a == "none"))
            || (earlier_cp3 && abis.contains(&"abi3"))
            || (t == "py3" && abis.contains(&"none"))
    });
    plat_ok && py_ok
}

/// The application's own wheel, built by the host's pip from a copy of its
/// source (it is pure Python), kept per source key.
fn app_wheel(app: &AppPlan, work: &Path, epoch: u64) -> Result<PathBuf> {
    let dir = work.join(format!("app-wheel-{}-{epoch}", &app.source_key[..24]));
    let find = |d: &Path| -> Option<PathBuf> {
        fs::read_dir(d)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
    };
    if let Some(w) = find(&dir) {
        return Ok(w);
    }
    let src = work.join("app-src");
    remove_any(&src)?;
    let skip = |n: &str| {
        matches!(n, "build" | "dist" | "__pycache__" | ".git" | ".venv") || n.ends_with(".egg-info")
    };
    for e in walkdir::WalkDir::new(&app.source)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !skip(&e.file_name().to_string_lossy()))
    {
        let e = e?;
        let to = src.join(e.path().strip_prefix(&app.source)?);
        if e.file_type().is_dir() {
            fs::create_dir_all(&to)?;
        } else if e.file_type().is_file() {
            fs::copy(e.path(), &to)?;
        }
    }
    let tmp = work.join(".app-wheel-tmp");
    remove_any(&tmp)?;
    let out = Command::new("python3")
        .args(["-m", "pip", "wheel", "--disable-pip-version-check", "-q"])
        .args(["--no-deps", "--wheel-dir"])
        .arg(&tmp)
        .arg(&src)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .output()
        .context("running python3 -m pip wheel (the build host's Python)")?;
    if !out.status.success() {
        bail!(
            "building the application from {} failed:\n{}",
            app.source.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    remove_any(&dir)?;
    fs::rename(&tmp, &dir)?;
    remove_any(&src)?;
    find(&dir).context("the application's build produced no wheel")
}

/// What one installed distribution left in site-packages.
#[derive(Debug, Clone)]
struct Dist {
    /// `<name>-<version>.dist-info`.
    dist_info: String,
}

/// Unpack a wheel into site-packages (purelib and platlib alike: the embeddable
/// Python has one site-packages). Scripts are not unpacked: console entry
/// points get launchers from [`write_launchers`].
fn unpack_wheel(wheel: &Path, file: &str, site: &Path) -> Result<Dist> {
    let f = fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut z = zip::ZipArchive::new(f).with_context(|| format!("{file}: not a wheel"))?;
    let mut dist_info = None;
    for i in 0..z.len() {
        let mut e = z.by_index(i)?;
        if e.is_dir() {
            continue;
        }
        let name = e.name()?.to_string();
        if name.split('/').any(|p| p == ".." || p.is_empty()) || name.starts_with('/') {
            bail!("{file}: unsafe path {name}");
        }
        let first = name.split('/').next().unwrap_or("");
        if first.ends_with(".dist-info") {
            dist_info = Some(first.to_string());
        }
        let rel = if first.ends_with(".data") {
            let rest: Vec<&str> = name.splitn(3, '/').collect();
            match rest.get(1).copied() {
                Some("purelib") | Some("platlib") => rest.get(2).copied().unwrap_or("").to_string(),
                Some("scripts") => continue,
                other => bail!(
                    "{file}: {name}: the .data category {} is not supported in a Windows bundle",
                    other.unwrap_or("")
                ),
            }
        } else {
            name.clone()
        };
        let to = site.join(&rel);
        if to.exists() {
            bail!(
                "{file}: {rel} is already in site-packages (another wheel, or ferrobus' sitecustomize.py)"
            );
        }
        fs::create_dir_all(to.parent().unwrap_or(site))?;
        let mut buf = Vec::new();
        e.read_to_end(&mut buf)?;
        fs::write(&to, buf)?;
    }
    let dist_info = dist_info.with_context(|| format!("{file}: no .dist-info"))?;
    fs::write(site.join(&dist_info).join("INSTALLER"), "ferrobus\n")?;
    Ok(Dist { dist_info })
}

/// Rewrite the `._pth` file: the standard library zip, the Python directory,
/// `Lib\site-packages`, and `import site` (which runs sitecustomize).
fn write_pth(pydir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    let pth = files
        .keys()
        .find(|k| !k.contains('/') && k.ends_with("._pth"))
        .context("the embeddable distribution has no ._pth file")?;
    let zip = files
        .keys()
        .find(|k| !k.contains('/') && k.starts_with("python") && k.ends_with(".zip"))
        .context("the embeddable distribution has no standard library zip")?;
    let text = format!("{zip}\r\n.\r\nLib\\site-packages\r\nimport site\r\n");
    fs::write(pydir.join(pth), text)?;
    Ok(())
}

/// `bin\<name>.cmd` for every `[app] entry_points` name, from the application's
/// `entry_points.txt`: runs the bundle's own python.exe, found relative to the
/// script (`%~dp0`), so the bundle works wherever it is installed or unpacked.
fn write_launchers(bundle: &Path, app: &AppPlan, app_dist: &Dist) -> Result<()> {
    let eps_file = bundle
        .join("python/Lib/site-packages")
        .join(&app_dist.dist_info)
        .join("entry_points.txt");
    let text = fs::read_to_string(&eps_file).unwrap_or_default();
    let mut section = String::new();
    let mut scripts = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            section = l.trim_matches(['[', ']']).to_string();
        } else if section == "console_scripts"
            && let Some((k, v)) = l.split_once('=')
        {
            scripts.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let bin = bundle.join("bin");
    for ep in &app.entry_points {
        let Some(target) = scripts.get(ep) else {
            bail!(
                "entry point \"{ep}\" is not a console script of {} (its entry_points.txt)",
                app.name
            );
        };
        let (module, attr) = target
            .split_once(':')
            .with_context(|| format!("entry point {ep} = {target}: no module:function"))?;
        let attr = attr.split('[').next().unwrap_or(attr).trim();
        let head = attr.split('.').next().unwrap_or(attr);
        if !module
            .chars()
            .chain(attr.chars())
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            bail!("entry point {ep} = {target}: not a plain module:function");
        }
        let cmd = format!(
            "@echo off\r\n\
             rem {ep}: {target}, run by the bundle's own Python (..\\python beside this script).\r\n\
             \"%~dp0..\\python\\python.exe\" -B -c \"import sys; from {module} import {head}; sys.exit({attr}())\" %*\r\n"
        );
        fs::create_dir_all(&bin)?;
        fs::write(bin.join(format!("{ep}.cmd")), cmd)?;
    }
    Ok(())
}

/// The provenance files of the bundle, in the formats of the Linux packages
/// ([`crate::provenance`]): `version-manifest.json`, a CycloneDX `bom.json`,
/// `LICENSE` and `LICENSES/` (the embeddable distribution's license files, the
/// wheels' from their `.dist-info`).
#[allow(clippy::too_many_arguments)]
fn write_provenance(
    bundle: &Path,
    project: &Project,
    win: &WindowsConfig,
    app: &AppPlan,
    def: &python::EmbedDef,
    prov: &python::Provenance,
    py_files: &BTreeMap<String, Vec<u8>>,
    wheels: &[Wheel],
    dists: &[Dist],
) -> Result<()> {
    use crate::provenance::{self as pv, ComponentInfo, Contents, Distribution, ProjectInfo};
    let site = bundle.join("python/Lib/site-packages");
    let mut lic_dests = Vec::new();
    for f in &def.license_files {
        let data = py_files.get(f).with_context(|| {
            format!(
                "{}: license file {f} is not in the distribution",
                def.path.display()
            )
        })?;
        let rel = format!("LICENSES/{}/{f}", def.name);
        let to = bundle.join(&rel);
        fs::create_dir_all(to.parent().unwrap_or(bundle))?;
        fs::write(&to, data)?;
        lic_dests.push(rel);
    }
    let (urls, file_name) = match prov.route.as_str() {
        "upstream" => (def.upstream.url.clone(), prov.file.clone()),
        _ => (vec![], prov.file.clone()),
    };
    let component = ComponentInfo {
        name: def.name.clone(),
        version: def.version.clone(),
        license: def.license.clone(),
        license_files: def.license_files.clone(),
        license_dests: lic_dests,
        urls,
        sha256: prov.sha256.clone(),
        file_name,
        debian: None,
        // The identity of the files shipped, whichever route they came by.
        key: def.files_sha256.clone(),
        patches: vec![],
        depends: vec![],
    };
    let mut distributions = Vec::new();
    for (w, d) in wheels.iter().zip(dists) {
        let di = site.join(&d.dist_info);
        let meta = fs::read_to_string(di.join("METADATA")).unwrap_or_default();
        let field = |k: &str| {
            meta.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                // An SPDX expression, not a license text.
                .filter(|v| {
                    !v.is_empty()
                        && v.chars()
                            .all(|c| c.is_ascii_alphanumeric() || " -.+()".contains(c))
                })
        };
        let license = field("License-Expression:")
            .or_else(|| field("License:"))
            .unwrap_or_else(|| "NOASSERTION".into());
        let out = format!("LICENSES/python-{}", w.req.name);
        let mut dests = Vec::new();
        for e in walkdir::WalkDir::new(&di).sort_by_file_name() {
            let e = e?;
            let n = e.file_name().to_string_lossy().to_ascii_uppercase();
            let under_licenses = e
                .path()
                .strip_prefix(&di)
                .is_ok_and(|p| p.starts_with("licenses"));
            if e.file_type().is_file()
                && (under_licenses
                    || n.starts_with("LICENSE")
                    || n.starts_with("COPYING")
                    || n.starts_with("NOTICE"))
            {
                let rel = format!("{out}/{}", e.file_name().to_string_lossy());
                let to = bundle.join(&rel);
                fs::create_dir_all(to.parent().unwrap_or(bundle))?;
                fs::copy(e.path(), &to)?;
                dests.push(rel);
            }
        }
        let mut lock_hashes = w.req.hashes.clone();
        lock_hashes.sort();
        distributions.push(Distribution {
            name: w.req.name.clone(),
            version: w.req.version.clone(),
            kind: "wheel".into(),
            file: Some(w.file.clone()),
            sha256: Some(w.sha256.clone()),
            lock_hashes,
            license,
            license_dests: dests,
        });
    }
    distributions.sort_by(|a, b| a.name.cmp(&b.name));
    let install_dir = match &win.msi {
        Some(m) => format!("C:\\Program Files\\{}", m.product_name),
        None => project.name.clone(),
    };
    let c = Contents {
        project: ProjectInfo {
            name: project.name.clone(),
            version: project.version.clone(),
            iteration: project.iteration,
            license: project.license.clone(),
            install_dir,
        },
        source_date_epoch: project.source_date_epoch,
        toolchain: crate::toolchain::Toolchain {
            target: TARGET.into(),
            cc: String::new(),
            cxx: String::new(),
            cc_version: "none: nothing is compiled for this target".into(),
            triple: "x86_64-pc-windows-msvc".into(),
            libc: "ucrt".into(),
            compiler: String::new(),
            ar: None,
            ranlib: None,
            wrapper: None,
        },
        components: vec![component],
        roots: vec![def.name.clone()],
        distributions,
        app: Some(Distribution {
            name: app.name.clone(),
            version: app.version.clone(),
            kind: "source".into(),
            file: None,
            sha256: None,
            lock_hashes: vec![],
            license: if app.license.is_empty() {
                "NOASSERTION".into()
            } else {
                app.license.clone()
            },
            license_dests: vec![],
        }),
        allow_missing_licenses: project.provenance.allow_missing_licenses.clone(),
    };
    write_atomic(
        &bundle.join("LICENSE"),
        pv::licenses::summary(&c).as_bytes(),
    )?;
    write_atomic(
        &bundle.join(pv::MANIFEST_FILE),
        pv::render(&pv::manifest::render(&c)).as_bytes(),
    )?;
    write_atomic(
        &bundle.join(pv::SBOM_FILE),
        pv::render(&pv::sbom::render(&c)).as_bytes(),
    )?;
    Ok(())
}

/// The installers' file name stem: `<name>-<version>-<iteration>.windows-x86_64`.
pub fn stem(p: &Project) -> String {
    format!("{}-{}-{}.{TARGET}", p.name, p.version, p.iteration)
}

/// Write the project's Windows formats into `dist` with the packagers every
/// target uses, and `<stem>.version-manifest.json` and `<stem>.cdx.json` beside
/// them; all are listed in `dist/SHA256SUMS`, signed with `signing` if given.
pub fn package(
    bundle: &Path,
    p: &Project,
    win: &WindowsConfig,
    dist: &Path,
    signing: Option<crate::package::sign::SigningKey>,
) -> Result<crate::package::Published> {
    use crate::package::{self, Beside, Meta};
    let mut meta = Meta::from_project(p)?;
    meta.signing = signing;
    // What identifies the bundle's contents: every file but the SBOM (the seal),
    // and the SBOM.
    let nodes = crate::provenance::seal::tree_nodes(bundle)?;
    let tree_id = format!(
        "{}\n{}",
        crate::provenance::seal::digest(&nodes),
        sha256_file(&bundle.join(crate::provenance::SBOM_FILE))?
    );
    let beside = Beside {
        dir: bundle.to_path_buf(),
        stem: stem(p),
    };
    let out = package::publish(bundle, Some(&beside), &meta, &win.formats, dist, &tree_id)?;
    // The per-build checksum list of older versions: SHA256SUMS has it all now.
    let _ = fs::remove_file(dist.join(format!("{}.SHA256SUMS", stem(p))));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(extra: &str) -> Result<Project> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.toml");
        fs::write(
            &p,
            format!(
                "name = \"a\"\nversion = \"1.0.0\"\ninstall_dir = \"/opt/a\"\n\
                 components = [\"python\"]\n[app]\nsource = \".\"\nrequirements = \"r.lock\"\n{extra}"
            ),
        )
        .unwrap();
        load::load_project(&p)
    }

    #[test]
    fn installer_names_carry_the_target() {
        assert_eq!(crate::package::zip::PLATFORM, TARGET);
    }

    #[test]
    fn wheels_must_fit_the_interpreter() {
        for ok in [
            "psutil-7.2.2-cp37-abi3-win_amd64.whl",
            "PyYAML-6.0.2-cp313-cp313-win_amd64.whl",
            "six-1.17.0-py2.py3-none-any.whl",
            "x-1.0-1build-cp313-none-win_amd64.whl",
        ] {
            assert!(wheel_fits(ok, "3.13"), "{ok}");
        }
        for bad in [
            "PyYAML-6.0.2-cp312-cp312-win_amd64.whl",
            "PyYAML-6.0.2-cp313-cp313-win32.whl",
            "PyYAML-6.0.2-cp313-cp313t-win_amd64.whl",
            "psutil-7.2.2-cp314-abi3-win_amd64.whl",
            "psutil-7.2.2-cp37-abi3-manylinux_2_17_x86_64.whl",
            "pyyaml-6.0.2.tar.gz",
        ] {
            assert!(!wheel_fits(bad, "3.13"), "{bad}");
        }
    }

    #[test]
    fn windows_sections_are_checked() {
        let ok = "[windows]\n[windows.msi]\nproduct_name = \"A\"\nmanufacturer = \"M\"\n\
                  upgrade_code = \"{6F1C8A3E-2B4D-4C5E-9A7B-1C2D3E4F5A6B}\"\n";
        let p = project(ok).unwrap();
        assert_eq!(validate(&p).unwrap().formats, ["zip", "msi"]);
        let e = project("[windows]\nformat = []\n").unwrap_err().to_string();
        assert!(
            e.contains("p.toml:9:1") && e.contains("unknown field `format`"),
            "{e}"
        );
        let p = project("[windows]\nformats = [\"exe\"]\n").unwrap();
        let e = validate(&p).unwrap_err().to_string();
        assert!(e.contains("unknown format \"exe\""), "{e}");
        let p = project("[windows]\n").unwrap();
        let e = validate(&p).unwrap_err().to_string();
        assert!(e.contains("no [windows.msi]"), "{e}");
        let p = project(&ok.replace("{6F1C8A3E-2B4D-4C5E-9A7B-1C2D3E4F5A6B}", "nope")).unwrap();
        let e = validate(&p).unwrap_err().to_string();
        assert!(e.contains("upgrade_code \"nope\" is not a GUID"), "{e}");
        let p = project(&ok.replace("\"A\"", "\"A/B\"")).unwrap();
        let e = validate(&p).unwrap_err().to_string();
        assert!(e.contains("not a valid folder name"), "{e}");
    }
}
