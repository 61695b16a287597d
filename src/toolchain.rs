//! toolchain: the C toolchain of the build target, chosen by the project's
//! `[toolchain]`: the host compiler (detected with the `cc` crate) or `zig cc` for a
//! chosen glibc ([`zig`]).
//!
//! This is the seam for targets: today `linux-x86_64`; other targets (aarch64,
//! Windows assembly) plug in here.

pub mod guard;
pub mod zig;

use crate::load::{Compiler, ToolchainConfig};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// The glibc a zig toolchain targets unless the project says otherwise
/// (manylinux2014).
pub const DEFAULT_ZIG_GLIBC: &str = "2.17";

/// Identity of the toolchain; every field goes into the cache key.
#[derive(Debug, Clone, Serialize)]
pub struct Toolchain {
    /// Target name (`linux-x86_64`).
    pub target: String,
    /// C compiler path.
    pub cc: String,
    /// C++ compiler path.
    pub cxx: String,
    /// First line of `cc --version`.
    pub cc_version: String,
    /// `cc -dumpmachine`.
    pub triple: String,
    /// glibc the build targets (`glibc 2.36`): the build root's for the host
    /// compiler, the chosen one for zig. The default health-check floor.
    pub libc: String,
    /// `zig`; absent for the host compiler (keeping its cache keys as they were).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compiler: String,
    /// `AR` of every build (absent: make's default `ar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ar: Option<String>,
    /// `RANLIB` of every build (absent: the build's default `ranlib`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranlib: Option<String>,
    /// Revision of the compiler wrappers' argument rewriting (zig).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapper: Option<u32>,
    /// Whether links with `-fcf-protection` keep the IBT/SHSTK property: the
    /// C library's start files (`Scrt1.o`, `crti.o`, `libc_nonshared.a`) must
    /// carry it too. Probed with a link: the host's by [`keeps_cf_protection`],
    /// zig's after its start files are rebuilt for it (`zig::prepare`).
    pub cf_protection: bool,
    /// Every hardening flag turned off (`[toolchain] hardening = false`);
    /// absent from the key when false, keeping hardened keys as they were.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unhardened: bool,
    /// The host compiler's sysroot, by the versions of the packages it holds
    /// ([`guard::host_sysroot`]); absent for zig and where there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysroot: Option<String>,
    /// The directory of the host-tool shims ([`guard`]), on the standard `PATH`
    /// right after the prefix's `bin` (a path under the cache: not keyed on its
    /// own, the `PATH` holding it is).
    #[serde(skip)]
    pub guard_bin: std::path::PathBuf,
}

/// The host's program directories on every build's `PATH`, after the prefix's
/// `bin` and the host-tool shims.
pub const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Toolchain {
    /// The tool variables every build step gets (`CC`, `CXX`, and `AR`/`RANLIB`
    /// when the toolchain has its own): also what a pip build of C extensions
    /// needs (setuptools derives `LDSHARED` from `CC`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![("CC", self.cc.clone()), ("CXX", self.cxx.clone())];
        if let Some(ar) = &self.ar {
            v.push(("AR", ar.clone()));
        }
        if let Some(r) = &self.ranlib {
            v.push(("RANLIB", r.clone()));
        }
        v
    }
}

impl Toolchain {
    /// The architecture it builds for (its target's; x86-64 for a target
    /// name ferrobus does not know).
    pub fn arch(&self) -> crate::target::Arch {
        self.target
            .parse::<crate::target::TargetName>()
            .map(|n| crate::target::Target::new(n, None).arch)
            .unwrap_or(crate::target::Arch::X86_64)
    }

    /// The hardening flags of the standard environment: every protection on
    /// ([`crate::hardening`]).
    pub fn hardening_flags(&self) -> crate::hardening::Flags {
        crate::hardening::Flags::new(self.arch(), self.disabled_everywhere())
    }

    /// The protections every component is built without: all of them when
    /// the project turned hardening off, else none.
    pub fn disabled_everywhere(&self) -> &'static [crate::hardening::Protection] {
        if self.unhardened {
            crate::hardening::Protection::ALL
        } else {
            &[]
        }
    }
}

/// The first line a command prints (its version, say), trimmed.
pub fn first_line(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("running {cmd} {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("{cmd} {} failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string())
}

fn glibc_version() -> String {
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
    unsafe {
        let p = libc::gnu_get_libc_version();
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// The toolchain of a project's `[toolchain]` for `arch`; zig's wrappers are
/// written under `toolchains` (a directory of the cache). The host compiler
/// builds for the host's architecture only; zig cross-compiles.
pub fn detect(
    cfg: &ToolchainConfig,
    arch: crate::target::Arch,
    toolchains: &Path,
) -> Result<Toolchain> {
    let mut tc = match cfg.compiler {
        Compiler::Host if arch != crate::target::Arch::host() => bail!(
            "[toolchain] compiler = \"host\" builds for {} only, not {arch}: \
             compiler = \"zig\" cross-compiles",
            crate::target::Arch::host()
        ),
        Compiler::Host => guarded_host(toolchains),
        Compiler::Zig => zig::prepare(
            arch,
            cfg.glibc.as_deref().unwrap_or(DEFAULT_ZIG_GLIBC),
            toolchains,
        ),
    }?;
    tc.unhardened = !cfg.hardening;
    tc.guard_bin = guard::write_host_tool_shims(
        &toolchains.join(format!("host-tools-g{}", guard::REVISION)),
        HOST_PATH,
    )?;
    Ok(tc)
}

/// The host toolchain behind the guard's compiler wrappers: `cc` and `c++`
/// scripts in `<toolchains>/host-<triple>/bin` that run `ferrobus cc-guard`
/// with the detected compiler ([`guard::run_cc`]).
fn guarded_host(toolchains: &Path) -> Result<Toolchain> {
    let mut tc = detect_host()?;
    let sysroot = match guard::host_sysroot(&tc.cc, toolchains)? {
        Ok((dir, id)) => {
            tc.sysroot = Some(id);
            format!(
                " --sysroot={}",
                shlex::try_quote(&dir.display().to_string())?
            )
        }
        Err(why) => {
            eprintln!(
                "warning: the host compiler builds without a sysroot of the C library alone \
                 ({why}): host development headers in /usr/include stay visible"
            );
            String::new()
        }
    };
    let bin = toolchains
        .join(format!("host-{}", tc.triple))
        .join(format!("bin-g{}", guard::REVISION));
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let me = self_exe()?;
    let q = |s: &str| -> Result<String> { Ok(shlex::try_quote(s)?.into_owned()) };
    for (name, real) in [("cc", tc.cc.clone()), ("c++", tc.cxx.clone())] {
        let script = format!(
            "#!/bin/sh\n# Written by ferrobus: {real} behind the hermetic guard (src/toolchain/guard.rs).\n\
             exec \"${{FERROBUS_EXE:-{}}}\" cc-guard {}{sysroot} \"$@\"\n",
            q(&me.display().to_string())?,
            q(&real)?,
        );
        zig::write_if_changed(&bin.join(name), script.as_bytes(), 0o755)?;
    }
    tc.cc = bin.join("cc").display().to_string();
    tc.cxx = bin.join("c++").display().to_string();
    tc.wrapper = Some(guard::REVISION);
    Ok(tc)
}

/// Detect the host toolchain (honours `CC`/`CXX` like the `cc` crate does).
pub fn detect_host() -> Result<Toolchain> {
    let triple = "x86_64-unknown-linux-gnu";
    let mut b = cc::Build::new();
    b.target(triple)
        .host(triple)
        .opt_level(2)
        .cargo_metadata(false);
    let c = b
        .try_get_compiler()
        .map_err(|e| anyhow::anyhow!("no C compiler found: {e}"))?;
    let cxx = b
        .cpp(true)
        .try_get_compiler()
        .map_err(|e| anyhow::anyhow!("no C++ compiler found: {e}"))?;
    let resolve =
        |p: &std::path::Path| -> String { which(p).unwrap_or_else(|| p.display().to_string()) };
    let cc = resolve(c.path());
    let cf_protection = keeps_cf_protection(Command::new(&cc).arg("-fPIC"))?;
    Ok(Toolchain {
        target: "linux-x86_64".into(),
        cc_version: first_line(&cc, &["--version"])?,
        triple: first_line(&cc, &["-dumpmachine"])?,
        cxx: resolve(cxx.path()),
        cc,
        libc: format!("glibc {}", glibc_version()),
        compiler: String::new(),
        ar: None,
        ranlib: None,
        wrapper: None,
        cf_protection,
        unhardened: false,
        guard_bin: Default::default(),
        sysroot: None,
    })
}

/// A program that needs the C library's start files and `libc_nonshared.a`
/// (`atexit`; `stat` is in it below glibc 2.33): the probe of
/// [`keeps_cf_protection`].
pub(crate) const PROBE_C: &str = "#include <stdlib.h>\n#include <sys/stat.h>\n\
    static void bye(void) {}\n\
    int main(int argc, char **argv) { struct stat s; atexit(bye); \
    return stat(argv[0], &s) != 0 || argc > 9; }\n";

/// Whether an executable `cc` links from a file compiled with
/// `-fcf-protection=full` is marked IBT and SHSTK: the compiler supports it
/// and its C library's start files carry the property (Debian 12's glibc
/// 2.36 start files do not; Ubuntu's do). `cc` is the compiler command to
/// add arguments to.
pub fn keeps_cf_protection(cc: &mut Command) -> Result<bool> {
    let d = tempfile::tempdir()?;
    let src = d.path().join("probe.c");
    let exe = d.path().join("probe");
    std::fs::write(&src, PROBE_C)?;
    let out = cc
        .args(["-O2", "-fcf-protection=full", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .context("running the C compiler (hardening probe)")?;
    if !out.status.success() {
        return Ok(false);
    }
    let data = std::fs::read(&exe)?;
    let elf = crate::elf::parse(&data)?;
    Ok(crate::elf::x86_ibt_and_shstk(&elf, &data))
}

/// The ferrobus executable the compiler wrappers and host-tool shims run: this
/// one, or, when the library runs inside another program (a test calling
/// `ferrobus::ops` in process), the `ferrobus` built beside it (cargo puts test
/// programs in `deps/` under the binary's directory).
pub fn self_exe() -> Result<std::path::PathBuf> {
    let me = std::env::current_exe().context("locating the ferrobus executable")?;
    if me.file_stem().is_some_and(|s| s == "ferrobus") {
        return Ok(me);
    }
    // Its file was removed or replaced since it started.
    if let Some(pinned) = running_ferrobus() {
        return Ok(pinned);
    }
    let dir = me.parent().unwrap_or(Path::new("."));
    [dir.join("ferrobus"), dir.join("../ferrobus")]
        .into_iter()
        .find(|c| c.is_file())
        .map(|c| c.canonicalize().unwrap_or(c))
        .with_context(|| {
            format!(
                "{} is not ferrobus and there is no ferrobus beside it: the compiler wrappers need one",
                me.display()
            )
        })
}

/// This process's own executable when this process is ferrobus:
/// `/proc/<pid>/exe`, which the kernel keeps for the process's whole life even
/// if its file is replaced or removed meanwhile (a reinstall, a cargo build).
pub fn running_ferrobus() -> Option<std::path::PathBuf> {
    let me = std::env::current_exe().ok()?;
    let name = me.file_name()?.to_string_lossy().to_string();
    let pinned = std::path::PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    (name.strip_suffix(" (deleted)").unwrap_or(&name) == "ferrobus" && pinned.exists())
        .then_some(pinned)
}

/// Absolute path of a program name found on PATH.
pub(crate) fn which(p: &std::path::Path) -> Option<String> {
    if p.is_absolute() {
        return Some(p.display().to_string());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .map(|c| c.display().to_string())
}
