//! app::backend: the application's own wheel, built by its PEP 517 backend.
//!
//! `pip wheel` installs the backend (`[build-system] requires`) into a fresh
//! isolated environment on every build: about 5 of the 6 seconds it takes to
//! build a small application, and resolved from the index each time. Here the
//! backend is the build lock's (`[app] requires`), installed once with no
//! index into a cached build environment ([`super::wheels::build_env`]), and a
//! small frontend (`pep517.py`; no crate runs a Python build backend) calls
//! its `build_wheel` hook with that environment on `sys.path`. The sdists of
//! the requirements are built by the same frontend.

use super::{AppPlan, Builder};
use crate::paths::Layout;
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};

/// The frontend run by the embedded Python.
pub(super) const FRONTEND: &str = include_str!("pep517.py");

/// `[build-system] requires` of a pyproject.toml (PEP 518's default if absent).
pub(super) fn build_requires(pyproject: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(pyproject)
        .with_context(|| format!("reading {}", pyproject.display()))?;
    let v: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", pyproject.display()))?;
    let Some(reqs) = v.get("build-system").and_then(|b| b.get("requires")) else {
        return Ok(vec!["setuptools>=40.8.0".into()]);
    };
    reqs.as_array()
        .and_then(|a| a.iter().map(|r| r.as_str().map(String::from)).collect())
        .with_context(|| {
            format!(
                "{}: [build-system] requires must be a list of strings",
                pyproject.display()
            )
        })
}

/// The environment holding the application's build backend: the build
/// lock's, checked against the pyproject's `[build-system] requires`.
fn backend_env(builder: &Builder, layout: &Layout, app: &AppPlan) -> Result<PathBuf> {
    let requires = build_requires(&app.source.join("pyproject.toml"))?;
    let lock = super::wheels::read_lock(app)?;
    if lock.app.declared != requires {
        bail!(
            "{}: [build-system] requires is {:?}, the build lock {} was written for {:?}: \
             run `ferrobus lock {}`",
            app.source.join("pyproject.toml").display(),
            requires,
            app.build_lock.display(),
            lock.app.declared,
            app.project_file.display()
        );
    }
    let files: Vec<_> = lock
        .wheels(&lock.app.requires)?
        .into_iter()
        .cloned()
        .collect();
    let sources = crate::fetch::SourceCache::new(&layout.sources());
    super::wheels::build_env(builder, layout, &files, &sources)
}

/// Build the application's wheel from `src` (a copy of its source) into `out`.
pub fn build(
    builder: &Builder,
    layout: &Layout,
    app: &AppPlan,
    src: &Path,
    out: &Path,
) -> Result<()> {
    let site = backend_env(builder, layout, app)?;
    let script = builder.work.join("pep517.py");
    fs::write(&script, FRONTEND)?;
    let mut env = builder.env.clone();
    env.insert("PYTHONPATH".into(), site.display().to_string());
    let (script, src, out) = (
        script.display().to_string(),
        src.display().to_string(),
        out.display().to_string(),
    );
    builder.run_with(
        &env,
        &["-S", "-B", &script, &src, &out],
        "wheel-app.log",
        &format!("building the application from {}", app.source.display()),
    )
}
