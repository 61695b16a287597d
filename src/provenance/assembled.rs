//! provenance::assembled: what an assembled runtime (the Windows bundle) ships,
//! as the same [`Contents`] a built one has, so the one writer
//! ([`super::write_assembled`]) and the one `.dist-info` scan describe both,
//! and the same rule holds: no license unknown, the project's stated licenses
//! (`[provenance.licenses]`) applied.

use super::{ComponentInfo, Contents, Distribution, ProjectInfo, licenses};
use crate::load::Project;
use crate::pypkg::{LockedApp, Requirement, WheelSource};
use crate::windows::Runtime;
use anyhow::{Context, Result};

/// The contents of a bundle: the runtime as its one component, each locked
/// requirement as the wheel it was installed from, the application itself.
/// `install_dir` is where the bundle lives on the target.
pub fn contents(
    project: &Project,
    target: &str,
    install_dir: &str,
    rt: &Runtime,
    app: &impl LockedApp,
    wheels: &[(Requirement, WheelSource)],
) -> Contents {
    let def = &rt.def;
    let urls = match rt.provenance.route.as_str() {
        "upstream" => def.upstream.url.clone(),
        _ => vec![],
    };
    let component = ComponentInfo {
        name: def.name.clone(),
        version: def.version.clone(),
        license: def.license.clone(),
        license_files: def.license_files.clone(),
        license_dests: licenses::component_dests(&def.name, &def.license_files)
            .into_iter()
            .map(|(_, dest)| dest)
            .collect(),
        urls,
        sha256: rt.provenance.sha256.clone(),
        file_name: rt.provenance.file.clone(),
        debian: None,
        // The identity of the files shipped, whichever route they came by.
        key: def.files_sha256.clone(),
        patches: vec![],
        depends: vec![],
        definition: def.path.clone(),
    };
    let stated = &project.provenance.stated;
    let mut distributions: Vec<Distribution> = wheels
        .iter()
        .map(|(r, w)| {
            let mut d = Distribution::locked(r, &w.kind, stated);
            d.file = Some(w.file.clone());
            d.sha256 = Some(w.sha256.clone());
            d
        })
        .collect();
    distributions.sort_by(|a, b| a.name.cmp(&b.name));
    let lock = app.requirements().first().map(|r| r.lock.clone());
    Contents {
        project: ProjectInfo::of(project, install_dir),
        source_date_epoch: project.source_date_epoch,
        target: target.to_string(),
        toolchain: None,
        components: vec![component],
        roots: vec![def.name.clone()],
        distributions,
        app: Some(Distribution::of_app(app, stated)),
        allow_missing_licenses: project.provenance.allow_missing_licenses.clone(),
        deny_licenses: project.provenance.deny_licenses.clone(),
        build_only: vec![],
        stated_licenses: stated.clone(),
        lock,
        project_file: project.path.clone(),
    }
}

/// The runtime's license files, out of the distribution's own files:
/// (destination under the install dir, contents). A missing one is an error
/// naming the definition.
pub fn component_files(rt: &Runtime) -> Result<Vec<(String, Vec<u8>)>> {
    let def = &rt.def;
    licenses::component_dests(&def.name, &def.license_files)
        .into_iter()
        .map(|(src, dest)| {
            let data = rt.files.get(&src).with_context(|| {
                format!(
                    "{}: license file {src} is not in the distribution",
                    def.path.display()
                )
            })?;
            Ok((dest, data.clone()))
        })
        .collect()
}
