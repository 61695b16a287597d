//! The pipeline of a target whose runtime is built from the software
//! definitions (Linux): fetch, build the components, the app's wheelhouse,
//! stage, install the app, prune, provenance, relocate, check, seal, package.

use super::report::{AppReport, BuildReport};
use super::{BuildOptions, Planned, Session, plan, write_installers};
use crate::app;
use crate::check;
use crate::provenance;
use crate::relocate;
use crate::stage::{self, Staged};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// Run the pipeline in order; see the module comment of [`crate::ops`].
pub fn build(s: &Session, opts: &BuildOptions) -> Result<BuildReport> {
    let t = Instant::now();
    let p = plan(s)?;
    p.contents.check_declared()?;
    let super::BuiltRuntime {
        sources,
        prefix_lock,
        client,
        built,
        build_host_lock,
    } = super::runtime(s, &p, opts)?;
    let wheels = app_layer(s, &p, &client, opts)?;
    let staged = stage::stage(&p.plan, &s.layout, &p.tree_id)?;
    let (relocated, health) = if staged.copied {
        let (r, h) = finish_tree(s, &p, &staged, &sources, wheels.as_ref())?;
        (Some(r), Some(h))
    } else {
        (None, None)
    };
    drop(prefix_lock);
    drop(build_host_lock);
    let out = write_installers(s, &p, &staged.root, opts.signing.clone())?;
    Ok(BuildReport {
        project: p.plan.project.clone(),
        target: s.target.name,
        prefix: Some(built.prefix),
        stage: staged.root,
        embedded: staged.embedded,
        updated: staged.copied,
        seconds: t.elapsed().as_secs_f64(),
        components: built.components,
        app: wheels.map(|w| w.report),
        relocate: relocated,
        check: health.map(Into::into),
        packages: out.packages,
        provenance: out.provenance.into_iter().chain(out.signature).collect(),
        lint: out.lint,
        remote: opts
            .fetch
            .remote
            .as_deref()
            .map(super::report::RemoteReport::of),
    })
}

/// The app's wheelhouse and own wheel, built (or taken from the cache) against
/// the built runtime.
struct Wheels {
    house: Vec<PathBuf>,
    wheel: PathBuf,
    report: AppReport,
}

fn app_layer(
    s: &Session,
    p: &Planned,
    client: &jobserver::Client,
    opts: &BuildOptions,
) -> Result<Option<Wheels>> {
    let Some(a) = &p.app else {
        return Ok(None);
    };
    let t = Instant::now();
    let sources = crate::fetch::SourceCache::new(&s.layout.sources());
    let (house, units) = app::wheels::wheelhouse(
        &p.builder,
        &s.layout,
        &p.units,
        &sources,
        client,
        opts.fetch.remote.as_deref(),
    )?;
    let built = units.iter().filter(|u| u.built).count();
    let wheel = app::app_wheel(&p.builder, &s.layout, a, opts.fetch.remote.as_deref())?;
    let report = AppReport {
        wheels: house.clone(),
        wheels_built: built,
        units,
        app_wheel: wheel.clone(),
        seconds: t.elapsed().as_secs_f64(),
    };
    Ok(Some(Wheels {
        house,
        wheel,
        report,
    }))
}

/// A freshly staged tree: the app installed, dead weight pruned, provenance
/// written, relocated, checked, sealed and committed.
fn finish_tree(
    s: &Session,
    p: &Planned,
    staged: &Staged,
    sources: &HashMap<String, PathBuf>,
    wheels: Option<&Wheels>,
) -> Result<(relocate::Report, check::Report)> {
    let (plan, layout) = (&p.plan, &s.layout);
    let mut contents = p.contents.clone();
    if let (Some(a), Some(w)) = (&p.app, wheels) {
        app::install(&p.builder, a, &w.house, &w.wheel, &staged.embedded)?;
    }
    // The project's dead weight goes before anything lists the tree.
    stage::prune(plan, &staged.embedded)?;
    if let (Some(a), Some(w)) = (&p.app, wheels) {
        let site = provenance::site_packages(&staged.embedded)
            .context("no site-packages in the staged tree")?;
        contents.add_installed(a, &w.house, &w.wheel, &site)?;
    }
    let install_dir = staged.embedded.parent().unwrap_or(&staged.root);
    provenance::write(&mut contents, sources, install_dir)?;
    let r = relocate::relocate(
        &staged.embedded,
        &relocate::Options {
            build_prefix: plan.prefix.clone(),
            install_prefix: plan.install_prefix(),
            strip: plan.health.strip,
            debug_dir: plan
                .health
                .keep_debug
                .then(|| layout.project_build(&plan.slot).join("debug")),
            rpath_only: false,
            source_date_epoch: plan.source_date_epoch,
            build_python: plan.build_python.as_ref().map(|b| b.path.clone()),
        },
    )?;
    let mut policy = check::Policy::of_plan(plan)?;
    // The wheel cache. Neither the build dir nor the whole cache dir is
    // listed: CPython's sysconfig keeps its source dir (`srcdir`) and its
    // compiler (zig's wrapper under the cache) as recorded facts.
    policy.build_paths = vec![layout.wheels()];
    // Which files were compiled here, with which hardening flags: the
    // components' and the wheels built from sdists.
    let sdists: Vec<_> = contents
        .distributions
        .iter()
        .filter(|d| d.kind == "sdist")
        .map(|d| d.name.clone())
        .collect();
    if let Some(hp) = &mut policy.hardening {
        hp.built = check::built_files(plan, layout, &staged.embedded, &sdists)?;
    }
    let h = check::check(&staged.embedded, &policy)?;
    if !h.ok() {
        bail!(check::Failed {
            tree: staged.embedded.clone(),
            report: h.into(),
        });
    }
    // The SBOM records the digest of the final tree.
    provenance::seal::seal(install_dir)?;
    stage::commit(plan, layout, &p.tree_id)?;
    Ok((r, h))
}
