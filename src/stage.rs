//! stage: the install tree of a project, copied from the build prefix.
//!
//! The staged tree is `build/<project>/stage<install_dir>/embedded`: what later
//! stages (relocate, check, package) work on. Build-only components are left out.
//! A marker, written once the tree is relocated and checked ([`commit`]), records
//! which component keys it holds, so an unchanged build does not copy it again.

use crate::cache::PrefixState;
use crate::fingerprint::Fingerprint;
use crate::paths::Layout;
use crate::plan::Plan;
use crate::util::{remove_any, write_atomic};
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Result of staging.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Staged {
    /// Root of the staged file system image (`.../stage`).
    pub root: PathBuf,
    /// The embedded prefix inside it (`.../stage/opt/<name>/embedded`).
    pub embedded: PathBuf,
    /// False when the existing stage was already current.
    pub copied: bool,
}

/// Copy the shipped components' files from the prefix into the stage; `id` is
/// the tree's identity ([`stage_id`]): a stage already committed with it is kept.
pub fn stage(plan: &Plan, layout: &Layout, id: &str) -> Result<Staged> {
    let root = layout.project_build(&plan.slot).join("stage");
    let embedded = root
        .join(plan.install_dir.trim_start_matches('/'))
        .join("embedded");
    let shipped: Vec<_> = plan.components.iter().filter(|c| !c.build_only).collect();
    let marker = marker_path(plan, layout);
    if fs::read_to_string(&marker).ok().as_deref() == Some(id) && embedded.is_dir() {
        return Ok(Staged {
            root,
            embedded,
            copied: false,
        });
    }
    let _ = fs::remove_file(&marker);
    // The old tree is renamed aside and removed while the new one is copied.
    let old = root.with_file_name("stage.old");
    remove_any(&old)?;
    if root.exists() {
        fs::rename(&root, &old)?;
    }
    let state = PrefixState::load(&layout.prefix_root(&plan.slot).join("state.json"));
    // A file two components both installed is one file of the prefix.
    let files: Vec<&String> = shipped
        .iter()
        .filter_map(|c| state.components.get(&c.name))
        .flat_map(|inst| &inst.files)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| embedded.join(f).parent().map(Path::to_path_buf))
        .chain([embedded.clone()])
        .collect();
    let (removed, copied) = rayon::join(
        || remove_any(&old),
        || -> Result<()> {
            for d in &dirs {
                fs::create_dir_all(d)?;
            }
            files
                .par_iter()
                .try_for_each(|f| copy_entry(&plan.prefix.join(f), &embedded.join(f)))
        },
    );
    removed?;
    copied?;
    Ok(Staged {
        root,
        embedded,
        copied: true,
    })
}

/// Copy one file of the prefix into the stage (a symlink as a symlink).
fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if meta.file_type().is_symlink() {
        let _ = fs::remove_file(to);
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else {
        fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

/// Remove what the project's `[stage] prune` globs match under `embedded`,
/// except what its `keep` globs match. Returns how many paths went.
pub fn prune(plan: &Plan, embedded: &Path) -> Result<usize> {
    crate::util::prune(embedded, &plan.stage.prune, &plan.stage.keep).context("[stage] prune")
}

/// True when the stage holds this plan's components, relocated and checked.
pub fn is_current(plan: &Plan, layout: &Layout, id: &str) -> bool {
    fs::read_to_string(marker_path(plan, layout))
        .ok()
        .as_deref()
        == Some(id)
}

/// Record that the stage is complete (relocated and checked) for this plan, so an
/// unchanged rebuild leaves it alone.
pub fn commit(plan: &Plan, layout: &Layout, id: &str) -> Result<()> {
    write_atomic(&marker_path(plan, layout), id.as_bytes())
}

fn marker_path(plan: &Plan, layout: &Layout) -> PathBuf {
    layout.project_build(&plan.slot).join("stage.id")
}

/// Bumped when what staging or relocation makes of the same components changes
/// (1: the dead `#!` line of a non-executable Python module is emptied): the
/// staged trees are made again, the components' artifacts are kept (bumping
/// [`crate::fingerprint::SCHEMA`] would rebuild every component as well).
pub const TREE_REVISION: u32 = 1;

/// Identity of a staged tree: the keys of the shipped components, the
/// application's (`app_key`) and the provenance files' (`provenance_key`).
pub fn stage_id(plan: &Plan, app_key: Option<&str>, provenance_key: &str) -> String {
    Fingerprint::new("tree")
        .with("revision", TREE_REVISION)
        .with("epoch", plan.source_date_epoch)
        .with("components", plan.shipped_keys())
        .with("app", app_key)
        .with("provenance", provenance_key)
        .with("stage", &plan.stage)
        .key()
}
