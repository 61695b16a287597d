//! toolchain::guard: hermetic builds. A component or a wheel may read from the
//! host its compiler toolchain and the C library's headers for the floor, and
//! nothing else: no host `*-config` tool, no `-I`/`-L`/`-rpath` into a host
//! directory.
//!
//! The mechanism is two kinds of wrappers, both of which record what they saw
//! in the unit's guard log (`FERROBUS_GUARD_LOG`, one JSON object a line):
//!
//! - **host tools**: every `*-config`/`*_config` program of the host's `PATH`
//!   (`pg_config`, `xml2-config`, `python3-config`...) gets a shim in a
//!   directory that comes right after the prefix's `bin` in the standard `PATH`
//!   ([`write_host_tool_shims`]). A prefix's own tool still wins; the host's is
//!   run, its output recorded, and the build goes on, so that the compiler
//!   wrapper can then name the flag it produced.
//! - **compilers**: zig's wrapper and, for the host toolchain, a wrapper around
//!   gcc ([`run_cc`]) check the arguments ([`violations`]) and refuse a host
//!   directory with exit status 1, naming it.
//!
//! After every unit (succeeded or failed) [`verdict`] reads the log: anything
//! recorded fails the unit, naming it, the tool that ran and the flag. Refusing
//! at the compiler alone would not do: a configure test that fails on a refused
//! flag only turns a feature off. A definition (`[hermetic] allow`) or the
//! project (`[app.distribution.<name>] allow_host`) allows a named tool or
//! directory with a reason (`FERROBUS_HERMETIC_ALLOW`).
//!
//! Chosen over a mount namespace hiding `/usr/include` (which would also hide
//! the C library's headers gcc needs, and needs privileges CI runners lack)
//! and over a bare `PATH` of our own (configure scripts need dozens of host
//! utilities; the leaks are the `*-config` tools, and those are all shimmed).
//! gcc's implicit `/usr/include` and `/usr/lib` hold the host's development
//! headers and libraries beside the C library's: the gcc wrapper passes a
//! `--sysroot` that holds the C library's packages only ([`host_sysroot`]);
//! zig has no implicit host directories (its libc headers are its own).

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Revision of the guard's rules: part of the toolchain's key.
pub const REVISION: u32 = 1;

/// The unit a build step belongs to (`component libpq`, `distribution
/// psycopg2 2.9.10`).
pub const ENV_UNIT: &str = "FERROBUS_UNIT";
/// The unit's guard log.
pub const ENV_LOG: &str = "FERROBUS_GUARD_LOG";
/// The unit's log, where compiler commands are appended.
pub const ENV_CC_LOG: &str = "FERROBUS_CC_LOG";
/// The build prefix (directories under it are never the host's).
pub const ENV_PREFIX: &str = "FERROBUS_PREFIX";
/// Allowed host tools and directories, one per line.
pub const ENV_ALLOW: &str = "FERROBUS_HERMETIC_ALLOW";
/// The ferrobus executable the wrappers run: the one running the build, so
/// that two ferrobus versions sharing a cache (whose wrapper scripts name
/// whichever wrote them last) each check their own builds.
pub const ENV_EXE: &str = "FERROBUS_EXE";

/// One thing the guard saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Record {
    /// A host tool ran.
    HostTool {
        /// Its path.
        tool: String,
        /// Its arguments.
        args: Vec<String>,
        /// What it printed (first 2000 bytes).
        output: String,
    },
    /// A compiler was given a host directory.
    HostFlag {
        /// The compiler wrapper (`cc`, `c++`).
        compiler: String,
        /// The flag as given.
        flag: String,
        /// The host directory (or file) it names.
        dir: String,
    },
}

/// True for a directory (or file) of the host's that builds must not read:
/// `/usr/include`, `/usr/lib*`, `/lib*`, `/usr/local`, `/opt` and below,
/// unless it is under `prefix`.
pub fn is_host_path(d: &str, prefix: Option<&str>) -> bool {
    let d = d.trim_end_matches('/');
    if let Some(p) = prefix.filter(|p| !p.is_empty())
        && (d == p || d.starts_with(&format!("{p}/")))
    {
        return false;
    }
    let under = |h: &str| d == h || d.strip_prefix(h).is_some_and(|r| r.starts_with('/'));
    ["/usr/include", "/usr/local", "/opt"]
        .iter()
        .any(|h| under(h))
        || ["/usr/lib", "/lib"].iter().any(|h| {
            d.strip_prefix(h).is_some_and(|r| {
                r.is_empty()
                    || r.starts_with('/')
                    || r.starts_with("32")
                    || r.starts_with("64")
                    || r.starts_with("x32")
            })
        })
}

/// Flags naming a directory as their value or suffix.
const DIR_FLAGS: &[&str] = &["-I", "-L", "-isystem", "-idirafter", "-iquote"];

/// Flags whose value (the next argument) names no directory to read.
const OTHER_VALUE: &[&str] = &[
    "-o", "-MF", "-MT", "-MQ", "-x", "-D", "-U", "-target", "-z", "-u",
];

/// The host directories `args` (one compiler command) names: `-I`, `-L`,
/// `-isystem`... (joined or separate), `-Wl,-rpath,`/`-Wl,-L`, and absolute
/// host library files given as inputs. Each as (flag as given, directory).
pub fn violations(args: &[String], prefix: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if OTHER_VALUE.contains(&a.as_str()) {
            it.next();
            continue;
        }
        if DIR_FLAGS.contains(&a.as_str()) {
            if let Some(d) = it.next()
                && is_host_path(d, prefix)
            {
                out.push((format!("{a} {d}"), d.clone()));
            }
            continue;
        }
        if let Some(d) = DIR_FLAGS.iter().find_map(|f| a.strip_prefix(f)) {
            if is_host_path(d, prefix) {
                out.push((a.clone(), d.to_string()));
            }
            continue;
        }
        if let Some(list) = a.strip_prefix("-Wl,") {
            let parts: Vec<&str> = list.split(',').collect();
            let mut i = 0;
            while i < parts.len() {
                let p = parts[i];
                let dir = match p {
                    "-rpath" | "-rpath-link" | "-L" | "--rpath" => {
                        i += 1;
                        parts.get(i).copied()
                    }
                    _ => p
                        .strip_prefix("-rpath=")
                        .or_else(|| p.strip_prefix("-rpath-link="))
                        .or_else(|| p.strip_prefix("-L")),
                };
                if let Some(d) = dir {
                    for d in d.split(':') {
                        if is_host_path(d, prefix) {
                            out.push((a.clone(), d.to_string()));
                        }
                    }
                }
                i += 1;
            }
            continue;
        }
        if a.starts_with('/')
            && (a.ends_with(".so") || a.contains(".so.") || a.ends_with(".a"))
            && is_host_path(a, prefix)
        {
            out.push((a.clone(), a.clone()));
        }
    }
    out
}

/// What `FERROBUS_HERMETIC_ALLOW` allows: tool names or paths, directories.
fn allowed() -> Vec<String> {
    std::env::var(ENV_ALLOW)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// True when `what` (a directory or a tool) is allowed by `allow`.
fn is_allowed(what: &str, allow: &[String]) -> bool {
    let name = Path::new(what)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    allow
        .iter()
        .any(|a| *a == what || *a == name || what.starts_with(&format!("{a}/")))
}

/// Append a record to the unit's guard log (nothing without one).
fn record(r: &Record) {
    let Ok(path) = std::env::var(ENV_LOG) else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        && let Ok(line) = serde_json::to_string(r)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// Check one compiler command: record and refuse host directories that are not
/// allowed (an allowed one is passed on as given).
pub fn check_compiler(compiler: &str, args: &[String]) -> Result<()> {
    let prefix = std::env::var(ENV_PREFIX).ok();
    let allow = allowed();
    let bad: Vec<(String, String)> = violations(args, prefix.as_deref())
        .into_iter()
        .filter(|(_, d)| !is_allowed(d, &allow))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    for (flag, dir) in &bad {
        record(&Record::HostFlag {
            compiler: compiler.to_string(),
            flag: flag.clone(),
            dir: dir.clone(),
        });
    }
    let unit = std::env::var(ENV_UNIT).unwrap_or_else(|_| "this build".into());
    bail!(
        "hermetic build of {unit}: the compiler was given host director{} {} \
         (only the build prefix and the toolchain's own may be read)",
        if bad.len() == 1 { "y" } else { "ies" },
        bad.iter()
            .map(|(f, _)| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Seconds since the epoch, with nanoseconds.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Run a compiler as a child, its command line (with start and end times, for
/// counting concurrent compilers) appended to `FERROBUS_CC_LOG`, and exit with
/// its status.
pub fn run_logged(mut cmd: Command, shown: &[String]) -> Result<()> {
    let log = std::env::var(ENV_CC_LOG).ok();
    let write = |line: String| {
        if let Some(l) = &log
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(l)
        {
            let _ = f.write_all(line.as_bytes());
        }
    };
    let pid = std::process::id();
    let line = shlex::try_join(shown.iter().map(String::as_str)).unwrap_or_default();
    write(format!("ferrobus-cc: start {:.6} {pid} {line}\n", now()));
    let status = cmd
        .status()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    write(format!(
        "ferrobus-cc: end {:.6} {pid} {}\n",
        now(),
        status.code().unwrap_or(-1)
    ));
    std::process::exit(status.code().unwrap_or(1))
}

/// `ferrobus cc-guard <compiler> [args...]`: the host toolchain's `cc`/`c++`
/// wrappers. Checks the arguments, then runs the compiler.
pub fn run_cc(args: &[String]) -> Result<()> {
    let [compiler, rest @ ..] = args else {
        bail!("usage: ferrobus cc-guard <compiler> [args...]");
    };
    let name = Path::new(compiler)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Err(e) = check_compiler(&name, rest) {
        eprintln!("ferrobus: {e:#}");
        std::process::exit(1);
    }
    let mut cmd = Command::new(compiler);
    cmd.args(rest);
    let mut shown = vec![compiler.clone()];
    shown.extend(rest.iter().cloned());
    run_logged(cmd, &shown)
}

/// `ferrobus host-tool <tool> [args...]`: a host `*-config` tool's shim. Runs
/// it, records the run and what it printed (unless allowed), and passes its
/// output and status through.
pub fn run_host_tool(args: &[String]) -> Result<()> {
    let [tool, rest @ ..] = args else {
        bail!("usage: ferrobus host-tool <tool> [args...]");
    };
    let out = Command::new(tool)
        .args(rest)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !is_allowed(tool, &allowed()) && std::env::var_os(ENV_LOG).is_some() {
        let text = String::from_utf8_lossy(&out.stdout);
        let output: String = text.trim().chars().take(2000).collect();
        record(&Record::HostTool {
            tool: tool.clone(),
            args: rest.to_vec(),
            output,
        });
        let unit = std::env::var(ENV_UNIT).unwrap_or_else(|_| "this build".into());
        eprintln!("ferrobus: hermetic build of {unit}: ran the host's {tool} (recorded)");
    }
    std::io::stdout().write_all(&out.stdout)?;
    std::process::exit(out.status.code().unwrap_or(1))
}

/// True for a host program a build must not take its data from: a
/// `*-config`/`*_config` tool, except pkg-config (its search path is the
/// prefix's: `PKG_CONFIG_LIBDIR`).
fn is_config_tool(name: &str) -> bool {
    (name.ends_with("-config") || name.ends_with("_config"))
        && !name.ends_with("pkg-config")
        && !name.starts_with('.')
}

/// Write (or refresh) a shim for every host `*-config` tool on `path` (the
/// standard `PATH`'s host directories) into `dir`; returns `dir`. Shims of
/// tools that went away are removed.
pub fn write_host_tool_shims(dir: &Path, path: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let me = super::self_exe()?;
    let mut wanted = std::collections::BTreeMap::new();
    for d in path.split(':').filter(|d| d.starts_with('/')) {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let exec = e
                .path()
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if is_config_tool(&name) && exec {
                wanted.entry(name).or_insert(e.path());
            }
        }
    }
    for (name, real) in &wanted {
        let script = format!(
            "#!/bin/sh\n# Written by ferrobus: the host's {} runs recorded (src/toolchain/guard.rs).\n\
             exec \"${{FERROBUS_EXE:-{}}}\" host-tool {} \"$@\"\n",
            real.display(),
            shlex::try_quote(&me.display().to_string())?,
            shlex::try_quote(&real.display().to_string())?,
        );
        super::zig::write_if_changed(&dir.join(name), script.as_bytes(), 0o755)?;
    }
    for e in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        // Dot files are another ferrobus' shims being written.
        if !name.starts_with('.') && !wanted.contains_key(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(dir.to_path_buf())
}

/// The Debian packages whose files make the host compiler's sysroot: the C
/// library (headers, start files, `libc.so`), the kernel headers, libcrypt,
/// and gcc `major`'s C++ library headers (gcc finds its own directory,
/// `/usr/lib/gcc/...`, outside the sysroot).
fn sysroot_packages(major: &str) -> Vec<String> {
    [
        "libc6-dev",
        "libc6",
        "linux-libc-dev",
        "libcrypt-dev",
        "libcrypt1",
        "libgcc-s1",
        "libstdc++6",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("libstdc++-{major}-dev")])
    .collect()
}

/// The host compiler's sysroot: a directory of links to the files of the C
/// library's packages and nothing else, passed as `--sysroot` by the gcc
/// wrapper, so that gcc's implicit `/usr/include` and `/usr/lib` hold the C
/// library only: a host development header (`zlib.h`, `libpq-fe.h`) or
/// library (`-lz`) is not found, rather than silently used. Built once per set
/// of package versions under `toolchains`; `None` (with the reason) where
/// dpkg cannot list them (a host that is not Debian-based).
pub fn host_sysroot(
    gcc: &str,
    toolchains: &Path,
) -> Result<std::result::Result<(PathBuf, String), String>> {
    let major = super::first_line(gcc, &["-dumpversion"])?;
    let major = major.split('.').next().unwrap_or("").to_string();
    let pkgs = sysroot_packages(&major);
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package}=${Version}\n"])
        .args(&pkgs)
        .output();
    let ids = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => {
            return Ok(Err(format!(
                "dpkg-query: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        Err(e) => return Ok(Err(format!("no dpkg-query ({e})"))),
    };
    let id = ids.split_whitespace().collect::<Vec<_>>().join(" ");
    let dir = toolchains.join(format!(
        "sysroot-{}",
        &crate::util::sha256_bytes(id.as_bytes())[..16]
    ));
    if dir.join(".complete").is_file() {
        return Ok(Ok((dir, id)));
    }
    let tmp = toolchains.join(format!(".sysroot-{}", std::process::id()));
    crate::util::remove_any(&tmp)?;
    for p in &pkgs {
        let o = Command::new("dpkg").args(["-L", p]).output()?;
        for f in String::from_utf8_lossy(&o.stdout).lines() {
            let host = Path::new(f);
            let Ok(m) = std::fs::symlink_metadata(host) else {
                continue;
            };
            if m.is_dir() || !f.starts_with('/') {
                continue;
            }
            let to = tmp.join(f.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap_or(&tmp))?;
            let _ = std::os::unix::fs::symlink(host, &to);
        }
    }
    std::fs::write(tmp.join(".complete"), &id)?;
    crate::util::remove_any(&dir)?;
    std::fs::rename(&tmp, &dir)?;
    Ok(Ok((dir, id)))
}

/// The records of a guard log (none if it does not exist).
pub fn records(log: &Path) -> Vec<Record> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Fail when the unit's guard log recorded anything: `unit` names it (and
/// where it is declared), `fix` says how to provide or allow what it used.
pub fn verdict(log: &Path, unit: &str, fix: &str) -> Result<()> {
    let recs = records(log);
    if recs.is_empty() {
        return Ok(());
    }
    let mut lines = Vec::new();
    let tools: Vec<&Record> = recs
        .iter()
        .filter(|r| matches!(r, Record::HostTool { .. }))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for r in &recs {
        let line = match r {
            Record::HostTool { tool, args, output } => format!(
                "ran the host's {tool} {}, which printed: {}",
                args.join(" "),
                one_line(output)
            ),
            Record::HostFlag {
                compiler,
                flag,
                dir,
            } => {
                let from = tools.iter().find_map(|t| match t {
                    Record::HostTool { tool, output, .. } if output.contains(dir.as_str()) => {
                        Some(tool.as_str())
                    }
                    _ => None,
                });
                format!(
                    "the compiler ({compiler}) was given {flag}: {dir} is a host directory{}",
                    from.map(|t| format!(" (printed by the host's {t})"))
                        .unwrap_or_default()
                )
            }
        };
        if seen.insert(line.clone()) {
            lines.push(format!("  - {line}"));
        }
    }
    bail!(
        "{unit}: the build read the host instead of the build prefix:\n{}\n  {fix}\n  (guard log: {})",
        lines.join("\n"),
        log.display()
    )
}

/// `s` on one line, shortened.
fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 160 {
        format!("{}...", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        violations(&a, Some("/c/prefixes/p"))
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    }

    #[test]
    fn host_directories_are_found() {
        assert_eq!(
            v(&[
                "-I/usr/include/postgresql",
                "-I",
                "/usr/include/libxml2",
                "-L/usr/lib/x86_64-linux-gnu",
                "-Wl,-rpath,/usr/local/lib",
                "-isystem/opt/x/include",
                "/usr/lib/x86_64-linux-gnu/libpq.so",
                "-Wl,-rpath=/lib64:/c/prefixes/p/lib",
            ]),
            [
                "/usr/include/postgresql",
                "/usr/include/libxml2",
                "/usr/lib/x86_64-linux-gnu",
                "/usr/local/lib",
                "/opt/x/include",
                "/usr/lib/x86_64-linux-gnu/libpq.so",
                "/lib64",
            ]
        );
    }

    #[test]
    fn prefix_and_look_alikes_pass() {
        assert!(
            v(&[
                "-I/c/prefixes/p/include",
                "-L/c/prefixes/p/lib",
                "-L/usr/libx",
                "-I/library",
                "-Wl,-rpath,/c/prefixes/p/lib",
                "-DX=/usr/include",
                "-o",
                "/usr/lib/out.so",
            ])
            .is_empty()
        );
        assert!(is_host_path("/opt/prefix/include", None));
        assert!(!is_host_path("/opt/prefix/include", Some("/opt/prefix")));
    }

    #[test]
    fn config_tools() {
        assert!(is_config_tool("pg_config"));
        assert!(is_config_tool("xml2-config"));
        assert!(!is_config_tool("pkg-config"));
        assert!(!is_config_tool("x86_64-linux-gnu-pkg-config"));
        assert!(!is_config_tool("ldconfig"));
    }
}
