//! The command line's arguments (clap): the binary's half of `ferrobus`; what
//! each command does is in the library (`ferrobus::ops`).

use anyhow::Result;
use clap::{Parser, Subcommand};
use ferrobus::package::authenticode::CodeSign;
use ferrobus::package::sign::SigningKey;
use ferrobus::target::TargetName;
use std::path::PathBuf;

// The whole command line: global options and the command.
#[derive(Parser)]
#[command(name = "ferrobus", version, about = "Full-stack installer builder")]
pub struct Cli {
    /// Cache directory (sources, artifacts, build prefixes).
    #[arg(long, global = true, env = "FERROBUS_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Build directory (logs, work dirs, staged trees).
    #[arg(long, global = true, default_value = "build")]
    pub build_dir: PathBuf,
    /// Software definitions directory (default: <project dir>/../software-defs).
    #[arg(long, global = true)]
    pub defs: Option<PathBuf>,
    /// Where installers are written.
    #[arg(long, global = true, default_value = "dist")]
    pub dist_dir: PathBuf,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

// The project file and version overrides (plan, manifest, fetch, build, package).
#[derive(clap::Args, Clone)]
pub struct ProjectArgs {
    /// Project definition (projects/<name>.toml).
    pub project: PathBuf,
    /// Override a component version: NAME=VERSION (repeatable).
    #[arg(long = "override", value_name = "NAME=VERSION")]
    pub overrides: Vec<String>,
}

// How sources are fetched (fetch, build).
#[derive(clap::Args, Clone)]
pub struct FetchArgs {
    /// Use only the cache and mirrors.
    #[arg(long)]
    pub offline: bool,
    /// A mirror: directory or http(s) base URL (repeatable; tried first).
    #[arg(long)]
    pub mirror: Vec<String>,
    /// The remote cache, an OCI registry: oci://HOST[:PORT]/REPOSITORY
    /// (`none`: none, whatever the project says). Default: the project's
    /// `[cache] remote`.
    #[arg(long, env = "FERROBUS_CACHE_REMOTE", value_name = "URL")]
    pub cache_remote: Option<String>,
    /// Pull from the remote cache, never push (untrusted runners).
    #[arg(long = "cache-read-only", env = "FERROBUS_CACHE_REMOTE_READ_ONLY")]
    pub read_only: bool,
}

// The signing key (build, package).
#[derive(clap::Args, Clone)]
pub struct SignArgs {
    /// Sign the deb, the rpm and SHA256SUMS with this ASCII-armoured OpenPGP
    /// secret key (its passphrase, if any, from FERROBUS_SIGNING_PASSPHRASE).
    #[arg(long, env = "FERROBUS_SIGNING_KEY", value_name = "KEY.asc")]
    pub signing_key: Option<PathBuf>,
    /// Authenticode-sign the Windows executables ferrobus writes and the MSI
    /// with this key: a PKCS#12 file (its password from
    /// FERROBUS_CODESIGN_PASSWORD), a PEM file holding the key and its
    /// certificates, or (in the variable) that PEM text.
    #[arg(long, env = "FERROBUS_CODESIGN", value_name = "KEY.p12|KEY.pem")]
    pub codesign: Option<String>,
}

impl SignArgs {
    /// The OpenPGP signing key, if one is given.
    pub fn key(&self) -> Result<Option<SigningKey>> {
        let pass = std::env::var("FERROBUS_SIGNING_PASSPHRASE").ok();
        self.signing_key
            .as_deref()
            .map(|k| SigningKey::load(k, pass))
            .transpose()
    }

    /// The Authenticode key, if one is given.
    pub fn codesign(&self) -> Result<Option<CodeSign>> {
        let pass = std::env::var("FERROBUS_CODESIGN_PASSWORD").ok();
        self.codesign
            .as_deref()
            .map(|k| CodeSign::load(k, pass))
            .transpose()
    }
}

// The commands; each runs one `ferrobus::ops` operation.
#[derive(Subcommand)]
pub enum Cmd {
    /// Show the resolved component graph, versions, sources and cache keys.
    Plan {
        #[command(flatten)]
        p: ProjectArgs,
    },
    /// What a build would ship: components, sources, licenses, Python
    /// distributions (the version manifest, from the plan alone).
    Manifest {
        #[command(flatten)]
        p: ProjectArgs,
    },
    /// Fill the source cache for a project (e.g. before going offline).
    Fetch {
        #[command(flatten)]
        p: ProjectArgs,
        #[command(flatten)]
        f: FetchArgs,
    },
    /// Write the project's build lock (build-requirements.lock beside its
    /// requirements lock): the file each distribution is built from and every
    /// sdist's build requirements, pinned with hashes. Builds the components
    /// first (the embedded Python resolves them).
    Lock(BuildArgs),
    /// Fetch, build and stage a project.
    Build(BuildArgs),
    /// Write the installers of an already built and checked project (no rebuild).
    Package {
        #[command(flatten)]
        p: ProjectArgs,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Add the project's deb and rpm (or the packages named) to a signed apt
    /// and yum repository directory, keeping earlier versions; the indexes
    /// are replaced atomically.
    Publish(PublishArgs),
    /// Check artifacts: their checksum in SHA256SUMS (and its signature), their
    /// own signature (deb, rpm), and that the SBOM matches the payload.
    Verify {
        /// Artifacts in a dist directory (deb, rpm, tar.xz, tar.zst, sh, zip,
        /// msi).
        #[arg(required = true)]
        artifacts: Vec<PathBuf>,
        /// ASCII-armoured OpenPGP public key the signatures must verify with
        /// (without it, signatures are reported but not checked).
        #[arg(long, value_name = "KEY.asc")]
        key: Option<PathBuf>,
        /// PEM certificates the Authenticode signatures of a zip's or MSI's
        /// executables (and the MSI's own) must chain to (without it, their
        /// content digests are checked, not the chain).
        #[arg(long, value_name = "CA.pem")]
        authenticode_ca: Option<PathBuf>,
    },
    /// Health-check any tree (exit status 1 when a problem is found).
    Check(CheckArgs),
    /// Relocate a tree built in one prefix to live in another.
    Relocate {
        /// The tree.
        dir: PathBuf,
        /// The build prefix it was built in.
        #[arg(long)]
        from: PathBuf,
        /// The install prefix it will live in.
        #[arg(long)]
        to: PathBuf,
        /// Do not strip ELF files.
        #[arg(long)]
        no_strip: bool,
        /// Only rewrite RPATH/RUNPATH (to compare with patchelf).
        #[arg(long)]
        rpath_only: bool,
        /// The mtime the packages will give the files (recorded in `.pyc`).
        #[arg(long, default_value_t = 1_700_000_000)]
        source_date_epoch: u64,
    },
    /// Inspect or clean the cache.
    Cache {
        #[command(subcommand)]
        cmd: CacheCmd,
    },
}

// `ferrobus cache ...`.
#[derive(Subcommand)]
pub enum CacheCmd {
    /// Print the cache directory.
    Path,
    /// List cached sources and artifacts.
    List,
    /// Push what the local cache holds of a project (its components'
    /// artifacts, its wheels, its sources) to the remote cache, where missing.
    Push {
        #[command(flatten)]
        p: ProjectArgs,
        #[command(flatten)]
        f: FetchArgs,
    },
    /// Pull what the remote cache holds of a project into the local cache,
    /// where missing (nothing is built).
    Pull {
        #[command(flatten)]
        p: ProjectArgs,
        #[command(flatten)]
        f: FetchArgs,
    },
    /// Remove cached data.
    Clean {
        /// Remove source archives too.
        #[arg(long)]
        sources: bool,
        /// Remove everything (sources, artifacts, prefixes).
        #[arg(long)]
        all: bool,
        /// Remove only artifacts not used by any build prefix.
        #[arg(long)]
        unused: bool,
    },
}

/// `ferrobus build`: its arguments.
#[derive(clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub p: ProjectArgs,
    #[command(flatten)]
    pub f: FetchArgs,
    /// Target: `linux-x86_64` (built from source), `linux-aarch64`
    /// (cross-compiled from source) or `windows-x86_64` (the project's
    /// `[windows]` bundle: zip and MSI, nothing compiled); default: the
    /// project's first target.
    #[arg(long)]
    pub target: Option<TargetName>,
    /// Build every target the project lists (`targets`), one after the other.
    #[arg(long, conflicts_with = "target")]
    pub all_targets: bool,
    /// Total parallel jobs (default: number of CPUs).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Build one component at a time (for comparison).
    #[arg(long)]
    pub serial: bool,
    /// Keep the work directories of successful builds.
    #[arg(long)]
    pub keep_work: bool,
    /// Build (or pull) only this component and its dependencies, and push
    /// them to the remote cache; `wheels`: the application's wheels (and the
    /// components they need). Repeatable; nothing is staged or packaged.
    #[arg(long, value_name = "NAME")]
    pub component: Vec<String>,
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `ferrobus publish`: its arguments.
#[derive(clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub p: ProjectArgs,
    /// Packages to add (default: the project's deb and rpm in dist/).
    pub packages: Vec<PathBuf>,
    /// The repository directory (default: the project's `[publish] repo`).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// A signing key, an ASCII-armoured OpenPGP secret key; repeat it to sign
    /// with the old and the new key during a rotation (default:
    /// FERROBUS_SIGNING_KEY; passphrase from FERROBUS_SIGNING_PASSPHRASE).
    #[arg(long = "key", value_name = "KEY.asc")]
    pub keys: Vec<PathBuf>,
}

/// `ferrobus check`: its arguments.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The tree (e.g. a staged `.../embedded` directory).
    pub dir: PathBuf,
    /// Where the tree will live on the target (default: the directory itself).
    #[arg(long)]
    pub install_prefix: Option<PathBuf>,
    /// A build prefix that must not be mentioned anywhere.
    #[arg(long)]
    pub build_prefix: Option<PathBuf>,
    /// Highest GLIBC_ symbol version allowed (e.g. 2.17).
    #[arg(long)]
    pub glibc_floor: Option<String>,
    /// Highest GLIBCXX_ symbol version allowed.
    #[arg(long)]
    pub glibcxx_floor: Option<String>,
    /// Highest GCC_ symbol version allowed.
    #[arg(long)]
    pub gcc_floor: Option<String>,
    /// Allow one more system library (repeatable).
    #[arg(long)]
    pub allow_lib: Vec<String>,
    /// Check a Windows bundle's PE files (DLL imports) instead of ELF files.
    #[arg(long)]
    pub windows: bool,
    /// Hardening properties every ELF file must have, comma-separated (pie,
    /// stack-protector, fortify, relro, bind-now, cf-protection). Without
    /// build records, a missing stack protector or FORTIFY fails as
    /// hardening-check fails it.
    #[arg(long, value_delimiter = ',', value_parser = parse_protection)]
    pub hardening: Option<Vec<ferrobus::hardening::Protection>>,
    /// The architecture every ELF file must be for (x86_64, aarch64); a file
    /// for another is reported.
    #[arg(long)]
    pub arch: Option<ferrobus::target::Arch>,
}

impl CheckArgs {
    /// The health check's policy for the tree `dir` (absolute).
    pub fn policy(&self, dir: &std::path::Path) -> anyhow::Result<ferrobus::check::Policy> {
        use ferrobus::check;
        let v = |what: &str, s: &Option<String>| {
            check::Version::parse_setting(&format!("--{what}"), s.as_deref())
        };
        Ok(check::Policy {
            install_prefix: self
                .install_prefix
                .clone()
                .unwrap_or_else(|| dir.to_path_buf()),
            build_prefix: self.build_prefix.clone(),
            build_paths: vec![],
            glibc_floor: v("glibc-floor", &self.glibc_floor)?,
            glibcxx_floor: v("glibcxx-floor", &self.glibcxx_floor)?,
            gcc_floor: v("gcc-floor", &self.gcc_floor)?,
            extra_libs: self.allow_lib.clone(),
            hardening: self.hardening.as_ref().map(|list| check::HardeningPolicy {
                required: list.clone(),
                ..Default::default()
            }),
            arch: self.arch,
        })
    }
}

/// One `--hardening` property.
fn parse_protection(s: &str) -> Result<ferrobus::hardening::Protection, String> {
    let p: ferrobus::hardening::Protection = s.parse().map_err(|e| format!("{e}"))?;
    if !p.checkable() {
        return Err(format!("{p} cannot be read from a binary"));
    }
    Ok(p)
}
