//! app::backend: the application's own wheel, built by its PEP 517 backend.
//!
//! `pip wheel` installs the backend (`[build-system] requires`) into a fresh
//! isolated environment on every build: about 5 of the 6 seconds it takes to
//! build a small application. Here the backend is installed once per
//! (requirements, interpreter) into `<cache>/wheels/backend-<key>` and a
//! ten-line frontend (`pep517.py`; no crate runs a Python build backend) calls
//! its `build_wheel` hook with that environment on `sys.path`.

use super::{AppPlan, Builder};
use crate::paths::Layout;
use crate::util::remove_any;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// The frontend run by the embedded Python.
const FRONTEND: &str = include_str!("pep517.py");

/// `[build-system] requires` of a pyproject.toml (PEP 518's default if absent).
fn build_requires(pyproject: &Path) -> Result<Vec<String>> {
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

/// The cached environment holding the application's build backend: installed
/// with the builder's pip (from pip's configured index) the first time, reused
/// after.
fn backend_env(builder: &Builder, layout: &Layout, app: &AppPlan) -> Result<PathBuf> {
    let requires = build_requires(&app.source.join("pyproject.toml"))?;
    let key = builder.key("backend").with("requires", &requires).key();
    let root = layout.cache.join("wheels");
    fs::create_dir_all(&root)?;
    let dir = root.join(format!("backend-{}", &key[..24]));
    let lock = fs::File::create(root.join(format!(".backend-{}.lock", &key[..24])))?;
    fs2::FileExt::lock_exclusive(&lock)?;
    if !dir.join(".complete").is_file() {
        let tmp = tempfile::Builder::new()
            .prefix(".backend-")
            .tempdir_in(&root)?;
        let site = tmp.path().join("site").display().to_string();
        let mut args = vec!["-m", "pip", "install", "--no-compile", "--target", &site];
        args.extend(requires.iter().map(String::as_str));
        let what = format!(
            "installing the application's build backend ({})",
            requires.join(", ")
        );
        builder.run(&args, "backend.log", &what)?;
        fs::write(tmp.path().join(".complete"), key.as_bytes())?;
        remove_any(&dir)?; // an incomplete leftover
        fs::rename(tmp.keep(), &dir)?;
    }
    Ok(dir.join("site"))
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
        &["-B", &script, &src, &out],
        "wheel-app.log",
        &format!("building the application from {}", app.source.display()),
    )
}
