//! ops: what each command does, as library functions (the command line in
//! `main.rs` only parses arguments and prints the reports these return).
//!
//! A [`Session`] is opened once per command: the project, its definitions, the
//! layout, the [`Target`] and the overrides. [`plan`] resolves it once into a
//! [`Planned`] (component graph, application, provenance contents, the staged
//! tree's identity); [`build`] runs the pipeline in order:
//!
//! ```text
//! load → plan → fetch → build (runtime) → app → stage → provenance
//!      → relocate → check → package (→ verify reads the artifacts back)
//! ```
//!
//! The target decides two things only: how the runtime is obtained
//! ([`crate::target::Runtime`]: built from definitions, or assembled from a
//! published distribution) and which binary format is relinked and checked.

mod linux;
mod report;
mod windows;

pub use report::{AppReport, BuildReport, CacheListing, PlanReport};

use crate::app::{self, AppPlan};
use crate::cache::remote::{Blob, Kind, Remote, RemoteSpec};
use crate::cache::{ArtifactStore, PrefixState};
use crate::fetch::{self, FetchOptions, SourceCache};
use crate::load::{self, Project};
use crate::package::{self, sign::SigningKey};
use crate::paths::Layout;
use crate::plan::{self, Plan};
use crate::provenance;
use crate::stage;
use crate::target::{Runtime, Target, TargetName};
use crate::{toolchain, verify};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Everything a command works on: opened once, passed to every operation.
#[derive(Debug, Clone)]
pub struct Session {
    /// The project definition.
    pub project: Project,
    /// The software definitions directory.
    pub defs_dir: PathBuf,
    /// Cache and build roots.
    pub layout: Layout,
    /// Where installers go.
    pub dist: PathBuf,
    /// The target of this session.
    pub target: Target,
    /// Component versions from the command line (`--override NAME=VERSION`).
    pub overrides: BTreeMap<String, String>,
}

impl Session {
    /// Load `project_file` for `target` (default: the project's first target).
    /// `defs` defaults to `<project dir>/../software-defs`.
    pub fn open(
        project_file: &Path,
        defs: Option<&Path>,
        layout: Layout,
        dist: &Path,
        target: Option<TargetName>,
        overrides: &[String],
    ) -> Result<Session> {
        let project = load::load_project(project_file)?;
        let name = target.unwrap_or(project.targets[0]);
        if !project.targets.contains(&name) {
            bail!(
                "{}: the project does not build for {name} (its targets: {})",
                project.path.display(),
                project
                    .targets
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let floor = project
            .health
            .glibc_floor
            .clone()
            .or_else(|| project.toolchain.glibc.clone());
        let overrides = plan::parse_overrides(overrides)?;
        if name == TargetName::WindowsX86_64 && !overrides.is_empty() {
            bail!("--override applies to components built from source, not to {name}");
        }
        Ok(Session {
            defs_dir: defs.map_or_else(|| load::default_defs_dir(project_file), Path::to_path_buf),
            target: Target::new(name, floor),
            project,
            layout,
            dist: dist.to_path_buf(),
            overrides,
        })
    }
}

/// A session resolved once: nothing here is patched in later.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The component graph.
    pub plan: Plan,
    /// The Python that builds and installs the application's wheels.
    pub builder: app::Builder,
    /// The application layer, if the project has one.
    pub app: Option<AppPlan>,
    /// What the build will ship, as far as the plan decides it.
    pub contents: provenance::Contents,
    /// The application layer's key (wheelhouse and source).
    pub app_key: Option<String>,
    /// The application's distributions as build units (empty without a
    /// build lock: `ferrobus lock` plans without one).
    pub units: Vec<app::wheels::WheelUnit>,
    /// The build lock, if the project has an application.
    pub build_lock: Option<crate::pypkg::buildlock::BuildLock>,
    /// For a cross-compiled target: the plan of the build host's target,
    /// whose CPython (with its libraries) is built first and runs the build's
    /// Python tools ([`plan::BuildPython`]).
    pub build_host: Option<Box<Planned>>,
    /// The staged tree's identity: components, app and provenance keys.
    pub tree_id: String,
}

/// Resolve the session's component graph, application and provenance.
pub fn plan(s: &Session) -> Result<Planned> {
    plan_with(s, true)
}

/// [`plan`], the application's wheels planned only when `wheels` (the build
/// lock must exist then).
fn plan_with(s: &Session, wheels: bool) -> Result<Planned> {
    if s.target.runtime() != Runtime::Built {
        bail!(
            "{}: the {} target is assembled, not built from components: there is no component plan",
            s.project.path.display(),
            s.target
        );
    }
    // A cross build's Python tools run on the host's build of the same
    // CPython: the project planned for the host's target (when it has a
    // python; one without needs no build interpreter).
    let build_host = if s.target.is_cross() {
        let host = Session {
            target: s.target.build_host(),
            ..s.clone()
        };
        Some(Box::new(plan_with(&host, false)?)).filter(|h| h.plan.get("python").is_some())
    } else {
        None
    };
    let build_python = build_host.as_ref().and_then(|h| {
        h.plan.get("python").map(|c| plan::BuildPython {
            path: h.plan.prefix.join("bin/python3"),
            key: c.key.clone(),
        })
    });
    let defs = load::load_software_dir(&s.defs_dir)?;
    let tc = toolchain::detect(&s.project.toolchain, s.target.arch, &s.layout.toolchains())?;
    let slot = s.target.slot(&s.project.name);
    let prefix = s.layout.prefix(&slot)?;
    let plan = plan::resolve(
        &s.project,
        &defs,
        &s.defs_dir,
        &s.overrides,
        &tc,
        &prefix,
        &s.layout.places(&slot)?,
        &s.target,
        build_python.as_ref(),
    )?;
    let app = app::plan(&s.project)?;
    let mut builder = app::Builder::embedded(&plan, &s.layout)?;
    if let Some(h) = &build_host {
        builder.share_pure_wheels_with(&h.builder);
    }
    let (build_lock, units) = match (&app, wheels) {
        (Some(a), true) => {
            let lock = app::wheels::read_lock(a)?;
            let units = app::wheels::units(&builder, a, &lock)?;
            (Some(lock), units)
        }
        _ => (None, vec![]),
    };
    let app_key = app.as_ref().map(|a| app::key(&units, a));
    let mut contents = provenance::Contents::from_plan(&s.project, &plan, app.as_ref());
    if let Some(lock) = &build_lock {
        contents.build_only = app::wheels::build_only(&units, lock);
    }
    contents.check_policy()?;
    let tree_id = stage::stage_id(&plan, app_key.as_deref(), &provenance::key(&contents));
    Ok(Planned {
        plan,
        builder,
        app,
        contents,
        app_key,
        units,
        build_lock,
        tree_id,
        build_host,
    })
}

/// The remote cache of a run: the command line's URL (`none` for none), else
/// `FERROBUS_CACHE_REMOTE` (clap reads it into `url`), else the project's
/// `[cache] remote`; read-only when any of them says so.
pub fn remote(
    project: &Project,
    url: Option<&str>,
    read_only: bool,
    progress: bool,
) -> Result<Option<std::sync::Arc<Remote>>> {
    let from_project = project.cache.remote.as_ref().map(|u| RemoteSpec {
        url: u.clone(),
        read_only: project.cache.read_only,
        ..Default::default()
    });
    let Some(mut spec) = RemoteSpec::choose(url, read_only, from_project.as_ref()) else {
        return Ok(None);
    };
    spec.progress = progress;
    let r = Remote::open(&spec).with_context(|| {
        if url.is_none() && from_project.is_some() {
            format!("{}: [cache] remote", project.path.display())
        } else {
            "--cache-remote".to_string()
        }
    })?;
    Ok(Some(std::sync::Arc::new(r)))
}

/// The plan with each component's cache status.
pub fn plan_report(s: &Session) -> Result<PlanReport> {
    let p = plan(s)?;
    Ok(PlanReport::new(&p.plan, &s.layout, &p))
}

/// Fill the source cache with every component's source and every file the
/// application's wheels are built from (the build lock's), all failures
/// reported together.
pub fn fetch(s: &Session, p: &Planned, opts: &FetchOptions) -> Result<HashMap<String, PathBuf>> {
    let rt = tokio::runtime::Runtime::new()?;
    let cache = SourceCache::new(&s.layout.sources());
    let mut items = component_sources(&p.plan);
    if let Some(lock) = &p.build_lock {
        let files = app::wheels::files(&p.units, lock);
        let missing = files.iter().any(|f| !cache.path(&f.sha256).is_file());
        let indexes = if missing && !opts.offline {
            crate::pypkg::index::Indexes::from_pip()?
        } else {
            Default::default()
        };
        // Fetched with the components' sources: every missing file named at once.
        let py = rt.block_on(app::lock::items(&indexes, &files, &cache, opts.offline))?;
        items.extend(py.into_iter().map(|(n, src)| (format!("python:{n}"), src)));
    }
    // The remote cache before the network; what came from elsewhere goes there.
    let missing: Vec<&(String, crate::plan::Source)> = items
        .iter()
        .filter(|(_, src)| !cache.path(&src.sha256).is_file())
        .collect();
    if let Some(r) = &opts.remote {
        for (label, src) in &missing {
            pull_source(r, &cache, label, src);
        }
    }
    let got = rt.block_on(fetch::fetch_all(&items, &cache, opts))?;
    if let Some(r) = opts.remote.as_ref().filter(|r| r.writable()) {
        for (label, src) in missing {
            push_source(r, &cache, label, src)?;
        }
    }
    Ok(got
        .into_iter()
        .filter(|(n, _)| !n.starts_with("python:"))
        .collect())
}

/// Write the project's build lock (`ferrobus lock`): build the components
/// (python is needed to resolve for it), then resolve and fetch every build
/// requirement. Returns the lock's path.
pub fn lock(s: &Session, opts: &BuildOptions) -> Result<PathBuf> {
    let p = plan_with(s, false)?;
    let Some(a) = &p.app else {
        bail!(
            "{}: the project has no [app] to lock",
            s.project.path.display()
        );
    };
    let _runtime = runtime(s, &p, opts)?;
    app::lock::write(&p.builder, &s.layout, a, &opts.fetch)?;
    Ok(a.build_lock.clone())
}

/// A plan's runtime, built: its components in the prefix, held by the prefix
/// lock until dropped.
pub(crate) struct BuiltRuntime {
    /// The fetched sources, by component.
    pub sources: HashMap<String, PathBuf>,
    /// Held until the staged tree is finished (the app's wheels and its
    /// install use the prefix's Python).
    pub prefix_lock: crate::build::PrefixLock,
    /// One jobserver for the components and the wheels: `--jobs` bounds both.
    pub client: jobserver::Client,
    /// The component build's report.
    pub built: crate::build::BuildReport,
    /// A cross build's: the build host's prefix, held so that its
    /// interpreter stays while this build uses it.
    pub build_host_lock: Option<crate::build::PrefixLock>,
}

/// Fetch, lock the prefix and build the plan's components.
pub(crate) fn runtime(s: &Session, p: &Planned, opts: &BuildOptions) -> Result<BuiltRuntime> {
    // The build interpreter first (cached after the host target's own build).
    let build_host_lock = match &p.build_host {
        None => None,
        Some(h) => {
            let host = Session {
                target: s.target.build_host(),
                ..s.clone()
            };
            let rt = runtime(&host, h, opts).with_context(|| {
                format!(
                    "building the {} interpreter a {} build runs its Python tools with",
                    host.target, s.target
                )
            })?;
            Some(rt.prefix_lock)
        }
    };
    let sources = fetch(s, p, &opts.fetch)?;
    let prefix_lock = crate::build::lock_prefix(&p.plan, &s.layout)?;
    let client = jobserver::Client::new(opts.build.jobs.max(1))?;
    let built = crate::build::build(
        &p.plan,
        &s.layout,
        &sources,
        &opts.build,
        &client,
        opts.fetch.remote.as_ref(),
        &prefix_lock,
    )?;
    Ok(BuiltRuntime {
        sources,
        prefix_lock,
        client,
        built,
        build_host_lock,
    })
}

/// `build --component NAME...`: build (or pull) the named components and
/// their dependencies, and with `wheels` the application's wheels, pushing
/// what is built to the remote cache; nothing is staged or packaged. What a
/// CI matrix spreads a cold build over.
pub fn build_components(
    s: &Session,
    opts: &BuildOptions,
    names: &[String],
) -> Result<report::PartReport> {
    let t = std::time::Instant::now();
    let mut p = plan(s)?;
    let wheels = names.iter().any(|n| n == "wheels");
    let mut want: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = if wheels {
        p.plan.components.iter().map(|c| c.name.clone()).collect()
    } else {
        Vec::new()
    };
    for n in names.iter().filter(|n| *n != "wheels") {
        if p.plan.get(n).is_none() {
            bail!(
                "--component {n}: {} has no such component (it has: {}; and `wheels`)",
                s.project.path.display(),
                p.plan
                    .components
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        todo.push(n.clone());
    }
    while let Some(n) = todo.pop() {
        if want.insert(n.clone())
            && let Some(c) = p.plan.get(&n)
        {
            todo.extend(c.depends.iter().cloned());
        }
    }
    p.plan.components.retain(|c| want.contains(&c.name));
    if !wheels {
        p.build_lock = None;
        p.units.clear();
    }
    let rt = runtime(s, &p, opts)?;
    let wheels = if wheels {
        let sources = SourceCache::new(&s.layout.sources());
        app::wheels::wheelhouse(
            &p.builder,
            &s.layout,
            &p.units,
            &sources,
            &rt.client,
            opts.fetch.remote.as_deref(),
        )?
        .1
    } else {
        Vec::new()
    };
    Ok(report::PartReport {
        project: p.plan.project.clone(),
        seconds: t.elapsed().as_secs_f64(),
        components: rt.built.components,
        wheels,
        remote: opts.fetch.remote.as_deref().map(report::RemoteReport::of),
    })
}

/// `cache push` / `cache pull`: move what one side holds of the session's
/// project (component artifacts, wheels, sources) to the other, where missing.
pub fn cache_sync(
    s: &Session,
    remote: Option<std::sync::Arc<Remote>>,
    push: bool,
) -> Result<report::RemoteReport> {
    let Some(remote) = remote else {
        bail!(
            "no remote cache: give --cache-remote oci://HOST[:PORT]/REPOSITORY (or FERROBUS_CACHE_REMOTE, or the project's [cache] remote)"
        );
    };
    if push && !remote.writable() {
        bail!("the remote cache {} is read-only here", remote.url());
    }
    let p = plan(s)?;
    let store = ArtifactStore::new(&s.layout.artifacts());
    for c in &p.plan.components {
        match (push, store.lookup(&c.name, &c.key)) {
            (true, Some(a)) if !remote.has(Kind::Component, &c.key) => {
                crate::build::push_artifact(&remote, &a)?
            }
            (false, None) => {
                if let Some(b) = remote
                    .pull(Kind::Component, &c.key, &c.name)
                    .and_then(|b| b.into_iter().next())
                {
                    store.adopt(&c.name, &c.key, &b.data)?;
                }
            }
            _ => {}
        }
    }
    app::wheels::sync(&s.layout, &p.units, &remote, push)?;
    let cache = SourceCache::new(&s.layout.sources());
    let mut sources = component_sources(&p.plan);
    if let Some(lock) = &p.build_lock {
        for f in app::wheels::files(&p.units, lock) {
            let src = crate::plan::Source {
                sha256: f.sha256.clone(),
                urls: Vec::new(),
                debian: None,
                file_name: f.file.clone(),
            };
            sources.push((f.file.clone(), src));
        }
    }
    for (label, src) in &sources {
        match (push, cache.path(&src.sha256).is_file()) {
            (true, true) => push_source(&remote, &cache, label, src)?,
            (false, false) => pull_source(&remote, &cache, label, src),
            _ => {}
        }
    }
    Ok(report::RemoteReport::of(&remote))
}

/// Every component's source, labelled with the component's name.
fn component_sources(plan: &Plan) -> Vec<(String, crate::plan::Source)> {
    plan.components
        .iter()
        .map(|c| (c.name.clone(), c.source.clone()))
        .collect()
}

/// Pull a source archive from the remote cache into the source cache; one
/// whose sha256 is not the definition's is refused with a warning (the
/// source is then fetched as usual).
fn pull_source(remote: &Remote, cache: &SourceCache, label: &str, src: &crate::plan::Source) {
    if let Some(b) = remote
        .pull(Kind::Source, &src.sha256, label)
        .and_then(|b| b.into_iter().next())
        && let Err(e) = cache.adopt(src, &b.data)
    {
        eprintln!("warning: remote cache: {label}: {e:#}; refused");
    }
}

/// Push a source archive of the source cache unless the remote has it (or
/// refused it in this run).
fn push_source(
    remote: &Remote,
    cache: &SourceCache,
    label: &str,
    src: &crate::plan::Source,
) -> Result<()> {
    if remote.was_refused(&src.sha256) || remote.has(Kind::Source, &src.sha256) {
        return Ok(());
    }
    let blob = Blob {
        title: src.file_name.clone(),
        media_type: "application/octet-stream".into(),
        data: std::fs::read(cache.path(&src.sha256))?,
    };
    remote.push(Kind::Source, &src.sha256, label, vec![blob]);
    Ok(())
}

/// How a build runs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// How sources are fetched.
    pub fetch: FetchOptions,
    /// How components are built (jobs, serial, progress).
    pub build: crate::build::BuildOptions,
    /// The key that signs the packages and SHA256SUMS, if any.
    pub signing: Option<SigningKey>,
    /// The Authenticode key that signs the Windows executables and MSI, if any.
    pub codesign: Option<crate::package::authenticode::CodeSign>,
}

/// Run the whole pipeline for the session's target and write its installers.
pub fn build(s: &Session, opts: &BuildOptions) -> Result<BuildReport> {
    match s.target.runtime() {
        Runtime::Built => linux::build(s, opts),
        Runtime::Assembled => windows::build(s, opts),
    }
}

/// Write the installers of an already built and checked project (no rebuild).
pub fn package(s: &Session, signing: Option<SigningKey>) -> Result<Vec<PathBuf>> {
    let p = plan(s)?;
    if !stage::is_current(&p.plan, &s.layout, &p.tree_id) {
        bail!(
            "{}: no checked stage for the current plan; run `ferrobus build` first",
            p.plan.project
        );
    }
    let root = s.layout.project_build(&p.plan.slot).join("stage");
    let out = write_installers(s, &p, &root, signing)?;
    Ok(out
        .packages
        .into_iter()
        .map(|p| p.path)
        .chain(out.provenance)
        .chain(out.lint)
        .chain(out.signature)
        .collect())
}

/// Write the project's Linux installers from its checked stage into dist/
/// through the one publisher: the version manifest, SBOM and lint
/// configurations beside them, all in dist's one SHA256SUMS (signed when a key
/// is given).
fn write_installers(
    s: &Session,
    p: &Planned,
    stage_root: &Path,
    signing: Option<SigningKey>,
) -> Result<package::Published> {
    let mut meta = package::Meta::from_project(&s.project)?;
    meta.arch = s.target.arch;
    meta.signing = signing;
    let beside = package::Beside {
        dir: stage_root.join(s.project.install_dir.trim_start_matches('/')),
        stem: meta.beside_stem(),
    };
    let formats = &s.project.package.formats;
    package::publish(
        stage_root,
        Some(&beside),
        &meta,
        formats,
        &s.dist,
        &p.tree_id,
    )
}

/// Check artifacts: checksum (and its signature), own signature, SBOM against
/// payload (and a Windows artifact's Authenticode signatures). `public_key` is
/// an ASCII-armoured OpenPGP key file, `authenticode_ca` the PEM certificates
/// Authenticode signatures must chain to.
pub fn verify(
    artifacts: &[PathBuf],
    public_key: Option<&Path>,
    authenticode_ca: Option<&Path>,
) -> Result<Vec<verify::Report>> {
    let key = public_key
        .map(|k| {
            std::fs::read(k).with_context(|| format!("reading the public key {}", k.display()))
        })
        .transpose()?;
    artifacts
        .iter()
        .map(|a| verify::verify(a, key.as_deref(), authenticode_ca))
        .collect()
}

/// What the cache holds.
pub fn cache_list(layout: &Layout) -> CacheListing {
    CacheListing::read(layout)
}

/// What `cache clean` removes.
#[derive(Debug, Clone, Copy)]
pub enum Clean {
    /// Artifacts only.
    Artifacts,
    /// Artifacts and source archives.
    ArtifactsAndSources,
    /// Artifacts no build prefix uses.
    Unused,
    /// Everything.
    All,
}

/// Remove cached data; returns the bytes freed.
pub fn cache_clean(layout: &Layout, what: Clean) -> Result<u64> {
    let store = ArtifactStore::new(&layout.artifacts());
    let before = report::dir_size(&layout.cache);
    match what {
        Clean::All => crate::util::remove_any(&layout.cache)?,
        Clean::Unused => {
            // Keys in use by any project's build prefix survive.
            let mut used = std::collections::HashSet::new();
            if let Ok(rd) = std::fs::read_dir(layout.cache.join("prefixes")) {
                for e in rd.filter_map(|e| e.ok()) {
                    let st = PrefixState::load(&e.path().join("state.json"));
                    used.extend(st.components.values().map(|i| i.key.clone()));
                }
            }
            for a in store.list() {
                if !used.contains(&a.manifest.key) {
                    crate::util::remove_any(&a.dir)?;
                }
            }
            store.clean_temporaries();
        }
        Clean::Artifacts | Clean::ArtifactsAndSources => {
            crate::util::remove_any(&layout.artifacts())?;
            if matches!(what, Clean::ArtifactsAndSources) {
                crate::util::remove_any(&layout.sources())?;
            }
        }
    }
    Ok(before.saturating_sub(report::dir_size(&layout.cache)))
}

/// Add packages to the project's apt and yum repository (`[publish]`, or
/// `repo`), signed with `keys` (ASCII-armoured OpenPGP secret keys, each
/// unlocked with `FERROBUS_SIGNING_PASSPHRASE` when set). `packages` default
/// to the deb and rpm of the project's version in dist/.
pub fn publish(
    s: &Session,
    repo: Option<&Path>,
    keys: &[PathBuf],
    packages: &[PathBuf],
) -> Result<crate::publish::Report> {
    use crate::publish::{self, apt::Suite, openpgp::RepoKey};
    let p = &s.project;
    let base = p.path.parent().unwrap_or(Path::new("."));
    let repo = match (repo, &p.publish.repo) {
        (Some(r), _) => r.to_path_buf(),
        (None, Some(r)) => base.join(r),
        (None, None) => bail!(
            "{}: no repository to publish to: give --repo DIR or set [publish] repo",
            p.path.display()
        ),
    };
    let pass = std::env::var("FERROBUS_SIGNING_PASSPHRASE").ok();
    let keys = keys
        .iter()
        .map(|k| RepoKey::load(k, pass.clone()))
        .collect::<Result<Vec<_>>>()?;
    let packages = if packages.is_empty() {
        // The session target's packages (they must be there), and those of
        // the project's other Linux targets that were built (arm64 beside
        // amd64: one repository serves the whole fleet).
        let mut meta = package::Meta::from_project(p)?;
        if s.target.runtime() == Runtime::Built {
            meta.arch = s.target.arch;
        }
        let formats: Vec<&str> = ["deb", "rpm"]
            .into_iter()
            .filter(|f| p.package.formats.iter().any(|x| x.as_str() == *f))
            .collect();
        let mut found: Vec<PathBuf> = formats
            .iter()
            .map(|f| Ok(s.dist.join(package::packager(f)?.file_name(&meta))))
            .collect::<Result<_>>()?;
        for t in &p.targets {
            let t = Target::new(*t, None);
            if t.runtime() != Runtime::Built || t.arch == meta.arch {
                continue;
            }
            let m = package::Meta {
                arch: t.arch,
                ..meta.clone()
            };
            for f in &formats {
                let file = s.dist.join(package::packager(f)?.file_name(&m));
                if file.is_file() {
                    found.push(file);
                }
            }
        }
        if found.is_empty() {
            bail!(
                "{}: [package] formats has neither deb nor rpm: nothing to publish",
                p.path.display()
            );
        }
        found
    } else {
        packages.to_vec()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let name = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
    let settings = publish::Settings {
        repo,
        suite: Suite {
            suite: name(&p.publish.suite, "stable"),
            component: name(&p.publish.component, "main"),
            origin: name(&p.publish.origin, &p.name),
            label: name(&p.publish.label, &p.name),
        },
        keys,
        now,
    };
    publish::publish(&packages, &settings)
}
