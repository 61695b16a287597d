//! plan: the component graph of one project for one target.
//!
//! Resolves the transitive dependencies of the project's components, applies
//! version overrides, orders the graph (reporting cycles and unknown components),
//! fixes the standard build environment and computes one cache key per component.

use crate::fingerprint::{Fingerprint, Places};
use crate::load::{Project, SoftwareDef, VersionDef};
use crate::target::Target;
use crate::toolchain::Toolchain;
use crate::util::sha256_file;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The source archive of one component version.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// sha256 the fetched file must have.
    pub sha256: String,
    /// Upstream URLs, in order.
    pub urls: Vec<String>,
    /// Debian orig tarball name with the same bytes.
    pub debian: Option<String>,
    /// File name used for mirrors (`<mirror>/<file_name>`).
    pub file_name: String,
}

/// One component as it will be built.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Resolved version.
    pub version: String,
    /// Where the version came from: `default`, `project` or `command line`.
    pub version_from: String,
    /// The source archive.
    pub source: Source,
    /// Patch files with their sha256.
    pub patches: Vec<(PathBuf, String)>,
    /// Components that must be in the prefix before this one builds.
    pub depends: Vec<String>,
    /// True when only reached through build-only dependencies (never shipped).
    pub build_only: bool,
    /// The option picked for each of the definition's choices.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub choices: BTreeMap<String, String>,
    /// Build steps (the choices' placeholders expanded, the build's not yet).
    pub steps: Vec<String>,
    /// Complete build environment (placeholders not yet expanded).
    pub env: BTreeMap<String, String>,
    /// Globs removed from the install before it is cached.
    pub prune: Vec<String>,
    /// SPDX license and license files.
    pub license: String,
    /// License files inside the source.
    pub license_files: Vec<String>,
    /// The cache key.
    pub key: String,
    /// The definition file.
    pub definition: PathBuf,
    /// Hardening this component is built without, with the definition's
    /// reasons (`[hardening] disable`).
    pub hardening_disabled: BTreeMap<crate::hardening::Protection, String>,
    /// Host tools and directories its build may read (`[hermetic] allow`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hermetic_allow: BTreeMap<String, String>,
}

/// The resolved build of one project.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Project name.
    pub project: String,
    /// Install dir on the target.
    pub install_dir: String,
    /// The padded build prefix.
    pub prefix: PathBuf,
    /// The toolchain used.
    pub toolchain: Toolchain,
    /// SOURCE_DATE_EPOCH.
    pub source_date_epoch: u64,
    /// Components in build order (dependencies first).
    pub components: Vec<Component>,
    /// The health-check policy.
    pub health: crate::load::Health,
    /// What the staged tree leaves out (`[stage]`).
    pub stage: crate::load::StageConfig,
    /// The paths no key of this plan depends on (prefix, cache root).
    #[serde(skip)]
    pub places: Places,
}

impl Plan {
    /// Where the embedded prefix lives on the target.
    pub fn install_prefix(&self) -> PathBuf {
        Path::new(&self.install_dir).join("embedded")
    }

    /// The shipped components' keys, by name: what a tree or a wheel built
    /// against them depends on.
    pub fn shipped_keys(&self) -> BTreeMap<&str, &str> {
        self.components
            .iter()
            .filter(|c| !c.build_only)
            .map(|c| (c.name.as_str(), c.key.as_str()))
            .collect()
    }

    /// A component by name.
    pub fn get(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

/// The standard environment of every build step. `{work}` is the component's
/// work directory, `{prefix}` the build prefix; both are expanded at run time.
/// The compilers and tools are the toolchain's ([`Toolchain::env`]); `CFLAGS`,
/// `CXXFLAGS` and `LDFLAGS` carry every hardening flag for the toolchain's
/// target ([`crate::hardening`]; a component's own are applied over them).
pub fn standard_env(tc: &Toolchain, epoch: u64) -> BTreeMap<String, String> {
    let pc = "{prefix}/lib/pkgconfig:{prefix}/share/pkgconfig";
    // The prefix's tools first, then the host-tool shims, so that a host
    // `*-config` never answers silently (crate::toolchain::guard).
    let path = if tc.guard_bin.as_os_str().is_empty() {
        format!("{{prefix}}/bin:{}", crate::toolchain::HOST_PATH)
    } else {
        format!(
            "{{prefix}}/bin:{}:{}",
            tc.guard_bin.display(),
            crate::toolchain::HOST_PATH
        )
    };
    let mut env: BTreeMap<String, String> = [
        ("PATH", path.as_str()),
        ("HOME", "{work}/home"),
        ("TMPDIR", "{work}/tmp"),
        ("CFLAGS", "-O2 -fPIC"),
        ("CXXFLAGS", "-O2 -fPIC"),
        ("CPPFLAGS", "-I{prefix}/include"),
        ("LDFLAGS", "-L{prefix}/lib -Wl,-rpath,{prefix}/lib"),
        ("PKG_CONFIG_PATH", pc),
        ("PKG_CONFIG_LIBDIR", pc),
        ("LC_ALL", "C"),
        ("TZ", "UTC"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("SOURCE_DATE_EPOCH".to_string(), epoch.to_string())])
    .chain(tc.env().into_iter().map(|(k, v)| (k.to_string(), v)))
    .collect();
    tc.hardening_flags().apply(&mut env);
    env
}

/// Parse `name=version` command-line overrides.
pub fn parse_overrides(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for it in items {
        let Some((n, v)) = it.split_once('=') else {
            bail!("--override expects NAME=VERSION, got \"{it}\"");
        };
        out.insert(n.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// The option picked for every choice of every definition, by component and
/// choice: the project's `[choices]`, else the definition's default.
type Picks = BTreeMap<String, BTreeMap<String, String>>;

/// Validate the project's `[choices]` against the definitions and fill in the
/// defaults. Errors point at the project's line.
fn picks(project: &Project, defs: &BTreeMap<String, SoftwareDef>) -> Result<Picks> {
    let at = |c: &str, k: &str| {
        project
            .choice_spans
            .get(&format!("{c}.{k}"))
            .cloned()
            .unwrap_or_else(|| project.path.display().to_string())
    };
    for (c, chosen) in &project.choices {
        for (k, v) in chosen {
            let Some(def) = defs.get(c) else {
                bail!("{}: [choices.{c}]: there is no component \"{c}\"", at(c, k));
            };
            let Some(ch) = def.choices.get(k) else {
                let known: Vec<&str> = def.choices.keys().map(String::as_str).collect();
                bail!(
                    "{}: [choices.{c}] {k}: {c} has no such choice ({}: {})",
                    at(c, k),
                    def.path.display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            };
            if !ch.options.contains_key(v) {
                let known: Vec<&str> = ch.options.keys().map(String::as_str).collect();
                bail!(
                    "{}: [choices.{c}] {k} = \"{v}\": not an option of {c}'s {k} ({}); options: {}",
                    at(c, k),
                    def.path.display(),
                    known.join(", ")
                );
            }
        }
    }
    Ok(defs
        .iter()
        .filter(|(_, d)| !d.choices.is_empty())
        .map(|(n, d)| {
            let mine = project.choices.get(n);
            let picked = d
                .choices
                .iter()
                .map(|(k, ch)| {
                    let v = mine.and_then(|m| m.get(k)).unwrap_or(&ch.default);
                    (k.clone(), v.clone())
                })
                .collect();
            (n.clone(), picked)
        })
        .collect())
}

/// The options `picks` selects for `def`, with their choice names.
fn options<'a>(
    def: &'a SoftwareDef,
    picks: &'a Picks,
) -> impl Iterator<Item = (&'a String, &'a crate::load::ChoiceOption)> + 'a {
    def.choices
        .iter()
        .filter_map(move |(k, ch)| Some((k, &ch.options[picks.get(&def.name)?.get(k)?])))
}

/// A definition's runtime dependencies, with those its picked options add.
fn runtime_depends(def: &SoftwareDef, picks: &Picks) -> Vec<String> {
    let mut d = def.depends.clone();
    for (_, o) in options(def, picks) {
        d.extend(o.depends.iter().cloned());
    }
    d.sort();
    d.dedup();
    d
}

struct Resolver<'a> {
    defs: &'a BTreeMap<String, SoftwareDef>,
    picks: &'a Picks,
    order: Vec<String>,
    done: BTreeSet<String>,
    stack: Vec<String>,
    defs_dir: &'a Path,
}

impl Resolver<'_> {
    fn visit(&mut self, name: &str, needed_by: Option<&str>) -> Result<()> {
        if self.done.contains(name) {
            return Ok(());
        }
        if let Some(pos) = self.stack.iter().position(|s| s == name) {
            let mut cycle = self.stack[pos..].to_vec();
            cycle.push(name.to_string());
            bail!("dependency cycle: {}", cycle.join(" -> "));
        }
        let Some(def) = self.defs.get(name) else {
            let want = self.defs_dir.join(format!("{name}.toml"));
            match needed_by.and_then(|n| self.defs.get(n)) {
                Some(by) => bail!(
                    "unknown component \"{name}\", a dependency of \"{}\" ({}): no definition {}",
                    by.name,
                    by.path.display(),
                    want.display()
                ),
                None => bail!(
                    "unknown component \"{name}\" in the project: no definition {}",
                    want.display()
                ),
            }
        };
        self.stack.push(name.to_string());
        let mut deps: Vec<String> = runtime_depends(def, self.picks);
        deps.extend(def.build_depends.iter().cloned());
        deps.sort();
        for d in &deps {
            self.visit(d, Some(name))?;
        }
        self.stack.pop();
        self.done.insert(name.to_string());
        self.order.push(name.to_string());
        Ok(())
    }
}

/// Components reachable from `roots` through runtime dependencies only.
fn shipped(
    defs: &BTreeMap<String, SoftwareDef>,
    picks: &Picks,
    roots: &[String],
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.to_vec();
    while let Some(n) = todo.pop() {
        if seen.insert(n.clone())
            && let Some(d) = defs.get(&n)
        {
            todo.extend(runtime_depends(d, picks));
        }
    }
    seen
}

/// Resolve the plan of `project` with `defs` for `target`, built with `toolchain`
/// in the build prefix `prefix`.
#[allow(clippy::too_many_arguments)]
pub fn resolve(
    project: &Project,
    defs: &BTreeMap<String, SoftwareDef>,
    defs_dir: &Path,
    cli_overrides: &BTreeMap<String, String>,
    toolchain: &Toolchain,
    prefix: &Path,
    places: &Places,
    target: &Target,
) -> Result<Plan> {
    let picks = picks(project, defs)?;
    let mut r = Resolver {
        defs,
        picks: &picks,
        order: vec![],
        done: BTreeSet::new(),
        stack: vec![],
        defs_dir,
    };
    for c in &project.components {
        r.visit(c, None)?;
    }
    let shipped = shipped(defs, &picks, &project.components);
    let overrides = overrides(project, cli_overrides, &r.done)?;
    if let Some(c) = project.choices.keys().find(|c| !r.done.contains(*c)) {
        let k = project.choices[c].keys().next().map_or("", String::as_str);
        bail!(
            "{}: [choices.{c}]: the project does not use the component \"{c}\"",
            project
                .choice_spans
                .get(&format!("{c}.{k}"))
                .cloned()
                .unwrap_or_else(|| project.path.display().to_string())
        );
    }
    let ctx = Context {
        defs_dir,
        toolchain,
        prefix,
        places,
        target,
        std_env: standard_env(toolchain, project.source_date_epoch),
    };
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let mut components = Vec::new();
    for name in &r.order {
        let c = ctx.component(
            &defs[name],
            &picks,
            overrides.get(name),
            &keys,
            !shipped.contains(name),
        )?;
        keys.insert(name.clone(), c.key.clone());
        components.push(c);
    }
    Ok(Plan {
        project: project.name.clone(),
        install_dir: project.install_dir.clone(),
        prefix: prefix.to_path_buf(),
        toolchain: toolchain.clone(),
        source_date_epoch: project.source_date_epoch,
        components,
        health: project.health.clone(),
        stage: project.stage.clone(),
        places: places.clone(),
    })
}

/// The version overrides of the project file and the command line (which
/// wins), each with where it came from; every one must name a used component.
fn overrides(
    project: &Project,
    cli: &BTreeMap<String, String>,
    used: &BTreeSet<String>,
) -> Result<BTreeMap<String, (String, &'static str)>> {
    let mut out = BTreeMap::new();
    for (n, v) in &project.overrides {
        out.insert(n.clone(), (v.clone(), "project"));
    }
    for (n, v) in cli {
        out.insert(n.clone(), (v.clone(), "command line"));
    }
    for (n, (_, from)) in &out {
        if !used.contains(n) {
            let file = if *from == "project" {
                format!(", {}", project.path.display())
            } else {
                String::new()
            };
            bail!("override of \"{n}\" ({from}{file}): the project does not use that component");
        }
    }
    Ok(out)
}

/// What every component of one plan is resolved against.
struct Context<'a> {
    defs_dir: &'a Path,
    toolchain: &'a Toolchain,
    prefix: &'a Path,
    places: &'a Places,
    target: &'a Target,
    std_env: BTreeMap<String, String>,
}

impl Context<'_> {
    /// One component: its version, steps and environment for the target,
    /// patches, source and key (`keys` holds its dependencies' keys).
    fn component(
        &self,
        def: &SoftwareDef,
        picks: &Picks,
        over: Option<&(String, &str)>,
        keys: &BTreeMap<String, String>,
        build_only: bool,
    ) -> Result<Component> {
        let name = &def.name;
        let (version, from) = match over {
            Some((v, from)) => (v.clone(), from.to_string()),
            None => (def.default_version.clone(), "default".to_string()),
        };
        let Some(vd) = def.versions.iter().find(|v| v.version == version) else {
            let known: Vec<&str> = def.versions.iter().map(|v| v.version.as_str()).collect();
            bail!(
                "{name}: version \"{version}\" ({from}) is not defined in {}; known: {}",
                def.path.display(),
                known.join(", ")
            );
        };
        let mut steps = def.steps.clone();
        let mut env = self.std_env.clone();
        env.extend(def.env.clone());
        if let Some(t) = def.targets.get(self.target.family()) {
            if let Some(s) = &t.steps {
                steps = s.clone();
            }
            env.extend(t.env.clone());
        }
        if let Some(s) = &vd.steps {
            steps = s.clone();
        }
        env.extend(vd.env.clone());
        // The picked options' values are part of the steps from here on, and
        // their dependencies of `depends`: both are in the key.
        let vars: BTreeMap<&str, String> = options(def, picks)
            .flat_map(|(_, o)| o.vars.iter().map(|(k, v)| (k.as_str(), v.clone())))
            .collect();
        let steps: Vec<String> = steps
            .iter()
            .map(|s| crate::util::expand(s, &vars))
            .collect();
        let choices = picks.get(name).cloned().unwrap_or_default();
        // The hardening goes over whatever flags the definition set.
        let disabled = &def.hardening.disable;
        let off: Vec<_> = disabled
            .keys()
            .chain(self.toolchain.disabled_everywhere())
            .collect();
        crate::hardening::Flags::new(self.toolchain.arch(), off.iter().copied()).apply(&mut env);
        if steps.is_empty() {
            bail!("{name}: no build steps in {}", def.path.display());
        }
        let patches = self.patches(def, vd)?;
        let mut depends: Vec<String> = runtime_depends(def, picks);
        depends.extend(def.build_depends.iter().cloned());
        depends.sort();
        depends.dedup();
        let file_name = vd
            .debian
            .clone()
            .or_else(|| {
                vd.url
                    .first()
                    .and_then(|u| u.rsplit('/').next().map(String::from))
            })
            .unwrap_or_else(|| format!("{name}-{version}"));
        let source = Source {
            sha256: vd.sha256.to_lowercase(),
            urls: vd.url.clone(),
            debian: vd.debian.clone(),
            file_name,
        };
        let dep_keys: BTreeMap<&String, &String> = depends.iter().map(|d| (d, &keys[d])).collect();
        let patch_ids: Vec<_> = patches
            .iter()
            .map(|(p, s)| (p.file_name().map(|f| f.to_string_lossy().into_owned()), s))
            .collect();
        let key = Fingerprint::new("component")
            .with("name", name)
            .with("version", &version)
            .with("source", &source.sha256)
            .with("patches", patch_ids)
            .with("steps", &steps)
            .with("env", &env)
            .with("prune", &def.prune)
            .with("toolchain", self.toolchain)
            .with("prefix", self.prefix)
            .with("deps", dep_keys)
            .with("hardening", &def.hardening)
            .with_if("hermetic", &def.hermetic, !def.hermetic.allow.is_empty())
            .placed(self.places)
            .key();
        Ok(Component {
            name: name.clone(),
            version,
            version_from: from,
            source,
            patches,
            depends,
            build_only,
            choices,
            steps,
            env,
            prune: def.prune.clone(),
            license: def.license.clone(),
            license_files: def.license_files.clone(),
            key,
            definition: def.path.clone(),
            hardening_disabled: disabled.clone(),
            hermetic_allow: def.hermetic.allow.clone(),
        })
    }

    /// The version's patch files with their sha256.
    fn patches(&self, def: &SoftwareDef, vd: &VersionDef) -> Result<Vec<(PathBuf, String)>> {
        let mut patches = Vec::new();
        for p in &vd.patches {
            let path = crate::util::absolute(&self.defs_dir.join("patches").join(p))?;
            if !path.is_file() {
                bail!(
                    "{}: patch {} (listed in {}) does not exist",
                    def.name,
                    path.display(),
                    def.path.display()
                );
            }
            let sha = sha256_file(&path)?;
            patches.push((path, sha));
        }
        Ok(patches)
    }
}
