//! windows: the runtime of the `windows-x86_64` target, assembled on the Linux
//! build host, not compiled: CPython's official embeddable distribution
//! ([`python`]), unpacked into the bundle's `python\` with its `._pth` set to
//! find `Lib\site-packages` and a `sitecustomize.py` that turns bytecode
//! writing off (the install dir stays as installed, so an uninstall leaves
//! nothing behind).
//!
//! ```text
//! python\python.exe, python3xx.dll, python3xx.zip, *.pyd, *.dll   (embeddable)
//! python\python3xx._pth            python3xx.zip, ., Lib\site-packages, import site
//! python\Lib\site-packages\...     the wheels (the app layer), sitecustomize.py
//! bin\<entry point>.cmd            launchers (the app layer)
//! LICENSE, LICENSES\, version-manifest.json, bom.json   (provenance)
//! ```
//!
//! The rest of the pipeline is every target's: the app layer installs the
//! requirements' `win_amd64` wheels ([`crate::app::windows`]), provenance,
//! the PE health check ([`crate::check::pe`]), the zip and MSI packagers.

pub mod host;
pub mod python;

use crate::fetch::FetchOptions;
use crate::pypkg::Interpreter;
use crate::util::remove_any;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The assembled runtime, staged.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The definition it was assembled from.
    pub def: python::EmbedDef,
    /// Its files, by path inside the distribution.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Where they came from.
    pub provenance: python::Provenance,
    /// The interpreter wheels must fit (CPython 3.x on win_amd64).
    pub interpreter: Interpreter,
    /// The staged bundle (the install dir's contents).
    pub bundle: PathBuf,
    /// Its `python\Lib\site-packages`.
    pub site_packages: PathBuf,
}

/// Fetch the embeddable distribution of `def_path` (verified against its
/// `files_sha256`) and stage it as a fresh bundle under `work/stage`.
pub fn assemble(
    def_path: &Path,
    sources: &Path,
    fetch: &FetchOptions,
    work: &Path,
) -> Result<Runtime> {
    let def = python::load(def_path)?;
    fs::create_dir_all(work)?;
    let (files, provenance) = python::fetch(&def, sources, fetch, work)?;
    let interpreter = Interpreter::cpython(&def.version, "win_amd64")
        .with_context(|| format!("{}: version {}", def.path.display(), def.version))?;
    let bundle = work.join("stage");
    remove_any(&bundle)?;
    let pydir = bundle.join("python");
    for (rel, data) in &files {
        let to = pydir.join(rel);
        fs::create_dir_all(to.parent().unwrap_or(&pydir))?;
        fs::write(&to, data)?;
    }
    let site_packages = pydir.join("Lib").join("site-packages");
    fs::create_dir_all(&site_packages)?;
    write_pth(&pydir, &files)?;
    fs::write(
        site_packages.join("sitecustomize.py"),
        "# Written by ferrobus: the bundle's files stay exactly as installed, so\n\
         # nothing (no __pycache__) is left behind by an uninstall.\n\
         import sys\n\nsys.dont_write_bytecode = True\n",
    )?;
    Ok(Runtime {
        def,
        files,
        provenance,
        interpreter,
        bundle,
        site_packages,
    })
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

/// Where the bundle keeps the defaults of the `[[config]]` files (the live
/// files are `%ProgramData%\<name>\...`, kept by `conffiles.py`).
pub const DEFAULTS_DIR: &str = "defaults";

/// The bundle's copy of `packaging/windows/conffiles.py` (the MSI runs it).
pub const CONFFILES: &str = "ferrobus/conffiles.py";

/// The host that runs [`CONFFILES`] for the MSI's custom actions (beside it).
pub const CONFIG_HOST: &str = "ferrobus/config.exe";

/// True for a path (relative to a bundle, or with a folder above it) of an
/// executable ferrobus writes into a Windows bundle, and signs with
/// `--codesign`: the launchers and service hosts in `bin\`, the script host
/// in `ferrobus\`. The embeddable distribution's own (`python\`) carry the
/// Python Software Foundation's signatures.
pub fn is_produced_executable(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let (Some(name), Some(dir)) = (parts.next(), parts.next()) else {
        return false;
    };
    name.ends_with(".exe") && (dir == "bin" || dir == "ferrobus")
}

/// The script that keeps the configuration files, built into ferrobus.
pub const CONFFILES_SOURCE: &str = include_str!("../../packaging/windows/conffiles.py");

/// One argument of a Windows service's command line: `text`, then the
/// Windows path of a `[[config]]` file if `config` is set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceArg {
    /// Passed as is (`--config=`, or the whole argument).
    pub text: String,
    /// A `[[config]]` file's path under `%ProgramData%\<name>` (with `/`).
    pub config: Option<String>,
}

/// A `[[service]]` as the MSI installs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Service {
    /// The service name (`sc query <name>`).
    pub name: String,
    /// The project's name: its data is `%ProgramData%\<project>`.
    pub project: String,
    /// Its description (also the display name, when not empty).
    pub description: String,
    /// The entry point its host runs (`bin/<entry point>` in `exec`).
    pub entry_point: String,
    /// The host in the bundle: `bin/<name>-service.exe`.
    pub host: String,
    /// The rest of `exec`, `[[config]]` paths mapped to Windows.
    pub args: Vec<ServiceArg>,
    /// The account it runs as.
    pub account: crate::load::WindowsAccount,
}

/// The project's `[[service]]`s on Windows: `exec` must start with
/// `bin/<entry point>` (the host runs the entry point in process); an
/// argument that is a `[[config]] dest` (alone or after `--opt=`) becomes the
/// file's Windows path.
pub fn services(p: &crate::load::Project, entry_points: &[String]) -> Result<Vec<Service>> {
    let mut out = Vec::new();
    for s in &p.service {
        let words = shlex::split(&s.exec).with_context(|| {
            format!(
                "{}: [[service]] {}: exec is not valid sh words",
                p.path.display(),
                s.name
            )
        })?;
        let ep = words
            .first()
            .and_then(|w| w.strip_prefix("bin/"))
            .filter(|ep| entry_points.iter().any(|e| e == ep));
        let Some(ep) = ep else {
            anyhow::bail!(
                "{}: [[service]] {}: on Windows exec must start with bin/<entry point> \
                 (one of {:?}), which the service host runs in process; it is \"{}\"",
                p.path.display(),
                s.name,
                entry_points,
                s.exec
            );
        };
        let config = |w: &str| {
            p.config
                .iter()
                .find(|c| c.dest == w)
                .map(|c| c.windows_path(&p.name))
        };
        let args = words[1..]
            .iter()
            .map(|w| match (config(w), w.split_once('=')) {
                (Some(rel), _) => ServiceArg {
                    text: String::new(),
                    config: Some(rel),
                },
                (None, Some((opt, v))) if config(v).is_some() => ServiceArg {
                    text: format!("{opt}="),
                    config: config(v),
                },
                _ => ServiceArg {
                    text: w.clone(),
                    config: None,
                },
            })
            .collect();
        out.push(Service {
            name: s.name.clone(),
            project: p.name.clone(),
            description: s.description.clone(),
            entry_point: ep.to_string(),
            host: format!("bin/{}-service.exe", s.name),
            args,
            account: s.windows_account,
        });
    }
    Ok(out)
}
