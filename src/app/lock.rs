//! app::lock: `ferrobus lock`, which writes the build lock
//! ([`crate::pypkg::buildlock`]) from the requirements lock: the one step that
//! talks to the package index about build requirements.
//!
//! For every distribution it finds the locked file on the index (the sdist
//! whose sha256 the requirements lock allows; for a published wheel, the one
//! pip picks for the embedded interpreter). For every sdist (and the
//! application itself) it reads `[build-system] requires` from the archive,
//! resolves it with the embedded Python's pip into binary wheels (`--dry-run
//! --report`: exact files and hashes), installs them into a build environment
//! and asks the backend's `get_requires_for_build_wheel` hook for more; what
//! the hook adds is resolved with the rest (at most three rounds).

use super::wheels::{build_env, cached_file};
use super::{AppPlan, Builder};
use crate::fetch::{FetchOptions, SourceCache};
use crate::paths::Layout;
use crate::plan::Source;
use crate::pypkg::PackageName;
use crate::pypkg::buildlock::{BuildLock, LockedBackend, LockedDist, LockedFile};
use crate::pypkg::index::Indexes;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Write `app`'s build lock (see the module comment); returns it.
pub fn write(
    builder: &Builder,
    layout: &Layout,
    app: &AppPlan,
    opts: &FetchOptions,
) -> Result<BuildLock> {
    let sources = SourceCache::new(&layout.sources());
    let rt = tokio::runtime::Runtime::new()?;
    let indexes = Indexes::from_pip()?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("ferrobus/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut lock = BuildLock {
        format: crate::pypkg::buildlock::FORMAT,
        ..Default::default()
    };
    // The distributions' own files.
    for r in &app.requirements {
        let binary = app.wheels.contains(&r.name);
        let file = if binary {
            let got = resolve(builder, &[r.pin()], true)?;
            let f = got
                .into_iter()
                .next()
                .with_context(|| format!("pip found no wheel for {}", r.pin()))?;
            if !r.hashes.contains(&f.sha256) {
                bail!(
                    "{}:{}: pip picks {} (sha256 {}) for {}, which the lock does not allow",
                    app.lock.display(),
                    r.line,
                    f.file,
                    f.sha256,
                    r.pin()
                );
            }
            f
        } else {
            rt.block_on(sdist_of(&client, &indexes, r))
                .with_context(|| format!("{}:{}", app.lock.display(), r.line))?
        };
        lock.dists.push(LockedDist {
            file,
            kind: if binary { "wheel" } else { "sdist" }.into(),
            requires: vec![],
        });
    }
    let files: Vec<LockedFile> = lock.dists.iter().map(|d| d.file.clone()).collect();
    fetch_files(&rt, &files, &sources, opts)?;
    // Their build environments.
    let work = builder.work.join("lock");
    for d in lock.dists.iter_mut().filter(|d| d.kind == "sdist") {
        crate::util::remove_any(&work)?;
        crate::extract::unpack(&cached_file(&sources, &d.file)?, &work)?;
        let src = crate::extract::source_root(&work)?;
        let files = environment(builder, layout, &src, &rt, &sources, opts)
            .with_context(|| format!("locking the build requirements of {}", d.file.file))?;
        d.requires = files.iter().map(LockedFile::pin).collect();
        lock.build.extend(files);
    }
    let declared = super::backend::build_requires(&app.source.join("pyproject.toml"))?;
    let files = environment(builder, layout, &app.source, &rt, &sources, opts)
        .context("locking the application's build backend")?;
    lock.app = LockedBackend {
        declared,
        requires: files.iter().map(LockedFile::pin).collect(),
    };
    lock.build.extend(files);
    crate::util::remove_any(&work)?;
    lock.write(&app.build_lock)?;
    BuildLock::read(&app.build_lock)
}

/// The sdist of a locked requirement: the index's file with an allowed sha256.
async fn sdist_of(
    client: &reqwest::Client,
    indexes: &Indexes,
    r: &crate::pypkg::Requirement,
) -> Result<LockedFile> {
    let mut mismatch = None;
    for base in &indexes.urls {
        let page = format!("{}/{}/", base.trim_end_matches('/'), r.name);
        let Ok(resp) = client
            .get(&page)
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .await
        else {
            continue;
        };
        let Ok(body) = resp.bytes().await else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        for f in v["files"].as_array().into_iter().flatten() {
            let name = f["filename"].as_str().unwrap_or("");
            let sha = f["hashes"]["sha256"].as_str().unwrap_or("");
            let Some(stem) = name
                .strip_suffix(".tar.gz")
                .or_else(|| name.strip_suffix(".zip"))
            else {
                continue;
            };
            // `<name>-<version>` of this version (names spelled any PEP 503 way).
            let this = stem.rsplit_once('-').is_some_and(|(n, v)| {
                v == r.version.to_string() && n.parse::<PackageName>().is_ok_and(|n| n == r.name)
            });
            if r.hashes.iter().any(|h| h == sha) {
                return Ok(LockedFile {
                    name: r.name.to_string(),
                    version: r.version.to_string(),
                    file: name.to_string(),
                    sha256: sha.to_string(),
                });
            }
            if this {
                mismatch = Some(format!(
                    "hash mismatch for {}: {name} has sha256 {sha}, the lock allows {}",
                    r.pin(),
                    r.hashes.join(", ")
                ));
            }
        }
    }
    bail!(
        "{}",
        mismatch.unwrap_or_else(|| format!(
            "no sdist of {} with a sha256 the lock allows on the configured indexes",
            r.pin()
        ))
    )
}

/// Put `files` into the source cache (from pip's configured indexes, asked
/// only for what is missing; nothing offline: the fetch names what is missing).
pub fn fetch_files(
    rt: &tokio::runtime::Runtime,
    files: &[LockedFile],
    sources: &SourceCache,
    opts: &FetchOptions,
) -> Result<()> {
    let missing = files.iter().any(|f| !sources.path(&f.sha256).is_file());
    let indexes = if missing && !opts.offline {
        Indexes::from_pip()?
    } else {
        Indexes::default()
    };
    let items = rt.block_on(items(&indexes, files, sources, opts.offline))?;
    rt.block_on(crate::fetch::fetch_all(&items, sources, opts))?;
    Ok(())
}

/// Fetch items for `files`: each with its index URL when it is not cached yet
/// (none offline: the fetch then names it as missing).
pub async fn items(
    indexes: &Indexes,
    files: &[LockedFile],
    sources: &SourceCache,
    offline: bool,
) -> Result<Vec<(String, Source)>> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("ferrobus/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut out = Vec::new();
    for f in files {
        let mut urls = vec![];
        if !offline && !sources.path(&f.sha256).is_file() {
            urls.push(indexes.find(&client, &f.name, &f.file, &f.sha256).await?);
        }
        out.push((
            f.name.clone(),
            Source {
                sha256: f.sha256.clone(),
                urls,
                debian: None,
                file_name: f.file.clone(),
            },
        ));
    }
    Ok(out)
}

/// Resolve `reqs` with the embedded Python's pip into binary wheels (with
/// their dependencies unless `no_deps`).
fn resolve(builder: &Builder, reqs: &[String], no_deps: bool) -> Result<Vec<LockedFile>> {
    let report = builder.work.join("lock-report.json");
    let _ = fs::remove_file(&report);
    let report_s = report.display().to_string();
    let mut args = vec![
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--only-binary",
        ":all:",
        "--quiet",
        "--report",
        &report_s,
    ];
    if no_deps {
        args.push("--no-deps");
    }
    args.extend(reqs.iter().map(String::as_str));
    builder.run(&args, "lock.log", &format!("resolving {}", reqs.join(", ")))?;
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&report)?)?;
    let mut out = Vec::new();
    for i in v["install"].as_array().into_iter().flatten() {
        let url = i["download_info"]["url"].as_str().unwrap_or("");
        let info = &i["download_info"]["archive_info"];
        let sha = info["hashes"]["sha256"]
            .as_str()
            .map(String::from)
            .or_else(|| {
                info["hash"]
                    .as_str()
                    .and_then(|h| h.strip_prefix("sha256="))
                    .map(String::from)
            })
            .with_context(|| format!("the index gave no sha256 for {url}"))?;
        let name: PackageName = i["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .parse()
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        out.push(LockedFile {
            name: name.to_string(),
            version: i["metadata"]["version"].as_str().unwrap_or("").to_string(),
            file: url
                .rsplit('/')
                .next()
                .unwrap_or("")
                .split('#')
                .next()
                .unwrap_or("")
                .to_string(),
            sha256: sha,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The build environment of the source tree `src`: its `[build-system]
/// requires` plus what its backend's hook asks for, resolved and fetched.
fn environment(
    builder: &Builder,
    layout: &Layout,
    src: &Path,
    rt: &tokio::runtime::Runtime,
    sources: &SourceCache,
    opts: &FetchOptions,
) -> Result<Vec<LockedFile>> {
    let mut reqs = super::backend::build_requires(&src.join("pyproject.toml"))
        .unwrap_or_else(|_| vec!["setuptools>=40.8.0".into()]);
    let script = builder.work.join("pep517.py");
    fs::create_dir_all(&builder.work)?;
    fs::write(&script, super::backend::FRONTEND)?;
    for _round in 0..3 {
        let files = resolve(builder, &reqs, false)?;
        fetch_files(rt, &files, sources, opts)?;
        let site = build_env(builder, layout, &files, sources)?;
        let mut env = builder.env.clone();
        env.insert("PYTHONPATH".into(), site.display().to_string());
        let out = builder.work.join("lock-requires.json");
        let _ = fs::remove_file(&out);
        let (s, d, o) = (
            script.display().to_string(),
            src.display().to_string(),
            out.display().to_string(),
        );
        builder.run_with(
            &env,
            &["-S", "-B", &s, "--requires", &d, &o],
            "lock-hook.log",
            &format!(
                "asking the build backend of {} for its requirements",
                src.display()
            ),
        )?;
        let missing: Vec<String> = serde_json::from_slice(&fs::read(&out)?)?;
        if missing.is_empty() {
            return Ok(files);
        }
        let known: BTreeMap<_, _> = reqs.iter().map(|r| (r.clone(), ())).collect();
        let new: Vec<String> = missing
            .into_iter()
            .filter(|m| !known.contains_key(m))
            .collect();
        if new.is_empty() {
            bail!(
                "the build requirements {} cannot be satisfied",
                reqs.join(", ")
            );
        }
        reqs.extend(new);
    }
    bail!(
        "the build backend kept asking for more requirements: {}",
        reqs.join(", ")
    )
}
