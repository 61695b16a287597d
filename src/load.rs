//! load: parse and validate project and software definitions (TOML).
//!
//! Every error names the file, the line and the key: unknown keys, wrong types and
//! missing fields are rejected by serde with the span of the offending item, which
//! is turned into `file:line:column` here.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// One software definition (`software-defs/<name>.toml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareDef {
    /// Component name; must equal the file stem.
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub summary: String,
    /// Upstream home page.
    #[serde(default)]
    pub homepage: String,
    /// SPDX license expression.
    pub license: String,
    /// License files, relative to the extracted source.
    #[serde(default)]
    pub license_files: Vec<String>,
    /// The version used unless a project overrides it.
    pub default_version: String,
    /// Runtime dependencies: built first and shipped.
    #[serde(default)]
    pub depends: Vec<String>,
    /// Build-only dependencies: built first, never shipped.
    #[serde(default)]
    pub build_depends: Vec<String>,
    /// Globs (relative to the prefix) removed from the install before caching.
    #[serde(default)]
    pub prune: Vec<String>,
    /// Build steps, each run by `/bin/sh -ec` in the source directory.
    #[serde(default)]
    pub steps: Vec<String>,
    /// Extra environment for every step (placeholders allowed).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The versions this definition can build.
    #[serde(rename = "version")]
    pub versions: Vec<VersionDef>,
    /// Per-target overrides (`linux`, `windows`).
    #[serde(default)]
    pub targets: BTreeMap<String, TargetOverride>,
    /// Where the definition was read from (not part of the file).
    #[serde(skip)]
    pub path: PathBuf,
}

/// One buildable version of a component.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDef {
    /// Version string.
    pub version: String,
    /// sha256 of the source archive.
    pub sha256: String,
    /// Upstream URLs of the source archive.
    #[serde(default)]
    pub url: Vec<String>,
    /// File name of the Debian orig tarball with the same bytes, if any.
    pub debian: Option<String>,
    /// Patch files under `software-defs/patches/`.
    #[serde(default)]
    pub patches: Vec<String>,
    /// Steps for this version only (replace the definition's steps).
    pub steps: Option<Vec<String>>,
    /// Extra environment for this version only.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Overrides of steps and environment for one target family.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOverride {
    /// Steps replacing the definition's steps on this target.
    pub steps: Option<Vec<String>>,
    /// Extra environment on this target.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// A project definition (`projects/<name>.toml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Project (package) name.
    pub name: String,
    /// Version of the package.
    pub version: String,
    /// Package iteration (release number).
    #[serde(default = "one")]
    pub iteration: u32,
    /// Maintainer, `Name <email>`.
    #[serde(default)]
    pub maintainer: String,
    /// Home page.
    #[serde(default)]
    pub homepage: String,
    /// One-paragraph description.
    #[serde(default)]
    pub description: String,
    /// License of the project itself (SPDX).
    #[serde(default)]
    pub license: String,
    /// Absolute install directory on the target, e.g. `/opt/demo-agent`.
    pub install_dir: String,
    /// Components to build (their dependencies are added automatically).
    pub components: Vec<String>,
    /// Component version overrides: `name = "version"`.
    #[serde(default)]
    pub overrides: BTreeMap<String, String>,
    /// SOURCE_DATE_EPOCH for builds and packages.
    #[serde(default = "default_epoch")]
    pub source_date_epoch: u64,
    /// Health-check policy.
    #[serde(default)]
    pub health: Health,
    /// Installers to emit and their options.
    #[serde(default)]
    pub package: PackageConfig,
    /// The system user the services run as (`[user]`).
    pub user: Option<UserConfig>,
    /// systemd services (`[[service]]`).
    #[serde(default)]
    pub service: Vec<ServiceConfig>,
    /// Configuration files installed outside the install dir (`[[config]]`).
    #[serde(default)]
    pub config: Vec<ConfigFile>,
    /// The Python application and its locked requirements (`[app]`).
    pub app: Option<AppConfig>,
    /// Provenance settings (`[provenance]`).
    #[serde(default)]
    pub provenance: ProvenanceConfig,
    /// What the staged tree leaves out (`[stage]`).
    #[serde(default)]
    pub stage: StageConfig,
    /// The C toolchain (`[toolchain]`).
    #[serde(default)]
    pub toolchain: ToolchainConfig,
    /// The Windows bundle (`[windows]`, built with `--target windows-x86_64`).
    pub windows: Option<crate::windows::WindowsConfig>,
    /// Where the project was read from (not part of the file).
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[stage]`: dead weight a project leaves out of its tree, after the app is
/// installed and before anything is relocated, checked, listed or packaged.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Globs relative to the embedded prefix (e.g. `lib/python3.*/idlelib`):
    /// every match is removed.
    #[serde(default)]
    pub prune: Vec<String>,
    /// Globs of paths `prune` would remove but that stay.
    #[serde(default)]
    pub keep: Vec<String>,
}

/// Provenance settings (`[provenance]`): what the build may ship without.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceConfig {
    /// Components allowed to have no `license` or license files missing from
    /// their source; any other such component fails the build.
    #[serde(default)]
    pub allow_missing_licenses: Vec<String>,
}

/// Installers to emit (`[package]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// Formats: `tar.xz`, `tar.zst`, `deb`.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Debian options.
    #[serde(default)]
    pub deb: DebConfig,
    /// RPM options.
    #[serde(default)]
    pub rpm: RpmConfig,
    /// Self-extracting installer options.
    #[serde(default)]
    pub sh: ShConfig,
    /// xz preset (0-9) of tar.xz, the deb's data.tar.xz and an xz `.sh` payload.
    #[serde(default = "default_xz_level")]
    pub xz_level: u32,
    /// zstd level (1-19) of tar.zst and a zstd rpm payload.
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
}

fn default_xz_level() -> u32 {
    3
}
fn default_zstd_level() -> i32 {
    10
}

/// Self-extracting installer options (`[package.sh]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShConfig {
    /// Payload compression: `gzip` (default: gzip is on every Linux, minimal
    /// containers included) or `xz` (smaller; the target needs xz-utils).
    #[serde(default = "default_sh_compression")]
    pub compression: String,
}

impl Default for ShConfig {
    fn default() -> Self {
        ShConfig {
            compression: default_sh_compression(),
        }
    }
}

fn default_sh_compression() -> String {
    "gzip".into()
}

/// RPM package options (`[package.rpm]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RpmConfig {
    /// Group (default `Applications/System`).
    #[serde(default = "default_group")]
    pub group: String,
    /// Requires entries (`name` or `name >= version`).
    #[serde(default)]
    pub requires: Vec<String>,
    /// Payload compression: `zstd` (default: multithreaded; rpm 4.14+, i.e.
    /// RHEL 8+, Fedora 31+), `xz` (every rpm since RHEL 5; single-threaded, and
    /// the rpm crate flushes the stream after every file, which costs ~35% in
    /// size) or `gzip`.
    #[serde(default = "default_rpm_compression")]
    pub compression: String,
}

fn default_rpm_compression() -> String {
    "zstd".into()
}

impl Default for RpmConfig {
    fn default() -> Self {
        RpmConfig {
            group: default_group(),
            requires: vec![],
            compression: default_rpm_compression(),
        }
    }
}

fn default_group() -> String {
    "Applications/System".into()
}

/// The service user (`[user]`): created by the deb and rpm maintainer scripts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name, also the group name.
    pub name: String,
    /// Home and state directory (default `/var/lib/<name>`).
    pub home: Option<String>,
}

impl UserConfig {
    /// The home directory.
    pub fn home(&self) -> String {
        self.home
            .clone()
            .unwrap_or_else(|| format!("/var/lib/{}", self.name))
    }
}

/// One systemd service (`[[service]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Unit name without `.service`.
    pub name: String,
    /// Description= of the unit.
    #[serde(default)]
    pub description: String,
    /// Command line; a first word without `/` is relative to the install dir.
    pub exec: String,
    /// User= (default: the project's `[user]`, else root).
    pub user: Option<String>,
    /// Restart= (default `on-failure`).
    #[serde(default = "default_restart")]
    pub restart: String,
    /// Environment= entries.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

fn default_restart() -> String {
    "on-failure".into()
}

/// The Python application (`[app]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Directory with the application's `pyproject.toml`, relative to the project file.
    pub source: PathBuf,
    /// Requirements lock (`name==version --hash=sha256:...` for every distribution),
    /// relative to the project file.
    pub requirements: PathBuf,
    /// Distributions installed from their published wheel instead of being built
    /// from their sdist against the embedded libraries (the default).
    #[serde(default)]
    pub wheels: Vec<String>,
    /// Console scripts linked into `<install_dir>/bin`.
    #[serde(default)]
    pub entry_points: Vec<String>,
}

/// One configuration file (`[[config]]`): a default shipped by the package and
/// kept, once edited, across upgrades (deb conffile, rpm `%config(noreplace)`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The default's file, relative to the project file.
    pub source: PathBuf,
    /// Absolute destination on the target, e.g. `/etc/<name>/<file>`.
    pub dest: String,
}

impl Default for PackageConfig {
    fn default() -> Self {
        PackageConfig {
            formats: default_formats(),
            deb: DebConfig::default(),
            rpm: RpmConfig::default(),
            sh: ShConfig::default(),
            xz_level: default_xz_level(),
            zstd_level: default_zstd_level(),
        }
    }
}

fn default_formats() -> Vec<String> {
    vec!["tar.xz".into(), "tar.zst".into(), "deb".into()]
}

/// Debian package options (`[package.deb]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DebConfig {
    /// Section (default `admin`).
    #[serde(default = "default_section")]
    pub section: String,
    /// Priority (default `optional`).
    #[serde(default = "default_priority")]
    pub priority: String,
    /// Depends entries.
    #[serde(default)]
    pub depends: Vec<String>,
}

impl Default for DebConfig {
    fn default() -> Self {
        DebConfig {
            section: default_section(),
            priority: default_priority(),
            depends: vec![],
        }
    }
}

fn default_section() -> String {
    "admin".into()
}
fn default_priority() -> String {
    "optional".into()
}

/// The health-check policy of a project (`[health]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Highest GLIBC_ symbol version allowed; default: the build root's glibc.
    pub glibc_floor: Option<String>,
    /// Highest GLIBCXX_ symbol version allowed.
    pub glibcxx_floor: Option<String>,
    /// Highest GCC_ symbol version allowed.
    pub gcc_floor: Option<String>,
    /// System libraries allowed beyond the standard list (argue for each one).
    #[serde(default)]
    pub allow_libs: Vec<String>,
    /// Strip unstripped ELF files.
    #[serde(default = "yes")]
    pub strip: bool,
    /// Keep the stripped debug symbols in `build/<project>/debug/<file>.debug`.
    #[serde(default)]
    pub keep_debug: bool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            glibc_floor: None,
            glibcxx_floor: None,
            gcc_floor: None,
            allow_libs: vec![],
            strip: true,
            keep_debug: false,
        }
    }
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}
fn default_epoch() -> u64 {
    1_700_000_000
}

/// `line:column` (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// Parse TOML text into `T`, reporting errors as `file:line:col: message`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    toml::from_str::<T>(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
                let what = match line_text.split_once('=') {
                    Some((k, _)) if !line_text.starts_with('[') => format!("key `{}`", k.trim()),
                    _ => format!("`{line_text}`"),
                };
                anyhow::anyhow!("{}:{line}:{col}: {msg} (at {what})", path.display())
            }
            None => anyhow::anyhow!("{}: {msg}", path.display()),
        }
    })
}

/// Read and validate one software definition.
pub fn load_software(path: &Path) -> Result<SoftwareDef> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut def: SoftwareDef = parse_toml(path, &text)?;
    def.path = path.to_path_buf();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if def.name != stem {
        bail!(
            "{}: name = \"{}\" does not match the file name (expected \"{stem}\")",
            path.display(),
            def.name
        );
    }
    if def.versions.is_empty() {
        bail!("{}: no [[version]] entries", path.display());
    }
    for v in &def.versions {
        if v.sha256.len() != 64 || !v.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!(
                "{}: version {}: sha256 must be 64 hex digits, got \"{}\"",
                path.display(),
                v.version,
                v.sha256
            );
        }
        if v.url.is_empty() && v.debian.is_none() {
            bail!(
                "{}: version {}: no url and no debian source",
                path.display(),
                v.version
            );
        }
    }
    if !def
        .versions
        .iter()
        .any(|v| v.version == def.default_version)
    {
        bail!(
            "{}: default_version \"{}\" is not among the [[version]] entries",
            path.display(),
            def.default_version
        );
    }
    Ok(def)
}

/// Read every `*.toml` in a definitions directory, keyed by component name.
pub fn load_software_dir(dir: &Path) -> Result<BTreeMap<String, SoftwareDef>> {
    let mut defs = BTreeMap::new();
    let entries =
        fs::read_dir(dir).with_context(|| format!("reading definitions in {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let def = load_software(&p)?;
        defs.insert(def.name.clone(), def);
    }
    Ok(defs)
}

/// Read and validate a project definition.
pub fn load_project(path: &Path) -> Result<Project> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut p: Project = parse_toml(path, &text)?;
    p.path = path.to_path_buf();
    if !p.install_dir.starts_with('/') {
        bail!(
            "{}: install_dir must be absolute, got \"{}\"",
            path.display(),
            p.install_dir
        );
    }
    if p.components.is_empty() {
        bail!("{}: components is empty", path.display());
    }
    check_install_items(&p)?;
    check_toolchain(&p)?;
    for g in p.stage.prune.iter().chain(&p.stage.keep) {
        if let Err(e) = glob::Pattern::new(g) {
            bail!("{}: [stage] bad glob \"{g}\": {e}", path.display());
        }
        if g.starts_with('/') || g.split('/').any(|c| c == "..") {
            bail!(
                "{}: [stage] glob \"{g}\" must stay inside the embedded prefix (relative, no ..)",
                path.display()
            );
        }
    }
    Ok(p)
}

/// Validate users, services and config files: names the project file and item.
fn check_install_items(p: &Project) -> Result<()> {
    let file = p.path.display();
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if let Some(u) = &p.user
        && (!plain(&u.name) || u.name.starts_with('-'))
    {
        bail!(
            "{file}: [user] name \"{}\" is not a valid user name",
            u.name
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &p.service {
        if !plain(&s.name) || !seen.insert(&s.name) {
            bail!(
                "{file}: [[service]] name \"{}\" is invalid or repeated",
                s.name
            );
        }
        if s.exec.trim().is_empty() {
            bail!("{file}: [[service]] {}: exec is empty", s.name);
        }
        if let Some(user) = &s.user {
            let declared = p.user.as_ref().is_some_and(|u| &u.name == user);
            if user != "root" && !declared {
                bail!(
                    "{file}: [[service]] {}: user \"{user}\" is neither root nor the project's [user]",
                    s.name
                );
            }
        }
    }
    let dir = p.path.parent().unwrap_or(Path::new("."));
    for c in &p.config {
        if !c.dest.starts_with('/') || c.dest.ends_with('/') || c.dest.contains("/../") {
            bail!(
                "{file}: [[config]] dest \"{}\" must be an absolute file path",
                c.dest
            );
        }
        if c.dest
            .starts_with(&format!("{}/", p.install_dir.trim_end_matches('/')))
        {
            bail!(
                "{file}: [[config]] dest \"{}\" is inside install_dir; config lives outside it (e.g. /etc/{})",
                c.dest,
                p.name
            );
        }
        if !dir.join(&c.source).is_file() {
            bail!(
                "{file}: [[config]] source \"{}\" not found (looked in {})",
                c.source.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// The definitions directory for a project: `<project dir>/../software-defs`.
pub fn default_defs_dir(project: &Path) -> PathBuf {
    let dir = project.parent().unwrap_or(Path::new("."));
    match dir.parent() {
        Some(up) if !dir.as_os_str().is_empty() => up.join("software-defs"),
        _ => dir.join("..").join("software-defs"),
    }
}

/// The C toolchain of a project (`[toolchain]`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainConfig {
    /// Which compiler builds every component.
    #[serde(default)]
    pub compiler: Compiler,
    /// glibc version to build against (zig only: target `x86_64-linux-gnu.<glibc>`);
    /// default 2.17, the manylinux2014 level. It is also the default
    /// `[health] glibc_floor`.
    pub glibc: Option<String>,
}

/// A compiler choice (`[toolchain] compiler`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compiler {
    /// The build host's compiler, found like the `cc` crate does (`CC`, else `cc`);
    /// the tree then needs the build host's glibc.
    #[default]
    Host,
    /// `zig cc` (zig on PATH, else the `ziglang` Python package) for a chosen glibc.
    Zig,
}

/// `[toolchain]`: glibc is a `2.N` version and only means something for zig.
fn check_toolchain(p: &Project) -> Result<()> {
    let Some(g) = &p.toolchain.glibc else {
        return Ok(());
    };
    let file = p.path.display();
    if p.toolchain.compiler != Compiler::Zig {
        bail!(
            "{file}: [toolchain] glibc = \"{g}\" needs compiler = \"zig\" \
             (the host compiler builds for the build host's glibc)"
        );
    }
    let ok = g
        .split_once('.')
        .is_some_and(|(a, b)| a == "2" && !b.is_empty() && b.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        bail!("{file}: [toolchain] glibc = \"{g}\" is not a glibc version such as \"2.17\"");
    }
    Ok(())
}
