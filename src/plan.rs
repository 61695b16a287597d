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

/// The interpreter a cross build runs its Python tools with: the build
/// host's build of the same CPython (from the project's plan for the host's
/// target), which configure's `--with-build-python`, the wheels' backends and
/// the bytecode compiler use.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPython {
    /// Its executable, in the host target's build prefix.
    pub path: PathBuf,
    /// The host plan's python component key (what a component built with it
    /// depends on).
    pub key: String,
}

/// The resolved build of one project.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Project name.
    pub project: String,
    /// The target's name for the project's build prefix and build tree
    /// ([`Target::slot`]).
    pub slot: String,
    /// The target.
    pub target: Target,
    /// The build host's interpreter, when the target is cross-compiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_python: Option<BuildPython>,
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
    build_python: Option<&BuildPython>,
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
        build_python,
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
        slot: target.slot(&project.name),
        target: target.clone(),
        build_python: build_python.cloned(),
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
    build_python: Option<&'a BuildPython>,
    std_env: BTreeMap<String, String>,
}

/// The placeholders a definition's steps and environment get from the
/// target, expanded when the plan is made ([`expand_target`]). Each is empty
/// for a native build, so that a definition reads the same for every target
/// and a native step is what it was without them.
pub const TARGET_PLACEHOLDERS: &[&str] = &[
    "host_flags",
    "openssl_target",
    "cmake_cross",
    "build_python",
    "build_cc",
];

/// The values of [`TARGET_PLACEHOLDERS`] for `target`:
/// - `{host_flags}`: autoconf's `--build=… --host=…`;
/// - `{openssl_target}`: OpenSSL's `Configure` target (`linux-aarch64`);
/// - `{cmake_cross}`: cmake's `-DCMAKE_SYSTEM_NAME/PROCESSOR` (it then
///   does not run what it compiles);
/// - `{build_python}`: the build host's interpreter of the same version;
/// - `{build_cc}`: the host's C compiler, for tools a build compiles and runs
///   on the build machine (ncurses' table generators).
///
/// And `{cross:TEXT}`, expanded to TEXT for a cross build only.
pub fn target_vars(
    target: &Target,
    build_python: Option<&BuildPython>,
) -> BTreeMap<&'static str, String> {
    let cross = target.is_cross();
    let build = target.build_host();
    let v = |s: String| if cross { s } else { String::new() };
    [
        (
            "host_flags",
            v(format!(
                "--build={} --host={}",
                build.gnu_triple(),
                target.gnu_triple()
            )),
        ),
        ("openssl_target", v(format!("linux-{}", target.arch))),
        (
            "cmake_cross",
            v(format!(
                "-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR={}",
                target.arch
            )),
        ),
        (
            "build_python",
            v(build_python
                .map(|b| b.path.display().to_string())
                .unwrap_or_default()),
        ),
        ("build_cc", v("cc".to_string())),
    ]
    .into_iter()
    .collect()
}

/// Expand the target's placeholders in `s` ([`target_vars`]): `{cross:TEXT}`
/// to TEXT or nothing, then each variable. An empty value takes the space
/// before it along, so that a native step is the same string it was before
/// the placeholder was written into it (and so are its cache keys).
pub fn expand_target(s: &str, cross: bool, vars: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("{cross:") {
        // TEXT may hold placeholders of its own: the closing brace is the
        // one that balances.
        let mut depth = 0usize;
        let Some(len) = rest[i..].char_indices().find_map(|(j, c)| {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return Some(j),
                '}' => depth -= 1,
                _ => {}
            }
            None
        }) else {
            break;
        };
        let (before, text) = (&rest[..i], &rest[i + 7..i + len]);
        if cross {
            out.push_str(before);
            out.push_str(text);
        } else {
            out.push_str(before.strip_suffix(' ').unwrap_or(before));
        }
        rest = &rest[i + len + 1..];
    }
    out.push_str(rest);
    for (k, v) in vars {
        let p = format!("{{{k}}}");
        if v.is_empty() {
            out = out.replace(&format!(" {p}"), "").replace(&p, "");
        } else {
            out = out.replace(&p, v);
        }
    }
    out
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
        // The target's placeholders next: a step that runs the build host's
        // interpreter depends on it.
        let uses_build_python = steps
            .iter()
            .chain(env.values())
            .any(|s| s.contains("{build_python}"));
        let cross = self.target.is_cross();
        let tvars = target_vars(self.target, self.build_python);
        let steps: Vec<String> = steps
            .iter()
            .map(|s| expand_target(&crate::util::expand(s, &vars), cross, &tvars))
            .collect();
        for v in env.values_mut() {
            *v = expand_target(v, cross, &tvars);
        }
        if uses_build_python && cross && self.build_python.is_none() {
            bail!(
                "{name}: its steps use {{build_python}}, and this {} build has none \
                 (the project plans no python for the build host)",
                self.target
            );
        }
        let build_python = self
            .build_python
            .filter(|_| uses_build_python && cross)
            .map(|b| b.key.as_str());
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
            .with_if("build_python", build_python, build_python.is_some())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetName;

    #[test]
    fn target_placeholders_vanish_natively_and_expand_for_a_cross_build() {
        let step = "./configure --prefix=/p {host_flags} {cross:--with-build-python={build_python} ac_cv_x=yes} --enable-shared";
        let native = Target::new(TargetName::LinuxX86_64, None);
        let vars = target_vars(&native, None);
        assert_eq!(
            expand_target(step, false, &vars),
            "./configure --prefix=/p --enable-shared"
        );
        assert_eq!(
            expand_target("./Configure {openssl_target} --prefix=/p", false, &vars),
            "./Configure --prefix=/p"
        );
        let arm = Target::new(TargetName::LinuxAarch64, None);
        let bp = BuildPython {
            path: "/c/p/bin/python3".into(),
            key: "k".into(),
        };
        let vars = target_vars(&arm, Some(&bp));
        assert_eq!(
            expand_target(step, true, &vars),
            "./configure --prefix=/p --build=x86_64-linux-gnu --host=aarch64-linux-gnu \
             --with-build-python=/c/p/bin/python3 ac_cv_x=yes --enable-shared"
        );
        assert_eq!(
            expand_target("./Configure {openssl_target} --prefix=/p", true, &vars),
            "./Configure linux-aarch64 --prefix=/p"
        );
    }
}
