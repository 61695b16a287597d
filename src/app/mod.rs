//! app: the Python application layer.
//!
//! The project's `[app]` names the application's source (a directory with a
//! `pyproject.toml`) and its requirements lock (pip's `--require-hashes` format).
//! The embedded Python, still in the build prefix, builds a wheelhouse: every
//! locked distribution from its sdist (compiled against the embedded headers and
//! libraries with the standard environment), or, for the distributions the project
//! lists in `wheels`, its published wheel; each file's sha256 is checked against
//! the lock. The wheelhouse is cached under a key of the lock, the policy, the
//! interpreter, the C components and the toolchain, so an unchanged lock never
//! builds a wheel again. The application itself is built into its own wheel (keyed
//! by its source), and everything is installed into the staged tree with no index.
//! The registry pip downloads from is pip's own configuration: nothing here names it.

mod backend;

use crate::fingerprint::Fingerprint;
use crate::load::Project;
use crate::paths::Layout;
use crate::plan::Plan;
use crate::util::{remove_any, sha256_bytes, sha256_file, tail};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Beside each cached wheel: which file it was made from (see [`WheelSource`]).
const SOURCE_RECORD: &str = "source.json";

/// One locked distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Normalised name (PEP 503).
    pub name: String,
    /// Pinned version.
    pub version: String,
    /// Allowed sha256 hashes of its files.
    pub hashes: Vec<String>,
    /// The requirement as written, without its options (markers kept).
    pub spec: String,
    /// 1-based line of the lock it starts on.
    pub line: usize,
}

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
    pub wheels: Vec<String>,
    /// Console scripts linked into `<install_dir>/bin`.
    pub entry_points: Vec<String>,
    /// Key of the application's own source.
    pub source_key: String,
    /// The application's distribution name (normalised), from its pyproject.toml.
    pub name: String,
    /// Its version from pyproject.toml (empty when dynamic).
    pub version: String,
    /// Its license from pyproject.toml (`project.license`, empty if none).
    pub license: String,
}

/// The file one cached wheel was made from, recorded when it was built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WheelSource {
    /// `sdist` or `wheel`.
    pub kind: String,
    /// The downloaded file's name.
    pub file: String,
    /// Its sha256 (one of the lock's hashes).
    pub sha256: String,
}

/// The record of the file a wheelhouse wheel was made from.
pub fn wheel_source(wheel: &Path) -> Result<WheelSource> {
    let rec = wheel.with_file_name(SOURCE_RECORD);
    let text = fs::read_to_string(&rec).with_context(|| format!("reading {}", rec.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", rec.display()))
}

/// Name, version and license of the application from its `pyproject.toml`.
fn pyproject_identity(path: &Path) -> Result<(String, String, String)> {
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
    Ok((normalize(&name), s("version"), license))
}

/// PEP 503 normalised distribution name.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        let c = c.to_ascii_lowercase();
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse a requirements lock: every distribution pinned with `==` and carrying at
/// least one `--hash=sha256:`; errors name the file, the line and the distribution.
pub fn parse_lock(path: &Path) -> Result<Vec<Requirement>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out: Vec<Requirement> = Vec::new();
    let mut logical = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = i + 1;
        }
        let line = raw.split(" #").next().unwrap_or("");
        let line = if line.trim_start().starts_with('#') {
            ""
        } else {
            line
        };
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        if entry.trim().is_empty() {
            continue;
        }
        let req = parse_entry(entry.trim(), path, start)?;
        if let Some(prev) = out.iter().find(|r| r.name == req.name) {
            bail!(
                "{}:{start}: {} is locked twice (also on line {})",
                path.display(),
                req.name,
                prev.line
            );
        }
        out.push(req);
    }
    if out.is_empty() {
        bail!("{}: no requirements", path.display());
    }
    Ok(out)
}

fn parse_entry(entry: &str, path: &Path, line: usize) -> Result<Requirement> {
    let mut spec = Vec::new();
    let mut hashes = Vec::new();
    for word in entry.split_whitespace() {
        if let Some(h) = word.strip_prefix("--hash=") {
            let Some(hex) = h.strip_prefix("sha256:") else {
                bail!(
                    "{}:{line}: only sha256 hashes are accepted, got \"{h}\"",
                    path.display()
                );
            };
            hashes.push(hex.to_ascii_lowercase());
        } else if word.starts_with('-') {
            bail!(
                "{}:{line}: option \"{word}\" is not allowed in a lock (only --hash)",
                path.display()
            );
        } else {
            spec.push(word);
        }
    }
    let spec = spec.join(" ");
    let req_part = spec.split(';').next().unwrap_or("").trim();
    let Some((name, version)) = req_part.split_once("==") else {
        let name = req_part
            .split(|c: char| "<>=!~[ ".contains(c))
            .next()
            .unwrap_or(req_part);
        bail!(
            "{}:{line}: {name} is not pinned: a lock needs `name==version` (got \"{req_part}\")",
            path.display()
        );
    };
    let name = normalize(name.split('[').next().unwrap_or(name));
    let version = version.trim().to_string();
    if name.is_empty() || version.is_empty() || version.contains(['*', ',', '=']) {
        bail!(
            "{}:{line}: \"{req_part}\" is not an exact pin",
            path.display()
        );
    }
    if hashes.is_empty() {
        bail!(
            "{}:{line}: {name}=={version} has no --hash=sha256:...; every locked \
             distribution needs the hash of its file",
            path.display()
        );
    }
    if let Some(bad) = hashes
        .iter()
        .find(|h| h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        bail!(
            "{}:{line}: {name}: \"{bad}\" is not a sha256",
            path.display()
        );
    }
    Ok(Requirement {
        name,
        version,
        hashes,
        spec,
        line,
    })
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
    let wheels: Vec<String> = app.wheels.iter().map(|w| normalize(w)).collect();
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
    Ok(Some(AppPlan {
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

/// The environment every pip build runs with: the components' standard
/// environment (compiler, flags, pkg-config), expanded for the build prefix.
fn build_env(plan: &Plan, work: &Path) -> BTreeMap<String, String> {
    let vars: BTreeMap<&str, String> = [
        ("prefix", plan.prefix.display().to_string()),
        ("work", work.display().to_string()),
    ]
    .into();
    let mut env: BTreeMap<String, String> =
        crate::plan::standard_env(&plan.toolchain, plan.source_date_epoch)
            .into_iter()
            .map(|(k, v)| (k, crate::build::expand(&v, &vars)))
            .collect();
    // Fail loudly instead of silently falling back to pure Python.
    env.insert("PYYAML_FORCE_LIBYAML".into(), "1".into());
    env.insert("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into());
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    // pip's own configuration (index, proxies, certificates) is the user's.
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
    env
}

/// Run the build prefix's Python with `args`, its output in `log`; on failure the
/// error says `what` and ends with the log's tail.
fn python(
    plan: &Plan,
    env: &BTreeMap<String, String>,
    args: &[&str],
    log: &Path,
    what: &str,
) -> Result<()> {
    let py = plan.prefix.join("bin/python3");
    let out = fs::File::create(log)?;
    let status = Command::new(&py)
        .args(args)
        .env_clear()
        .envs(env)
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("running {}", py.display()))?;
    if !status.success() {
        bail!("{what} failed (log: {}):\n{}", log.display(), tail(log, 25));
    }
    Ok(())
}

/// What one locked distribution's wheel depends on besides its own pin: the
/// interpreter, the C components and the toolchain.
fn wheel_key_base(plan: &Plan, kind: &'static str) -> Fingerprint {
    let components: BTreeMap<&str, &str> = plan
        .components
        .iter()
        .filter(|c| !c.build_only)
        .map(|c| (c.name.as_str(), c.key.as_str()))
        .collect();
    Fingerprint::new(kind)
        .with("toolchain", &plan.toolchain)
        .with("components", components)
}

/// Identity of the application layer: its wheelhouse and its own source.
pub fn key(plan: &Plan, app: &AppPlan) -> Result<String> {
    Ok(Fingerprint::new("app")
        .with("wheelhouse", wheelhouse_key(plan, app)?)
        .with("source", &app.source_key)
        .key())
}

/// The wheelhouse's identity: every distribution's wheel key.
pub fn wheelhouse_key(plan: &Plan, app: &AppPlan) -> Result<String> {
    let base = wheel_key_base(plan, "wheel");
    let keys: Vec<String> = app
        .requirements
        .iter()
        .map(|r| wheel_key(&base, app, r))
        .collect();
    Ok(Fingerprint::new("wheelhouse").with("wheels", keys).key())
}

fn wheel_key(base: &Fingerprint, app: &AppPlan, r: &Requirement) -> String {
    base.clone()
        .with("spec", &r.spec)
        .with("hashes", &r.hashes)
        .with("binary", app.wheels.contains(&r.name))
        .key()
}

/// The wheelhouse: one wheel per locked distribution, each cached on its own in
/// `<cache>/wheels/<key>/` (so a changed lock line rebuilds that distribution
/// only). Returns the wheels and how many were built now.
pub fn wheelhouse(plan: &Plan, layout: &Layout, app: &AppPlan) -> Result<(Vec<PathBuf>, usize)> {
    let base = wheel_key_base(plan, "wheel");
    let root = layout.cache.join("wheels");
    fs::create_dir_all(&root)?;
    let work = layout.project_build(&plan.project).join("app");
    fs::create_dir_all(work.join("home"))?;
    fs::create_dir_all(work.join("tmp"))?;
    let env = build_env(plan, &work);
    let mut wheels = Vec::new();
    let mut built = 0;
    for r in &app.requirements {
        let key = wheel_key(&base, app, r);
        let dir = root.join(format!("{}-{}", r.name, &key[..24]));
        // One build of a wheel at a time: a concurrent build of the same wheel
        // waits here and then finds it complete.
        let lock = fs::File::create(root.join(format!(".{}-{}.lock", r.name, &key[..24])))?;
        fs2::FileExt::lock_exclusive(&lock)?;
        if !dir.join(".complete").is_file() {
            let tmp = tempfile::Builder::new()
                .prefix(".wheel-")
                .tempdir_in(&root)?;
            build_wheel(plan, app, r, &env, &work, tmp.path())?;
            fs::write(tmp.path().join(".complete"), key.as_bytes())?;
            if !dir.join(".complete").is_file() {
                // else another build finished the same wheel meanwhile
                remove_any(&dir)?; // an incomplete leftover
                fs::rename(tmp.keep(), &dir)?;
                built += 1;
            }
        }
        wheels.push(find_wheel(&dir)?.with_context(|| format!("no wheel in {}", dir.display()))?);
    }
    Ok((wheels, built))
}

/// Download one distribution's file (sdist, or wheel where allowed) without pip's
/// hash check, so that a mismatch is reported here, naming it; check its sha256
/// against the lock; build the sdist into a wheel. The wheel lands in `out`.
fn build_wheel(
    plan: &Plan,
    app: &AppPlan,
    r: &Requirement,
    env: &BTreeMap<String, String>,
    work: &Path,
    out: &Path,
) -> Result<()> {
    let binary = app.wheels.contains(&r.name);
    let pin = format!("{}=={}", r.name, r.version);
    let where_ = format!("{}:{}", app.lock.display(), r.line);
    let d = out.join("download");
    let d_str = d.display().to_string();
    let mut args = vec!["-m", "pip", "download", "--no-deps", "--dest", &d_str];
    args.extend(if binary {
        ["--only-binary", ":all:"]
    } else {
        ["--no-binary", ":all:"]
    });
    args.push(&pin);
    let log = work.join(format!("download-{}.log", r.name));
    python(
        plan,
        env,
        &args,
        &log,
        &format!("fetching {pin} ({where_})"),
    )?;
    let file = &crate::util::single_file(&d, &pin)?;
    let got = sha256_file(file)?;
    if !r.hashes.contains(&got) {
        bail!(
            "{where_}: hash mismatch for {pin}: {} has sha256 {got}, the lock allows {}",
            file.file_name().unwrap_or_default().to_string_lossy(),
            r.hashes.join(", ")
        );
    }
    let record = WheelSource {
        kind: if binary { "wheel" } else { "sdist" }.into(),
        file: file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        sha256: got.clone(),
    };
    fs::write(out.join(SOURCE_RECORD), serde_json::to_vec(&record)?)?;
    if binary {
        fs::rename(file, out.join(file.file_name().unwrap_or_default()))?;
    } else {
        let log = work.join(format!("wheel-{}.log", r.name));
        let (file_s, out_s) = (file.display().to_string(), out.display().to_string());
        let args = [
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            &out_s,
            &file_s,
        ];
        python(
            plan,
            env,
            &args,
            &log,
            &format!("building {pin} from its sdist"),
        )?;
    }
    remove_any(&d)
}

/// Build (or reuse) the application's own wheel, keyed by its source. The source
/// is copied first, so the build leaves nothing in it; the build runs its PEP 517
/// backend from a cached environment ([`backend`]).
pub fn app_wheel(plan: &Plan, layout: &Layout, app: &AppPlan) -> Result<PathBuf> {
    let base = layout.project_build(&plan.project).join("app");
    let dir = base.join(format!("wheel-{}", &app.source_key[..24]));
    if let Some(w) = find_wheel(&dir)? {
        return Ok(w);
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
    fs::create_dir_all(base.join("home"))?;
    fs::create_dir_all(base.join("tmp"))?;
    let env = build_env(plan, &base);
    backend::build(plan, layout, app, &env, &base, &src, &tmp)?;
    remove_any(&dir)?;
    fs::rename(&tmp, &dir)?;
    find_wheel(&dir)?.context("the application's build produced no wheel")
}

fn find_wheel(dir: &Path) -> Result<Option<PathBuf>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    Ok(fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl")))
}

/// Install the wheelhouse and the application's wheel into the staged embedded
/// prefix with no index, check that every dependency is there, and link the entry
/// points into `<install_dir>/bin`.
pub fn install(
    plan: &Plan,
    layout: &Layout,
    app: &AppPlan,
    wheelhouse: &[PathBuf],
    app_wheel: &Path,
    embedded: &Path,
) -> Result<()> {
    let work = layout.project_build(&plan.project).join("app");
    let env = build_env(plan, &work);
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
        let mut parts = file.split('-');
        let (Some(name), Some(version)) = (parts.next(), parts.next()) else {
            bail!("{}: not a wheel file name", w.display());
        };
        args.push("--find-links".into());
        args.push(w.parent().unwrap_or(Path::new(".")).display().to_string());
        args.push(format!("{name}=={version}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    python(
        plan,
        &env,
        &args,
        &work.join("install.log"),
        "installing the application",
    )?;
    // Every requirement of every installed distribution must be installed too.
    let site = fs::read_dir(embedded.join("lib"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
        })
        .map(|p| p.join("site-packages"))
        .context("no lib/python3.* in the staged tree")?;
    let mut check_env = env.clone();
    check_env.insert("PYTHONPATH".into(), site.display().to_string());
    python(
        plan,
        &check_env,
        &["-m", "pip", "check"],
        &work.join("pip-check.log"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(text: &str) -> Result<Vec<Requirement>> {
        let t = tempfile::NamedTempFile::new().unwrap();
        fs::write(t.path(), text).unwrap();
        parse_lock(t.path())
    }

    #[test]
    fn locks_are_parsed_and_checked() {
        let h = "a".repeat(64);
        let r = lock(&format!(
            "# c\nPyYAML==6.0.2 \\\n    --hash=sha256:{h} \\\n    --hash=sha256:{h}\n\
             psutil==7.2.2 --hash=sha256:{h} ; sys_platform == \"linux\"  # via x\n"
        ))
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].name.as_str(), r[0].version.as_str(), r[0].line),
            ("pyyaml", "6.0.2", 2)
        );
        assert_eq!(r[1].spec, "psutil==7.2.2 ; sys_platform == \"linux\"");
        let e = lock("psutil==7.2.2\n").unwrap_err().to_string();
        assert!(e.contains(":1: psutil==7.2.2 has no --hash"), "{e}");
        let e = lock(&format!("psutil>=7 --hash=sha256:{h}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: psutil is not pinned"), "{e}");
        let e = lock(&format!(
            "-i https://example.invalid\nx==1 --hash=sha256:{h}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains(":1: option \"-i\""), "{e}");
        let e = lock("x==1 --hash=sha256:abc\n").unwrap_err().to_string();
        assert!(e.contains("is not a sha256"), "{e}");
        let e = lock(&format!("x==1 --hash=sha256:{h}\nX==2 --hash=sha256:{h}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: x is locked twice (also on line 1)"), "{e}");
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalize("PyYAML"), "pyyaml");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a__b-_c"), "a-b-c");
    }
}
