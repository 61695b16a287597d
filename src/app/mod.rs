//! app: the Python application layer.
//!
//! The project's `[app]` names the application's source (a directory with a
//! `pyproject.toml`) and its requirements lock (pip's `--require-hashes` format);
//! the build lock beside it ([`lock`], written by `ferrobus lock`) names the file
//! each distribution is built from and every sdist's build environment. Each
//! distribution is a build unit ([`wheels`]): built from its sdist by the embedded
//! Python (still in the build prefix) with the components' standard environment
//! and the hermetic guard, or taken as its published wheel where the project says
//! so; keyed by its file, its build environment, the toolchain, python and the
//! components it links; built in parallel under the build's jobserver. The
//! application itself is built into its own wheel (keyed by its source, its
//! backend from the build lock: [`backend`]), and everything is installed into
//! the staged tree with no index. Every download happened in `fetch`, from pip's
//! own configured indexes: nothing here names one.

mod backend;
pub mod lock;
pub mod wheels;
pub mod windows;

use crate::cache::remote::Remote;
use crate::fingerprint::{Fingerprint, Places};
use crate::load::Project;
use crate::paths::Layout;
use crate::plan::Plan;
use crate::pypkg::{LockedApp, PackageName, WheelName};
use crate::util::{remove_any, sha256_bytes, sha256_file, tail};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

// The lock's types live in the packaging layer; named here too for callers of
// `app::parse_lock`.
pub use crate::pypkg::{Requirement, parse_lock};

/// The resolved application of a project.
#[derive(Debug, Clone)]
pub struct AppPlan {
    /// The application's source directory.
    pub source: PathBuf,
    /// The lock file.
    pub lock: PathBuf,
    /// Its distributions.
    pub requirements: Vec<Requirement>,
    /// Distributions installed from their published wheel instead of the sdist.
    pub wheels: Vec<PackageName>,
    /// Console scripts linked into `<install_dir>/bin`.
    pub entry_points: Vec<String>,
    /// Key of the application's own source.
    pub source_key: String,
    /// The application's distribution name, from its pyproject.toml.
    pub name: PackageName,
    /// Its version from pyproject.toml (empty when dynamic).
    pub version: String,
    /// Its license from pyproject.toml (`project.license`, empty if none).
    pub license: String,
    /// The project file (named in errors).
    pub project_file: PathBuf,
    /// The build lock ([`crate::pypkg::buildlock`]).
    pub build_lock: PathBuf,
    /// Per-distribution settings (`[app.distribution.<name>]`), by normalised name.
    pub distribution: BTreeMap<String, crate::load::DistributionConfig>,
}

impl LockedApp for AppPlan {
    fn name(&self) -> &PackageName {
        &self.name
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn license(&self) -> &str {
        &self.license
    }
    fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
    fn uses_published_wheel(&self, name: &PackageName) -> bool {
        self.wheels.contains(name)
    }
}

/// Name, version and license of the application from its `pyproject.toml`.
fn pyproject_identity(path: &Path) -> Result<(PackageName, String, String)> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let p = v.get("project");
    let s = |k: &str| {
        p.and_then(|p| p.get(k))
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string()
    };
    let license = p
        .and_then(|p| p.get("license"))
        .map(|l| match l {
            toml::Value::String(s) => s.clone(),
            other => other
                .get("text")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_string(),
        })
        .unwrap_or_default();
    let name = s("name");
    if name.is_empty() {
        bail!("{}: [project] has no name", path.display());
    }
    let name = name
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: [project] name: {e}", path.display()))?;
    Ok((name, s("version"), license))
}

/// Files of the application's source that make up its identity (build output,
/// caches and VCS data left out), sorted.
fn source_files(dir: &Path) -> Vec<PathBuf> {
    let skip = |n: &str| {
        matches!(
            n,
            "build" | "dist" | "__pycache__" | ".git" | ".tox" | ".venv"
        ) || n.ends_with(".egg-info")
    };
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !skip(&e.file_name().to_string_lossy()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && !e.file_name().to_string_lossy().ends_with(".pyc"))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Resolve the project's `[app]`, if any: parse the lock and key the source.
pub fn plan(project: &Project) -> Result<Option<AppPlan>> {
    let Some(app) = &project.app else {
        return Ok(None);
    };
    let dir = project.path.parent().unwrap_or(Path::new("."));
    let source = dir.join(&app.source);
    if !source.join("pyproject.toml").is_file() {
        bail!(
            "{}: [app] source {} has no pyproject.toml",
            project.path.display(),
            source.display()
        );
    }
    let lock = dir.join(&app.requirements);
    let requirements = parse_lock(&lock)?;
    let wheels: Vec<PackageName> = app
        .wheels
        .iter()
        .map(|w| {
            w.parse()
                .map_err(|e| anyhow::anyhow!("{}: [app] wheels: {e}", project.path.display()))
        })
        .collect::<Result<_>>()?;
    if let Some(w) = wheels
        .iter()
        .find(|w| !requirements.iter().any(|r| &r.name == *w))
    {
        bail!(
            "{}: [app] wheels names \"{w}\", which is not in {}",
            project.path.display(),
            lock.display()
        );
    }
    let (name, version, license) = pyproject_identity(&source.join("pyproject.toml"))?;
    let mut id = String::new();
    for f in source_files(&source) {
        let rel = f.strip_prefix(&source).unwrap_or(&f).display().to_string();
        id.push_str(&format!("{rel} {}\n", sha256_file(&f)?));
    }
    let build_lock = match &app.build_requirements {
        Some(p) => dir.join(p),
        None => lock.with_file_name("build-requirements.lock"),
    };
    let mut distribution = BTreeMap::new();
    for (n, d) in &app.distribution {
        let name: PackageName = n.parse().map_err(|e| {
            anyhow::anyhow!("{}: [app.distribution.{n}]: {e}", project.path.display())
        })?;
        if !requirements.iter().any(|r| r.name == name) {
            bail!(
                "{}: [app.distribution.{n}]: {n} is not in {}",
                project.path.display(),
                lock.display()
            );
        }
        distribution.insert(name.to_string(), d.clone());
    }
    Ok(Some(AppPlan {
        project_file: project.path.clone(),
        build_lock,
        distribution,
        source,
        lock,
        requirements,
        wheels,
        entry_points: app.entry_points.clone(),
        source_key: sha256_bytes(id.as_bytes()),
        name,
        version,
        license,
    }))
}

/// What a cross build's interpreter is told of the target it builds for.
#[derive(Debug, Clone)]
struct Cross {
    /// The target's platform (`linux-aarch64`): `sysconfig.get_platform()`,
    /// so the wheels' platform tag and pip's idea of what is compatible.
    platform: String,
}

/// The Python that builds (and, for a built runtime, installs) wheels: its
/// executable, the environment it runs with, where it works, and what
/// identifies it in cache keys.
#[derive(Debug, Clone)]
pub struct Builder {
    /// The interpreter.
    pub python: PathBuf,
    /// The environment of every run (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    /// Its work dir (logs, HOME, TMPDIR).
    pub work: PathBuf,
    /// The build prefix its extensions compile against (empty for the host's).
    pub prefix: PathBuf,
    /// The plan's shipped components: key and dependencies, by name.
    pub components: BTreeMap<String, (String, Vec<String>)>,
    /// The prefix's state file (which component installed which library).
    state: PathBuf,
    /// The libraries an extension may take from the target system: the C
    /// library's ([`crate::elf::SYSTEM_LIBS`]) and the project's `[health]
    /// allow_libs`.
    pub system_libs: Vec<String>,
    /// What its wheels depend on besides their own file and links.
    identity: Fingerprint,
    /// What a pure wheel built by it (the application's own) depends on: its
    /// interpreter's identity, which a cross build shares with the build
    /// host's, so that the application's wheel is built once for both.
    pure_identity: Fingerprint,
    /// A cross build's target, whose sysconfig and platform the runs that
    /// make or install the target's files see ([`Builder::target_env`]).
    cross: Option<Cross>,
    /// The paths its keys do not depend on (the plan's).
    places: Places,
}

impl Builder {
    /// The embedded Python, still in the build prefix: builds every sdist
    /// against the embedded headers and libraries with the components'
    /// standard environment (compiler, flags, pkg-config).
    pub fn embedded(plan: &Plan, layout: &Layout) -> Result<Builder> {
        let work = layout.project_build(&plan.slot).join("app");
        let vars: BTreeMap<&str, String> = [
            ("prefix", plan.prefix.display().to_string()),
            ("work", work.display().to_string()),
        ]
        .into();
        let mut env: BTreeMap<String, String> =
            crate::plan::standard_env(&plan.toolchain, plan.source_date_epoch)
                .into_iter()
                .map(|(k, v)| (k, crate::util::expand(&v, &vars)))
                .collect();
        // Fail loudly instead of silently falling back to pure Python.
        env.insert("PYYAML_FORCE_LIBYAML".into(), "1".into());
        pip_env(&mut env);
        // python's key holds its dependencies' keys; other components enter a
        // wheel's key only where it links them (wheels::units).
        let python = plan
            .get("python")
            .map(|c| c.key.clone())
            .unwrap_or_default();
        let identity = Fingerprint::new("builder")
            .with("toolchain", &plan.toolchain)
            .with("hardening", plan.toolchain.hardening_flags())
            .with("python", python)
            .placed(&plan.places);
        // A cross build runs the build host's interpreter of the same
        // version, told the target's sysconfig (compiler, flags, extension
        // suffix) and platform: no emulation for compiling.
        let (python, cross) = match &plan.build_python {
            Some(bp) => (
                bp.path.clone(),
                Some(Cross {
                    platform: format!("linux-{}", plan.target.arch),
                }),
            ),
            None => (plan.prefix.join("bin/python3"), None),
        };
        let mut b = Builder::at(python, env, work, identity)?;
        b.cross = cross;
        b.places = plan.places.clone();
        b.prefix = plan.prefix.clone();
        b.state = layout.prefix_root(&plan.slot).join("state.json");
        b.system_libs = crate::elf::SYSTEM_LIBS
            .iter()
            .map(|s| s.to_string())
            .chain(plan.health.allow_libs.iter().cloned())
            .collect();
        b.components = plan
            .components
            .iter()
            .filter(|c| !c.build_only)
            .map(|c| (c.name.clone(), (c.key.clone(), c.depends.clone())))
            .collect();
        Ok(b)
    }

    /// Share the application wheel's key with `host`, the build host's builder
    /// whose interpreter this cross build runs: a pure wheel is the same
    /// whichever target it is built for.
    pub fn share_pure_wheels_with(&mut self, host: &Builder) {
        self.pure_identity = host.pure_identity.clone();
    }

    /// Add to `env` what makes the build host's interpreter build or install
    /// for a cross build's target: `_PYTHON_HOST_PLATFORM` (the platform
    /// tag), `_PYTHON_SYSCONFIGDATA_NAME` with a copy of the target's
    /// sysconfig data in front of `PYTHONPATH` (its compiler, flags and
    /// extension suffix; the copy, so that nothing else of the target's
    /// library is on the path). Nothing natively.
    pub fn target_env(&self, env: &mut BTreeMap<String, String>) -> Result<()> {
        let Some(c) = &self.cross else {
            return Ok(());
        };
        let data = fs::read_dir(self.prefix.join("lib"))
            .with_context(|| format!("reading {}", self.prefix.join("lib").display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
            })
            .filter_map(|d| fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with("_sysconfigdata_") && n.ends_with(".py")
                })
            })
            .with_context(|| {
                format!(
                    "no _sysconfigdata_*.py under {}/lib/python3.*: the target's python is not built",
                    self.prefix.display()
                )
            })?;
        let dir = self.work.join("target-sysconfig");
        fs::create_dir_all(&dir)?;
        let name = data.file_name().unwrap_or_default();
        fs::copy(&data, dir.join(name))?;
        let module = Path::new(name).with_extension("");
        env.insert("_PYTHON_HOST_PLATFORM".into(), c.platform.clone());
        env.insert(
            "_PYTHON_SYSCONFIGDATA_NAME".into(),
            module.display().to_string(),
        );
        let path = match env.get("PYTHONPATH") {
            Some(p) if !p.is_empty() => format!("{}:{p}", dir.display()),
            _ => dir.display().to_string(),
        };
        env.insert("PYTHONPATH".into(), path);
        Ok(())
    }

    /// Which component installed each shared library of the prefix, by file
    /// name (`libpq.so.5` → `libpq`).
    pub fn library_owners(&self) -> BTreeMap<String, String> {
        let st = crate::cache::PrefixState::load(&self.state);
        let mut out = BTreeMap::new();
        for (c, i) in &st.components {
            for f in &i.files {
                if let Some(n) = f.strip_prefix("lib/").filter(|n| !n.contains('/'))
                    && (n.ends_with(".so") || n.contains(".so."))
                {
                    out.insert(n.to_string(), c.clone());
                }
            }
        }
        out
    }

    /// The build host's `python3`: builds pure-Python wheels (the application
    /// of a target whose runtime is assembled, not built here).
    pub fn host(layout: &Layout, project: &str, epoch: u64) -> Result<Builder> {
        let python = which("python3").context("python3 (the build host's) is not on PATH")?;
        let work = layout.project_build(project).join("app-host");
        let mut env: BTreeMap<String, String> = [
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("LC_ALL", "C"),
            ("TZ", "UTC"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.insert("SOURCE_DATE_EPOCH".into(), epoch.to_string());
        env.insert("HOME".into(), work.join("home").display().to_string());
        env.insert("TMPDIR".into(), work.join("tmp").display().to_string());
        pip_env(&mut env);
        let out = Command::new(&python)
            .arg("--version")
            .output()
            .with_context(|| format!("running {} --version", python.display()))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let identity = Fingerprint::new("builder")
            .with("host_python", version)
            .with("epoch", epoch);
        Builder::at(python, env, work, identity)
    }

    fn at(
        python: PathBuf,
        env: BTreeMap<String, String>,
        work: PathBuf,
        identity: Fingerprint,
    ) -> Result<Builder> {
        Ok(Builder {
            python,
            env,
            work,
            prefix: PathBuf::new(),
            components: BTreeMap::new(),
            state: PathBuf::new(),
            system_libs: Vec::new(),
            pure_identity: identity.clone(),
            identity,
            cross: None,
            places: Places::default(),
        })
    }

    /// A key of `kind` over this builder's identity, to add parts to.
    fn key(&self, kind: &'static str) -> Fingerprint {
        Fingerprint::new(kind)
            .with("builder", self.identity.key())
            .placed(&self.places)
    }

    /// A key of `kind` for a pure wheel (the application's own), to add
    /// parts to: a cross build's is the build host's.
    fn pure_key(&self, kind: &'static str) -> Fingerprint {
        Fingerprint::new(kind)
            .with("builder", self.pure_identity.key())
            .placed(&self.places)
    }

    /// Run the interpreter with `args` and `env`, its output in `log`; on
    /// failure the error says `what` and ends with the log's tail.
    fn run_with(
        &self,
        env: &BTreeMap<String, String>,
        args: &[&str],
        log: &str,
        what: &str,
    ) -> Result<()> {
        fs::create_dir_all(self.work.join("home"))?;
        fs::create_dir_all(self.work.join("tmp"))?;
        let log = self.work.join(log);
        let out = fs::File::create(&log)?;
        let status = Command::new(&self.python)
            .args(args)
            .env_clear()
            .envs(env)
            .stdout(out.try_clone()?)
            .stderr(out)
            .status()
            .with_context(|| format!("running {}", self.python.display()))?;
        if !status.success() {
            bail!(
                "{what} failed (log: {}):\n{}",
                log.display(),
                tail(&log, 25)
            );
        }
        Ok(())
    }

    /// Run the interpreter with `args` and `env`, appending its output to
    /// `log` (which the compiler wrappers append to as well); with `client`,
    /// sub-makes share its jobserver. On failure the error says `what` and
    /// ends with the log's tail.
    pub fn run_logged(
        &self,
        env: &BTreeMap<String, String>,
        args: &[&str],
        log: &Path,
        what: &str,
        client: Option<&jobserver::Client>,
    ) -> Result<()> {
        fs::create_dir_all(self.work.join("home"))?;
        fs::create_dir_all(self.work.join("tmp"))?;
        let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
        let mut cmd = Command::new(&self.python);
        cmd.args(args)
            .env_clear()
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        if let Some(c) = client {
            c.configure_make(&mut cmd);
        }
        let status = cmd
            .status()
            .with_context(|| format!("running {}", self.python.display()))?;
        if !status.success() {
            bail!("{what} failed (log: {}):\n{}", log.display(), tail(log, 25));
        }
        Ok(())
    }

    /// [`Builder::run_with`] its own environment.
    fn run(&self, args: &[&str], log: &str, what: &str) -> Result<()> {
        self.run_with(&self.env, args, log, what)
    }
}

/// pip's own configuration (index, proxies, certificates) is the user's: passed
/// through, never written here.
fn pip_env(env: &mut BTreeMap<String, String>) {
    env.insert("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into());
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    for k in [
        "PIP_CONFIG_FILE",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_CERT",
        "SSL_CERT_FILE",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "no_proxy",
    ] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.into(), v);
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        // pip reads ~/.config/pip/pip.conf and ~/.pip/pip.conf from the real home.
        let home = PathBuf::from(home);
        for conf in [
            home.join(".config/pip/pip.conf"),
            home.join(".pip/pip.conf"),
        ] {
            if conf.is_file() && !env.contains_key("PIP_CONFIG_FILE") {
                env.insert("PIP_CONFIG_FILE".into(), conf.display().to_string());
            }
        }
    }
}

/// A program on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// Identity of the application layer: its wheels' keys and its own source.
pub fn key(units: &[wheels::WheelUnit], app: &AppPlan) -> String {
    let keys: Vec<&str> = units.iter().map(|u| u.key.as_str()).collect();
    Fingerprint::new("app")
        .with(
            "wheelhouse",
            Fingerprint::new("wheelhouse").with("wheels", keys).key(),
        )
        .with("source", &app.source_key)
        .key()
}

/// Build (or reuse) the application's own wheel, keyed by its source's
/// contents and the builder, in the wheel cache (and the remote cache, as
/// `app-<name>`). The source is copied first, so the build leaves nothing in
/// it; the build runs its PEP 517 backend from a cached environment
/// ([`backend`]).
pub fn app_wheel(
    builder: &Builder,
    layout: &Layout,
    app: &AppPlan,
    remote: Option<&Remote>,
) -> Result<PathBuf> {
    let base = &builder.work;
    let key = builder
        .pure_key("app-wheel")
        .with("source", &app.source_key)
        .key();
    let dir = layout
        .wheels()
        .join(format!("app-{}-{}", app.name, &key[..24]));
    if let Some(w) = find_wheel(&dir)? {
        return Ok(w);
    }
    let label = format!("app-{}", app.name);
    if let Some(r) = remote
        && wheels::pull_dir(r, &key, &label, &dir)?
    {
        return find_wheel(&dir)?.context("the pulled application wheel vanished");
    }
    let src = base.join("src");
    remove_any(&src)?;
    for f in source_files(&app.source) {
        let to = src.join(f.strip_prefix(&app.source)?);
        fs::create_dir_all(to.parent().unwrap_or(&src))?;
        fs::copy(&f, &to)?;
    }
    let tmp = base.join(".wheel-tmp");
    remove_any(&tmp)?;
    fs::create_dir_all(&tmp)?;
    backend::build(builder, layout, app, &src, &tmp)?;
    remove_any(&dir)?;
    fs::create_dir_all(layout.wheels())?;
    fs::rename(&tmp, &dir)?;
    remove_any(&src)?;
    let wheel = find_wheel(&dir)?.context("the application's build produced no wheel")?;
    if let Some(r) = remote.filter(|r| r.writable()) {
        wheels::push_dir(r, &key, &label, &dir)?;
    }
    Ok(wheel)
}

pub(crate) fn find_wheel(dir: &Path) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    Ok(fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl")))
}

/// Install the wheelhouse and the application's wheel into the staged embedded
/// prefix with the builder's pip and no index, check that every dependency is
/// there, and link the entry points into `<install_dir>/bin`.
pub fn install(
    builder: &Builder,
    app: &AppPlan,
    wheelhouse: &[PathBuf],
    app_wheel: &Path,
    embedded: &Path,
) -> Result<()> {
    // By name from --find-links dirs, not by file path: pip records a file path
    // as a direct URL (`direct_url.json`), which would put a build path into the
    // tree and make it differ between build dirs.
    let mut args: Vec<String> = [
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--no-warn-script-location",
        "--prefix",
    ]
    .map(String::from)
    .to_vec();
    args.push(embedded.display().to_string());
    for w in wheelhouse.iter().chain([&app_wheel.to_path_buf()]) {
        let file = w.file_name().unwrap_or_default().to_string_lossy();
        let wheel: WheelName = file
            .parse()
            .with_context(|| format!("installing {}", w.display()))?;
        args.push("--find-links".into());
        args.push(w.parent().unwrap_or(Path::new(".")).display().to_string());
        args.push(wheel.pin());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A cross build's pip must take the target's wheels as compatible.
    let mut env = builder.env.clone();
    builder.target_env(&mut env)?;
    builder.run_with(&env, &args, "install.log", "installing the application")?;
    // Every requirement of every installed distribution must be installed too.
    let site = fs::read_dir(embedded.join("lib"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
        })
        .map(|p| p.join("site-packages"))
        .context("no lib/python3.* in the staged tree")?;
    let mut check_env = builder.env.clone();
    check_env.insert("PYTHONPATH".into(), site.display().to_string());
    builder.target_env(&mut check_env)?;
    builder.run_with(
        &check_env,
        &["-m", "pip", "check"],
        "pip-check.log",
        &format!("the lock {} is incomplete: pip check", app.lock.display()),
    )?;
    let bin = embedded.parent().unwrap_or(embedded).join("bin");
    for ep in &app.entry_points {
        if !embedded.join("bin").join(ep).is_file() {
            bail!("entry point \"{ep}\" was not installed into embedded/bin by any distribution");
        }
        fs::create_dir_all(&bin)?;
        let link = bin.join(ep);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new("../embedded/bin").join(ep), &link)?;
    }
    Ok(())
}
