//! app::wheels: every locked distribution as a build unit of its own.
//!
//! A unit is built from the exact file the build lock names (from the source
//! cache: `ferrobus fetch` put it there), in a build environment holding only
//! the locked build-only wheels (installed with `--no-index`), by the build
//! backend called through `pep517.py`. Its key is the file, the build
//! environment, the toolchain, python's component key and the keys of the
//! components it links (`[app.distribution.<name>] links`), and nothing else:
//! changing libpq rebuilds psycopg2 alone. What the built extensions link is
//! checked against that declaration. Units build in parallel, each holding one
//! token of the build's jobserver; each records its environment and every
//! compiler command in its log, and the hermetic guard's verdict.

use super::{AppPlan, Builder};
use crate::cache::remote::{self, Blob, Remote};
use crate::fetch::SourceCache;
use crate::paths::{Layout, PLACEHOLDER};
use crate::pypkg::buildlock::{BuildLock, LockedFile};
use crate::pypkg::{PackageName, WheelSource};
use crate::util::remove_any;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How a unit gets its wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Built from its sdist.
    Sdist,
    /// The published wheel, installed as it is.
    Wheel,
}

/// One locked distribution as it will be built.
#[derive(Debug, Clone, Serialize)]
pub struct WheelUnit {
    /// Its name.
    pub name: PackageName,
    /// Its version.
    pub version: String,
    /// Where it is locked (`requirements.lock:5`).
    pub locked_at: String,
    /// Sdist or published wheel.
    pub kind: Kind,
    /// The file it is made from.
    pub file: LockedFile,
    /// Its build environment (sdists).
    pub build: Vec<LockedFile>,
    /// The components it links besides python's closure.
    pub links: Vec<String>,
    /// Host tools and directories its build may read.
    pub allow: Vec<String>,
    /// Variables its build gets on top of the standard environment.
    pub env: BTreeMap<String, String>,
    /// Its key.
    pub key: String,
}

impl WheelUnit {
    /// Its directory in the wheel cache.
    pub fn dir(&self, layout: &Layout) -> PathBuf {
        layout
            .wheels()
            .join(format!("{}-{}", self.name, &self.key[..24]))
    }
    /// True when its wheel is in the cache.
    pub fn cached(&self, layout: &Layout) -> bool {
        self.dir(layout).join(".complete").is_file()
    }
    /// What names it in errors: `psycopg2 2.9.10 (requirements.lock:5)`.
    pub fn label(&self) -> String {
        format!("{} {} ({})", self.name, self.version, self.locked_at)
    }
}

/// The build lock of `app`, or an error saying how to write it.
pub fn read_lock(app: &AppPlan) -> Result<BuildLock> {
    if !app.build_lock.is_file() {
        bail!(
            "{}: no build lock {} (the files every distribution is built from, and their \
             build requirements): run `ferrobus lock {}`",
            app.project_file.display(),
            app.build_lock.display(),
            app.project_file.display()
        );
    }
    BuildLock::read(&app.build_lock)
}

/// The units of `app`, in the lock's order, keyed for `builder`. Errors name a
/// distribution the build lock lacks, or locked for other files.
pub fn units(builder: &Builder, app: &AppPlan, lock: &BuildLock) -> Result<Vec<WheelUnit>> {
    let stale = |what: String| {
        anyhow::anyhow!(
            "{what}; the build lock {} is stale: run `ferrobus lock {}`",
            app.build_lock.display(),
            app.project_file.display()
        )
    };
    let mut out = Vec::new();
    for r in &app.requirements {
        let locked_at = format!(
            "{}:{}",
            app.lock.file_name().unwrap_or_default().to_string_lossy(),
            r.line
        );
        let binary = app.wheels.contains(&r.name);
        let d = lock
            .dist(&r.name)
            .ok_or_else(|| stale(format!("{} ({locked_at}) is not in it", r.pin())))?;
        let kind = if binary { Kind::Wheel } else { Kind::Sdist };
        let want = if binary { "wheel" } else { "sdist" };
        if d.file.version != r.version.to_string()
            || !r.hashes.contains(&d.file.sha256)
            || d.kind != want
        {
            return Err(stale(format!(
                "{} ({locked_at}) is locked there as {} {} {} ({})",
                r.pin(),
                d.kind,
                d.file.name,
                d.file.version,
                d.file.file
            )));
        }
        let build = lock
            .wheels(&d.requires)
            .map_err(|e| stale(format!("{e:#}")))?
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        let conf = app.distribution.get(r.name.as_str());
        let links = conf.map(|c| c.links.clone()).unwrap_or_default();
        for l in &links {
            if !builder.components.contains_key(l) {
                bail!(
                    "{}: [app.distribution.{}] links = \"{l}\": not a component of the plan ({})",
                    app.project_file.display(),
                    r.name,
                    builder
                        .components
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let allow: Vec<String> = conf
            .map(|c| c.allow_host.keys().cloned().collect())
            .unwrap_or_default();
        let env = conf.map(|c| c.env.clone()).unwrap_or_default();
        let link_keys: BTreeMap<&String, &String> = links
            .iter()
            .map(|l| (l, &builder.components[l].0))
            .collect();
        let key = builder
            .key("wheel")
            .with("file", &d.file)
            .with("kind", kind)
            .with("build", &build)
            .with("links", link_keys)
            .with_if("allow", &allow, !allow.is_empty())
            .with_if("env", &env, !env.is_empty())
            .key();
        out.push(WheelUnit {
            name: r.name.clone(),
            version: r.version.to_string(),
            locked_at,
            kind,
            file: d.file.clone(),
            build,
            links,
            allow,
            env,
            key,
        });
    }
    Ok(out)
}

/// Every file the units need from the source cache (theirs and their build
/// environments'), once each.
pub fn files(units: &[WheelUnit], lock: &BuildLock) -> Vec<LockedFile> {
    let mut seen = BTreeSet::new();
    let app_env = lock.wheels(&lock.app.requires).unwrap_or_default();
    units
        .iter()
        .flat_map(|u| std::iter::once(&u.file).chain(&u.build))
        .chain(app_env)
        .filter(|f| seen.insert(f.sha256.clone()))
        .cloned()
        .collect()
}

/// One unit's outcome, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct WheelReport {
    /// Distribution.
    pub name: String,
    /// Version.
    pub version: String,
    /// Its key.
    pub key: String,
    /// True when built now (else taken from the cache).
    pub built: bool,
    /// True when pulled from the remote cache now.
    pub pulled: bool,
    /// Seconds the build took.
    pub seconds: f64,
    /// When it began, in seconds since the wheelhouse started.
    pub began: f64,
    /// Its log.
    pub log: PathBuf,
}

/// The record of the keys a project's wheelhouse used last (for `plan`'s
/// "was" column): `<build>/<project>/app/wheel-keys.json`.
pub fn last_keys_path(builder: &Builder) -> PathBuf {
    builder.work.join("wheel-keys.json")
}

/// The keys recorded by the project's last wheelhouse.
pub fn last_keys(builder: &Builder) -> BTreeMap<String, String> {
    fs::read_to_string(last_keys_path(builder))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Build (or take from the cache) every unit's wheel, independent ones at
/// once, each holding a token of `client`. Returns the wheels in the units'
/// order and a report per unit.
pub fn wheelhouse(
    builder: &Builder,
    layout: &Layout,
    units: &[WheelUnit],
    sources: &SourceCache,
    client: &jobserver::Client,
    remote: Option<&Remote>,
) -> Result<(Vec<PathBuf>, Vec<WheelReport>)> {
    let root = layout.wheels();
    fs::create_dir_all(&root)?;
    fs::create_dir_all(&builder.work)?;
    let started = Instant::now();
    let results: Vec<Result<WheelReport>> = std::thread::scope(|s| {
        let handles: Vec<_> = units
            .iter()
            .map(|u| {
                s.spawn(move || -> Result<WheelReport> {
                    let log = builder.work.join(format!("wheel-{}.log", u.name));
                    let mut rep = WheelReport {
                        name: u.name.to_string(),
                        version: u.version.clone(),
                        key: u.key.clone(),
                        built: false,
                        pulled: false,
                        seconds: 0.0,
                        began: 0.0,
                        log: log.clone(),
                    };
                    if u.cached(layout) {
                        return Ok(rep);
                    }
                    let _token = client.acquire()?;
                    rep.began = started.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let how = build_cached(builder, layout, u, sources, client, &log, remote)?;
                    rep.built = how == Got::Built;
                    rep.pulled = how == Got::Pulled;
                    rep.seconds = t.elapsed().as_secs_f64();
                    if rep.pulled {
                        eprintln!(
                            "  pulled wheel {} {} ({:.1}s)",
                            u.name, u.version, rep.seconds
                        );
                    }
                    if rep.built {
                        eprintln!(
                            "  built wheel {} {} ({:.1}s)",
                            u.name, u.version, rep.seconds
                        );
                    }
                    Ok(rep)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a wheel build panicked")))
            })
            .collect()
    });
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n\n"));
    }
    let keys: BTreeMap<&str, &str> = units
        .iter()
        .map(|u| (u.name.as_str(), u.key.as_str()))
        .collect();
    crate::util::write_atomic(&last_keys_path(builder), &serde_json::to_vec_pretty(&keys)?)?;
    let wheels = units
        .iter()
        .map(|u| {
            super::find_wheel(&u.dir(layout))?
                .with_context(|| format!("no wheel in {}", u.dir(layout).display()))
        })
        .collect::<Result<_>>()?;
    Ok((wheels, reports))
}

/// How a unit's wheel got into the local cache.
#[derive(Debug, PartialEq)]
enum Got {
    /// A concurrent build put it there.
    Found,
    /// Pulled from the remote cache.
    Pulled,
    /// Built here.
    Built,
}

/// Build one unit into the cache unless a concurrent build did or the remote
/// cache has it; what is built is pushed.
fn build_cached(
    builder: &Builder,
    layout: &Layout,
    u: &WheelUnit,
    sources: &SourceCache,
    client: &jobserver::Client,
    log: &Path,
    remote: Option<&Remote>,
) -> Result<Got> {
    let root = layout.wheels();
    let dir = u.dir(layout);
    // One build of a wheel at a time: a concurrent build of the same wheel
    // waits here and then finds it complete.
    let lock = fs::File::create(root.join(format!(".{}-{}.lock", u.name, &u.key[..24])))?;
    fs2::FileExt::lock_exclusive(&lock)?;
    if dir.join(".complete").is_file() {
        return Ok(Got::Found);
    }
    if let Some(r) = remote
        && pull_dir(r, &u.key, &u.label(), &dir)?
    {
        return Ok(Got::Pulled);
    }
    let tmp = tempfile::Builder::new()
        .prefix(".wheel-")
        .tempdir_in(&root)?;
    let file = cached_file(sources, &u.file)?;
    WheelSource {
        kind: match u.kind {
            Kind::Sdist => "sdist",
            Kind::Wheel => "wheel",
        }
        .into(),
        file: u.file.file.clone(),
        sha256: u.file.sha256.clone(),
    }
    .write(tmp.path())?;
    match u.kind {
        Kind::Wheel => {
            fs::copy(&file, tmp.path().join(&u.file.file))?;
        }
        Kind::Sdist => {
            build_sdist(builder, layout, u, &file, sources, client, tmp.path(), log)?;
            check_links(builder, u, tmp.path())?;
            // Cached, a wheel holds the placeholder where it named the build
            // prefix (its RUNPATH, recorded paths): relocation takes either.
            if let Some(w) = super::find_wheel(tmp.path())? {
                let prefix = builder.prefix.as_os_str().as_encoded_bytes();
                crate::pypkg::wheel::swap_in_wheel(&w, prefix, PLACEHOLDER.as_bytes())?;
            }
        }
    }
    if let Some(r) = remote.filter(|r| r.writable()) {
        push_dir(r, &u.key, &u.name, tmp.path())?;
    }
    fs::write(tmp.path().join(".complete"), u.key.as_bytes())?;
    remove_any(&dir)?; // an incomplete leftover
    fs::rename(tmp.keep(), &dir)?;
    Ok(Got::Built)
}

/// `cache push` / `cache pull` of the units' wheels: each one side has and
/// the other lacks is copied over.
pub fn sync(layout: &Layout, units: &[WheelUnit], remote: &Remote, push: bool) -> Result<()> {
    for u in units {
        let dir = u.dir(layout);
        if push && u.cached(layout) && !remote.has(remote::Kind::Wheel, &u.key) {
            push_dir(remote, &u.key, &u.name, &dir)?;
        } else if !push && !u.cached(layout) {
            pull_dir(remote, &u.key, &u.label(), &dir)?;
        }
    }
    Ok(())
}

/// Push the files of a wheel cache directory (a wheel, and the record of its
/// source for a unit's) to the remote cache as `key`.
pub(crate) fn push_dir(remote: &Remote, key: &str, label: &str, dir: &Path) -> Result<()> {
    let mut blobs = Vec::new();
    let mut names: Vec<_> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != ".complete")
        .collect();
    names.sort();
    for n in names {
        let media_type = if n.ends_with(".whl") {
            "application/vnd.ferrobus.wheel.v1+zip"
        } else {
            "application/json"
        };
        blobs.push(Blob {
            data: fs::read(dir.join(&n))?,
            title: n,
            media_type: media_type.into(),
        });
    }
    remote.push(remote::Kind::Wheel, key, label, blobs);
    Ok(())
}

/// Pull the wheel files of `key` from the remote cache into the wheel cache
/// directory `dir` (whole or not at all: through a temporary directory beside
/// it, `.complete` written last); false on a miss. A pulled file must be a
/// plain name and there must be a wheel among them.
pub(crate) fn pull_dir(remote: &Remote, key: &str, label: &str, dir: &Path) -> Result<bool> {
    let Some(blobs) = remote.pull(remote::Kind::Wheel, key, label) else {
        return Ok(false);
    };
    let plain = |t: &str| !t.is_empty() && !t.contains('/') && !t.starts_with('.');
    if !blobs.iter().all(|b| plain(&b.title)) || !blobs.iter().any(|b| b.title.ends_with(".whl")) {
        eprintln!(
            "warning: remote cache: wheel {label}: the pulled files are not a wheel's; building it"
        );
        return Ok(false);
    }
    let root = dir
        .parent()
        .context("a wheel cache directory has a parent")?;
    fs::create_dir_all(root)?;
    let tmp = tempfile::Builder::new()
        .prefix(".wheel-")
        .tempdir_in(root)?;
    for b in blobs {
        fs::write(tmp.path().join(&b.title), &b.data)?;
    }
    fs::write(tmp.path().join(".complete"), key.as_bytes())?;
    remove_any(dir)?;
    fs::rename(tmp.keep(), dir)?;
    Ok(true)
}

/// A locked file from the source cache, checked.
pub fn cached_file(sources: &SourceCache, f: &LockedFile) -> Result<PathBuf> {
    let p = sources.path(&f.sha256);
    if !p.is_file() {
        bail!(
            "{} ({}) is not in the source cache: run `ferrobus fetch` (or the build without --offline)",
            f.file,
            f.sha256
        );
    }
    Ok(p)
}

/// The cached build environment holding `files` (installed with no index):
/// its `site` directory.
pub fn build_env(
    builder: &Builder,
    layout: &Layout,
    files: &[LockedFile],
    sources: &SourceCache,
) -> Result<PathBuf> {
    // Its scripts name the interpreter by its path: a build environment is
    // one prefix's, and stays in the local cache (hashed, so that the places
    // of the key do not replace it).
    let key = builder
        .key("build-env")
        .with("files", files)
        .with(
            "prefix",
            crate::util::sha256_bytes(builder.prefix.as_os_str().as_encoded_bytes()),
        )
        .key();
    let root = layout.wheels();
    fs::create_dir_all(&root)?;
    let dir = root.join(format!("buildenv-{}", &key[..24]));
    let lock = fs::File::create(root.join(format!(".buildenv-{}.lock", &key[..24])))?;
    fs2::FileExt::lock_exclusive(&lock)?;
    if !dir.join(".complete").is_file() {
        let tmp = tempfile::Builder::new()
            .prefix(".buildenv-")
            .tempdir_in(&root)?;
        let named = tmp.path().join("files");
        fs::create_dir_all(&named)?;
        let mut args: Vec<String> = [
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--target",
        ]
        .map(String::from)
        .to_vec();
        args.push(tmp.path().join("site").display().to_string());
        for f in files {
            let to = named.join(&f.file);
            fs::copy(cached_file(sources, f)?, &to)?;
            args.push(to.display().to_string());
        }
        if !files.is_empty() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let what = format!(
                "installing a build environment ({})",
                files
                    .iter()
                    .map(LockedFile::pin)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            builder.run(&args, &format!("buildenv-{}.log", &key[..12]), &what)?;
        } else {
            fs::create_dir_all(tmp.path().join("site"))?;
        }
        remove_any(&named)?;
        fs::write(tmp.path().join(".complete"), key.as_bytes())?;
        remove_any(&dir)?;
        fs::rename(tmp.keep(), &dir)?;
    }
    Ok(dir.join("site"))
}

/// Build an sdist into a wheel in `out`: unpacked in the unit's work dir, its
/// backend run by `pep517.py` with the build environment on `sys.path`, the
/// hermetic guard watching.
#[allow(clippy::too_many_arguments)]
fn build_sdist(
    builder: &Builder,
    layout: &Layout,
    u: &WheelUnit,
    sdist: &Path,
    sources: &SourceCache,
    client: &jobserver::Client,
    out: &Path,
    log: &Path,
) -> Result<()> {
    let site = build_env(builder, layout, &u.build, sources)?;
    let work = builder.work.join(format!("build-{}", u.name));
    remove_any(&work)?;
    fs::create_dir_all(&work)?;
    crate::extract::unpack(sdist, &work.join("src"))
        .with_context(|| format!("{}: unpacking {}", u.label(), u.file.file))?;
    let src = crate::extract::source_root(&work.join("src"))?;
    let script = builder.work.join("pep517.py");
    fs::write(&script, super::backend::FRONTEND)?;
    let mut env = builder.env.clone();
    env.extend(u.env.clone());
    env.insert("PYTHONPATH".into(), site.display().to_string());
    // A cross build's backend compiles for the target (its sysconfig's
    // compiler and flags) and tags the wheel with its platform.
    builder.target_env(&mut env)?;
    let guard_log = log.with_extension("guard.jsonl");
    let _ = fs::remove_file(&guard_log);
    let prefix = builder.prefix.clone();
    crate::build::guard_env(
        &mut env,
        &format!("distribution {} {}", u.name, u.version),
        &guard_log,
        log,
        &prefix,
        &u.allow,
    );
    let _ = fs::remove_file(log);
    {
        let mut f = fs::OpenOptions::new().create(true).append(true).open(log)?;
        use std::io::Write;
        writeln!(f, "==> {} (key {}) from {}", u.label(), u.key, u.file.file)?;
        writeln!(
            f,
            "==> build environment: {}",
            u.build
                .iter()
                .map(LockedFile::pin)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        crate::build::write_env(&mut f, &env)?;
    }
    let args = [
        "-S".to_string(),
        "-B".to_string(),
        script.display().to_string(),
        src.display().to_string(),
        out.display().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = builder.run_logged(
        &env,
        &args,
        log,
        &format!("building {}", u.label()),
        Some(client),
    );
    crate::toolchain::guard::verdict(
        &guard_log,
        &format!("distribution {}", u.label()),
        &format!(
            "Provide it from a component in the prefix (and list that component in \
             [app.distribution.{0}] links), or allow it with a reason: \
             [app.distribution.{0}] allow_host = {{ \"<tool or directory>\" = \"<reason>\" }}.",
            u.name
        ),
    )?;
    r?;
    remove_any(&work)?;
    Ok(())
}

/// The components whose libraries a wheel built for `u` may link: python's
/// closure and the declared links' closures.
fn allowed_components(builder: &Builder, u: &WheelUnit) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = vec!["python".into()];
    todo.extend(u.links.iter().cloned());
    while let Some(c) = todo.pop() {
        if out.insert(c.clone())
            && let Some((_, deps)) = builder.components.get(&c)
        {
            todo.extend(deps.iter().cloned());
        }
    }
    out
}

/// Every shared library the wheel's ELF files link must come from python's
/// closure or a declared link (otherwise the key would not see it change), the
/// wheel itself, or the target's C library: anything else came from the build
/// host, which the target may not have.
fn check_links(builder: &Builder, u: &WheelUnit, out: &Path) -> Result<()> {
    let Some(wheel) = super::find_wheel(out)? else {
        bail!("{}: the build produced no wheel", u.label());
    };
    let owners = builder.library_owners();
    let allowed = allowed_components(builder, u);
    let mut zip = zip::ZipArchive::new(fs::File::open(&wheel)?)?;
    let shipped: BTreeSet<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .filter_map(|n| n.rsplit('/').next().map(str::to_string))
        .collect();
    let (mut bad, mut host) = (Vec::new(), Vec::new());
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let name = f.name()?.to_string();
        if !(name.ends_with(".so") || name.contains(".so.")) {
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data)?;
        if !crate::elf::is_elf(&data) {
            continue;
        }
        let elf = crate::elf::parse(&data)?;
        for lib in elf.libraries {
            match owners.get(lib) {
                Some(c) if !allowed.contains(c) => {
                    bad.push((name.clone(), lib.to_string(), c.clone()))
                }
                Some(_) => {}
                None if shipped.contains(lib) || builder.system_libs.iter().any(|s| s == lib) => {}
                None => host.push(format!("{name} links {lib}")),
            }
        }
    }
    if !host.is_empty() {
        bail!(
            "{}: its extensions link libraries that neither a component of the prefix \
             nor the wheel provides, so they came from the build host (the target may \
             not have them): {}. Build the library as a component and declare it \
             ([app.distribution.{}] links), or allow it as a system library ([health] \
             allow_libs)",
            u.label(),
            host.join(", "),
            u.name
        );
    }
    if bad.is_empty() {
        return Ok(());
    }
    let comps: BTreeSet<&str> = bad.iter().map(|(_, _, c)| c.as_str()).collect();
    let mut declared: Vec<&str> = u.links.iter().map(String::as_str).collect();
    declared.extend(comps.iter().copied());
    bail!(
        "{}: its wheel links {} without declaring {}: its key would not change with {}. \
         Declare it in the project:\n  [app.distribution.{}]\n  links = [{}]",
        u.label(),
        bad.iter()
            .map(|(f, l, c)| format!("{l} (component {c}; from {f})"))
            .collect::<Vec<_>>()
            .join(", "),
        if comps.len() == 1 { "it" } else { "them" },
        comps.iter().copied().collect::<Vec<_>>().join(", "),
        u.name,
        declared
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The build-only wheels of every unit and of the application's backend, by
/// pin: what the version manifest lists as build dependencies.
pub fn build_only(units: &[WheelUnit], lock: &BuildLock) -> Vec<LockedFile> {
    let mut seen = BTreeSet::new();
    units
        .iter()
        .flat_map(|u| u.build.iter().cloned())
        .chain(
            lock.wheels(&lock.app.requires)
                .unwrap_or_default()
                .into_iter()
                .cloned(),
        )
        .filter(|f| seen.insert(f.pin()))
        .collect()
}
