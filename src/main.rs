//! The `ferrobus` command line: parses arguments, opens an [`ops::Session`],
//! calls the operation and prints its report as text or JSON (`--json`). The
//! pipeline itself is [`ferrobus::ops::build`].

use anyhow::{Context, Result};
use clap::Parser;
use cli::{BuildArgs, CacheCmd, CheckArgs, Cli, Cmd, FetchArgs, ProjectArgs, PublishArgs};
use ferrobus::fetch::FetchOptions;
use ferrobus::ops::{self, Session};
use ferrobus::paths::{Layout, default_cache_dir};
use ferrobus::target::TargetName;
use ferrobus::{check, provenance, relocate, toolchain};
use std::io::IsTerminal;

mod cli;
use std::path::PathBuf;

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
    if args
        .get(1)
        .is_some_and(|a| a == "cc-guard" || a == "host-tool")
    {
        let r = if args[1] == "cc-guard" {
            toolchain::guard::run_cc(&args[2..])
        } else {
            toolchain::guard::run_host_tool(&args[2..])
        };
        if let Err(e) = r {
            eprintln!("ferrobus {}: {e:#}", args[1]);
        }
        std::process::exit(127);
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

impl Cli {
    fn layout(&self) -> Result<Layout> {
        let cache = self.cache_dir.clone().unwrap_or_else(default_cache_dir);
        Layout::new(&cache, &self.build_dir)
    }

    fn session(&self, p: &ProjectArgs, target: Option<TargetName>) -> Result<Session> {
        let defs = self.defs.as_deref();
        Session::open(
            &p.project,
            defs,
            self.layout()?,
            &self.dist_dir,
            target,
            &p.overrides,
        )
    }

    fn fetch_opts(&self, f: &FetchArgs, s: &Session) -> Result<FetchOptions> {
        let progress = !self.json && std::io::stderr().is_terminal();
        let remote = ops::remote(&s.project, f.cache_remote.as_deref(), f.read_only, progress)?;
        Ok(FetchOptions {
            offline: f.offline,
            mirrors: f.mirror.clone(),
            attempts: 3,
            progress,
            debian_archives: None,
            remote,
        })
    }

    /// Print `value` as JSON, or `text`.
    fn print<T: serde::Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", text());
        }
        Ok(())
    }
}

fn run(cli: Cli) -> Result<()> {
    match &cli.cmd {
        Cmd::Plan { p } => {
            let r = ops::plan_report(&cli.session(p, None)?)?;
            cli.print(&r, || r.render())
        }
        Cmd::Manifest { p } => {
            let c = ops::plan(&cli.session(p, None)?)?.contents;
            if cli.json {
                print!("{}", provenance::render(&provenance::manifest::render(&c)));
            } else {
                print!("{}", provenance::manifest::text(&c));
            }
            Ok(())
        }
        Cmd::Fetch { p, f } => {
            let s = cli.session(p, None)?;
            let planned = ops::plan(&s)?;
            let got = ops::fetch(&s, &planned, &cli.fetch_opts(f, &s)?)?;
            // The build lock's files, fetched with the sources.
            let cache = ferrobus::fetch::SourceCache::new(&s.layout.sources());
            let python: std::collections::BTreeMap<String, PathBuf> = planned
                .build_lock
                .as_ref()
                .map(|l| ferrobus::app::wheels::files(&planned.units, l))
                .unwrap_or_default()
                .into_iter()
                .map(|f| (f.file, cache.path(&f.sha256)))
                .collect();
            let report = serde_json::json!({"components": got, "python": python});
            cli.print(&report, || {
                let comps = &planned.plan.components;
                let line = |c: &ferrobus::plan::Component| {
                    format!("{:<15} {}\n", c.name, got[&c.name].display())
                };
                let py = python
                    .iter()
                    .map(|(f, p)| format!("{f}\n{:<15} {}\n", "", p.display()));
                comps.iter().map(line).chain(py).collect()
            })
        }
        Cmd::Build(a) => build(&cli, a),
        Cmd::Lock(a) => {
            let s = cli.session(&a.p, a.target)?;
            let path = ops::lock(&s, &build_options(&cli, a, &s)?)?;
            cli.print(&path, || format!("wrote {}\n", path.display()))
        }
        Cmd::Package { p, sign } => {
            let written = ops::package(&cli.session(p, None)?, sign.key()?)?;
            cli.print(&written, || {
                let line = |w: &PathBuf| format!("wrote {}\n", w.display());
                written.iter().map(line).collect()
            })
        }
        Cmd::Publish(a) => publish(&cli, a),
        Cmd::Verify {
            artifacts,
            key,
            authenticode_ca,
        } => {
            let reports = ops::verify(artifacts, key.as_deref(), authenticode_ca.as_deref())?;
            cli.print(&reports, || reports.iter().map(|r| r.render()).collect())?;
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
        Cmd::Check(a) => check_tree(&cli, a),
        Cmd::Relocate {
            dir,
            from,
            to,
            no_strip,
            rpath_only,
            source_date_epoch,
        } => {
            let opts = relocate::Options {
                build_prefix: from.clone(),
                install_prefix: to.clone(),
                strip: !no_strip && !rpath_only,
                debug_dir: None,
                rpath_only: *rpath_only,
                source_date_epoch: *source_date_epoch,
                build_python: None,
            };
            let r = relocate::relocate(dir, &opts)?;
            cli.print(&r, || format!("{r:?}\n"))
        }
        Cmd::Cache { cmd } => cache(&cli, cmd),
    }
}

/// How `build` and `lock` run.
fn build_options(cli: &Cli, a: &BuildArgs, s: &Session) -> Result<ops::BuildOptions> {
    Ok(ops::BuildOptions {
        fetch: cli.fetch_opts(&a.f, s)?,
        build: ferrobus::build::BuildOptions {
            jobs: a
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            serial: a.serial,
            keep_work: a.keep_work,
            progress: !cli.json && std::io::stderr().is_terminal(),
        },
        signing: a.sign.key()?,
        codesign: a.sign.codesign()?,
    })
}

/// `ferrobus build`: report, or the failed health check's whole report.
fn build(cli: &Cli, a: &BuildArgs) -> Result<()> {
    if a.all_targets {
        let targets = cli.session(&a.p, None)?.project.targets.clone();
        let mut reports = Vec::new();
        for t in targets {
            let s = cli.session(&a.p, Some(t))?;
            let r = ops::build(&s, &build_options(cli, a, &s)?)
                .with_context(|| format!("building {} for {t}", a.p.project.display()))?;
            if !cli.json {
                print!("{}", r.render());
            }
            reports.push(r);
        }
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&reports)?);
        }
        return Ok(());
    }
    let s = cli.session(&a.p, a.target)?;
    if !a.component.is_empty() {
        let r = ops::build_components(&s, &build_options(cli, a, &s)?, &a.component)?;
        return cli.print(&r, || r.render());
    }
    match ops::build(&s, &build_options(cli, a, &s)?) {
        Ok(r) => cli.print(&r, || r.render()),
        Err(e) => {
            // A failed health check's whole report, for --json callers.
            if let (true, Some(f)) = (cli.json, e.downcast_ref::<check::Failed>()) {
                println!("{}", serde_json::to_string_pretty(&f.report)?);
            }
            Err(e)
        }
    }
}

/// `ferrobus publish`: the keys default to the build's signing key.
fn publish(cli: &Cli, a: &PublishArgs) -> Result<()> {
    let env = std::env::var_os("FERROBUS_SIGNING_KEY").map(PathBuf::from);
    let keys = match a.keys.is_empty() {
        true => env.into_iter().collect(),
        false => a.keys.clone(),
    };
    let r = ops::publish(
        &cli.session(&a.p, None)?,
        a.repo.as_deref(),
        &keys,
        &a.packages,
    )?;
    r.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    cli.print(&r, || r.render())
}

/// `ferrobus check`: exit status 1 when a problem is found.
fn check_tree(cli: &Cli, a: &CheckArgs) -> Result<()> {
    let dir = ferrobus::util::absolute(&a.dir)?;
    let policy = a.policy(&dir)?;
    let format = match a.windows {
        true => ferrobus::target::BinaryFormat::Pe,
        false => ferrobus::target::BinaryFormat::Elf,
    };
    let r = check::check_tree(format, &dir, Some(&policy))?;
    cli.print(&r, || r.render())?;
    if !r.ok() {
        std::process::exit(1);
    }
    Ok(())
}

fn cache(cli: &Cli, cmd: &CacheCmd) -> Result<()> {
    let layout = cli.layout()?;
    match cmd {
        CacheCmd::Path => println!("{}", layout.cache.display()),
        CacheCmd::Push { p, f } | CacheCmd::Pull { p, f } => {
            let s = cli.session(p, None)?;
            let push = matches!(cmd, CacheCmd::Push { .. });
            let r = ops::cache_sync(&s, cli.fetch_opts(f, &s)?.remote, push)?;
            cli.print(&r, || format!("{}\n", r.summary()))?;
        }
        CacheCmd::List => {
            let l = ops::cache_list(&layout);
            cli.print(&l, || l.render())?;
        }
        CacheCmd::Clean {
            sources,
            all,
            unused,
        } => {
            let what = match (*all, *unused, *sources) {
                (true, _, _) => ops::Clean::All,
                (_, true, _) => ops::Clean::Unused,
                (_, _, true) => ops::Clean::ArtifactsAndSources,
                _ => ops::Clean::Artifacts,
            };
            let freed = ops::cache_clean(&layout, what)?;
            println!("freed {:.1} MB", freed as f64 / 1e6);
        }
    }
    Ok(())
}
