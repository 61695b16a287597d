//! The pipeline of a target whose runtime is assembled, not built (Windows):
//! the embeddable CPython (build stage), the requirements' published wheels and
//! the app's own wheel (app), provenance, the PE check, then the packagers.

use super::report::{AppReport, BuildReport};
use super::{BuildOptions, Session};
use crate::app::{self, Builder};
use crate::check::{self, Failed};
use crate::load::Format;
use crate::provenance::{self, assembled};
use crate::target::BinaryFormat;
use crate::util::{sha256_file, write_atomic};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
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
    let ta = Instant::now();
    let installed = app::windows::install(&rt, &app, &builder, &s.layout, &opts.fetch)?;
    let app_report = AppReport {
        wheels: installed.wheel_paths.clone(),
        wheels_built: 0,
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
    let lic = assembled::component_files(&rt)?;
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
    let packages = package(&rt.bundle, s)?;
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
        packages,
        provenance: vec![],
    })
}

/// The installers' file name stem: `<name>-<version>-<iteration>.windows-x86_64`.
fn stem(s: &Session) -> String {
    let p = &s.project;
    format!("{}-{}-{}.{}", p.name, p.version, p.iteration, s.target)
}

/// Write the project's Windows formats into dist/ (temporary: until zip and
/// msi are `Packager`s).
fn package(bundle: &Path, s: &Session) -> Result<Vec<crate::package::Packaged>> {
    let (p, dist) = (&s.project, &s.dist);
    let win = p.windows.as_ref().context("no [windows]")?;
    fs::create_dir_all(dist)?;
    let mut written = Vec::new();
    for f in &win.formats {
        let out = dist.join(format!("{}.{f}", stem(s)));
        let tmp = tempfile::Builder::new()
            .prefix(".windows.")
            .tempfile_in(dist)?;
        match f {
            Format::Zip => {
                crate::package::zip::write(bundle, &p.name, p.source_date_epoch, tmp.path())?
            }
            Format::Msi => {
                let m = win.msi.as_ref().context("no [windows.msi]")?;
                let meta = crate::package::msi::MsiMeta {
                    product_name: m.product_name.clone(),
                    manufacturer: m.manufacturer.clone(),
                    upgrade_code: m.upgrade_code.clone(),
                    version: p.version.clone(),
                    iteration: p.iteration,
                    description: p.description.lines().next().unwrap_or("").to_string(),
                    homepage: p.homepage.clone(),
                    epoch: p.source_date_epoch,
                };
                crate::package::msi::write(bundle, &meta, tmp.path())
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            other => bail!("unknown Windows format {other}"),
        }
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
        tmp.persist(&out)?;
        written.push(out);
    }
    let mut beside: Vec<PathBuf> = Vec::new();
    for (file, suffix) in [
        (provenance::MANIFEST_FILE, "version-manifest.json"),
        (provenance::SBOM_FILE, "cdx.json"),
    ] {
        let to = dist.join(format!("{}.{suffix}", stem(s)));
        fs::copy(bundle.join(file), &to)?;
        beside.push(to);
    }
    let mut sums = String::new();
    for w in written.iter().chain(&beside) {
        let name = w.file_name().unwrap_or_default().to_string_lossy();
        sums.push_str(&format!("{}  {name}\n", sha256_file(w)?));
    }
    write_atomic(
        &dist.join(format!("{}.SHA256SUMS", stem(s))),
        sums.as_bytes(),
    )?;
    Ok(written
        .into_iter()
        .map(|path| crate::package::Packaged { path, seconds: 0.0 })
        .collect())
}
