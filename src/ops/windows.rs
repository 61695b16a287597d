//! The pipeline of a target whose runtime is assembled, not built (Windows):
//! the embeddable CPython (build stage), the requirements' published wheels and
//! the app's own wheel (app) with the launchers and service hosts (copies of
//! the Windows host, compiled by zig), the `[[config]]` defaults, Authenticode
//! signatures of what ferrobus wrote, provenance, the PE check, then the
//! packagers.

use super::report::{AppReport, BuildReport};
use super::{BuildOptions, Session};
use crate::app::{self, Builder};
use crate::check::{self, Failed};
use crate::fingerprint::Fingerprint;
use crate::package::{self, Beside, Meta, Published};
use crate::provenance::{self, assembled};
use crate::target::BinaryFormat;
use crate::util::sha256_file;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::Instant;

/// Assemble, check and package the session's Windows bundle.
pub fn build(s: &Session, opts: &BuildOptions) -> Result<BuildReport> {
    let t = Instant::now();
    let p = &s.project;
    let win = p
        .windows
        .as_ref()
        .with_context(|| format!("{}: no [windows] section", p.path.display()))?;
    let app = app::plan(p)?.with_context(|| format!("{}: no [app]", p.path.display()))?;
    let work = s.layout.project_build(&p.name).join("windows");
    let rt = crate::windows::assemble(
        &s.defs_dir.join(&win.python),
        &s.layout.sources(),
        &opts.fetch,
        &work,
    )?;
    let builder = Builder::host(&s.layout, &p.name, p.source_date_epoch)?;
    // The app's own build backend comes from the build lock, like Linux's.
    let lock = app::wheels::read_lock(&app)?;
    let backend: Vec<_> = lock
        .wheels(&lock.app.requires)?
        .into_iter()
        .cloned()
        .collect();
    let cache = crate::fetch::SourceCache::new(&s.layout.sources());
    app::lock::fetch_files(
        &tokio::runtime::Runtime::new()?,
        &backend,
        &cache,
        &opts.fetch,
    )?;
    let ta = Instant::now();
    let zig = crate::toolchain::zig::find()?;
    let zig_version = crate::toolchain::first_line(&zig.display().to_string(), &["version"])?;
    let host_exe = crate::windows::host::compiled(&zig, &zig_version, &s.layout.toolchains())?;
    let host = std::fs::read(&host_exe)?;
    let services = crate::windows::services(p, &app.entry_points)?;
    let installed = app::windows::install(
        &rt,
        &app,
        &builder,
        &s.layout,
        &opts.fetch,
        (&host, &services),
    )?;
    let mut executables = installed.executables.clone();
    if write_config_defaults(p, &rt.bundle)? {
        executables.push(app::windows::write_config_host(&rt, &p.name, &host)?);
    }
    if let Some(cs) = &opts.codesign {
        for exe in &executables {
            cs.sign(&rt.bundle.join(exe), p.source_date_epoch, &p.name)?;
        }
    }
    let app_report = AppReport {
        wheels: installed.wheel_paths.clone(),
        wheels_built: 0,
        units: vec![],
        app_wheel: installed.app_wheel.clone(),
        seconds: ta.elapsed().as_secs_f64(),
    };
    let install_dir = match &win.msi {
        Some(m) => format!("C:\\Program Files\\{}", m.product_name),
        None => p.name.clone(),
    };
    let mut contents = assembled::contents(
        p,
        s.target.name.as_str(),
        &install_dir,
        &rt,
        &app,
        &installed.wheels,
    );
    if let Some(a) = &mut contents.app {
        a.kind = "wheel".into();
        a.file = installed
            .app_wheel
            .file_name()
            .map(|f| f.to_string_lossy().into_owned());
        a.sha256 = Some(sha256_file(&installed.app_wheel)?);
    }
    let mut lic = assembled::component_files(&rt)?;
    let (host_component, host_licenses) = host_provenance(&host, &zig, &zig_version)?;
    contents.roots.push(host_component.name.clone());
    contents.components.push(host_component);
    lic.extend(host_licenses);
    provenance::write_assembled(&mut contents, lic, &rt.site_packages, &rt.bundle)?;
    let health = check::check_tree(BinaryFormat::Pe, &rt.bundle, None)?;
    if !health.ok() {
        bail!(Failed {
            tree: rt.bundle.clone(),
            report: health,
        });
    }
    // The SBOM records the digest of the final bundle.
    provenance::seal::seal(&rt.bundle)?;
    let out = package(&rt.bundle, s, opts)?;
    Ok(BuildReport {
        project: p.name.clone(),
        target: s.target.name,
        prefix: None,
        stage: rt.bundle.clone(),
        embedded: rt.bundle,
        updated: true,
        seconds: t.elapsed().as_secs_f64(),
        components: vec![],
        app: Some(app_report),
        relocate: None,
        check: Some(health),
        packages: out.packages,
        provenance: out.provenance.into_iter().chain(out.signature).collect(),
        lint: out.lint,
        remote: None,
    })
}

/// Write the bundle's formats (zip, msi) into dist/ through the one publisher:
/// the version manifest and SBOM beside them, all in dist's one SHA256SUMS,
/// signed when a key is given.
fn package(bundle: &Path, s: &Session, opts: &BuildOptions) -> Result<Published> {
    let p = &s.project;
    let win = p.windows.as_ref().context("no [windows]")?;
    let mut meta = Meta::from_project(p)?;
    meta.signing = opts.signing.clone();
    meta.codesign = opts.codesign.clone();
    // What identifies the bundle's contents: every file but the SBOM (the
    // seal), and the SBOM.
    let nodes = provenance::seal::tree_nodes(bundle)?;
    let tree_id = Fingerprint::new("bundle")
        .with("files", provenance::seal::digest(&nodes))
        .with("sbom", sha256_file(&bundle.join(provenance::SBOM_FILE))?)
        .key();
    let beside = Beside {
        dir: bundle.to_path_buf(),
        stem: format!("{}-{}-{}.{}", p.name, p.version, p.iteration, s.target),
    };
    package::publish(
        bundle,
        Some(&beside),
        &meta,
        &win.formats,
        &s.dist,
        &tree_id,
    )
}

/// The `[[config]]` defaults (`windows_source`, else `source`) under the
/// bundle's `defaults\`, at their path under `%ProgramData%\<name>`, and the
/// script that keeps them (`ferrobus\conffiles.py`, run by the MSI).
fn write_config_defaults(p: &crate::load::Project, bundle: &Path) -> Result<bool> {
    if p.config.is_empty() {
        return Ok(false);
    }
    let dir = p.path.parent().unwrap_or(Path::new("."));
    for c in &p.config {
        let src = dir.join(c.windows_source.as_ref().unwrap_or(&c.source));
        let to = bundle
            .join(crate::windows::DEFAULTS_DIR)
            .join(c.windows_path(&p.name));
        std::fs::create_dir_all(to.parent().unwrap_or(bundle))?;
        std::fs::copy(&src, &to)
            .with_context(|| format!("{}: [[config]] {}", p.path.display(), src.display()))?;
    }
    let script = bundle.join(crate::windows::CONFFILES);
    std::fs::create_dir_all(script.parent().unwrap_or(bundle))?;
    std::fs::write(script, crate::windows::CONFFILES_SOURCE)?;
    Ok(true)
}

/// License files: (destination under the install dir, contents).
type LicenseFiles = Vec<(String, Vec<u8>)>;

/// The name the Windows host (launchers, service hosts, the script host) has
/// in the SBOM, the version manifest and `LICENSES/`.
const HOST_COMPONENT: &str = "ferrobus-windows-host";

/// The Windows host as a shipped component: ferrobus' own code (Apache-2.0)
/// linked with zig's copy of the mingw-w64 C runtime start files (ZPL-2.1,
/// whose notice a binary must carry: taken from the zig that compiled it).
/// Returns the component and its license files.
fn host_provenance(
    host: &[u8],
    zig: &Path,
    zig_version: &str,
) -> Result<(provenance::ComponentInfo, LicenseFiles)> {
    let mingw = zig
        .parent()
        .unwrap_or(Path::new("."))
        .join("lib/libc/mingw/COPYING");
    let copying = std::fs::read(&mingw).with_context(|| {
        format!(
            "{}: the mingw-w64 license of zig {zig_version}, which the Windows host links",
            mingw.display()
        )
    })?;
    let notice = format!(
        "The launchers (bin\\*.exe), service hosts (bin\\*-service.exe) and script host\n\
         (ferrobus\\config.exe) of this bundle are copies of ferrobus' Windows host\n\
         (packaging/windows/host.c, ferrobus {}), licensed under the Apache License,\n\
         Version 2.0 (SPDX: Apache-2.0), compiled by zig {zig_version} for\n\
         x86_64-windows-gnu with the mingw-w64 C runtime start files (ZPL-2.1, see\n\
         mingw-w64-COPYING).\n",
        env!("CARGO_PKG_VERSION")
    );
    let dir = format!("LICENSES/{HOST_COMPONENT}");
    let files = vec![
        (format!("{dir}/NOTICE"), notice.into_bytes()),
        (format!("{dir}/mingw-w64-COPYING"), copying),
    ];
    let sha = crate::util::sha256_bytes(host);
    let component = provenance::ComponentInfo {
        name: HOST_COMPONENT.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        license: "Apache-2.0 AND ZPL-2.1".into(),
        license_files: vec!["NOTICE".into(), "mingw-w64-COPYING".into()],
        license_dests: files.iter().map(|(d, _)| d.clone()).collect(),
        urls: vec![],
        sha256: sha.clone(),
        file_name: "host.exe".into(),
        debian: None,
        key: sha,
        patches: vec![],
        depends: vec![],
        definition: Path::new("packaging/windows/host.c").to_path_buf(),
    };
    Ok((component, files))
}
