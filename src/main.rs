//! The `ferrobus` command line. `build` runs the pipeline in order:
//! load → plan → fetch → build → app → stage → provenance → relocate → check
//! → package.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ferrobus::build::{self, BuildOptions, Outcome};
use ferrobus::cache::{ArtifactStore, PrefixState};
use ferrobus::fetch::{self, FetchOptions, SourceCache};
use ferrobus::paths::{Layout, default_cache_dir};
use ferrobus::plan::{self, Plan};
use ferrobus::{app, check, load, package, provenance, relocate, stage, toolchain, util};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(name = "ferrobus", version, about = "Full-stack installer builder")]
struct Cli {
    /// Cache directory (sources, artifacts, build prefixes).
    #[arg(long, global = true, env = "FERROBUS_CACHE")]
    cache_dir: Option<PathBuf>,
    /// Build directory (logs, work dirs, staged trees).
    #[arg(long, global = true, default_value = "build")]
    build_dir: PathBuf,
    /// Software definitions directory (default: <project dir>/../software-defs).
    #[arg(long, global = true)]
    defs: Option<PathBuf>,
    /// Where installers are written.
    #[arg(long, global = true, default_value = "dist")]
    dist_dir: PathBuf,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct ProjectArgs {
    /// Project definition (projects/<name>.toml).
    project: PathBuf,
    /// Override a component version: NAME=VERSION (repeatable).
    #[arg(long = "override", value_name = "NAME=VERSION")]
    overrides: Vec<String>,
}

#[derive(clap::Args, Clone)]
struct FetchArgs {
    /// Use only the cache and mirrors.
    #[arg(long)]
    offline: bool,
    /// A mirror: directory or http(s) base URL (repeatable; tried first).
    #[arg(long)]
    mirror: Vec<String>,
}

#[derive(clap::Args, Clone)]
struct SignArgs {
    /// Sign the deb, the rpm and SHA256SUMS with this ASCII-armoured OpenPGP
    /// secret key (its passphrase, if any, from FERROBUS_SIGNING_PASSPHRASE).
    #[arg(long, env = "FERROBUS_SIGNING_KEY", value_name = "KEY.asc")]
    signing_key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
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
    /// Fetch, build and stage a project.
    Build {
        #[command(flatten)]
        p: ProjectArgs,
        #[command(flatten)]
        f: FetchArgs,
        /// Target: `linux-x86_64` (built from source) or `windows-x86_64` (the
        /// project's `[windows]` bundle: zip and MSI, nothing compiled).
        #[arg(long, default_value = "linux-x86_64")]
        target: String,
        /// Total parallel jobs (default: number of CPUs).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Build one component at a time (for comparison).
        #[arg(long)]
        serial: bool,
        /// Keep the work directories of successful builds.
        #[arg(long)]
        keep_work: bool,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Write the installers of an already built and checked project (no rebuild).
    Package {
        #[command(flatten)]
        p: ProjectArgs,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Check artifacts: their checksum in SHA256SUMS (and its signature), their
    /// own signature (deb, rpm), and that the SBOM matches the payload (naming
    /// the files that differ).
    Verify {
        /// Artifacts in a dist directory (deb, rpm, tar.xz, tar.zst, sh, zip, msi).
        #[arg(required = true)]
        artifacts: Vec<PathBuf>,
        /// ASCII-armoured OpenPGP public key the signatures must verify with
        /// (without it, signatures are reported but not checked).
        #[arg(long, value_name = "KEY.asc")]
        key: Option<PathBuf>,
    },
    /// Health-check any tree (exit status 1 when a problem is found).
    Check {
        /// The tree (e.g. a staged `.../embedded` directory).
        dir: PathBuf,
        /// Where the tree will live on the target (default: the directory itself).
        #[arg(long)]
        install_prefix: Option<PathBuf>,
        /// A build prefix that must not be mentioned anywhere.
        #[arg(long)]
        build_prefix: Option<PathBuf>,
        /// Highest GLIBC_ symbol version allowed (e.g. 2.17).
        #[arg(long)]
        glibc_floor: Option<String>,
        /// Highest GLIBCXX_ symbol version allowed.
        #[arg(long)]
        glibcxx_floor: Option<String>,
        /// Highest GCC_ symbol version allowed.
        #[arg(long)]
        gcc_floor: Option<String>,
        /// Allow one more system library (repeatable).
        #[arg(long)]
        allow_lib: Vec<String>,
        /// Check a Windows bundle's PE files (DLL imports) instead of ELF files.
        #[arg(long)]
        windows: bool,
    },
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

#[derive(Subcommand)]
enum CacheCmd {
    /// Print the cache directory.
    Path,
    /// List cached sources and artifacts.
    List,
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

fn main() {
    // The compiler wrappers' entry point (not a user command, so not in clap: the
    // compiler's arguments must reach it untouched).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "zig-tool") {
        if let Err(e) = toolchain::zig::run_tool(&args[2..]) {
            eprintln!("ferrobus zig-tool: {e:#}");
        }
        std::process::exit(127);
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn layout(cli: &Cli) -> Result<Layout> {
    let cache = cli.cache_dir.clone().unwrap_or_else(default_cache_dir);
    Layout::new(&cache, &cli.build_dir)
}

fn make_plan(cli: &Cli, p: &ProjectArgs, layout: &Layout) -> Result<Plan> {
    Ok(load_all(cli, p, layout)?.1)
}

/// A project, its plan and its application layer.
type Loaded = (load::Project, Plan, Option<app::AppPlan>);

fn load_all(cli: &Cli, p: &ProjectArgs, layout: &Layout) -> Result<Loaded> {
    let project = load::load_project(&p.project)?;
    let defs_dir = cli
        .defs
        .clone()
        .unwrap_or_else(|| load::default_defs_dir(&p.project));
    let defs = load::load_software_dir(&defs_dir)?;
    let overrides = plan::parse_overrides(&p.overrides)?;
    let tc = toolchain::detect(&project.toolchain, &layout.toolchains())?;
    let prefix = layout.prefix(&project.name)?;
    let mut plan = plan::resolve(&project, &defs, &defs_dir, &overrides, &tc, &prefix)?;
    let app = app::plan(&project)?;
    if let Some(a) = &app {
        let id = format!("{}\n{}", app::wheelhouse_key(&plan, a)?, a.source_key);
        plan.app_key = Some(util::sha256_bytes(id.as_bytes()));
    }
    let prov = provenance::Contents::from_plan(&project, &plan, app.as_ref());
    plan.provenance_key = Some(provenance::key(&prov));
    Ok((project, plan, app))
}

/// Write the project's installers from its checked stage into `dist`, and the
/// version manifest and SBOM beside them. Returns (installers, provenance files).
fn do_package(
    project: &load::Project,
    plan: &Plan,
    stage_root: &Path,
    dist: &Path,
    sign: &SignArgs,
) -> Result<(Vec<package::Packaged>, Vec<PathBuf>)> {
    let mut meta = package::Meta::from_project(project)?;
    meta.signing = package::sign::SigningKey::from_option(sign.signing_key.as_deref())?;
    let id = stage::stage_id(plan);
    let beside = package::Beside {
        dir: stage_root.join(project.install_dir.trim_start_matches('/')),
        stem: format!("{}-{}", meta.name, meta.full_version()),
    };
    let formats = &project.package.formats;
    let out = package::publish(stage_root, Some(&beside), &meta, formats, dist, &id)?;
    Ok((
        out.packages,
        out.provenance.into_iter().chain(out.signature).collect(),
    ))
}

fn fetch_opts(f: &FetchArgs, cli: &Cli) -> FetchOptions {
    FetchOptions {
        offline: f.offline,
        mirrors: f.mirror.clone(),
        attempts: 3,
        progress: !cli.json && std::io::stderr().is_terminal(),
        debian_archives: None,
    }
}

fn do_fetch(plan: &Plan, layout: &Layout, opts: &FetchOptions) -> Result<HashMap<String, PathBuf>> {
    let rt = tokio::runtime::Runtime::new()?;
    let cache = SourceCache::new(&layout.sources());
    let got = rt.block_on(fetch::fetch_plan(plan, &cache, opts))?;
    Ok(got.into_iter().collect())
}

fn run(cli: Cli) -> Result<()> {
    let layout = layout(&cli)?;
    match &cli.cmd {
        Cmd::Plan { p } => {
            let plan = make_plan(&cli, p, &layout)?;
            print_plan(&plan, &layout, cli.json)
        }
        Cmd::Manifest { p } => {
            let (project, plan, app) = load_all(&cli, p, &layout)?;
            let c = provenance::Contents::from_plan(&project, &plan, app.as_ref());
            if cli.json {
                print!("{}", provenance::render(&provenance::manifest::render(&c)));
            } else {
                print!("{}", provenance::manifest::text(&c));
            }
            Ok(())
        }
        Cmd::Fetch { p, f } => {
            let plan = make_plan(&cli, p, &layout)?;
            let got = do_fetch(&plan, &layout, &fetch_opts(f, &cli))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&got)?);
            } else {
                for c in &plan.components {
                    println!("{:<12} {}", c.name, got[&c.name].display());
                }
            }
            Ok(())
        }
        Cmd::Build {
            p,
            f,
            target,
            jobs,
            serial,
            keep_work,
            sign,
        } => {
            let t = Instant::now();
            if target == ferrobus::windows::TARGET {
                return build_windows(&cli, p, f, sign, &layout);
            }
            if target != "linux-x86_64" {
                anyhow::bail!(
                    "unknown target \"{target}\" (known: linux-x86_64, {})",
                    ferrobus::windows::TARGET
                );
            }
            let (project, plan, app) = load_all(&cli, p, &layout)?;
            let mut prov = provenance::Contents::from_plan(&project, &plan, app.as_ref());
            prov.check_declared()?;
            let sources = do_fetch(&plan, &layout, &fetch_opts(f, &cli))?;
            let opts = BuildOptions {
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                serial: *serial,
                keep_work: *keep_work,
                progress: !cli.json && std::io::stderr().is_terminal(),
            };
            let report = build::build(&plan, &layout, &sources, &opts)?;
            let mut app_json = serde_json::Value::Null;
            let app_wheels = match &app {
                Some(a) => {
                    let t = Instant::now();
                    let (house, built) = app::wheelhouse(&plan, &layout, a)?;
                    let wheel = app::app_wheel(&plan, &layout, a)?;
                    if !cli.json {
                        println!(
                            "wheelhouse   {} wheels, {built} built now; app wheel {}",
                            house.len(),
                            wheel.display()
                        );
                    }
                    app_json = serde_json::json!({
                        "wheels": house,
                        "wheels_built": built,
                        "app_wheel": wheel,
                        "seconds": t.elapsed().as_secs_f64(),
                    });
                    Some((house, wheel))
                }
                None => None,
            };
            let staged = stage::stage(&plan, &layout)?;
            let (relocated, health) = if staged.copied {
                if let (Some(a), Some((house, wheel))) = (&app, &app_wheels) {
                    app::install(&plan, &layout, a, house, wheel, &staged.embedded)?;
                }
                // The project's dead weight goes before anything lists the tree.
                stage::prune(&plan, &staged.embedded)?;
                if let (Some(a), Some((house, wheel))) = (&app, &app_wheels) {
                    let site = provenance::site_packages(&staged.embedded)
                        .context("no site-packages in the staged tree")?;
                    prov.add_installed(a, house, wheel, &site)?;
                }
                let install_dir = staged.embedded.parent().unwrap_or(&staged.root);
                provenance::write(&mut prov, &sources, install_dir)?;
                let r = relocate::relocate(
                    &staged.embedded,
                    &relocate::Options {
                        build_prefix: plan.prefix.clone(),
                        install_prefix: plan.install_prefix(),
                        strip: plan.health.strip,
                        debug_dir: plan
                            .health
                            .keep_debug
                            .then(|| layout.project_build(&plan.project).join("debug")),
                        rpath_only: false,
                        source_date_epoch: plan.source_date_epoch,
                    },
                )?;
                let mut policy = plan.check_policy()?;
                // The wheel cache. Neither the build dir nor the whole cache dir is
                // listed: CPython's sysconfig keeps its source dir (`srcdir`) and
                // its compiler (zig's wrapper under the cache) as recorded facts.
                policy.build_paths = vec![layout.cache.join("wheels")];
                let h = check::check(&staged.embedded, &policy)?;
                if !h.ok() {
                    if cli.json {
                        println!("{}", serde_json::to_string_pretty(&h)?);
                    }
                    anyhow::bail!(
                        "health check of {} failed:\n{}",
                        staged.embedded.display(),
                        h.render()
                    );
                }
                // The SBOM records the digest of the final tree.
                provenance::seal::seal(install_dir)?;
                stage::commit(&plan, &layout)?;
                (Some(r), Some(h))
            } else {
                (None, None)
            };
            let (packages, prov_files) =
                do_package(&project, &plan, &staged.root, &cli.dist_dir, sign)?;
            let total = t.elapsed().as_secs_f64();
            if cli.json {
                let v = serde_json::json!({
                    "project": plan.project,
                    "prefix": report.prefix,
                    "stage": staged.root,
                    "embedded": staged.embedded,
                    "seconds": total,
                    "components": report.components,
                    "app": app_json,
                    "relocate": relocated,
                    "check": health,
                    "packages": packages,
                    "provenance": prov_files,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for c in &report.components {
                    let what = match c.outcome {
                        Outcome::UpToDate => "up to date".to_string(),
                        Outcome::Restored => format!("restored from cache ({:.1}s)", c.seconds),
                        Outcome::Built => format!("built ({:.1}s)", c.seconds),
                        Outcome::Failed => "failed".into(),
                    };
                    println!("{:<12} {:<16} {what}", c.name, c.version);
                }
                if let Some(r) = &relocated {
                    println!(
                        "relocated: {} rpaths, {} binary and {} text files rewritten, {} stripped, {} .pyc recompiled ({:.2}s)",
                        r.rpaths_rewritten,
                        r.binary_files,
                        r.text_files,
                        r.stripped,
                        r.pyc_recompiled,
                        r.seconds
                    );
                }
                if let Some(h) = &health {
                    let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                    println!(
                        "health check passed: {} files, {} ELF, highest GLIBC {} ({}), floor {} ({:.2}s)",
                        h.files,
                        h.elf_files,
                        show(h.max_glibc.as_ref().map(|m| m.0.to_string())),
                        show(h.max_glibc.as_ref().map(|m| m.1.clone())),
                        show(h.glibc_floor.map(|v| v.to_string())),
                        h.seconds
                    );
                }
                for p in &packages {
                    if p.seconds > 0.0 {
                        println!("installer {} ({:.1}s)", p.path.display(), p.seconds);
                    } else {
                        println!("installer {} (unchanged)", p.path.display());
                    }
                }
                for p in &prov_files {
                    println!("provenance {}", p.display());
                }
                println!(
                    "staged {} ({}) in {total:.1}s",
                    staged.embedded.display(),
                    if staged.copied {
                        "updated"
                    } else {
                        "unchanged"
                    }
                );
            }
            Ok(())
        }
        Cmd::Package { p, sign } => {
            let (project, plan, _) = load_all(&cli, p, &layout)?;
            if !stage::is_current(&plan, &layout) {
                anyhow::bail!(
                    "{}: no checked stage for the current plan; run `ferrobus build` first",
                    plan.project
                );
            }
            let root = layout.project_build(&plan.project).join("stage");
            let (packages, prov_files) = do_package(&project, &plan, &root, &cli.dist_dir, sign)?;
            for w in packages.iter().map(|p| &p.path).chain(&prov_files) {
                println!("wrote {}", w.display());
            }
            Ok(())
        }
        Cmd::Verify { artifacts, key } => {
            let key = match key {
                Some(k) => Some(
                    std::fs::read(k)
                        .with_context(|| format!("reading the public key {}", k.display()))?,
                ),
                None => None,
            };
            let mut reports = Vec::new();
            for a in artifacts {
                reports.push(ferrobus::verify::verify(a, key.as_deref())?);
            }
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                for r in &reports {
                    print!("{}", r.render());
                }
            }
            let bad: Vec<String> = reports
                .iter()
                .filter(|r| !r.ok())
                .map(|r| {
                    format!(
                        "{} (failed: {})",
                        r.artifact.display(),
                        r.failed().join(", ")
                    )
                })
                .collect();
            if !bad.is_empty() {
                anyhow::bail!("verification failed: {}", bad.join("; "));
            }
            Ok(())
        }
        Cmd::Check {
            dir,
            install_prefix,
            build_prefix,
            glibc_floor,
            glibcxx_floor,
            gcc_floor,
            allow_lib,
            windows,
        } => {
            if *windows {
                let r = ferrobus::windows::pe::check(dir)?;
                return print_report(cli.json, &r, r.render(), r.ok());
            }
            let v = |what: &str, s: &Option<String>| {
                check::Version::parse_setting(&format!("--{what}"), s.as_deref())
            };
            let dir = ferrobus::util::absolute(dir)?;
            let policy = check::Policy {
                install_prefix: install_prefix.clone().unwrap_or_else(|| dir.clone()),
                build_prefix: build_prefix.clone(),
                build_paths: vec![],
                glibc_floor: v("glibc-floor", glibc_floor)?,
                glibcxx_floor: v("glibcxx-floor", glibcxx_floor)?,
                gcc_floor: v("gcc-floor", gcc_floor)?,
                extra_libs: allow_lib.clone(),
            };
            let r = check::check(&dir, &policy)?;
            print_report(cli.json, &r, r.render(), r.ok())
        }
        Cmd::Relocate {
            dir,
            from,
            to,
            no_strip,
            rpath_only,
            source_date_epoch,
        } => {
            let r = relocate::relocate(
                dir,
                &relocate::Options {
                    build_prefix: from.clone(),
                    install_prefix: to.clone(),
                    strip: !no_strip && !rpath_only,
                    debug_dir: None,
                    rpath_only: *rpath_only,
                    source_date_epoch: *source_date_epoch,
                },
            )?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("{r:?}");
            }
            Ok(())
        }
        Cmd::Cache { cmd } => cache_cmd(cmd, &layout, cli.json),
    }
}

/// `build --target windows-x86_64`: the project's Windows bundle and installers.
fn build_windows(
    cli: &Cli,
    p: &ProjectArgs,
    f: &FetchArgs,
    sign: &SignArgs,
    layout: &Layout,
) -> Result<()> {
    if !p.overrides.is_empty() {
        anyhow::bail!(
            "--override applies to components built from source, not to {}",
            ferrobus::windows::TARGET
        );
    }
    let opts = ferrobus::windows::Options {
        project: p.project.clone(),
        defs: cli
            .defs
            .clone()
            .unwrap_or_else(|| load::default_defs_dir(&p.project)),
        layout: layout.clone(),
        dist: cli.dist_dir.clone(),
        fetch: fetch_opts(f, cli),
        signing: package::sign::SigningKey::from_option(sign.signing_key.as_deref())?,
    };
    let b = ferrobus::windows::build(&opts)?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&b)?);
    } else {
        println!(
            "PE health check passed: {} PE files, {} imports resolved",
            b.pe.pe_files, b.pe.imports
        );
        for p in &b.packages {
            println!("installer {}", p.display());
        }
        for p in b.provenance.iter().chain(&b.signature) {
            println!("provenance {}", p.display());
        }
        println!(
            "staged {} ({} files, {:.1} MB) in {:.1}s",
            b.bundle.display(),
            b.files,
            b.bytes as f64 / 1e6,
            b.seconds
        );
    }
    Ok(())
}

fn print_plan(plan: &Plan, layout: &Layout, json: bool) -> Result<()> {
    let state = PrefixState::load(&layout.prefix_root(&plan.project).join("state.json"));
    let store = ArtifactStore::new(&layout.artifacts());
    let status = |name: &str, key: &str| -> (&'static str, Option<String>) {
        match state.components.get(name) {
            Some(i) if i.key == key => ("up-to-date", None),
            Some(i) => (
                if store.lookup(name, key).is_some() {
                    "changed (cached)"
                } else {
                    "changed (build)"
                },
                Some(i.key.clone()),
            ),
            None if store.lookup(name, key).is_some() => ("cached", None),
            None => ("build", None),
        }
    };
    if json {
        let comps: Vec<_> = plan
            .components
            .iter()
            .map(|c| {
                let (st, prev) = status(&c.name, &c.key);
                serde_json::json!({
                    "name": c.name, "version": c.version, "version_from": c.version_from,
                    "depends": c.depends, "build_only": c.build_only,
                    "source": c.source, "key": c.key, "previous_key": prev, "status": st,
                    "license": c.license, "definition": c.definition,
                })
            })
            .collect();
        let v = serde_json::json!({
            "project": plan.project, "install_dir": plan.install_dir,
            "prefix": plan.prefix, "toolchain": plan.toolchain, "components": comps,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("project {} -> {}", plan.project, plan.install_dir);
    println!("prefix  {}", plan.prefix.display());
    println!(
        "toolchain {} ({}, {}, {})",
        plan.toolchain.cc, plan.toolchain.cc_version, plan.toolchain.triple, plan.toolchain.libc
    );
    println!(
        "{:<12} {:<22} {:<18} {:<18} depends",
        "component", "version", "key", "status"
    );
    for c in &plan.components {
        let (st, prev) = status(&c.name, &c.key);
        let ver = if c.version_from == "default" {
            c.version.clone()
        } else {
            format!("{} ({})", c.version, c.version_from)
        };
        println!(
            "{:<12} {:<22} {:<18} {:<18} {}",
            c.name,
            ver,
            &c.key[..16],
            st,
            c.depends.join(",")
        );
        if let Some(p) = prev {
            println!("{:<12} {:<22} was {}", "", "", &p[..16]);
        }
    }
    Ok(())
}

/// Print a health-check report (JSON or text); exit 1 when it found a problem.
fn print_report<R: serde::Serialize>(json: bool, r: &R, text: String, ok: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        print!("{text}");
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn cache_cmd(cmd: &CacheCmd, layout: &Layout, json: bool) -> Result<()> {
    let store = ArtifactStore::new(&layout.artifacts());
    match cmd {
        CacheCmd::Path => println!("{}", layout.cache.display()),
        CacheCmd::List => {
            let arts = store.list();
            let mut sources = Vec::new();
            if let Ok(rd) = std::fs::read_dir(layout.sources()) {
                for e in rd.filter_map(|e| e.ok()) {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.len() == 64 {
                        let name =
                            std::fs::read_to_string(layout.sources().join(format!("{n}.name")))
                                .unwrap_or_default();
                        let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                        sources.push((n, name, size));
                    }
                }
            }
            sources.sort_by(|a, b| a.1.cmp(&b.1));
            if json {
                let v = serde_json::json!({
                    "cache": layout.cache,
                    "sources": sources.iter().map(|(h, n, s)| serde_json::json!({"sha256": h, "file": n, "size": s})).collect::<Vec<_>>(),
                    "artifacts": arts.iter().map(|a| serde_json::json!({"name": a.manifest.name, "version": a.manifest.version, "key": a.manifest.key, "files": a.manifest.files.len(), "size": a.manifest.size, "dir": a.dir})).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("cache {}", layout.cache.display());
                println!("sources:");
                for (h, n, s) in &sources {
                    println!("  {:<44} {:>10} {}", n, s, &h[..16]);
                }
                println!("artifacts:");
                for a in &arts {
                    let m = &a.manifest;
                    println!(
                        "  {:<12} {:<22} {} {:>6} files {:>6.1} MB",
                        m.name,
                        m.version,
                        &m.key[..16],
                        m.files.len(),
                        m.size as f64 / 1e6
                    );
                }
            }
        }
        CacheCmd::Clean {
            sources,
            all,
            unused,
        } => {
            let before = dir_size(&layout.cache);
            if *all {
                ferrobus::util::remove_any(&layout.cache)?;
            } else if *unused {
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
                        ferrobus::util::remove_any(&a.dir)?;
                    }
                }
                store.clean_temporaries();
            } else {
                ferrobus::util::remove_any(&layout.artifacts())?;
                if *sources {
                    ferrobus::util::remove_any(&layout.sources())?;
                }
            }
            let after = dir_size(&layout.cache);
            println!("freed {:.1} MB", before.saturating_sub(after) as f64 / 1e6);
        }
    }
    Ok(())
}
