//! The pipeline of a target whose runtime is assembled, not built (Windows):
//! the embeddable CPython and the requirements' published wheels, the app's
//! own wheel, provenance, the PE check, then the zip and MSI.

use super::report::BuildReport;
use super::{BuildOptions, Session};
use anyhow::Result;

/// Assemble, check and package the session's Windows bundle.
pub fn build(s: &Session, opts: &BuildOptions) -> Result<BuildReport> {
    let b = crate::windows::build(&crate::windows::Options {
        project: s.project.path.clone(),
        defs: s.defs_dir.clone(),
        layout: s.layout.clone(),
        dist: s.dist.clone(),
        fetch: opts.fetch.clone(),
    })?;
    Ok(BuildReport {
        project: s.project.name.clone(),
        target: s.target.name,
        prefix: None,
        stage: b.bundle.clone(),
        embedded: b.bundle,
        updated: true,
        seconds: b.seconds,
        components: vec![],
        app: None,
        relocate: None,
        check: Some(b.pe.into()),
        packages: b
            .packages
            .into_iter()
            .map(|path| crate::package::Packaged { path, seconds: 0.0 })
            .collect(),
        provenance: vec![],
    })
}
