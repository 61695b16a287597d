//! check: the health check of a tree that is to be shipped.
//!
//! In process and in parallel: every ELF's needed libraries resolve inside the tree
//! through its own RPATH/RUNPATH (or are on the allowed system list); the highest
//! GLIBC_ (and, when asked, GLIBCXX_/CXXABI_/GCC_) symbol version is at or below the
//! floor, naming each file and symbol that is too new; nothing mentions the build
//! prefix; no executable stacks, world-writable files, setuid/setgid bits, broken
//! symlinks or links out of the tree; shebangs of executables point inside the
//! install dir (or to `/bin/sh`); every ELF file has the hardening the policy
//! requires ([`HardeningPolicy`]: PIE, stack protector, FORTIFY, RELRO,
//! BIND_NOW, IBT+SHSTK), a file in which the compiler found nothing to protect
//! being reported as such.

pub mod hardening;
pub mod pe;

use crate::elf;
use anyhow::Result;
use goblin::elf::{header, program_header, section_header};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crate::elf::SYSTEM_LIBS;

/// Interpreters a shipped script may name outside the install dir.
const SYSTEM_SHELLS: &[&str] = &["/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"];

/// A dotted version such as `2.17`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parse `2.17` or `3.4.29`.
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.split('.').map(|p| p.parse::<u32>());
        let a = it.next()?.ok()?;
        let b = it.next().unwrap_or(Ok(0)).ok()?;
        let c = it.next().unwrap_or(Ok(0)).ok()?;
        Some(Version(a, b, c))
    }
}

impl Version {
    /// Parse an optional setting, naming it (`label`) in the error.
    pub fn parse_setting(label: &str, value: Option<&str>) -> anyhow::Result<Option<Version>> {
        value
            .map(|s| {
                Version::parse(s)
                    .ok_or_else(|| anyhow::anyhow!("{label}: \"{s}\" is not a version"))
            })
            .transpose()
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.2 == 0 {
            write!(f, "{}.{}", self.0, self.1)
        } else {
            write!(f, "{}.{}.{}", self.0, self.1, self.2)
        }
    }
}

/// What the tree must satisfy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Where the tree's root will live on the target.
    pub install_prefix: PathBuf,
    /// The build prefix, which must not be mentioned anywhere.
    pub build_prefix: Option<PathBuf>,
    /// Other build-time paths that must not be mentioned (the build and cache
    /// dirs: wheel paths, staging paths).
    pub build_paths: Vec<PathBuf>,
    /// Highest GLIBC_ version allowed.
    pub glibc_floor: Option<Version>,
    /// Highest GLIBCXX_ version allowed (libstdc++).
    pub glibcxx_floor: Option<Version>,
    /// Highest GCC_ version allowed (libgcc_s).
    pub gcc_floor: Option<Version>,
    /// Extra system libraries allowed beyond [`SYSTEM_LIBS`].
    pub extra_libs: Vec<String>,
    /// The hardening every ELF file must have (none: reported, not checked).
    pub hardening: Option<HardeningPolicy>,
    /// The architecture every ELF file must be for (none: not checked).
    pub arch: Option<crate::target::Arch>,
}

/// What the health check requires of every ELF file's hardening
/// (`[health] hardening`), and what it knows of how files were built.
#[derive(Debug, Clone, Default)]
pub struct HardeningPolicy {
    /// Properties every ELF file must have.
    pub required: Vec<Protection>,
    /// Files compiled here with the standard hardening flags (by path relative
    /// to the tree; [`built_files`]): their builder and what it opted out of. Only for these
    /// can a missing stack protector or FORTIFY mean that the compiler found
    /// nothing to protect; any other file must show the property.
    pub built: BTreeMap<String, Built>,
    /// Why properties are not required (shown in the report).
    pub notes: Vec<String>,
}

/// Whether one property of one file passes the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// It has it (or the property does not apply, as PIE to a library).
    Has,
    /// The compiler had the flag and found nothing to protect.
    NothingToProtect(String),
    /// It lacks it: why.
    Lacks(String),
}

impl HardeningPolicy {
    /// The verdict on property `p` of a file with hardening `h`, built by
    /// `built` (if compiled here).
    fn verdict(h: &hardening::Hardening, p: Protection, built: Option<&Built>) -> Verdict {
        use hardening::{Fortify, Pie};
        // Compiled here with the flag on: a missing canary or __*_chk call
        // means the compiler found no function (or call) to protect.
        let flag_on = built.filter(|b| !b.disabled.contains_key(&p));
        let lacks = |why: &str| {
            let off = built.and_then(|b| b.disabled.get(&p).map(|r| (b, r)));
            Verdict::Lacks(match off {
                Some((b, reason)) => format!("{why} ({} is built without {p}: {reason})", b.by),
                None => why.to_string(),
            })
        };
        match p {
            Protection::Pie if h.pie == Pie::No => lacks("a fixed-address executable, not PIE"),
            Protection::Relro if !h.relro => lacks("no PT_GNU_RELRO segment"),
            Protection::BindNow if !h.bind_now => {
                lacks("no BIND_NOW: symbols are bound lazily, the GOT stays writable")
            }
            Protection::CfProtection if !h.cf_protection => {
                lacks("no IBT and SHSTK in its GNU property note")
            }
            Protection::StackProtector if h.stack_protector == Some(false) => match flag_on {
                Some(b) => Verdict::NothingToProtect(format!(
                    "{} compiled it with -fstack-protector-strong: no function has a local \
                     array or a local whose address is taken",
                    b.by
                )),
                None => lacks("does not call __stack_chk_fail"),
            },
            Protection::Fortify if h.fortify == Fortify::No => match flag_on {
                Some(b) => Verdict::NothingToProtect(format!(
                    "{} compiled it with -D_FORTIFY_SOURCE=2: no call to a fortifiable \
                     function has a buffer size the compiler knows",
                    b.by
                )),
                None => lacks("calls fortifiable libc functions, none through __*_chk"),
            },
            _ => Verdict::Has,
        }
    }
}

pub use crate::hardening::Protection;

/// The hardening properties a project requires unless its `[health] hardening` says
/// otherwise: every checkable one the toolchain can produce for its target —
/// `cf-protection` only on x86-64, and only when the toolchain's C library
/// start files carry the IBT/SHSTK marking (else no link can keep it; the
/// report says so). With the reasons for what is left out.
pub fn default_required(tc: &crate::toolchain::Toolchain) -> (Vec<Protection>, Vec<String>) {
    let mut notes = vec![];
    let req = Protection::ALL
        .iter()
        .copied()
        .filter(|p| p.checkable())
        .filter(|p| {
            if *p != Protection::CfProtection {
                return true;
            }
            if tc.arch() != crate::target::Arch::X86_64 {
                notes.push(format!(
                    "cf-protection not required: {} is not x86-64",
                    tc.target
                ));
                return false;
            }
            if !tc.cf_protection {
                notes.push(format!(
                    "cf-protection not required: {} ({}) cannot produce it: its C library's \
                     start files carry no IBT/SHSTK property, so no link keeps it",
                    tc.cc_version, tc.libc
                ));
                return false;
            }
            true
        })
        .collect();
    (req, notes)
}

/// How one file of a tree was compiled: by whom, and without what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Built {
    /// The component (`zlib`) or the distribution built from its sdist
    /// (`python:psutil`) that compiled it.
    pub by: String,
    /// Protections it was built without, with the definition's reasons.
    pub disabled: BTreeMap<Protection, String>,
}

/// The files of the staged tree `embedded` compiled here with the standard
/// hardening flags, by path relative to it: every shipped component's files
/// (as the build prefix's state lists them) and those of the distributions
/// the app builder built from their sdists (`sdists`, as their `RECORD`s in
/// site-packages list them): [`HardeningPolicy::built`].
pub fn built_files(
    plan: &crate::plan::Plan,
    layout: &crate::paths::Layout,
    embedded: &std::path::Path,
    sdists: &[crate::pypkg::PackageName],
) -> Result<BTreeMap<String, Built>> {
    let state = crate::cache::PrefixState::load(&layout.prefix_root(&plan.slot).join("state.json"));
    let mut out = BTreeMap::new();
    for c in plan.components.iter().filter(|c| !c.build_only) {
        let Some(inst) = state.components.get(&c.name) else {
            continue;
        };
        for f in &inst.files {
            out.insert(
                f.clone(),
                Built {
                    by: c.name.clone(),
                    disabled: c.hardening_disabled.clone(),
                },
            );
        }
    }
    let Some(site) = crate::provenance::site_packages(embedded) else {
        return Ok(out);
    };
    for entry in std::fs::read_dir(&site)? {
        let dir = entry?.path();
        if dir.extension().is_none_or(|x| x != "dist-info") {
            continue;
        }
        let Ok(meta) = std::fs::read_to_string(dir.join("METADATA")) else {
            continue;
        };
        let Ok(name) = crate::pypkg::metadata::Metadata::parse(&meta).name() else {
            continue;
        };
        if !sdists.contains(&name) {
            continue;
        }
        let record = std::fs::read_to_string(dir.join("RECORD"))?;
        for line in record.lines() {
            let Some(rel) = record_path(line) else {
                continue;
            };
            if let Some(f) = inside(&site.join(rel), embedded) {
                out.insert(
                    f,
                    Built {
                        by: format!("python:{name}"),
                        disabled: BTreeMap::new(),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// The path (first field) of a wheel `RECORD` line (CSV: quoted when it
/// holds a comma or a quote).
fn record_path(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    out.push('"');
                    chars.next();
                }
                '"' => return Some(out),
                c => out.push(c),
            }
        }
        None
    } else {
        line.split(',')
            .next()
            .filter(|p| !p.is_empty())
            .map(String::from)
    }
}

/// `path` (lexically normalised) relative to `root`, if inside it.
fn inside(path: &std::path::Path, root: &std::path::Path) -> Option<String> {
    use std::path::Component;
    let mut norm = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                norm.pop();
            }
            Component::CurDir => {}
            c => norm.push(c),
        }
    }
    norm.strip_prefix(root)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Kinds of problems, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Not parseable as ELF.
    CorruptElf,
    /// An ELF file for another architecture than the target's.
    WrongMachine,
    /// A needed library is neither in the tree nor allowed from the system.
    MissingLibrary,
    /// A needed library is in the tree but the file's rpath does not reach it.
    SystemFallback,
    /// Symbol versions above the floor.
    SymbolTooNew,
    /// The build prefix is still mentioned.
    BuildPrefix,
    /// PT_GNU_STACK is executable.
    ExecutableStack,
    /// Writable by everyone.
    WorldWritable,
    /// setuid or setgid bit.
    Setuid,
    /// A symlink whose target does not exist or leaves the tree.
    BadSymlink,
    /// An executable script's interpreter is outside the install dir.
    Shebang,
    /// An ELF file lacks a hardening property the policy requires.
    Hardening,
}

impl Kind {
    fn title(self) -> &'static str {
        match self {
            Kind::CorruptElf => "corrupt or unreadable ELF files",
            Kind::WrongMachine => "ELF files for another architecture",
            Kind::MissingLibrary => {
                "needed libraries outside the tree and not allowed from the system"
            }
            Kind::SystemFallback => {
                "libraries in the tree that the rpath does not reach (the system's would load)"
            }
            Kind::SymbolTooNew => "symbol versions above the floor",
            Kind::BuildPrefix => "references to the build prefix",
            Kind::ExecutableStack => "executable stacks",
            Kind::WorldWritable => "world-writable files",
            Kind::Setuid => "setuid/setgid files",
            Kind::BadSymlink => "broken symlinks or links out of the tree",
            Kind::Shebang => "scripts whose interpreter is outside the install dir",
            Kind::Hardening => "ELF files without a hardening property the policy requires",
        }
    }
}

impl Policy {
    /// The policy of a plan; the glibc floor defaults to the glibc the
    /// toolchain builds for (the build root's for the host compiler, the
    /// `[toolchain] glibc` for zig).
    pub fn of_plan(plan: &crate::plan::Plan) -> Result<Policy> {
        let parse = |what: &str, v: &Option<String>| {
            Version::parse_setting(&format!("[health] {what}"), v.as_deref())
        };
        let target = plan.toolchain.libc.trim_start_matches("glibc ").to_string();
        Ok(Policy {
            install_prefix: plan.install_prefix(),
            build_prefix: Some(plan.prefix.clone()),
            build_paths: vec![],
            glibc_floor: parse("glibc_floor", &plan.health.glibc_floor)?
                .or_else(|| Version::parse(&target)),
            glibcxx_floor: parse("glibcxx_floor", &plan.health.glibcxx_floor)?,
            gcc_floor: parse("gcc_floor", &plan.health.gcc_floor)?,
            extra_libs: plan.health.allow_libs.clone(),
            hardening: Some(HardeningPolicy::of_plan(plan)),
            arch: Some(plan.toolchain.arch()),
        })
    }
}

impl HardeningPolicy {
    /// The project's `[health] hardening`, else the default for its toolchain
    /// ([`crate::hardening::default_required`]). No file is known as built
    /// here yet: the build adds them ([`built_files`]).
    pub fn of_plan(plan: &crate::plan::Plan) -> HardeningPolicy {
        let (default, mut notes) = default_required(&plan.toolchain);
        let required: Vec<Protection> = match &plan.health.hardening {
            Some(r) => {
                notes.clear();
                let mut r = r.clone();
                r.sort();
                r.dedup();
                r
            }
            None => default.clone(),
        };
        for p in Protection::ALL.iter().filter(|p| p.checkable()) {
            if !required.contains(p) && plan.health.hardening.is_some() {
                notes.push(format!("{p} not required ([health] hardening)"));
            }
        }
        let tc = &plan.toolchain;
        if required.contains(&Protection::CfProtection)
            && !default.contains(&Protection::CfProtection)
        {
            notes.push(format!(
                "cf-protection required, but {} ({}, {}) cannot produce it: every file will lack it",
                tc.cc_version, tc.target, tc.libc
            ));
        }
        HardeningPolicy {
            required,
            built: BTreeMap::new(),
            notes,
        }
    }
}

/// One problem in one file.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// What is wrong.
    pub kind: Kind,
    /// The file, relative to the tree.
    pub path: String,
    /// Details (library, symbols, offset...).
    pub detail: String,
    /// The hardening property missing (`hardening` problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<Protection>,
}

/// A file that lacks a stack protector or FORTIFY because the compiler found
/// nothing to protect in it (`hardening-check` counts it as a failure).
#[derive(Debug, Clone, Serialize)]
pub struct NothingToProtect {
    /// The property.
    pub property: Protection,
    /// Why: who compiled it with which flag.
    pub why: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The tree checked.
    pub root: PathBuf,
    /// Files looked at.
    pub files: usize,
    /// ELF files among them.
    pub elf_files: usize,
    /// Highest GLIBC_ version needed, and by which file.
    pub max_glibc: Option<(Version, String)>,
    /// The floor it was checked against (none: not checked).
    pub glibc_floor: Option<Version>,
    /// Every problem found.
    pub problems: Vec<Problem>,
    /// Each ELF file's hardening, by path.
    pub hardening: BTreeMap<String, hardening::Hardening>,
    /// The hardening properties every ELF file was required to have.
    pub hardening_required: Vec<Protection>,
    /// Why other properties were not required.
    pub hardening_notes: Vec<String>,
    /// Files lacking a required property only because the compiler found
    /// nothing to protect in them, by path.
    pub nothing_to_protect: BTreeMap<String, Vec<NothingToProtect>>,
    /// Seconds taken.
    pub seconds: f64,
}

impl Report {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The human-readable report, grouped by kind.
    pub fn render(&self) -> String {
        let mut s = format!(
            "checked {} files ({} ELF) in {} in {:.2}s\n",
            self.files,
            self.elf_files,
            self.root.display(),
            self.seconds
        );
        if let Some((v, f)) = &self.max_glibc {
            s.push_str(&format!("highest GLIBC version needed: {v} ({f})"));
            match self.glibc_floor {
                Some(floor) => s.push_str(&format!(", floor {floor}\n")),
                None => s.push('\n'),
            }
        }
        if !self.hardening.is_empty() {
            s.push_str(&hardening_summary(&self.hardening));
        }
        if !self.hardening_required.is_empty() {
            let names: Vec<&str> = self.hardening_required.iter().map(|p| p.as_str()).collect();
            s.push_str(&format!("hardening required: {}\n", names.join(", ")));
        }
        for n in &self.hardening_notes {
            s.push_str(&format!("  {n}\n"));
        }
        if !self.nothing_to_protect.is_empty() {
            s.push_str(&format!(
                "nothing to protect ({} files: the compiler had the flag and found nothing \
                 to protect; not failed, though hardening-check counts them):\n",
                self.nothing_to_protect.len()
            ));
            for (f, ns) in &self.nothing_to_protect {
                for n in ns {
                    s.push_str(&format!("  {f}: {}: {}\n", n.property, n.why));
                }
            }
        }
        let mut groups: BTreeMap<Kind, Vec<&Problem>> = BTreeMap::new();
        for p in &self.problems {
            groups.entry(p.kind).or_default().push(p);
        }
        for (k, ps) in groups {
            s.push_str(&format!("\n{} ({}):\n", k.title(), ps.len()));
            for p in ps {
                s.push_str(&format!("  {}: {}\n", p.path, p.detail));
            }
        }
        if self.ok() {
            s.push_str("no problems found\n");
        }
        s
    }
}

/// One line: how many ELF files have each hardening property.
fn hardening_summary(h: &BTreeMap<String, hardening::Hardening>) -> String {
    use hardening::{Fortify, Pie};
    let count = |f: &dyn Fn(&hardening::Hardening) -> bool| h.values().filter(|x| f(x)).count();
    let exes = count(&|x| x.pie != Pie::Library);
    format!(
        "hardening of {} ELF files: PIE {}/{exes} executables, stack protector {}, FORTIFY {}, \
         RELRO {}, BIND_NOW {}, IBT+SHSTK {}, executable stack {}\n",
        h.len(),
        count(&|x| x.pie == Pie::Yes),
        count(&|x| x.stack_protector == Some(true)),
        count(&|x| x.fortify == Fortify::Yes),
        count(&|x| x.relro),
        count(&|x| x.bind_now),
        count(&|x| x.cf_protection),
        count(&|x| x.exec_stack),
    )
}

/// The health of a tree, whatever its binary format: the one report type the
/// pipeline and `ferrobus check` handle.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Health {
    /// An ELF tree (Linux).
    Elf(Report),
    /// A PE bundle (Windows).
    Pe(pe::Report),
}

impl Health {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        match self {
            Health::Elf(r) => r.ok(),
            Health::Pe(r) => r.ok(),
        }
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        match self {
            Health::Elf(r) => r.render(),
            Health::Pe(r) => r.render(),
        }
    }

    /// One line for a passed check.
    pub fn summary(&self) -> String {
        match self {
            Health::Elf(h) => {
                let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                let hardened = if h.hardening_required.is_empty() {
                    String::new()
                } else {
                    let names: Vec<&str> =
                        h.hardening_required.iter().map(|p| p.as_str()).collect();
                    format!(
                        ", hardened ({}; {} with nothing to protect)",
                        names.join(", "),
                        h.nothing_to_protect.len()
                    )
                };
                format!(
                    "health check passed: {} files, {} ELF, highest GLIBC {} ({}), floor {}{hardened} ({:.2}s)",
                    h.files,
                    h.elf_files,
                    show(h.max_glibc.as_ref().map(|m| m.0.to_string())),
                    show(h.max_glibc.as_ref().map(|m| m.1.clone())),
                    show(h.glibc_floor.map(|v| v.to_string())),
                    h.seconds
                )
            }
            Health::Pe(r) => format!(
                "PE health check passed: {} PE files, {} imports resolved",
                r.pe_files, r.imports
            ),
        }
    }
}

impl From<Report> for Health {
    fn from(r: Report) -> Health {
        Health::Elf(r)
    }
}

impl From<pe::Report> for Health {
    fn from(r: pe::Report) -> Health {
        Health::Pe(r)
    }
}

/// Check a tree in the binary format of its target: ELF against `policy`
/// (required for ELF), PE against the Windows loader's rules. The one
/// checker interface of the pipeline.
pub fn check_tree(
    format: crate::target::BinaryFormat,
    root: &Path,
    policy: Option<&Policy>,
) -> Result<Health> {
    use crate::target::BinaryFormat;
    Ok(match (format, policy) {
        (BinaryFormat::Elf, Some(p)) => check(root, p)?.into(),
        (BinaryFormat::Elf, None) => anyhow::bail!("an ELF check needs a policy"),
        (BinaryFormat::Pe, _) => pe::check(root)?.into(),
    })
}

/// A failed health check, as an error: the tree and the report (which a
/// `--json` caller prints whole).
#[derive(Debug)]
pub struct Failed {
    /// The tree checked.
    pub tree: PathBuf,
    /// What was found.
    pub report: Health,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "health check of {} failed:\n{}",
            self.tree.display(),
            self.report.render()
        )
    }
}

impl std::error::Error for Failed {}

fn problem(kind: Kind, path: &str, detail: impl Into<String>) -> Problem {
    Problem {
        kind,
        path: path.to_string(),
        detail: detail.into(),
        property: None,
    }
}

/// Check the tree at `root` against `policy`.
pub fn check(root: &Path, policy: &Policy) -> Result<Report> {
    let t = Instant::now();
    let entries: Vec<walkdir::DirEntry> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .collect::<Result<_, _>>()?;
    // Every file name in the tree, for "in the tree but not reachable" reports.
    let mut by_name: HashMap<String, String> = HashMap::new();
    for e in &entries {
        if !e.file_type().is_dir() {
            let rel = e.path().strip_prefix(root)?.to_string_lossy().into_owned();
            by_name
                .entry(e.file_name().to_string_lossy().into_owned())
                .or_insert(rel);
        }
    }
    let results: Vec<EntryResult> = entries
        .par_iter()
        .map(|e| check_entry(root, e, policy, &by_name))
        .collect();
    let mut report = Report {
        root: root.to_path_buf(),
        files: 0,
        elf_files: 0,
        max_glibc: None,
        glibc_floor: policy.glibc_floor,
        problems: vec![],
        hardening: BTreeMap::new(),
        hardening_required: vec![],
        hardening_notes: vec![],
        nothing_to_protect: BTreeMap::new(),
        seconds: 0.0,
    };
    for ((ps, is_elf, glibc, h), e) in results.into_iter().zip(&entries) {
        if let Some(h) = h {
            let rel = e.path().strip_prefix(root)?.to_string_lossy().into_owned();
            report.hardening.insert(rel, h);
        }
        report.files += 1;
        report.elf_files += is_elf as usize;
        report.problems.extend(ps);
        if let Some(g) = glibc
            && report.max_glibc.as_ref().is_none_or(|m| g.0 > m.0)
        {
            report.max_glibc = Some(g);
        }
    }
    if let Some(hp) = &policy.hardening {
        check_hardening(hp, &mut report);
    }
    report
        .problems
        .sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    report.seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

/// Evaluate every ELF file's hardening against the policy: a problem per
/// file and missing property, the files with nothing to protect listed.
fn check_hardening(hp: &HardeningPolicy, report: &mut Report) {
    report.hardening_required = hp.required.clone();
    report.hardening_notes = hp.notes.clone();
    for (file, h) in &report.hardening {
        for &p in &hp.required {
            match HardeningPolicy::verdict(h, p, hp.built.get(file)) {
                Verdict::Has => {}
                Verdict::NothingToProtect(why) => report
                    .nothing_to_protect
                    .entry(file.clone())
                    .or_default()
                    .push(NothingToProtect { property: p, why }),
                Verdict::Lacks(why) => report.problems.push(Problem {
                    kind: Kind::Hardening,
                    path: file.clone(),
                    detail: format!("{p}: {why}"),
                    property: Some(p),
                }),
            }
        }
    }
}

type EntryResult = (
    Vec<Problem>,
    bool,
    Option<(Version, String)>,
    Option<hardening::Hardening>,
);

fn check_entry(
    root: &Path,
    e: &walkdir::DirEntry,
    policy: &Policy,
    by_name: &HashMap<String, String>,
) -> EntryResult {
    let mut out = Vec::new();
    let rel = e
        .path()
        .strip_prefix(root)
        .unwrap_or(e.path())
        .to_string_lossy()
        .into_owned();
    let ft = e.file_type();
    if ft.is_symlink() {
        check_symlink(root, e.path(), &rel, policy, &mut out);
        return (out, false, None, None);
    }
    let Ok(meta) = e.metadata() else {
        return (out, false, None, None);
    };
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 && !(ft.is_dir() && mode & 0o1000 != 0) {
        out.push(problem(
            Kind::WorldWritable,
            &rel,
            format!("mode {:o}", mode & 0o7777),
        ));
    }
    if mode & 0o6000 != 0 && !ft.is_dir() {
        out.push(problem(
            Kind::Setuid,
            &rel,
            format!("mode {:o}", mode & 0o7777),
        ));
    }
    if !ft.is_file() {
        return (out, false, None, None);
    }
    let Ok(data) = fs::read(e.path()) else {
        out.push(problem(Kind::CorruptElf, &rel, "unreadable"));
        return (out, false, None, None);
    };
    // Build-time paths: the build prefix (and the placeholder cached things
    // hold for it), and the place the tree is checked at (a staging dir)
    // unless that is where it will live.
    let here = (root != policy.install_prefix).then_some(root);
    let placeholder = policy
        .build_prefix
        .is_some()
        .then_some(Path::new(crate::paths::PLACEHOLDER));
    let needles = policy
        .build_prefix
        .as_deref()
        .into_iter()
        .chain(placeholder)
        .chain(here);
    // The first build-time path a file mentions is reported (they nest).
    for bp in needles.chain(policy.build_paths.iter().map(PathBuf::as_path)) {
        let needle = bp.as_os_str().as_encoded_bytes();
        let hits = memchr::memmem::find_iter(&data, needle).count();
        if hits > 0 {
            let first = memchr::memmem::find(&data, needle).unwrap_or(0);
            out.push(problem(
                Kind::BuildPrefix,
                &rel,
                format!(
                    "{hits} occurrence(s) of {}, first at byte {first}",
                    bp.display()
                ),
            ));
            break;
        }
    }
    if data.starts_with(b"#!") && mode & 0o111 != 0 {
        check_shebang(&data, &rel, policy, &mut out);
    }
    if !elf::is_elf(&data) {
        return (out, false, None, None);
    }
    match check_elf(root, e.path(), &rel, &data, policy, by_name, &mut out) {
        Some((glibc, h)) => (out, true, glibc, Some(h)),
        None => (out, true, None, None),
    }
}

fn check_symlink(root: &Path, path: &Path, rel: &str, policy: &Policy, out: &mut Vec<Problem>) {
    let Ok(target) = fs::read_link(path) else {
        return;
    };
    let resolved = if target.is_absolute() {
        match target.strip_prefix(&policy.install_prefix) {
            Ok(inside) => root.join(inside),
            Err(_) => {
                out.push(problem(
                    Kind::BadSymlink,
                    rel,
                    format!("-> {} (outside the install dir)", target.display()),
                ));
                return;
            }
        }
    } else {
        path.parent().unwrap_or(root).join(&target)
    };
    // Lexically inside the tree, and existing (through further links).
    let base = path
        .parent()
        .unwrap_or(root)
        .strip_prefix(root)
        .unwrap_or(Path::new(""));
    if !target.is_absolute() {
        let mut depth = base.components().count() as i32;
        for c in target.components() {
            match c {
                std::path::Component::ParentDir => depth -= 1,
                std::path::Component::Normal(_) => depth += 1,
                _ => {}
            }
            if depth < 0 {
                out.push(problem(
                    Kind::BadSymlink,
                    rel,
                    format!("-> {} (leaves the tree)", target.display()),
                ));
                return;
            }
        }
    }
    if fs::metadata(&resolved).is_err() {
        out.push(problem(
            Kind::BadSymlink,
            rel,
            format!("-> {} (target does not exist)", target.display()),
        ));
    }
}

fn check_shebang(data: &[u8], rel: &str, policy: &Policy, out: &mut Vec<Problem>) {
    let line = data[2..]
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .unwrap_or_default();
    let interp = line.split_whitespace().next().unwrap_or("");
    let inside = Path::new(interp).starts_with(&policy.install_prefix);
    if !inside && !SYSTEM_SHELLS.contains(&interp) {
        out.push(problem(Kind::Shebang, rel, format!("#!{line}")));
    }
}

#[allow(clippy::too_many_arguments)]
fn check_elf(
    root: &Path,
    path: &Path,
    rel: &str,
    data: &[u8],
    policy: &Policy,
    by_name: &HashMap<String, String>,
    out: &mut Vec<Problem>,
) -> Option<(Option<(Version, String)>, hardening::Hardening)> {
    let elf = match elf::parse(data) {
        Ok(e) => e,
        Err(e) => {
            out.push(problem(Kind::CorruptElf, rel, format!("{e:#}")));
            return None;
        }
    };
    if let Some(arch) = policy.arch
        && elf.header.e_machine != arch.elf_machine()
    {
        let m = elf.header.e_machine;
        let got = crate::target::Arch::of_elf_machine(m)
            .map_or_else(|| format!("ELF machine {m}"), |a| a.to_string());
        out.push(problem(
            Kind::WrongMachine,
            rel,
            format!("built for {got}, not {arch}"),
        ));
        return None;
    }
    if !matches!(elf.header.e_type, header::ET_EXEC | header::ET_DYN) {
        return None;
    }
    if elf
        .program_headers
        .iter()
        .any(|p| p.p_type == program_header::PT_GNU_STACK && p.p_flags & program_header::PF_X != 0)
    {
        out.push(problem(Kind::ExecutableStack, rel, "PT_GNU_STACK is RWX"));
    }
    // Library search: RUNPATH, else RPATH, with $ORIGIN expanded inside the tree.
    let dir = path.parent().unwrap_or(root);
    let entries: Vec<&str> = if elf.runpaths.is_empty() {
        elf.rpaths.clone()
    } else {
        elf.runpaths.clone()
    };
    let search: Vec<PathBuf> = entries
        .iter()
        .flat_map(|r| r.split(':'))
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            if let Some(rest) = e
                .strip_prefix("$ORIGIN")
                .or_else(|| e.strip_prefix("${ORIGIN}"))
            {
                Some(dir.join(rest.trim_start_matches('/')))
            } else {
                Path::new(e)
                    .strip_prefix(&policy.install_prefix)
                    .ok()
                    .map(|inside| root.join(inside))
            }
        })
        .collect();
    for lib in &elf.libraries {
        let found = search.iter().any(|d| d.join(lib).exists());
        if found {
            continue;
        }
        let allowed = SYSTEM_LIBS.contains(lib) || policy.extra_libs.iter().any(|x| x == lib);
        if let Some(there) = by_name.get(*lib) {
            out.push(problem(
                Kind::SystemFallback,
                rel,
                format!(
                    "needs {lib}, which is in the tree at {there}, but its search path [{}] does not reach it",
                    entries.join(":")
                ),
            ));
        } else if !allowed {
            out.push(problem(
                Kind::MissingLibrary,
                rel,
                format!("needs {lib}: not in the tree and not an allowed system library"),
            ));
        }
    }
    let h = hardening::of(&elf, data);
    Some((symbol_versions(&elf, rel, policy, out), h))
}

/// Check required symbol versions; returns the highest GLIBC_ version needed.
fn symbol_versions(
    elf: &goblin::elf::Elf,
    rel: &str,
    policy: &Policy,
    out: &mut Vec<Problem>,
) -> Option<(Version, String)> {
    let verneed = elf.verneed.as_ref()?;
    let versym = elf.versym.as_ref();
    let mut max: Option<Version> = None;
    // version index -> (family, version string)
    let mut too_new: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut wanted: HashMap<u16, String> = HashMap::new();
    for need in verneed.iter() {
        for aux in need.iter() {
            let Some(name) = elf.dynstrtab.get_at(aux.vna_name) else {
                continue;
            };
            let (family, floor) = if let Some(v) = name.strip_prefix("GLIBC_") {
                if let Some(ver) = Version::parse(v) {
                    max = max.max(Some(ver));
                }
                (v, policy.glibc_floor)
            } else if let Some(v) = name.strip_prefix("GLIBCXX_") {
                (v, policy.glibcxx_floor)
            } else if let Some(v) = name.strip_prefix("GCC_") {
                (v, policy.gcc_floor)
            } else {
                continue;
            };
            let over = match (Version::parse(family), floor) {
                (Some(v), Some(f)) => v > f,
                (None, Some(_)) => name == "GLIBC_PRIVATE",
                _ => false,
            };
            if over {
                wanted.insert(aux.vna_other, name.to_string());
                too_new.entry(name.to_string()).or_default();
            }
        }
    }
    if !wanted.is_empty()
        && let Some(vs) = versym
    {
        for (i, sym) in elf.dynsyms.iter().enumerate() {
            if sym.st_shndx != section_header::SHN_UNDEF as usize {
                continue;
            }
            let Some(v) = vs.get_at(i) else { continue };
            if let Some(vname) = wanted.get(&v.version()) {
                let sname = elf.dynstrtab.get_at(sym.st_name).unwrap_or("?");
                too_new
                    .entry(vname.clone())
                    .or_default()
                    .push(sname.to_string());
            }
        }
    }
    for (vname, mut syms) in too_new {
        syms.sort();
        syms.dedup();
        let floor = if vname.starts_with("GLIBCXX_") {
            policy.glibcxx_floor
        } else if vname.starts_with("GCC_") {
            policy.gcc_floor
        } else {
            policy.glibc_floor
        };
        out.push(problem(
            Kind::SymbolTooNew,
            rel,
            format!(
                "{vname} > floor {}: {}",
                floor.map(|f| f.to_string()).unwrap_or_default(),
                if syms.is_empty() {
                    "(no symbol named)".into()
                } else {
                    syms.join(", ")
                }
            ),
        ));
    }
    max.map(|m| (m, rel.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_name_nothing_to_protect_only_where_the_flag_was_on() {
        use hardening::{Fortify, Hardening, Pie};
        let bare = Hardening {
            pie: Pie::No,
            stack_protector: Some(false),
            fortify: Fortify::No,
            relro: true,
            bind_now: false,
            cf_protection: false,
            exec_stack: false,
        };
        let on = Built {
            by: "zlib".into(),
            disabled: BTreeMap::new(),
        };
        let off = Built {
            by: "zdemo".into(),
            disabled: [(Protection::StackProtector, "a reason".to_string())].into(),
        };
        let v = |p, b: Option<&Built>| HardeningPolicy::verdict(&bare, p, b);
        // Not compiled here: as hardening-check.
        assert!(matches!(
            v(Protection::StackProtector, None),
            Verdict::Lacks(_)
        ));
        assert!(matches!(v(Protection::Fortify, None), Verdict::Lacks(_)));
        // Compiled here with the flag: nothing to protect.
        assert!(matches!(
            v(Protection::StackProtector, Some(&on)),
            Verdict::NothingToProtect(w) if w.contains("zlib compiled it")
        ));
        assert!(matches!(
            v(Protection::Fortify, Some(&on)),
            Verdict::NothingToProtect(_)
        ));
        // Opted out: it fails, with the reason.
        assert!(matches!(
            v(Protection::StackProtector, Some(&off)),
            Verdict::Lacks(w) if w.contains("zdemo is built without stack-protector: a reason")
        ));
        // What the binary shows is never excused.
        for p in [
            Protection::Pie,
            Protection::BindNow,
            Protection::CfProtection,
        ] {
            assert!(matches!(v(p, Some(&on)), Verdict::Lacks(_)), "{p}");
        }
        assert_eq!(v(Protection::Relro, None), Verdict::Has);
        let lib = Hardening {
            pie: Pie::Library,
            stack_protector: None,
            fortify: Fortify::NothingToProtect,
            ..bare
        };
        for p in [
            Protection::Pie,
            Protection::StackProtector,
            Protection::Fortify,
        ] {
            assert_eq!(HardeningPolicy::verdict(&lib, p, None), Verdict::Has, "{p}");
        }
    }

    #[test]
    fn record_lines_and_paths() {
        assert_eq!(
            record_path("yaml/_yaml.so,sha256=abc,123").as_deref(),
            Some("yaml/_yaml.so")
        );
        assert_eq!(
            record_path("\"a,\"\"b\"\".so\",sha256=x,1").as_deref(),
            Some("a,\"b\".so")
        );
        let root = std::path::Path::new("/t/embedded");
        let site = root.join("lib/python3.13/site-packages");
        assert_eq!(
            inside(&site.join("../../../bin/tool"), root).as_deref(),
            Some("bin/tool")
        );
        assert_eq!(inside(&site.join("../../../../x"), root), None);
    }
}
