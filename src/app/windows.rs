//! app::windows: the application layer of an assembled (Windows) runtime.
//!
//! The lock's requirements are their published wheels for the runtime's
//! interpreter (`win_amd64`: nothing is compiled), downloaded by the host's pip
//! into the source cache, each file's tags checked against the interpreter and
//! its sha256 against the lock. The application is its own wheel, built by the
//! one app-wheel builder ([`super::app_wheel`], with the host's Python). Every
//! wheel is installed by [`install_wheel`] into the runtime's layout, each
//! console entry point gets an `.exe` launcher and each service its host (both
//! copies of [`crate::windows::host`]).

use super::{AppPlan, Builder};
use crate::fetch::FetchOptions;
use crate::paths::Layout;
use crate::pypkg::{EntryPoint, Interpreter, Requirement, WheelSource, console_scripts};
use crate::util::sha256_file;
use crate::windows::host::{self, HostConfig, Role};
use crate::windows::{Runtime, Service, python};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What the app layer installed into an assembled runtime.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Each locked requirement with the wheel file it was installed from.
    pub wheels: Vec<(Requirement, WheelSource)>,
    /// Those wheels, in the source cache.
    pub wheel_paths: Vec<PathBuf>,
    /// The application's own wheel.
    pub app_wheel: PathBuf,
    /// The executables written from the host: launchers and service hosts,
    /// relative to the bundle (with `/`).
    pub executables: Vec<String>,
}

/// Where a wheel's files go: the install scheme of one interpreter.
#[derive(Debug, Clone)]
pub struct Scheme {
    /// `purelib` and `platlib` (one directory in an embeddable Python).
    pub site_packages: PathBuf,
    /// `scripts`, or `None` to leave them out (launchers are made from
    /// the entry points instead).
    pub scripts: Option<PathBuf>,
}

/// Fetch every locked requirement's wheel, build the application's wheel with
/// `builder`, install them all into `rt`'s site-packages and write, from
/// `host` (the compiled Windows host), a launcher for each of the app's entry
/// points and a host for each of `services`.
pub fn install(
    rt: &Runtime,
    app: &AppPlan,
    builder: &Builder,
    layout: &Layout,
    fetch: &FetchOptions,
    (host, services): (&[u8], &[Service]),
) -> Result<Installed> {
    let scheme = Scheme {
        site_packages: rt.site_packages.clone(),
        scripts: None,
    };
    let (mut wheels, mut wheel_paths) = (Vec::new(), Vec::new());
    for r in &app.requirements {
        let (path, source) = fetch_wheel(r, app, &rt.interpreter, layout, builder, fetch)?;
        install_wheel(&path, &source.file, &scheme)?;
        wheels.push((r.clone(), source));
        wheel_paths.push(path);
    }
    let app_wheel = super::app_wheel(builder, layout, app, None)?;
    let name = app_wheel.file_name().unwrap_or_default().to_string_lossy();
    let dist_info = install_wheel(&app_wheel, &name, &scheme)?;
    let scripts = entry_points(app, &rt.site_packages.join(dist_info))?;
    let mut executables = write_launchers(&rt.bundle, &scripts, host)?;
    executables.extend(write_service_hosts(rt, &scripts, host, services)?);
    Ok(Installed {
        wheels,
        wheel_paths,
        app_wheel,
        executables,
    })
}

/// The wheel of one locked distribution for `py`: from the source cache when
/// one of the lock's hashes is there as a fitting wheel, else downloaded by the
/// host's pip and checked against the lock. Returns its path and record.
fn fetch_wheel(
    r: &Requirement,
    app: &AppPlan,
    py: &Interpreter,
    layout: &Layout,
    builder: &Builder,
    fetch: &FetchOptions,
) -> Result<(PathBuf, WheelSource)> {
    let sources = layout.sources();
    let record = |file: String, sha256: String| WheelSource {
        kind: "wheel".into(),
        file,
        sha256,
    };
    for h in &r.hashes {
        let p = sources.join(h);
        let name = fs::read_to_string(sources.join(format!("{h}.name"))).unwrap_or_default();
        if p.is_file() && py.accepts(&name) {
            return Ok((p, record(name, h.clone())));
        }
    }
    let pin = r.pin();
    let where_ = format!("{}:{}", app.lock.display(), r.line);
    if fetch.offline {
        bail!(
            "{where_}: no {} wheel of {pin} in the cache (offline)",
            py.platform
        );
    }
    fs::create_dir_all(&sources)?;
    fs::create_dir_all(&builder.work)?;
    let tmp = tempfile::Builder::new()
        .prefix(".wheel-")
        .tempdir_in(&builder.work)?;
    let version = format!("{}.{}", py.major, py.minor);
    python::pip_download(
        &[
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            &py.platform,
            "--python-version",
            &version,
            "--implementation",
            &py.implementation,
            "--dest",
            &tmp.path().display().to_string(),
            &pin,
        ],
        &format!("{pin} ({}, {where_})", py.platform),
    )?;
    let file = crate::util::single_file(tmp.path(), &pin)?;
    let got = sha256_file(&file)?;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    if !py.accepts(&name) {
        bail!(
            "{where_}: pip chose {name}, which does not fit CPython {version} on {}",
            py.platform
        );
    }
    if !r.hashes.contains(&got) {
        bail!(
            "{where_}: hash mismatch for {pin}: {name} has sha256 {got}, the lock allows {}",
            r.hashes.join(", ")
        );
    }
    let dst = python::store(&file, &sources, &got, &name)?;
    Ok((dst, record(name.into_owned(), got)))
}

/// Install one wheel into `scheme` (written by hand: the wheel format is a zip
/// with a small layout, and the Linux runtime installs with its own pip, which no
/// crate replaces; this is the installer of a runtime that cannot run here).
/// `.data/purelib` and `.data/platlib` go to site-packages, `.data/scripts` to
/// the scheme's scripts (or nowhere); other categories are refused. A file
/// another wheel installed is an error naming both. Returns the `.dist-info`.
pub fn install_wheel(wheel: &Path, file: &str, scheme: &Scheme) -> Result<String> {
    let site = &scheme.site_packages;
    let f = fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut z = zip::ZipArchive::new(f).with_context(|| format!("{file}: not a wheel"))?;
    let mut dist_info = BTreeSet::new();
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
            dist_info.insert(first.to_string());
        }
        let to = if first.ends_with(".data") {
            let rest: Vec<&str> = name.splitn(3, '/').collect();
            let inner = rest.get(2).copied().unwrap_or("");
            match (rest.get(1).copied(), &scheme.scripts) {
                (Some("purelib" | "platlib"), _) => site.join(inner),
                (Some("scripts"), Some(dir)) => dir.join(inner),
                (Some("scripts"), None) => continue,
                (other, _) => bail!(
                    "{file}: {name}: the .data category {} is not supported by this layout",
                    other.unwrap_or("")
                ),
            }
        } else {
            site.join(&name)
        };
        if to.exists() {
            bail!(
                "{file}: {} is already installed (another wheel, or ferrobus' sitecustomize.py)",
                to.strip_prefix(site).unwrap_or(&to).display()
            );
        }
        fs::create_dir_all(to.parent().unwrap_or(site))?;
        let mut buf = Vec::new();
        e.read_to_end(&mut buf)?;
        fs::write(&to, buf)?;
    }
    let mut it = dist_info.into_iter();
    let (Some(dist_info), None) = (it.next(), it.next()) else {
        bail!("{file}: not exactly one .dist-info");
    };
    fs::write(site.join(&dist_info).join("INSTALLER"), "ferrobus\n")?;
    Ok(dist_info)
}

/// The app's `[app] entry_points`, each with its target from the
/// application's `entry_points.txt` (a plain `module:function`).
fn entry_points(app: &AppPlan, dist_info: &Path) -> Result<BTreeMap<String, EntryPoint>> {
    let eps_file = dist_info.join("entry_points.txt");
    let text = fs::read_to_string(&eps_file).unwrap_or_default();
    let scripts = console_scripts(&text).with_context(|| format!("{}", eps_file.display()))?;
    let mut out = BTreeMap::new();
    for ep in &app.entry_points {
        let Some(target) = scripts.get(ep) else {
            bail!(
                "entry point \"{ep}\" is not a console script of {} (its entry_points.txt)",
                app.name
            );
        };
        if !target
            .module
            .chars()
            .chain(target.attr.chars())
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            bail!("entry point {ep} = {target}: not a plain module:function");
        }
        out.insert(ep.clone(), target.clone());
    }
    Ok(out)
}

/// `bin\<name>.exe` for every entry point: runs the bundle's own python.exe,
/// found relative to the launcher, so the bundle works wherever it is
/// installed or unpacked. Returns their paths in the bundle.
fn write_launchers(
    bundle: &Path,
    scripts: &BTreeMap<String, EntryPoint>,
    host: &[u8],
) -> Result<Vec<String>> {
    let bin = bundle.join("bin");
    let mut out = Vec::new();
    for (ep, target) in scripts {
        let cfg = HostConfig {
            role: Role::Console,
            python: r"..\python\python.exe".into(),
            module: target.module.clone(),
            attr: target.attr.clone(),
        };
        fs::create_dir_all(&bin)?;
        fs::write(bin.join(format!("{ep}.exe")), host::configure(host, &cfg)?)?;
        out.push(format!("bin/{ep}.exe"));
    }
    Ok(out)
}

/// `bin\<service>-service.exe` for every service: runs its entry point in
/// process under the service manager, its output appended to
/// `%ProgramData%\<project>\logs\<service>.log`.
fn write_service_hosts(
    rt: &Runtime,
    scripts: &BTreeMap<String, EntryPoint>,
    host: &[u8],
    services: &[Service],
) -> Result<Vec<String>> {
    let dll = python_dll(rt)?;
    let mut out = Vec::new();
    for s in services {
        let target = scripts
            .get(&s.entry_point)
            .with_context(|| format!("service {}: no entry point {}", s.name, s.entry_point))?;
        let cfg = HostConfig {
            role: Role::Service {
                service: s.name.clone(),
                dll: format!(r"..\python\{dll}"),
                log: format!(r"{}\logs\{}.log", s.project, s.name),
                stop_seconds: 20,
            },
            python: r"..\python\python.exe".into(),
            module: target.module.clone(),
            attr: target.attr.clone(),
        };
        let to = rt.bundle.join(&s.host);
        fs::create_dir_all(to.parent().unwrap_or(&rt.bundle))?;
        fs::write(&to, host::configure(host, &cfg)?)?;
        out.push(s.host.clone());
    }
    Ok(out)
}

/// The interpreter's DLL in the embeddable distribution (`python3XY.dll`).
fn python_dll(rt: &Runtime) -> Result<&str> {
    rt.files
        .keys()
        .find(|k| {
            !k.contains('/')
                && k.starts_with("python3")
                && k.ends_with(".dll")
                && k.len() > "python3.dll".len()
        })
        .map(String::as_str)
        .context("the embeddable distribution has no python3XY.dll")
}

/// `ferrobus\config.exe`: runs `ferrobus\conffiles.py` (the MSI's
/// configuration custom actions) with the bundle's Python, its output
/// appended to `%TEMP%\<project>-config.log`. Returns its path in the bundle.
pub fn write_config_host(rt: &Runtime, project: &str, host: &[u8]) -> Result<String> {
    let dll = python_dll(rt)?;
    let script = Path::new(crate::windows::CONFFILES);
    let name = script
        .file_name()
        .and_then(|n| n.to_str())
        .context("conffiles script name")?;
    let cfg = HostConfig {
        role: Role::Script {
            dll: format!(r"..\python\{dll}"),
            log: format!(r"%TEMP%\{project}-config.log"),
        },
        python: r"..\python\python.exe".into(),
        module: name.into(),
        attr: String::new(),
    };
    let rel = crate::windows::CONFIG_HOST;
    let to = rt.bundle.join(rel);
    fs::create_dir_all(to.parent().unwrap_or(&rt.bundle))?;
    fs::write(&to, host::configure(host, &cfg)?)?;
    Ok(rel.to_string())
}
