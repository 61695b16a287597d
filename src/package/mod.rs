//! package: installers written from the checked tree.
//!
//! One [`Packager`] per format, all over the same reproducible archive writer
//! ([`archive`]): entries sorted, owned by root:root, mtime = SOURCE_DATE_EPOCH,
//! modes normalised, so that the same inputs give byte-identical files.
//! Formats: `tar.xz`, `tar.zst` ([`tarball`]), `deb` ([`deb`]), `rpm` ([`rpm`]) and the
//! self-extracting `sh` ([`shell`]) of a Linux file-system image; `zip` ([`zip`])
//! and `msi` ([`msi`]) of a Windows bundle. What deb and rpm carry besides the
//! install dir (maintainer scripts, units, config files) comes from [`scripts`].
//!
//! [`publish`] is the one way into `dist/`: the packages, the version manifest and
//! SBOM beside them, and one `SHA256SUMS` for the whole directory (merged with
//! what other builds, of other targets, wrote there), signed when a key is given.

pub mod archive;
pub mod authenticode;
pub mod deb;
pub mod msi;
pub mod rpm;
pub mod scripts;
pub mod shell;
pub mod sign;
pub mod tarball;
pub mod zip;

use crate::load::{Project, ServiceConfig, UserConfig};
use crate::util::{sha256_file, write_atomic};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// What every packager needs to know about the package (serialised into the
/// packages' identity, but for the signing key, which enters by its id).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Meta {
    /// Package name.
    pub name: String,
    /// Upstream version.
    pub version: String,
    /// Package iteration.
    pub iteration: u32,
    /// Maintainer.
    pub maintainer: String,
    /// Description (first line is the summary).
    pub description: String,
    /// Home page.
    pub homepage: String,
    /// License.
    pub license: String,
    /// The install dir (`/opt/<name>`).
    pub install_dir: String,
    /// The architecture the payload's binaries are for: names the packages
    /// (`arm64` deb, `aarch64` rpm, `linux-aarch64` tarballs and `.sh`) and
    /// is what the `.sh` checks before it writes anything. The project's
    /// default is x86-64; a build sets its target's.
    pub arch: crate::target::Arch,
    /// SOURCE_DATE_EPOCH: every timestamp in every package.
    pub epoch: u64,
    /// Debian section.
    pub deb_section: String,
    /// Debian priority.
    pub deb_priority: String,
    /// Debian Depends.
    pub deb_depends: Vec<String>,
    /// RPM Group.
    pub rpm_group: String,
    /// RPM Requires.
    pub rpm_requires: Vec<String>,
    /// RPM payload compression (`xz`, `zstd`, `gzip`).
    pub rpm_compression: crate::load::RpmCompression,
    /// `.sh` payload compression (`gzip`, `xz`).
    pub sh_compression: crate::load::ShCompression,
    /// xz preset of every xz stream.
    pub xz_level: u32,
    /// zstd level of every zstd stream.
    pub zstd_level: i32,
    /// The service user, if any.
    pub user: Option<UserConfig>,
    /// systemd services.
    pub services: Vec<ServiceConfig>,
    /// Configuration files with their default contents.
    pub config: Vec<ConfigData>,
    /// `[app] selftest`: the command a release must pass before it goes live
    /// (the `.sh`, the deb's postinst, the rpm's `%post`; see
    /// `packaging/selftest.sh.in`). The Windows formats (zip, msi) ignore it.
    pub selftest: Option<String>,
    /// The key that signs the deb, the rpm and SHA256SUMS, if one is configured
    /// (never from the project file: see [`sign`]).
    #[serde(skip)]
    pub signing: Option<sign::SigningKey>,
    /// The Authenticode key that signs the MSI (and, before packaging, the
    /// executables ferrobus writes into a Windows bundle), if one is given.
    #[serde(skip)]
    pub codesign: Option<authenticode::CodeSign>,
    /// The zip's top folder (the project name).
    pub zip_top: String,
    /// The MSI's settings (`[windows.msi]`), if the project has them.
    pub msi: Option<msi::MsiMeta>,
}

/// A configuration file's destination and default contents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConfigData {
    /// Absolute destination on the target.
    pub dest: String,
    /// Default contents.
    pub data: Vec<u8>,
}

impl Meta {
    /// Package metadata from a project definition (reads the config defaults).
    pub fn from_project(p: &Project) -> Result<Meta> {
        let dir = p.path.parent().unwrap_or(Path::new("."));
        let config = p
            .config
            .iter()
            .map(|c| {
                let src = dir.join(&c.source);
                let data = std::fs::read(&src).with_context(|| {
                    format!("{}: [[config]] {}", p.path.display(), src.display())
                })?;
                Ok(ConfigData {
                    dest: c.dest.clone(),
                    data,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Meta {
            name: p.name.clone(),
            version: p.version.clone(),
            iteration: p.iteration,
            maintainer: p.maintainer.clone(),
            description: p.description.clone(),
            homepage: p.homepage.clone(),
            license: p.license.clone(),
            install_dir: p.install_dir.clone(),
            arch: crate::target::Arch::X86_64,
            epoch: p.source_date_epoch,
            deb_section: p.package.deb.section.clone(),
            deb_priority: p.package.deb.priority.clone(),
            deb_depends: p.package.deb.depends.clone(),
            rpm_group: p.package.rpm.group.clone(),
            rpm_requires: p.package.rpm.requires.clone(),
            rpm_compression: p.package.rpm.compression,
            sh_compression: p.package.sh.compression,
            xz_level: p.package.xz_level,
            zstd_level: p.package.zstd_level,
            user: p.user.clone(),
            services: p.service.clone(),
            config,
            selftest: p.app.as_ref().and_then(|a| a.selftest.clone()),
            signing: None,
            codesign: None,
            zip_top: p.name.clone(),
            msi: p
                .windows
                .as_ref()
                .and_then(|w| w.msi.as_ref())
                .map(|m| -> Result<msi::MsiMeta> {
                    let eps = p.app.as_ref().map(|a| a.entry_points.clone());
                    Ok(msi::MsiMeta {
                        product_name: m.product_name.clone(),
                        manufacturer: m.manufacturer.clone(),
                        upgrade_code: m.upgrade_code.clone(),
                        services: crate::windows::services(p, &eps.unwrap_or_default())?,
                        config_dir: (!p.config.is_empty()).then(|| p.name.clone()),
                    })
                })
                .transpose()?,
        })
    }

    /// Metadata with every project default, for callers that build packages
    /// without a project file (tests, tools): set the other fields as needed.
    pub fn new(name: &str, version: &str, install_dir: &str) -> Meta {
        let toml = format!(
            "name = {name:?}\nversion = {version:?}\ninstall_dir = {install_dir:?}\ncomponents = []\n"
        );
        let p: Project = toml::from_str(&toml).expect("a minimal project parses");
        Meta::from_project(&p).expect("a project without config files")
    }

    /// `version-iteration`.
    pub fn full_version(&self) -> String {
        format!("{}-{}", self.version, self.iteration)
    }

    /// The name stem of the provenance copies and lint configurations beside
    /// the packages: `<name>-<v>-<i>` for x86-64 (the names they always had),
    /// `<name>-<v>-<i>.linux-<arch>` for another architecture, so that both
    /// architectures' builds share one dist without overwriting each other's.
    pub fn beside_stem(&self) -> String {
        let stem = format!("{}-{}", self.name, self.full_version());
        match self.arch {
            crate::target::Arch::X86_64 => stem,
            a => format!("{stem}.linux-{a}"),
        }
    }
}

/// The architecture a Linux package is for, from its file name as its
/// packager names it (`_arm64.deb`, `.aarch64.rpm`, `.linux-aarch64.tar.xz`,
/// `.linux-aarch64.sh`); `None` when the name says none.
pub fn arch_of_file_name(name: &str) -> Option<crate::target::Arch> {
    use crate::target::Arch;
    [Arch::X86_64, Arch::Aarch64].into_iter().find(|a| {
        name.ends_with(&format!("_{}.deb", a.deb()))
            || name.ends_with(&format!(".{}.rpm", a.rpm()))
            || name.contains(&format!(".linux-{}.", a.uname()))
    })
}

/// One installer format.
pub trait Packager: Send + Sync {
    /// The format's name in project files (`deb`, `tar.xz`, ...).
    fn format(&self) -> &'static str;
    /// The output file name, following the format's convention.
    fn file_name(&self, meta: &Meta) -> String;
    /// Write the package of `root` to `out`: the staged file-system image (the
    /// Linux formats) or the Windows bundle, the install dir's contents (zip, msi).
    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()>;
    /// The configuration of the format's lint tool that [`publish`] writes into
    /// `dist` beside the package, as (file name, contents): the rpm's for
    /// rpmlint ([`rpm::rpmlint_config`]). None for formats whose overrides
    /// travel inside the package (the deb's lintian overrides) or that have no
    /// such tool.
    fn lint_config(&self, _meta: &Meta) -> Option<(String, String)> {
        None
    }
}

/// Every format name a project may list in `[package] formats` (of a Linux
/// file-system image).
pub const FORMATS: &[&str] = &["tar.xz", "tar.zst", "deb", "rpm", "sh"];

/// Every format name of a Windows bundle (`[windows] formats`).
pub const WINDOWS_FORMATS: &[&str] = &["zip", "msi"];

/// The packager of a format name (Linux or Windows).
pub fn packager(format: &str) -> Result<Box<dyn Packager>> {
    Ok(match format {
        "tar.xz" => Box::new(tarball::Tarball::Xz),
        "tar.zst" => Box::new(tarball::Tarball::Zst),
        "deb" => Box::new(deb::Deb),
        "rpm" => Box::new(rpm::Rpm),
        "sh" => Box::new(shell::Shell),
        "zip" => Box::new(zip::Zip),
        "msi" => Box::new(msi::Msi),
        other => bail!(
            "unknown package format \"{other}\" (known: {}, {})",
            FORMATS.join(", "),
            WINDOWS_FORMATS.join(", ")
        ),
    })
}

/// One written package.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Packaged {
    /// The package file in `dist`.
    pub path: PathBuf,
    /// Seconds its packager took (0 when `dist` already held it).
    pub seconds: f64,
}

/// The provenance files of the packaged tree, copied beside the packages.
#[derive(Debug, Clone)]
pub struct Beside {
    /// The directory holding `version-manifest.json` and `bom.json` (the staged
    /// install dir).
    pub dir: PathBuf,
    /// The copies' name stem: `<stem>.version-manifest.json`, `<stem>.cdx.json`.
    pub stem: String,
}

/// What one build put into `dist`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// The packages.
    pub packages: Vec<Packaged>,
    /// The version manifest and SBOM copied beside them.
    pub provenance: Vec<PathBuf>,
    /// The lint tools' configurations written beside them
    /// ([`Packager::lint_config`]: `<name>-<v>-<i>.rpmlint.toml`).
    pub lint: Vec<PathBuf>,
    /// `SHA256SUMS`.
    pub sums: PathBuf,
    /// `SHA256SUMS.sig`, when `meta.signing` is set.
    pub signature: Option<PathBuf>,
}

/// Write every requested format into `dist` ([`publish`] without provenance
/// copies), returning the packages.
pub fn package_all(
    root: &Path,
    meta: &Meta,
    formats: &[crate::load::Format],
    dist: &Path,
    tree_id: &str,
) -> Result<Vec<Packaged>> {
    Ok(publish(root, None, meta, formats, dist, tree_id)?.packages)
}

/// Write every requested format into `dist`, copy the provenance files and
/// write the lint tools' configurations ([`Packager::lint_config`]) beside
/// them, then record all of it in `SHA256SUMS` and sign that with
/// `meta.signing` ([`record_sums`]).
///
/// The formats are written at the same time, one thread each: the compressors
/// are multithreaded, but tar building, the rpm digests and gzip run on one core
/// each, so together they fill both cores of a small build host. Each package is
/// written to a temporary file and renamed, so `dist` never holds a partial one.
/// `tree_id` identifies the staged tree's contents: when it, the metadata and the
/// formats are those of the packages already in `dist`, they are not rewritten.
pub fn publish(
    root: &Path,
    beside: Option<&Beside>,
    meta: &Meta,
    formats: &[crate::load::Format],
    dist: &Path,
    tree_id: &str,
) -> Result<Published> {
    std::fs::create_dir_all(dist)?;
    let packages = write_packages(root, meta, formats, dist, tree_id)?;
    let provenance = match beside {
        Some(b) => crate::provenance::copy_to_dist(&b.dir, &b.stem, dist)?,
        None => vec![],
    };
    let lint = write_lint_configs(meta, formats, dist)?;
    let written: Vec<PathBuf> = packages
        .iter()
        .map(|p| p.path.clone())
        .chain(provenance.iter().cloned())
        .chain(lint.iter().cloned())
        .collect();
    let (sums, signature) = record_sums(dist, &written, meta.signing.as_ref(), meta.epoch)?;
    Ok(Published {
        packages,
        provenance,
        lint,
        sums,
        signature,
    })
}

/// The lint configurations of `formats` ([`Packager::lint_config`]) in `dist`,
/// each rewritten only when its contents changed. Returns their paths.
fn write_lint_configs(
    meta: &Meta,
    formats: &[crate::load::Format],
    dist: &Path,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in formats {
        let Some((name, text)) = packager(f.as_str())?.lint_config(meta) else {
            continue;
        };
        let path = dist.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            write_atomic(&path, text.as_bytes())?;
        }
        out.push(path);
    }
    Ok(out)
}

/// The packages of `formats`, written unless `dist` already holds them for the
/// same tree, metadata and formats.
fn write_packages(
    root: &Path,
    meta: &Meta,
    formats: &[crate::load::Format],
    dist: &Path,
    tree_id: &str,
) -> Result<Vec<Packaged>> {
    let id = crate::fingerprint::Fingerprint::new("packages")
        .with("tree", tree_id)
        .with("meta", meta)
        .with("signing_key", meta.signing.as_ref().map(|k| k.id()))
        .with("formats", formats)
        .key();
    // One marker per set of formats, so that the Linux and the Windows packages
    // of a project, written into the same dist, do not invalidate each other.
    let names: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
    let marker = dist.join(format!(".{}.{}.id", meta.name, names.join("+")));
    let packagers: Vec<Box<dyn Packager>> =
        names.iter().map(|f| packager(f)).collect::<Result<_>>()?;
    let outs: Vec<PathBuf> = packagers
        .iter()
        .map(|p| dist.join(p.file_name(meta)))
        .collect();
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(id.as_str())
        && outs.iter().all(|o| o.is_file())
    {
        return Ok(outs
            .into_iter()
            .map(|path| Packaged { path, seconds: 0.0 })
            .collect());
    }
    let _ = std::fs::remove_file(&marker);
    let written: Vec<Packaged> = std::thread::scope(|s| {
        let jobs: Vec<_> = packagers
            .iter()
            .zip(&outs)
            .map(|(p, out)| s.spawn(move || write_one(p.as_ref(), root, meta, out)))
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap_or_else(|_| bail!("a packager panicked")))
            .collect::<Result<_>>()
    })?;
    write_atomic(&marker, id.as_bytes())?;
    Ok(written)
}

/// The one writer of `dist/SHA256SUMS`: the entries of `written` (files in
/// `dist`) replace theirs, entries of files no longer in `dist` are dropped,
/// the others (another target's packages) are kept; sorted by name. Then
/// `SHA256SUMS.sig` is made with `key`, or a stale one removed when there is no
/// key ([`sign::sign_sums`]). Builds into the same `dist` take turns (a lock
/// file beside it). Returns the paths of `SHA256SUMS` and its signature.
pub fn record_sums(
    dist: &Path,
    written: &[PathBuf],
    key: Option<&sign::SigningKey>,
    epoch: u64,
) -> Result<(PathBuf, Option<PathBuf>)> {
    use fs2::FileExt;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dist.join(".SHA256SUMS.lock"))
        .with_context(|| format!("locking {}", dist.display()))?;
    lock.lock_exclusive()?;
    let path = dist.join(SUMS);
    let mut entries: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once("  "))
        .filter(|(_, n)| !n.contains('/') && dist.join(n).is_file())
        .map(|(h, n)| (n.to_string(), h.to_string()))
        .collect();
    for w in written {
        let name = w
            .file_name()
            .with_context(|| format!("{}: not a file", w.display()))?
            .to_string_lossy()
            .into_owned();
        entries.insert(name, sha256_file(w)?);
    }
    let text: String = entries.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    write_atomic(&path, text.as_bytes())?;
    let sig = sign::sign_sums(dist, key, epoch)?;
    drop(lock);
    Ok((path, sig))
}

/// The checksum list's name in `dist`.
pub const SUMS: &str = "SHA256SUMS";

/// Write one package through a temporary file beside `out`.
fn write_one(p: &dyn Packager, root: &Path, meta: &Meta, out: &Path) -> Result<Packaged> {
    let t = std::time::Instant::now();
    let dist = out.parent().unwrap_or(Path::new("."));
    let name = p.file_name(meta);
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dist)?;
    p.write(root, meta, tmp.path())
        .with_context(|| format!("writing the {} package {name}", p.format()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(out)?;
    Ok(Packaged {
        path: out.to_path_buf(),
        seconds: t.elapsed().as_secs_f64(),
    })
}
