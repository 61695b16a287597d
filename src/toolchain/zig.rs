//! zig: `zig cc` as the C toolchain, for a chosen glibc (`x86_64-linux-gnu.2.17`).
//!
//! Build systems want `CC` to be one executable (libtool and configure split
//! `CC="python3 -m ziglang cc"` and take `-m` for a flag), and zig needs a few flags
//! rewritten to behave like gcc for the builds here. So `CC`, `CXX`, `AR` and
//! `RANLIB` are small shell scripts in `<cache>/toolchains/<id>/bin` that exec
//! `ferrobus zig-tool <tool> ...`, which rewrites the arguments ([`rewrite`]) and
//! execs zig. This is written by hand: cargo-zigbuild does similar rewriting, but
//! for cargo's own target triples and as a whole cargo front end, not as a library
//! a generic `CC` can use.

use super::Toolchain;
use crate::target::Arch;
use anyhow::{Context, Result, bail};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Revision of the argument rewriting: part of every cache key, so bump it when
/// [`rewrite`] changes what it produces.
pub const WRAPPER_REVISION: u32 = 3;

/// zig's cache directory under a toolchain's directory. Its start files are
/// built with `-fcf-protection` ([`cet_start_files`]), which zig's cache key
/// does not record: a cache an older ferrobus filled (`zig-cache`) holds
/// unmarked ones, hence a name of its own.
pub const ZIG_CACHE: &str = "zig-cache-cet";

/// The empty object of links whose inputs are all shared libraries, under a
/// toolchain's directory (compiled with `-fcf-protection`; `empty.o`, from an
/// older ferrobus, is not).
const EMPTY_OBJ: &str = "empty-cet.o";

/// clang's `CCC_OVERRIDE_OPTIONS` (edits applied to every clang command line of
/// one zig run) that builds zig's glibc start files for IBT and SHSTK:
/// `-fcf-protection=full` for the C files, and clang's `cet.h` for the
/// assembly ones (glibc's `start.S` puts `endbr64` at `_start` and its
/// objects get the GNU property note only through it).
const CET_OVERRIDE: &str = "+-fcf-protection=full +-include +cet.h";

/// The tools the wrappers stand for: (wrapper file name, zig subcommand).
const TOOLS: &[(&str, &str)] = &[
    ("cc", "cc"),
    ("c++", "c++"),
    ("ar", "ar"),
    ("ranlib", "ranlib"),
];

/// The zig executable: `zig` on PATH, else the one in the `ziglang` Python package
/// (`pip install ziglang`), called directly so no Python starts per compile.
pub fn find() -> Result<PathBuf> {
    if let Some(p) = super::which(Path::new("zig")) {
        return Ok(PathBuf::from(p));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), 'zig'))",
        ])
        .output();
    if let Ok(out) = out
        && out.status.success()
    {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "[toolchain] compiler = \"zig\": no zig found (neither `zig` on PATH nor the \
         ziglang Python package: scripts/deps installs the pinned version; the zig \
         version is part of every cache key, so install that one)"
    )
}

/// `s` quoted for sh.
fn sh_quote(s: &str) -> Result<String> {
    Ok(shlex::try_quote(s)?.into_owned())
}

/// Write `data` to `path` unless it already holds exactly that (mode `mode`).
pub(crate) fn write_if_changed(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    crate::util::write_atomic(path, data)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Detect zig and write the wrappers for `arch` and glibc `glibc` under
/// `toolchains`: one directory per target, so x86-64 and aarch64 builds
/// (cross-compiled: zig carries every architecture's C library headers and
/// start files) share nothing but the zig they run.
pub fn prepare(arch: Arch, glibc: &str, toolchains: &Path) -> Result<Toolchain> {
    let zig = find()?;
    let version = super::first_line(&zig.display().to_string(), &["version"])?;
    let target = format!("{}-linux-gnu.{glibc}", arch.uname());
    // IBT and SHSTK (`-fcf-protection`) are x86-64's; clang refuses the flag
    // for aarch64.
    let cet = arch == Arch::X86_64;
    let dir = toolchains.join(format!("zig-{version}-{target}"));
    // One directory per revision of the wrappers: an older ferrobus sharing
    // the cache rewrites its own scripts, never these.
    let bin = dir.join(format!("bin-w{WRAPPER_REVISION}"));
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let me = super::self_exe()?;
    for (name, tool) in TOOLS {
        let script = format!(
            "#!/bin/sh\n# Written by ferrobus: zig {tool} for {target} (src/toolchain/zig.rs).\n\
             exec \"${{FERROBUS_EXE:-{}}}\" zig-tool {tool} {} {target} {} \"$@\"\n",
            sh_quote(&me.display().to_string())?,
            sh_quote(&zig.display().to_string())?,
            sh_quote(&dir.display().to_string())?,
        );
        write_if_changed(&bin.join(name), script.as_bytes(), 0o755)?;
    }
    // The empty object a link with only shared-library inputs gets (see
    // rewrite), marked IBT/SHSTK so that it does not take the marking away.
    let empty = dir.join(EMPTY_OBJ);
    if !empty.is_file() {
        let c = dir.join("empty.c");
        std::fs::write(&c, "")?;
        let tmp = dir.join(format!("empty.o.{}", std::process::id()));
        let ok = zig_command(&zig, "cc", &dir)
            .args(["-target", &target])
            .args(if cet {
                &["-fcf-protection=full"][..]
            } else {
                &[]
            })
            .args(["-c", "-o"])
            .arg(&tmp)
            .arg(&c)
            .status()
            .with_context(|| format!("running {}", zig.display()))?;
        if !ok.success() {
            bail!("{} cc could not compile an empty file", zig.display());
        }
        std::fs::rename(&tmp, &empty)?;
    }
    let cf_protection = cet && cet_start_files(&zig, &target, &dir)?;
    let clang =
        super::first_line(&zig.display().to_string(), &["cc", "--version"]).unwrap_or_default();
    let tool = |n: &str| bin.join(n).display().to_string();
    Ok(Toolchain {
        target: format!("linux-{}", arch.uname()),
        cc: tool("cc"),
        cxx: tool("c++"),
        cc_version: format!("zig {version} ({clang})"),
        triple: target,
        libc: format!("glibc {glibc}"),
        compiler: "zig".into(),
        ar: Some(tool("ar")),
        ranlib: Some(tool("ranlib")),
        wrapper: Some(WRAPPER_REVISION),
        cf_protection,
        unhardened: false,
        guard_bin: Default::default(),
        sysroot: None,
    })
}

/// Make zig's glibc start files (`Scrt1.o`, `crt1.o`) and `libc_nonshared.a`
/// IBT/SHSTK-marked, and say whether an executable linked now keeps the
/// marking.
///
/// zig builds them itself, into its global cache, the first time a link
/// needs them, without `-fcf-protection` and without `endbr64` at `_start`;
/// any link that includes one of them (every executable; every library that
/// calls `atexit` or, below glibc 2.33, `stat`) loses the property. zig has no
/// option for their flags and ignores `-nostartfiles`, so they are built
/// once, before any build uses this cache, by links run with
/// [`CET_OVERRIDE`]: every variant the wrapper asks for (`-g0` or `-g`, PIE
/// or not, shared). A marker in the cache records that this was done; a
/// probe link without the override then checks the result every time.
fn cet_start_files(zig: &Path, target: &str, dir: &Path) -> Result<bool> {
    let marker = dir.join(ZIG_CACHE).join("ferrobus-cet-start-files");
    let tmp = tempfile::tempdir_in(dir)?;
    let src = tmp.path().join("probe.c");
    std::fs::write(&src, super::PROBE_C)?;
    let out = tmp.path().join("probe");
    let link = |extra: &[&str], cet: bool| -> Result<std::process::Output> {
        let mut cmd = zig_command(zig, "cc", dir);
        if cet {
            cmd.env("CCC_OVERRIDE_OPTIONS", CET_OVERRIDE);
        }
        cmd.args(["-target", target, "-O2", "-fno-sanitize=undefined"])
            .args(["-fcf-protection=full", "-fPIC"])
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .output()
            .with_context(|| format!("running {}", zig.display()))
    };
    if !marker.is_file() {
        for extra in [
            &["-g0", "-pie"][..],
            &["-g", "-pie"],
            &["-g0", "-no-pie"],
            &["-g", "-no-pie"],
            &["-g0", "-shared"],
            &["-g", "-shared"],
        ] {
            let o = link(extra, true)?;
            if !o.status.success() {
                let err = String::from_utf8_lossy(&o.stderr);
                let err: Vec<&str> = err.lines().filter(|l| !l.starts_with("###")).collect();
                bail!(
                    "zig cc could not build its start files for -fcf-protection ({}):\n{}",
                    extra.join(" "),
                    err.join("\n")
                );
            }
        }
        crate::util::write_atomic(
            &marker,
            b"built with CCC_OVERRIDE_OPTIONS=+-fcf-protection=full +-include +cet.h\n",
        )?;
    }
    let o = link(&["-g0", "-pie"], false)?;
    if !o.status.success() {
        bail!(
            "zig cc could not link a probe program:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let data = std::fs::read(&out)?;
    let elf = crate::elf::parse(&data)?;
    Ok(crate::elf::x86_ibt_and_shstk(&elf, &data))
}

/// `zig <sub>` with its caches under `dir` (zig otherwise fills `~/.cache/zig`;
/// the global cache holds the glibc stubs and is shared by every build).
fn zig_command(zig: &Path, sub: &str, dir: &Path) -> Command {
    let cache = dir.join(ZIG_CACHE);
    let mut cmd = Command::new(zig);
    cmd.arg(sub)
        .env("ZIG_GLOBAL_CACHE_DIR", &cache)
        .env("ZIG_LOCAL_CACHE_DIR", &cache);
    cmd
}

/// `ferrobus zig-tool <tool> <zig> <target> <dir> [args...]`: what the wrapper
/// scripts run. Rewrites the arguments and replaces this process with zig.
pub fn run_tool(args: &[String]) -> Result<()> {
    let [tool, zig, target, dir, rest @ ..] = args else {
        bail!("usage: ferrobus zig-tool <tool> <zig> <target> <dir> [args...]");
    };
    let dir = Path::new(dir);
    // The linker's identity. `zig cc -Wl,--version` prints `zig ld <zig
    // version>`, which Meson before 1.6 (Debian 12 has 1.0) does not know, so
    // it stops ("Unable to detect linker"). zig links ELF with its LLD, whose
    // own answer (`LLD <version> (compatible with GNU linkers)`) is the truth
    // in the form such build systems parse.
    if matches!(tool.as_str(), "cc" | "c++") && rest.iter().any(|a| a == "-Wl,--version") {
        let err = zig_command(Path::new(zig), "ld.lld", dir)
            .arg("--version")
            .exec();
        bail!("running {zig} ld.lld --version: {err}")
    }
    let args = match tool.as_str() {
        "cc" | "c++" => {
            if let Err(e) = super::guard::check_compiler(tool, rest) {
                eprintln!("ferrobus: {e:#}");
                std::process::exit(1);
            }
            rewrite(tool == "c++", target, &dir.join(EMPTY_OBJ), rest)
        }
        _ => rest.to_vec(),
    };
    let mut cmd = zig_command(Path::new(zig), tool, dir);
    cmd.args(&args);
    if matches!(tool.as_str(), "cc" | "c++") && std::env::var_os(super::guard::ENV_CC_LOG).is_some()
    {
        let mut shown = vec![format!("zig {tool}")];
        shown.extend(args.iter().cloned());
        return super::guard::run_logged(cmd, &shown);
    }
    let err = cmd.exec();
    bail!("running {zig} {tool}: {err}")
}

/// Flags that take the next argument as their value.
const WITH_VALUE: &[&str] = &[
    "-o",
    "-I",
    "-L",
    "-D",
    "-U",
    "-x",
    "-MF",
    "-MT",
    "-MQ",
    "-include",
    "-imacros",
    "-isystem",
    "-iquote",
    "-idirafter",
    "-isysroot",
    "-Xlinker",
    "-Xpreprocessor",
    "-Xassembler",
    "-Xclang",
    "-target",
    "-z",
    "-u",
    "-T",
    "--param",
];

/// Flags naming a header or library directory.
const DIR_FLAGS: &[&str] = &["-I", "-L", "-isystem", "-idirafter"];

/// True for the host's own header and library directories. zig's headers and
/// glibc stubs are the target's; the host's (CPython 3.11's setup.py adds
/// `-I/usr/include/x86_64-linux-gnu`) would mix in a newer glibc.
fn is_host_dir(d: &str) -> bool {
    let d = d.trim_end_matches('/');
    [
        "/usr/include",
        "/usr/local/include",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/lib",
        "/lib64",
    ]
    .iter()
    .any(|h| d == *h || d.strip_prefix(h).is_some_and(|r| r.starts_with('/')))
}

/// True for `libfoo.so`, `libfoo.so.1.2`.
fn is_shared_lib(a: &str) -> bool {
    a.ends_with(".so") || a.contains(".so.")
}

/// The arguments zig gets for one `cc`/`c++` call, so that it behaves like the
/// gcc the definitions were written for:
///
/// - `-target x86_64-linux-gnu.<glibc>` first. Queries without inputs
///   (`--version`, `-dumpmachine`, `-print-*`, a lone `-v`) go to clang, which
///   rejects a versioned triple, so they get the plain triple.
/// - `-fno-sanitize=undefined`: zig turns UBSan on when nothing is optimised
///   (configure tests, `-O0` objects); gcc does not.
/// - `-g0` unless a `-g...` flag is given: zig emits debug info by default, gcc
///   does not (it doubles the objects and slows every compile).
/// - `-Wno-error=date-time -Wno-date-time`: zig makes `__DATE__` an error (CPython's
///   build info uses it; `SOURCE_DATE_EPOCH` keeps it reproducible).
/// - C only: `-Wno-error=implicit-function-declaration`, `implicit-int`,
///   `int-conversion`, `incompatible-function-pointer-types`: warnings in the
///   gcc 12 these definitions were written for, errors in clang (libffi 3.4.4);
///   not when the call asks for that error itself (`-Werror=...`, CPython).
/// - `-Wl,...` lists are made acceptable to zig ([`rewrite_wl`]: CPython's
///   `-Wl,-h<name>`, ncurses' `-Wl,...,-stats,-lc`).
/// - the host's include and library directories (`-I/usr/include/...`,
///   `-L/usr/lib/...`) are dropped ([`is_host_dir`]): the guard refused them
///   already ([`super::guard::check_compiler`]) unless a definition allows one,
///   and zig must still not mix the host's glibc headers with its own.
/// - `-` (stdin) without `-x` gets `-x c` (or `c++`): zig only compiles stdin
///   itself when it knows the language.
/// - a shared link gets `-Wl,--undefined-version` (lld rejects version-script
///   entries for undefined symbols; zlib's configure then builds static only);
/// - a link whose inputs are all shared libraries gets an empty object (zig
///   reports "no input files"; CPython's `libpython3.so` is such a link).
/// - a link that compiles nothing (and is not LTO) loses `-O...`, `-m...`
///   CPU flags and unwind-table flags ([`without_runtime_variants`]).
/// - an executable link gets `-pie`, as Debian's gcc does by itself (zig links
///   fixed-address executables otherwise); not a shared (`-shared`),
///   relocatable (`-r`) or static (`-static`) link, nor one that says
///   `-no-pie` (a definition's `[hardening] disable = { pie = "..." }`).
///   Objects need no `-fPIE`: zig compiles position-independent code for
///   glibc targets unless told otherwise.
pub fn rewrite(cxx: bool, target: &str, empty_obj: &Path, args: &[String]) -> Vec<String> {
    let query = args.iter().any(|a| {
        matches!(
            a.as_str(),
            "--version" | "-dumpmachine" | "-dumpversion" | "-dumpfullversion" | "-###"
        ) || a.starts_with("-print-")
            || a.starts_with("--print-")
    }) || args.iter().all(|a| a == "-v") && !args.is_empty();
    let plain = target.rsplit_once(".2.").map_or(target, |(t, _)| t);
    let mut out = vec![
        "-target".to_string(),
        if query { plain } else { target }.to_string(),
    ];
    if query {
        out.extend(args.iter().cloned());
        return out;
    }
    let mut link = true;
    let mut shared = false;
    let mut sanitize = false;
    let mut lang = false;
    let mut inputs = 0;
    let mut so_inputs = 0;
    let mut sources = 0;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-c" | "-E" | "-S" | "-M" | "-MM" | "-fsyntax-only" => link = false,
            "-shared" => shared = true,
            "-" if !lang => out.extend(["-x".into(), if cxx { "c++" } else { "c" }.into()]),
            "-" => inputs += 1,
            s if s.starts_with("-fsanitize") => sanitize = true,
            s if s.starts_with("-Wl,") => {
                out.extend(rewrite_wl(s));
                continue;
            }
            s if DIR_FLAGS.contains(&s) && it.peek().is_some_and(|d| is_host_dir(d)) => {
                it.next();
                continue;
            }
            s if DIR_FLAGS
                .iter()
                .any(|f| s.strip_prefix(f).is_some_and(is_host_dir)) =>
            {
                continue;
            }
            s if WITH_VALUE.contains(&s) => {
                lang |= s == "-x";
                out.push(a.clone());
                if let Some(v) = it.next() {
                    out.push(v.clone());
                }
                continue;
            }
            s if s.starts_with("-x") => lang = true,
            s if !s.starts_with('-') => {
                inputs += 1;
                if is_shared_lib(s) {
                    so_inputs += 1;
                }
                if is_source(s) {
                    sources += 1;
                }
            }
            _ => {}
        }
        out.push(a.clone());
    }
    if !sanitize {
        out.push("-fno-sanitize=undefined".into());
    }
    if !args.iter().any(|a| a.starts_with("-g")) {
        out.push("-g0".into());
    }
    out.extend(["-Wno-error=date-time".into(), "-Wno-date-time".into()]);
    if !cxx {
        for w in [
            "implicit-function-declaration",
            "implicit-int",
            "int-conversion",
            "incompatible-function-pointer-types",
        ] {
            // A build that asks for the error itself (CPython does) keeps it.
            if !args.iter().any(|a| *a == format!("-Werror={w}")) {
                out.push(format!("-Wno-error={w}"));
            }
        }
    }
    if link && shared {
        out.push("-Wl,--undefined-version".into());
    }
    let fixed = args.iter().any(|a| {
        matches!(
            a.as_str(),
            "-r" | "-static" | "-no-pie" | "-nopie" | "-pie" | "-static-pie" | "-Wl,-r"
        ) || a == "-Wl,--relocatable"
    });
    if link && !shared && !fixed && inputs > 0 {
        out.push("-pie".into());
    }
    if link && inputs > 0 && inputs == so_inputs {
        out.push(empty_obj.display().to_string());
    }
    let lto = args.iter().any(|a| a.starts_with("-flto"));
    if link && sources == 0 && !lang && !lto {
        out = without_runtime_variants(out);
    }
    out
}

/// True for a file name a compiler compiles (rather than links).
fn is_source(a: &str) -> bool {
    let ext = a.rsplit_once('.').map_or("", |(_, e)| e);
    matches!(
        ext,
        "c" | "cc" | "cp" | "cpp" | "cxx" | "c++" | "C" | "S" | "s" | "sx" | "i" | "ii" | "m"
    )
}

/// A link that compiles nothing, without the flags that would only make zig
/// build another variant of its own start files, `libc_nonshared.a` and
/// compiler_rt: the optimisation level (`-Os` is another variant), the CPU
/// (`-march=`, `-mavx2`...) and unwind tables. zig keys those on them, and
/// only the variants [`cet_start_files`] prepared carry the IBT/SHSTK marking;
/// on a link without LTO they change nothing else.
fn without_runtime_variants(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let variant = (a.starts_with("-O") && a != "-o")
            || matches!(
                a.as_str(),
                "-funwind-tables"
                    | "-fno-unwind-tables"
                    | "-fasynchronous-unwind-tables"
                    | "-fno-asynchronous-unwind-tables"
            )
            || (a.starts_with("-m") && !matches!(a.as_str(), "-m64" | "-m32" | "-mx32" | "-mllvm"));
        if a == "-mllvm" {
            out.push(a);
            out.extend(it.next());
        } else if !variant {
            out.push(a);
        }
    }
    out
}

/// A `-Wl,...` argument as zig takes it: `-h NAME` / `-hNAME` spelled
/// `-soname NAME`, `-lNAME` passed as a compiler `-lNAME`, GNU ld's `-stats`
/// dropped (ncurses; zig rejects all three).
fn rewrite_wl(arg: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut extra = Vec::new();
    for p in arg["-Wl,".len()..].split(',') {
        match p.strip_prefix("-h") {
            Some("") => parts.push("-soname".into()),
            Some(name) => parts.extend(["-soname".into(), name.into()]),
            None if p == "-stats" => {}
            None if p.starts_with("-l") && p.len() > 2 => extra.push(p.to_string()),
            None => parts.push(p.into()),
        }
    }
    if !parts.is_empty() {
        extra.insert(0, format!("-Wl,{}", parts.join(",")));
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(cxx: bool, args: &[&str]) -> Vec<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        rewrite(cxx, "x86_64-linux-gnu.2.17", Path::new("/t/empty.o"), &args)
    }

    #[test]
    fn soname_spellings() {
        assert_eq!(rewrite_wl("-Wl,-hlibx.so.1"), ["-Wl,-soname,libx.so.1"]);
        assert_eq!(rewrite_wl("-Wl,-h,libx.so.1"), ["-Wl,-soname,libx.so.1"]);
        assert_eq!(
            rewrite_wl("-Wl,--as-needed,-rpath,/p"),
            ["-Wl,--as-needed,-rpath,/p"]
        );
        assert_eq!(
            rewrite_wl("-Wl,-soname,libn.so.6,-stats,-lc"),
            ["-Wl,-soname,libn.so.6", "-lc"]
        );
        assert!(rewrite_wl("-Wl,-stats").is_empty());
    }

    #[test]
    fn compile_and_links() {
        let c = rw(false, &["-O2", "-c", "a.c", "-o", "a.o"]);
        assert_eq!(&c[..2], ["-target", "x86_64-linux-gnu.2.17"]);
        assert!(c.contains(&"-Wno-error=implicit-function-declaration".into()));
        assert!(c.contains(&"-fno-sanitize=undefined".into()));
        assert!(c.contains(&"-g0".into()));
        assert!(!rw(false, &["-g", "-c", "a.c"]).contains(&"-g0".into()));
        assert!(!c.contains(&"/t/empty.o".into()));
        let l = rw(
            false,
            &["-shared", "-o", "libpython3.so", "libpython3.13.so"],
        );
        assert!(l.contains(&"/t/empty.o".into()));
        assert!(l.contains(&"-Wl,--undefined-version".into()));
        let l = rw(false, &["-shared", "-o", "libz.so.1", "a.o", "-lc"]);
        assert!(!l.contains(&"/t/empty.o".into()));
        assert!(!l.contains(&"-pie".into()));
        // Executables are PIE unless the link says otherwise.
        assert!(rw(false, &["-O2", "-o", "p", "p.c", "-lz"]).contains(&"-pie".into()));
        for no in ["-no-pie", "-static", "-r"] {
            assert!(
                !rw(false, &["-o", "p", "p.o", no]).contains(&"-pie".into()),
                "{no}"
            );
        }
        assert!(!c.contains(&"-pie".into()));
        // A link of objects only: no variant flags for zig's own runtime.
        let l = rw(
            false,
            &[
                "-Os",
                "-mavx2",
                "-funwind-tables",
                "-mllvm",
                "-mx",
                "-o",
                "p",
                "p.o",
                "-lm",
            ],
        );
        assert!(
            !l.iter()
                .any(|a| a == "-Os" || a == "-mavx2" || a == "-funwind-tables")
        );
        assert!(l.windows(2).any(|w| w == ["-mllvm", "-mx"]));
        assert!(l.windows(2).any(|w| w == ["-o", "p"]));
        // Compiling (or LTO) keeps them.
        assert!(rw(false, &["-Os", "-o", "p", "p.c"]).contains(&"-Os".into()));
        assert!(rw(false, &["-Os", "-c", "p.c"]).contains(&"-Os".into()));
        assert!(rw(false, &["-Os", "-flto", "-o", "p", "p.o"]).contains(&"-Os".into()));
        let p = rw(
            false,
            &["-Werror=implicit-function-declaration", "-c", "a.c"],
        );
        assert!(!p.contains(&"-Wno-error=implicit-function-declaration".into()));
        let x = rw(true, &["-O2", "-c", "a.cc"]);
        assert!(!x.iter().any(|a| a.contains("implicit-function")));
    }

    #[test]
    fn host_dirs_dropped() {
        let a = rw(
            false,
            &[
                "-I/usr/include/x86_64-linux-gnu",
                "-I",
                "/usr/local/include",
                "-I/p/include",
                "-L/usr/lib/x86_64-linux-gnu",
                "-L/usr/libx",
                "-c",
                "a.c",
            ],
        );
        assert!(
            !a.iter()
                .any(|x| x.contains("/usr/include") || x.contains("/usr/local"))
        );
        assert!(!a.contains(&"-L/usr/lib/x86_64-linux-gnu".into()));
        assert!(a.contains(&"-I/p/include".into()) && a.contains(&"-L/usr/libx".into()));
    }

    #[test]
    fn queries_and_stdin() {
        assert_eq!(
            rw(false, &["-dumpmachine"]),
            ["-target", "x86_64-linux-gnu", "-dumpmachine"]
        );
        assert_eq!(rw(false, &["-v"])[1], "x86_64-linux-gnu");
        let s = rw(false, &["-E", "-dM", "-"]);
        assert_eq!(&s[2..7], ["-E", "-dM", "-x", "c", "-"]);
        let s = rw(false, &["-x", "c", "-E", "-"]);
        assert_eq!(&s[2..6], ["-x", "c", "-E", "-"]);
    }
}
