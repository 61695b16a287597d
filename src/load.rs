//! load: parse and validate project and software definitions (TOML).
//!
//! Every error names the file, the line and the key: unknown keys, wrong types and
//! missing fields are rejected by serde with the span of the offending item, which
//! is turned into `file:line:column` here.

use crate::target::TargetName;
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
    /// Alternatives a project chooses between (`[choice.<name>]`), such as the
    /// library behind CPython's `readline` module.
    #[serde(default, rename = "choice")]
    pub choices: BTreeMap<String, Choice>,
    /// Hardening flags this component is built without (`[hardening]`).
    #[serde(default)]
    pub hardening: crate::hardening::HardeningDef,
    /// Host tools and directories its build may read after all (`[hermetic]`).
    #[serde(default)]
    pub hermetic: Hermetic,
    /// Where the definition was read from (not part of the file).
    #[serde(skip)]
    pub path: PathBuf,
}

/// Exceptions to the hermetic build (`[hermetic] allow = { "pg_config" =
/// "reason" }`, also `allow_host` of a project's distribution): each a host
/// tool (name or path) or directory, with the reason it must be read.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hermetic {
    /// What is allowed, with the reason (required, non-empty).
    #[serde(default)]
    pub allow: BTreeMap<String, String>,
}

impl Hermetic {
    /// Every reason says something. `at` names the table.
    pub fn check(&self, at: &str) -> Result<()> {
        if let Some((k, _)) = self.allow.iter().find(|(_, r)| r.trim().is_empty()) {
            bail!("{at}: allow \"{k}\" needs a reason (a non-empty string)");
        }
        Ok(())
    }
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

/// One alternative of a definition (`[choice.<name>]`): its options and the
/// one used unless the project's `[choices.<component>]` picks another.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// What the choice is about (shown in errors and `plan`).
    #[serde(default)]
    pub summary: String,
    /// The option used by default.
    pub default: String,
    /// The options, by name.
    pub options: BTreeMap<String, ChoiceOption>,
}

/// One option of a [`Choice`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    /// Runtime dependencies this option adds.
    #[serde(default)]
    pub depends: Vec<String>,
    /// `{placeholder}` values this option gives the definition's steps.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// Placeholders every step gets from the build; a choice may not redefine them.
pub const STEP_PLACEHOLDERS: &[&str] = &["prefix", "work", "source", "destdir", "jobs", "version"];

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
    /// Options picked for definitions' choices: `[choices.<component>]`
    /// `<choice> = "<option>"`.
    #[serde(default)]
    pub choices: BTreeMap<String, BTreeMap<String, String>>,
    /// `file:line:col` of each picked option, by `component.choice` (not part
    /// of the file): what plan-time errors about choices point at.
    #[serde(skip)]
    pub choice_spans: BTreeMap<String, String>,
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
    /// The shared cache (`[cache]`).
    #[serde(default)]
    pub cache: CacheConfig,
    /// The package repository `ferrobus publish` adds to (`[publish]`).
    #[serde(default)]
    pub publish: PublishConfig,
    /// The Windows bundle (`[windows]`, built with `--target windows-x86_64`).
    pub windows: Option<WindowsConfig>,
    /// The targets this project builds for (default: `linux-x86_64`, and
    /// `windows-x86_64` when there is a `[windows]` section).
    #[serde(default)]
    pub targets: Vec<TargetName>,
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

/// `[publish]`: the apt and yum repository `ferrobus publish` adds this
/// project's packages to. No keys here: they are named on the command line
/// or by `FERROBUS_SIGNING_KEY`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// The repository directory, relative to the project file (default:
    /// `--repo`, which then must be given).
    pub repo: Option<PathBuf>,
    /// The apt suite clients name (default `stable`).
    pub suite: Option<String>,
    /// The apt component (default `main`).
    pub component: Option<String>,
    /// `Origin` of the apt repository (default: the project's name).
    pub origin: Option<String>,
    /// `Label` of the apt repository and the name of the exported keys
    /// (default: the project's name).
    pub label: Option<String>,
}

/// `[cache]`: the remote cache this project's builds use unless the command
/// line or `FERROBUS_CACHE_REMOTE` says otherwise. No credentials here: they
/// come from the docker config or `FERROBUS_CACHE_TOKEN`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `oci://HOST[:PORT]/REPOSITORY`.
    pub remote: Option<String>,
    /// Pull only (e.g. for untrusted runners).
    #[serde(default)]
    pub read_only: bool,
}

/// Provenance settings (`[provenance]`): what the build may ship without.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceConfig {
    /// Components allowed to have no `license` or license files missing from
    /// their source; any other such component fails the build.
    #[serde(default)]
    pub allow_missing_licenses: Vec<String>,
    /// SPDX license ids (or globs such as `GPL-*`) nothing shipped may need:
    /// checked before anything is fetched (components) and after the app is
    /// installed (distributions).
    #[serde(default)]
    pub deny_licenses: Vec<String>,
    /// Licenses the project states for Python distributions
    /// (`[provenance.licenses]`, name = SPDX expression), as written: used
    /// where a distribution's metadata determines none, and over the
    /// metadata's where it does (the version manifest keeps both).
    #[serde(default)]
    pub licenses: BTreeMap<String, String>,
    /// The same, validated at load: names normalised, expressions SPDX (not
    /// part of the file).
    #[serde(skip)]
    pub stated: Vec<StatedLicense>,
}

/// A license the project states for a Python distribution
/// (`[provenance.licenses]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatedLicense {
    /// The distribution (PEP 503 normalised).
    pub name: crate::pypkg::PackageName,
    /// Its SPDX license expression.
    pub expression: String,
    /// `file:line:col` of the entry: what later errors (a name that is not
    /// in the lock) point at.
    pub at: String,
}

/// Installers to emit (`[package]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// Linux formats: `tar.xz`, `tar.zst`, `deb`, `rpm`, `sh`.
    #[serde(default = "default_formats")]
    pub formats: Vec<Format>,
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
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShConfig {
    /// Payload compression: `gzip` (default: gzip is on every Linux, minimal
    /// containers included) or `xz` (smaller; the target needs xz-utils).
    #[serde(default)]
    pub compression: ShCompression,
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
    #[serde(default)]
    pub compression: RpmCompression,
}

impl Default for RpmConfig {
    fn default() -> Self {
        RpmConfig {
            group: default_group(),
            requires: vec![],
            compression: RpmCompression::default(),
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
    #[serde(default)]
    pub restart: Restart,
    /// Environment= entries.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Overrides of the unit's confinement (`[service.sandbox]`): a systemd
    /// directive and its value replace the default of that directive (or add
    /// one); an empty value removes it. The defaults are in
    /// `package::scripts::CONFINEMENT`.
    #[serde(default)]
    pub sandbox: BTreeMap<String, String>,
    /// The account the Windows service runs as (the MSI's ServiceInstall).
    #[serde(default)]
    pub windows_account: WindowsAccount,
}

/// The built-in account a Windows service runs as (`windows_account`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum WindowsAccount {
    /// `NT AUTHORITY\LocalService`: least privilege, anonymous on the network.
    #[default]
    LocalService,
    /// `NT AUTHORITY\NetworkService`: the machine's identity on the network.
    NetworkService,
    /// `LocalSystem`: full control of the machine.
    LocalSystem,
}

impl WindowsAccount {
    /// The ServiceInstall StartName (`None`: LocalSystem).
    pub fn start_name(self) -> Option<&'static str> {
        match self {
            WindowsAccount::LocalService => Some("NT AUTHORITY\\LocalService"),
            WindowsAccount::NetworkService => Some("NT AUTHORITY\\NetworkService"),
            WindowsAccount::LocalSystem => None,
        }
    }
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
    /// The lock of the sdists' build requirements, relative to the project
    /// file (default: `build-requirements.lock` beside `requirements`).
    #[serde(default)]
    pub build_requirements: Option<PathBuf>,
    /// Per distribution (`[app.distribution.<name>]`): the components it
    /// links, what its build may read from the host.
    #[serde(default)]
    pub distribution: BTreeMap<String, DistributionConfig>,
    /// The self-test a release must pass before it goes live (the `.sh`
    /// before `current` is switched, the deb's postinst and the rpm's `%post`
    /// before services are started or restarted): a command line split like
    /// sh words (shlex), whose program is relative to the release under test
    /// (no leading `/`, no `..`); its arguments may hold `{install_dir}` (the
    /// release under test) and `{config_root}` (what `[[config]] dest` paths
    /// are relative to: empty for deb and rpm, the prefix for the `.sh`).
    /// Checked by [`selftest_words`]. The Windows formats ignore it.
    #[serde(default)]
    pub selftest: Option<String>,
}

/// The placeholders an `[app] selftest` argument may hold.
pub const SELFTEST_PLACEHOLDERS: &[&str] = &["install_dir", "config_root"];

/// One piece of an `[app] selftest` word: literal text or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelftestPart {
    /// Literal text.
    Text(String),
    /// `{install_dir}` or `{config_root}` (one of [`SELFTEST_PLACEHOLDERS`]).
    Placeholder(String),
}

/// An `[app] selftest` command line split into words, each into its parts,
/// and checked: not empty, quotes balanced, the program (first word) relative
/// to the release under test without `..` or placeholders, every `{...}` a
/// known placeholder. The error says what is wrong (the caller adds where).
pub fn selftest_words(cmd: &str) -> Result<Vec<Vec<SelftestPart>>> {
    let words = shlex::split(cmd)
        .ok_or_else(|| anyhow::anyhow!("unbalanced quotes or a trailing backslash"))?;
    let Some(program) = words.first() else {
        bail!("the command is empty");
    };
    if words.iter().any(|w| w.contains('\0')) {
        bail!("a NUL byte in the command");
    }
    if program.starts_with('/') || program.starts_with('~') {
        bail!(
            "the program \"{program}\" must be relative to the release under test \
             (e.g. \"bin/<name>\"), not an absolute path"
        );
    }
    if program.split('/').any(|c| c == "..") {
        bail!("the program \"{program}\" must stay inside the release under test (no ..)");
    }
    if program.contains(['{', '}']) {
        bail!(
            "the program \"{program}\" is always relative to the release under test; \
             placeholders go in its arguments"
        );
    }
    words
        .iter()
        .map(|w| {
            let mut parts = Vec::new();
            let mut rest = w.as_str();
            while let Some(open) = rest.find(['{', '}']) {
                if rest[open..].starts_with('}') {
                    bail!("\"{w}\": a '}}' without its '{{'");
                }
                let Some(len) = rest[open..].find('}') else {
                    bail!("\"{w}\": a '{{' without its '}}'");
                };
                let name = &rest[open + 1..open + len];
                if !SELFTEST_PLACEHOLDERS.contains(&name) {
                    bail!(
                        "unknown placeholder {{{name}}} (known: {})",
                        SELFTEST_PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                if open > 0 {
                    parts.push(SelftestPart::Text(rest[..open].to_string()));
                }
                parts.push(SelftestPart::Placeholder(name.to_string()));
                rest = &rest[open + len + 1..];
            }
            if !rest.is_empty() || parts.is_empty() {
                parts.push(SelftestPart::Text(rest.to_string()));
            }
            Ok(parts)
        })
        .collect()
}

/// One distribution's build (`[app.distribution.<name>]`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionConfig {
    /// The components its extensions link (besides python's own): its wheel
    /// is rebuilt when one of them changes, and only then. Checked against
    /// what the built extensions link.
    #[serde(default)]
    pub links: Vec<String>,
    /// Host tools or directories its build may read, with the reason.
    #[serde(default)]
    pub allow_host: BTreeMap<String, String>,
    /// Variables its build gets on top of the standard environment (PyNaCl's
    /// `SODIUM_INSTALL = "system"`: link the libsodium component, not its
    /// bundled copy); part of its wheel's key.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
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
    /// The default on Windows, where it differs (paths, say), relative to the
    /// project file; installed as `%ProgramData%\\<name>\\<file>` (see
    /// [`ConfigFile::windows_path`]).
    #[serde(default)]
    pub windows_source: Option<PathBuf>,
}

impl ConfigFile {
    /// Where the file goes under `%ProgramData%\\<project>` on Windows, with
    /// `/`: `dest` without its `/etc/<project>/` (else `/etc/`, else `/`).
    pub fn windows_path(&self, project: &str) -> String {
        let d = self.dest.as_str();
        d.strip_prefix(&format!("/etc/{project}/"))
            .or_else(|| d.strip_prefix("/etc/"))
            .unwrap_or_else(|| d.trim_start_matches('/'))
            .to_string()
    }
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

fn default_formats() -> Vec<Format> {
    vec![Format::TarXz, Format::TarZst, Format::Deb]
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
    /// Hardening properties every ELF file must have (`pie`, `stack-protector`,
    /// `fortify`, `relro`, `bind-now`, `cf-protection`); default: all of them
    /// the toolchain can produce for the target
    /// ([`crate::hardening::default_required`]).
    pub hardening: Option<Vec<crate::hardening::Protection>>,
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
            hardening: None,
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
    for (name, ch) in &def.choices {
        if !ch.options.contains_key(&ch.default) {
            bail!(
                "{}: [choice.{name}] default \"{}\" is not one of its options ({})",
                path.display(),
                ch.default,
                ch.options.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        for (o, opt) in &ch.options {
            if let Some(v) = opt
                .vars
                .keys()
                .find(|v| STEP_PLACEHOLDERS.contains(&v.as_str()))
            {
                bail!(
                    "{}: [choice.{name}.options.{o}] vars: \"{v}\" is a placeholder every step already has",
                    path.display()
                );
            }
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
    let spans = Spans::new(path, &text);
    // An empty license is the plan's business ([provenance]
    // allow_missing_licenses); a written one must be SPDX.
    if !def.license.trim().is_empty()
        && let Some(e) = crate::util::spdx_error(&def.license)
    {
        bail!(
            "{}: license \"{}\" is not an SPDX license expression ({e}); {SPDX_EXAMPLES}",
            spans.at(&["license"]),
            def.license
        );
    }
    check_hardening(&def, &spans)?;
    def.hermetic.check(&spans.at(&["hermetic", "allow"]))?;
    Ok(def)
}

/// `[hardening]` and the `env` tables of a definition (top level, per target,
/// per version): see [`crate::hardening::HardeningDef::check`].
fn check_hardening(def: &SoftwareDef, at: &Spans) -> Result<()> {
    let idx: Vec<String> = (0..def.versions.len()).map(|i| i.to_string()).collect();
    let mut tables: Vec<(Vec<&str>, &BTreeMap<String, String>)> = vec![(vec!["env"], &def.env)];
    for (t, o) in &def.targets {
        tables.push((vec!["targets", t, "env"], &o.env));
    }
    for (i, v) in def.versions.iter().enumerate() {
        tables.push((vec!["version", &idx[i], "env"], &v.env));
    }
    let tables: Vec<(&[&str], &BTreeMap<String, String>)> =
        tables.iter().map(|(k, e)| (k.as_slice(), *e)).collect();
    def.hardening.check(&tables, at)
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
    let spans = Spans::new(path, &text);
    check_targets(&mut p, &spans)?;
    for (c, picks) in &p.choices {
        for k in picks.keys() {
            let at = spans.at(&["choices", c, k]);
            p.choice_spans.insert(format!("{c}.{k}"), at);
        }
    }
    if let Some(app) = &p.app {
        for (name, d) in &app.distribution {
            Hermetic {
                allow: d.allow_host.clone(),
            }
            .check(&spans.at(&["app", "distribution", name, "allow_host"]))?;
        }
        if let Some(cmd) = &app.selftest
            && let Err(e) = selftest_words(cmd)
        {
            bail!(
                "{}: [app] selftest = {cmd:?}: {e}",
                spans.at(&["app", "selftest"])
            );
        }
    }
    for (i, d) in p.provenance.deny_licenses.iter().enumerate() {
        if let Err(e) = glob::Pattern::new(d) {
            bail!(
                "{}: [provenance] deny_licenses: \"{d}\" is not an SPDX id or glob: {e}",
                spans.at(&["provenance", "deny_licenses", &i.to_string()])
            );
        }
    }
    if !p.license.is_empty()
        && let Some(e) = crate::util::spdx_error(&p.license)
    {
        bail!(
            "{}: license \"{}\" is not an SPDX license expression ({e}); {SPDX_EXAMPLES}",
            spans.at(&["license"]),
            p.license,
        );
    }
    p.provenance.stated = stated_licenses(&p.provenance.licenses, &spans)?;
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
    for (i, h) in p.health.hardening.iter().flatten().enumerate() {
        if !h.checkable() {
            bail!(
                "{}: [health] hardening: \"{h}\" cannot be read from a binary (no reliable \
                 signature); it is still in every build's flags. Properties: {}",
                spans.at(&["health", "hardening", &i.to_string()]),
                crate::hardening::Protection::ALL
                    .iter()
                    .filter(|p| p.checkable())
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
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

/// Examples of SPDX expressions, for messages.
const SPDX_EXAMPLES: &str =
    "e.g. \"Apache-2.0\", \"MIT OR Apache-2.0\", \"LicenseRef-Proprietary\"";

/// `[provenance.licenses]` validated: every name a distribution name, no
/// distribution named twice (names compare PEP 503 normalised: `Foo_Bar` is
/// `foo-bar`), every expression SPDX; each error at the entry's line and column.
fn stated_licenses(table: &BTreeMap<String, String>, spans: &Spans) -> Result<Vec<StatedLicense>> {
    let mut out: Vec<StatedLicense> = Vec::new();
    for (key, expression) in table {
        let at = spans.at(&["provenance", "licenses", key]);
        let name: crate::pypkg::PackageName = key
            .parse()
            .map_err(|e| anyhow::anyhow!("{at}: [provenance.licenses]: {e}"))?;
        if let Some(other) = out.iter().find(|s| s.name == name) {
            bail!(
                "{at}: [provenance.licenses] states the license of {name} twice \
                 (also at {}; names compare normalised)",
                other.at
            );
        }
        if let Some(e) = crate::util::spdx_error(expression) {
            bail!(
                "{at}: [provenance.licenses] {key} = \"{expression}\" is not an SPDX license \
                 expression ({e}); {SPDX_EXAMPLES}"
            );
        }
        out.push(StatedLicense {
            name,
            expression: expression.clone(),
            at,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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
        for (k, v) in &s.sandbox {
            let directive = k.starts_with(|c: char| c.is_ascii_uppercase())
                && k.chars().all(|c| c.is_ascii_alphanumeric());
            if !directive || v.contains('\n') {
                bail!(
                    "{file}: [[service]] {}: sandbox {k} = \"{v}\" is not a systemd directive and one-line value",
                    s.name
                );
            }
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
        for source in std::iter::once(&c.source).chain(&c.windows_source) {
            if !dir.join(source).is_file() {
                bail!(
                    "{file}: [[config]] source \"{}\" not found (looked in {})",
                    source.display(),
                    dir.display()
                );
            }
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainConfig {
    /// Which compiler builds every component.
    #[serde(default)]
    pub compiler: Compiler,
    /// glibc version to build against (zig only: target `x86_64-linux-gnu.<glibc>`);
    /// default 2.17, the manylinux2014 level. It is also the default
    /// `[health] glibc_floor`.
    pub glibc: Option<String>,
    /// `false` builds every component and wheel with each protection of
    /// [`crate::hardening`] turned off: for measuring what the hardening costs
    /// (bench/build.sh) or bisecting a miscompile, not for shipping (the
    /// `[health] hardening` policy still applies). Default `true`.
    #[serde(default = "yes")]
    pub hardening: bool,
}

impl Default for ToolchainConfig {
    fn default() -> Self {
        ToolchainConfig {
            compiler: Compiler::default(),
            glibc: None,
            hardening: true,
        }
    }
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

/// A closed set of values a setting takes: the enum, its serde names (the
/// words written in project files), `as_str`, `ALL` and `valid()` for messages.
macro_rules! setting {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? } default $d:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)+
        }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The value as written in project files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
            /// The valid values, for messages.
            pub fn valid() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
        impl Default for $name {
            fn default() -> Self { $name::$d }
        }
        impl std::str::FromStr for $name {
            type Err = anyhow::Error;
            fn from_str(s: &str) -> anyhow::Result<Self> {
                use anyhow::Context as _;
                Self::ALL.iter().copied().find(|v| v.as_str() == s).with_context(|| {
                    format!("unknown {} \"{s}\" (valid: {})", stringify!($name), Self::valid())
                })
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use setting;

setting!(
    /// An installer format (`[package] formats` for Linux, `[windows] formats`).
    Format {
        /// A tarball compressed with xz.
        TarXz = "tar.xz",
        /// A tarball compressed with zstd.
        TarZst = "tar.zst",
        /// A Debian package.
        Deb = "deb",
        /// An RPM package.
        Rpm = "rpm",
        /// A self-extracting shell installer.
        Sh = "sh",
        /// A zip of the Windows bundle.
        Zip = "zip",
        /// A Windows Installer package.
        Msi = "msi",
    } default TarXz
);

impl Format {
    /// Whether the format packages a Windows bundle (else a Linux tree).
    pub fn is_windows(self) -> bool {
        matches!(self, Format::Zip | Format::Msi)
    }
}

setting!(
    /// The payload compression of the rpm (`[package.rpm] compression`).
    RpmCompression {
        /// zstd (multithreaded; rpm 4.14+, i.e. RHEL 8+, Fedora 31+).
        Zstd = "zstd",
        /// xz (every rpm since RHEL 5; single-threaded).
        Xz = "xz",
        /// gzip.
        Gzip = "gzip",
    } default Zstd
);

setting!(
    /// The payload compression of the `.sh` (`[package.sh] compression`).
    ShCompression {
        /// gzip: on every Linux, minimal containers included.
        Gzip = "gzip",
        /// xz: smaller; the target needs xz-utils.
        Xz = "xz",
    } default Gzip
);

setting!(
    /// A service's restart policy (systemd's `Restart=`).
    Restart {
        /// Restart when the service fails (the default).
        OnFailure = "on-failure",
        /// Always restart.
        Always = "always",
        /// Never restart.
        No = "no",
        /// Restart after a clean exit only.
        OnSuccess = "on-success",
        /// Restart after an unclean signal.
        OnAbnormal = "on-abnormal",
        /// Restart after a watchdog timeout.
        OnWatchdog = "on-watchdog",
        /// Restart after an abort.
        OnAbort = "on-abort",
    } default OnFailure
);

/// The Windows bundle of a project (`[windows]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// Installers to write: `zip`, `msi`.
    #[serde(default = "default_windows_formats")]
    pub formats: Vec<Format>,
    /// The embeddable CPython's definition, relative to the software definitions
    /// directory.
    #[serde(default = "default_windows_python")]
    pub python: String,
    /// MSI options (`[windows.msi]`), required when `msi` is listed.
    pub msi: Option<MsiConfig>,
}

/// MSI options (`[windows.msi]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MsiConfig {
    /// Product name: Add/Remove Programs and `ProgramFiles64Folder\<name>`.
    pub product_name: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// The UpgradeCode GUID: the same for every version of the product, so a
    /// newer MSI replaces an installed older one (major upgrade).
    pub upgrade_code: String,
}

fn default_windows_formats() -> Vec<Format> {
    vec![Format::Zip, Format::Msi]
}

fn default_windows_python() -> String {
    "windows/python.toml".into()
}

/// MSI's ProductVersion from a project version: `major.minor.build`, with
/// major, minor <= 255 and build <= 65535.
pub fn msi_product_version(v: &str) -> Result<String> {
    let parts: Vec<&str> = v.split('.').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some([a, b, c]) if *a <= 255 && *b <= 255 && *c <= 65535 => Ok(format!("{a}.{b}.{c}")),
        Some([a, b]) if *a <= 255 && *b <= 255 => Ok(format!("{a}.{b}.0")),
        _ => bail!(
            "\"{v}\" is not an MSI ProductVersion (major.minor.build: numbers, at most 255.255.65535)"
        ),
    }
}

/// Where keys are in a TOML text, for errors found after parsing: the
/// `file:line:col` of a key path such as `["package", "formats", "1"]` (an
/// array index as a number), or of the nearest existing parent.
pub struct Spans<'a> {
    path: &'a Path,
    text: &'a str,
    table: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> Spans<'a> {
    /// The spans of `text`, read from `path`.
    pub fn new(path: &'a Path, text: &'a str) -> Spans<'a> {
        Spans {
            path,
            text,
            table: toml::de::DeTable::parse(text).ok(),
        }
    }

    /// `file:line:col` of `keys` (or of its nearest parent; `file` alone when
    /// none is found).
    pub fn at(&self, keys: &[&str]) -> String {
        let file = self.path.display();
        let Some(t) = &self.table else {
            return file.to_string();
        };
        let mut span = None;
        let mut value: Option<&toml::de::DeValue> = None;
        let mut table = Some(t.get_ref());
        for k in keys {
            let next = match (table, value) {
                (Some(tab), _) => tab.iter().find(|(n, _)| n.get_ref() == k).map(|(_, v)| v),
                (None, Some(toml::de::DeValue::Array(a))) => {
                    k.parse::<usize>().ok().and_then(|i| a.get(i))
                }
                _ => None,
            };
            let Some(v) = next else { break };
            span = Some(v.span());
            value = Some(v.get_ref());
            table = match v.get_ref() {
                toml::de::DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        match span {
            Some(s) => {
                let (line, col) = line_col(self.text, s.start);
                format!("{file}:{line}:{col}")
            }
            None => file.to_string(),
        }
    }
}

/// Settings whose validity depends on other settings: formats per target,
/// targets against their sections, the MSI's fields.
fn check_targets(p: &mut Project, at: &Spans) -> Result<()> {
    for (i, f) in p.package.formats.iter().enumerate() {
        if f.is_windows() {
            bail!(
                "{}: [package] formats: \"{f}\" is a Windows format (list it in [windows] formats); \
                 Linux formats: tar.xz, tar.zst, deb, rpm, sh",
                at.at(&["package", "formats", &i.to_string()])
            );
        }
    }
    if let Some(r) = &p.cache.remote
        && !(r.starts_with("oci://") || r.starts_with("oci+http://"))
    {
        bail!(
            "{}: [cache] remote = \"{r}\": expected oci://HOST[:PORT]/REPOSITORY",
            at.at(&["cache", "remote"])
        );
    }
    let names = [
        ("suite", &p.publish.suite),
        ("component", &p.publish.component),
        ("label", &p.publish.label),
    ];
    for (key, value) in names {
        if let Some(v) = value
            && (v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            bail!(
                "{}: [publish] {key} = \"{v}\": expected letters, digits, '.', '_' or '-' (it names a directory and a file)",
                at.at(&["publish", key])
            );
        }
    }
    if p.targets.is_empty() {
        p.targets.push(TargetName::LinuxX86_64);
        if p.windows.is_some() {
            p.targets.push(TargetName::WindowsX86_64);
        }
    }
    if p.targets.contains(&TargetName::WindowsX86_64) && p.windows.is_none() {
        bail!(
            "{}: targets lists windows-x86_64, but there is no [windows] section",
            at.at(&["targets"])
        );
    }
    let Some(w) = &p.windows else {
        return Ok(());
    };
    for (i, f) in w.formats.iter().enumerate() {
        if !f.is_windows() {
            bail!(
                "{}: [windows] formats: \"{f}\" is a Linux format; Windows formats: zip, msi",
                at.at(&["windows", "formats", &i.to_string()])
            );
        }
    }
    if w.formats.contains(&Format::Msi) {
        let Some(m) = &w.msi else {
            bail!(
                "{}: [windows] formats lists msi, but there is no [windows.msi]",
                at.at(&["windows", "formats"])
            );
        };
        let guid = m.upgrade_code.trim();
        let braced = guid.starts_with('{') && guid.ends_with('}');
        if !braced || uuid::Uuid::parse_str(guid).is_err() {
            bail!(
                "{}: [windows.msi] upgrade_code \"{}\" is not a GUID ({{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}})",
                at.at(&["windows", "msi", "upgrade_code"]),
                m.upgrade_code
            );
        }
        if m.product_name.trim().is_empty()
            || m.product_name
                .contains(['\\', '/', ':', '*', '?', '"', '<', '>', '|'])
        {
            bail!(
                "{}: [windows.msi] product_name \"{}\" is not a valid folder name",
                at.at(&["windows", "msi", "product_name"]),
                m.product_name
            );
        }
        msi_product_version(&p.version)
            .with_context(|| format!("{}: version", at.at(&["version"])))?;
    }
    if p.app.is_none() {
        bail!(
            "{}: the windows-x86_64 target needs an [app]",
            at.at(&["windows"])
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(extra: &str) -> Result<Project> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.toml");
        fs::write(
            &p,
            format!(
                "name = \"a\"\nversion = \"1.0.0\"\ninstall_dir = \"/opt/a\"\n\
                 components = [\"python\"]\n[app]\nsource = \".\"\nrequirements = \"r.lock\"\n{extra}"
            ),
        )
        .unwrap();
        load_project(&p)
    }

    #[test]
    fn settings_are_typed_and_bad_values_name_line_column_and_the_valid_ones() {
        let p = project("[package]\nformats = [\"deb\", \"rpm\"]\n").unwrap();
        assert_eq!(p.package.formats, [Format::Deb, Format::Rpm]);
        assert_eq!(p.targets, [TargetName::LinuxX86_64]);
        for (extra, at, valid) in [
            (
                "[package]\nformats = [\"tar.xz\", \"debb\"]\n",
                "p.toml:9:22",
                "`deb`, `rpm`",
            ),
            (
                "[package.rpm]\ncompression = \"lz4\"\n",
                "p.toml:9:15",
                "`zstd`, `xz`, `gzip`",
            ),
            (
                "[package.sh]\ncompression = \"bz2\"\n",
                "p.toml:9:15",
                "`gzip` or `xz`",
            ),
            (
                "[toolchain]\ncompiler = \"clang\"\n",
                "p.toml:9:12",
                "`host` or `zig`",
            ),
            (
                "[[service]]\nname = \"s\"\nexec = \"x\"\nrestart = \"sometimes\"\n",
                "p.toml:11:11",
                "`on-failure`, `always`",
            ),
            (
                "targets = [\"linux-x86\"]\n",
                "p.toml:8:12",
                "`linux-x86_64`, `linux-aarch64`",
            ),
        ] {
            // `targets` is a top-level key: put it before the [app] table.
            let e = if extra.starts_with("targets") {
                let d = tempfile::tempdir().unwrap();
                let p = d.path().join("p.toml");
                fs::write(
                    &p,
                    format!(
                        "name = \"a\"\nversion = \"1.0.0\"\ninstall_dir = \"/opt/a\"\n\
                         components = [\"python\"]\n\n\n\n{extra}"
                    ),
                )
                .unwrap();
                load_project(&p).unwrap_err().to_string()
            } else {
                project(extra).unwrap_err().to_string()
            };
            assert!(e.contains(at) && e.contains(valid), "{extra}: {e}");
        }
        let e = project("[package]\nformats = [\"deb\", \"zip\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.toml:9:19") && e.contains("\"zip\" is a Windows format"),
            "{e}"
        );
    }

    #[test]
    fn the_license_is_an_spdx_expression() {
        let with = |l: &str| {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("p.toml");
            fs::write(
                &p,
                format!(
                    "name = \"a\"\nversion = \"1.0.0\"\nlicense = \"{l}\"\n\
                     install_dir = \"/opt/a\"\ncomponents = [\"zlib\"]\n"
                ),
            )
            .unwrap();
            load_project(&p).map(|p| p.license)
        };
        for ok in [
            "Apache-2.0",
            "MIT OR Apache-2.0",
            "(MIT AND BSD-3-Clause) OR GPL-2.0-or-later WITH Classpath-exception-2.0",
            "LicenseRef-Proprietary",
        ] {
            assert_eq!(with(ok).unwrap(), ok);
        }
        for bad in ["Apache 2.0", "GPLv2+", "MIT or"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(
                e.contains("p.toml:3:11") && e.contains("not an SPDX license expression"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn stated_licenses_are_spdx_and_errors_name_line_and_column() {
        let p = project(
            "[provenance.licenses]\npsycopg2 = \"LGPL-3.0-or-later\"\n\
             \"Foo_Bar\" = \"MIT OR Apache-2.0\"\n",
        )
        .unwrap();
        let stated: Vec<(&str, &str, &str)> = p
            .provenance
            .stated
            .iter()
            .map(|s| (s.name.as_str(), s.expression.as_str(), s.at.as_str()))
            .collect();
        let file = |at: &str| at.rsplit('/').next().unwrap().to_string();
        assert_eq!(
            stated
                .iter()
                .map(|(n, e, at)| (*n, *e, file(at)))
                .collect::<Vec<_>>(),
            [
                ("foo-bar", "MIT OR Apache-2.0", "p.toml:10:13".to_string()),
                ("psycopg2", "LGPL-3.0-or-later", "p.toml:9:12".to_string()),
            ]
        );
        for (table, at, want) in [
            (
                "psycopg2 = \"LGPL with exceptions\"",
                "p.toml:9:12",
                "psycopg2 = \"LGPL with exceptions\" is not an SPDX license expression",
            ),
            (
                "x = \"NOASSERTION\"",
                "p.toml:9:5",
                "NOASSERTION asserts no license",
            ),
            (
                "x = \"GPLv2+\"",
                "p.toml:9:5",
                "is not an SPDX license expression",
            ),
            (
                "\"a b\" = \"MIT\"",
                "p.toml:9:9",
                "\"a b\" is not a valid distribution name",
            ),
            (
                "Foo_Bar = \"MIT\"\nfoo-bar = \"MIT\"",
                "p.toml:10:11",
                "states the license of foo-bar twice (also at ",
            ),
            ("x = 1", "p.toml:9:5", "invalid type"),
        ] {
            let e = project(&format!("[provenance.licenses]\n{table}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(at) && e.contains(want), "{table}: {e}");
        }
    }

    #[test]
    fn a_definition_license_must_be_spdx() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.toml");
        let def = |license: &str| {
            format!(
                "name = \"a\"\nlicense = \"{license}\"\ndefault_version = \"1\"\n\
                 [[version]]\nversion = \"1\"\nsha256 = \"{}\"\nurl = [\"http://127.0.0.1:1/a.tgz\"]\n",
                "0".repeat(64)
            )
        };
        fs::write(&p, def("BSD")).unwrap();
        let e = load_software(&p).unwrap_err().to_string();
        assert!(
            e.contains("a.toml:2:11") && e.contains("license \"BSD\" is not an SPDX"),
            "{e}"
        );
        // Empty is the plan's business (allow_missing_licenses).
        fs::write(&p, def("")).unwrap();
        load_software(&p).unwrap();
        fs::write(&p, def("MIT OR Apache-2.0")).unwrap();
        load_software(&p).unwrap();
    }

    #[test]
    fn every_shipped_definition_has_an_spdx_license() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("software-defs");
        let defs = load_software_dir(&root).unwrap();
        for (name, d) in &defs {
            assert!(crate::util::spdx_error(&d.license).is_none(), "{name}");
        }
        // The embeddable CPython's definition (read by the windows layer).
        let text = fs::read_to_string(root.join("windows/python.toml")).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        let license = v["license"].as_str().unwrap();
        assert!(crate::util::spdx_error(license).is_none(), "{license}");
    }

    #[test]
    fn windows_sections_are_checked_at_load() {
        let ok = "[windows]\n[windows.msi]\nproduct_name = \"A\"\nmanufacturer = \"M\"\n\
                  upgrade_code = \"{6F1C8A3E-2B4D-4C5E-9A7B-1C2D3E4F5A6B}\"\n";
        let p = project(ok).unwrap();
        let w = p.windows.as_ref().unwrap();
        assert_eq!(w.formats, [Format::Zip, Format::Msi]);
        assert_eq!(
            p.targets,
            [TargetName::LinuxX86_64, TargetName::WindowsX86_64]
        );
        let e = project("[windows]\nformat = []\n").unwrap_err().to_string();
        assert!(
            e.contains("p.toml:9:1") && e.contains("unknown field `format`"),
            "{e}"
        );
        let e = project("[windows]\nformats = [\"exe\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.toml:9:") && e.contains("unknown variant `exe`"),
            "{e}"
        );
        let e = project("[windows]\nformats = [\"deb\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.toml:9:12") && e.contains("a Linux format"),
            "{e}"
        );
        let e = project("[windows]\n").unwrap_err().to_string();
        assert!(e.contains("no [windows.msi]"), "{e}");
        let e = project(&ok.replace("{6F1C8A3E-2B4D-4C5E-9A7B-1C2D3E4F5A6B}", "nope"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.toml:12:16") && e.contains("upgrade_code \"nope\" is not a GUID"),
            "{e}"
        );
        let e = project(&ok.replace("\"A\"", "\"A/B\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid folder name"), "{e}");
    }
}
