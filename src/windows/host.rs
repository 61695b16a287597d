//! host: the launchers and service hosts of a Windows bundle: one small native
//! program (`packaging/windows/host.c`), compiled here by zig for
//! `x86_64-windows-gnu` once per source and zig version (cached under the
//! toolchains directory), then copied once per use with its configuration
//! written into a reserved block of its data ([`configure`]), so a project
//! never compiles anything for Windows.
//!
//! Why a native host of our own (and not pywin32's `pythonservice.exe` or a
//! `.cmd` shim): a `.cmd` is not an executable (no `demo-agent.exe`, and
//! cmd.exe mangles exit codes and quoting); pywin32's host needs the app to
//! subclass `win32serviceutil.ServiceFramework` and brings 10 MB of DLLs. This
//! one is 70 kB, needs nothing from the app, runs the same entry point as on
//! Linux and turns a service stop into the SIGTERM the agent already handles.

use crate::fingerprint::Fingerprint;
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The program's source, built into ferrobus.
pub const SOURCE: &str = include_str!("../../packaging/windows/host.c");

/// The start of the configuration block (followed by a NUL, then the
/// configuration); the C source declares the same.
const MARKER: &[u8] = b"@@FERROBUS-HOST-CONFIG-V1@@";

/// The size of the block, marker included (the C source's `CONFIG_SIZE`).
const CONFIG_SIZE: usize = 4096;

/// The zig target and flags; part of the cache key.
const FLAGS: &[&str] = &[
    "-target",
    "x86_64-windows-gnu",
    "-Os",
    "-municode",
    "-Wall",
    "-Werror",
    "-ladvapi32",
    "-lshell32",
];

/// What a copy of the host does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A launcher: runs `python.exe` with the entry point and its arguments.
    Console,
    /// A Windows service host: runs the entry point in process, named `service`,
    /// its output appended to `log` (relative to `%ProgramData%`).
    Service {
        /// The service's name.
        service: String,
        /// `python3XY.dll`, relative to the host's directory.
        dll: String,
        /// Where stdout and stderr go.
        log: String,
        /// Seconds between SIGTERM and SIGINT on a stop.
        stop_seconds: u32,
    },
    /// Runs the script `module` (a path relative to the host) in process with
    /// the host's arguments, its output appended to `log`: an installer's
    /// custom actions, which may have no usable standard handles.
    Script {
        /// `python3XY.dll`, relative to the host's directory.
        dll: String,
        /// Where stdout and stderr go: relative to `%ProgramData%`, or to the
        /// temporary folder with a leading `%TEMP%\`.
        log: String,
    },
}

/// The configuration of one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// What it does.
    pub role: Role,
    /// `python.exe`, relative to the host's directory (backslashes).
    pub python: String,
    /// The entry point's module.
    pub module: String,
    /// The entry point's attribute (a dotted path in the module); empty for
    /// a script.
    pub attr: String,
}

impl HostConfig {
    /// The `key=value` lines the C program reads.
    fn text(&self) -> Result<String> {
        let mut lines = vec![
            format!(
                "role={}",
                match self.role {
                    Role::Console => "console",
                    Role::Service { .. } => "service",
                    Role::Script { .. } => "script",
                }
            ),
            format!("python={}", self.python),
            format!("module={}", self.module),
        ];
        if !self.attr.is_empty() {
            lines.push(format!("attr={}", self.attr));
        }
        match &self.role {
            Role::Console => {}
            Role::Service {
                service,
                dll,
                log,
                stop_seconds,
            } => {
                lines.push(format!("service={service}"));
                lines.push(format!("dll={dll}"));
                lines.push(format!("log={log}"));
                lines.push(format!("stop_seconds={stop_seconds}"));
            }
            Role::Script { dll, log } => {
                lines.push(format!("dll={dll}"));
                lines.push(format!("log={log}"));
            }
        }
        for l in &lines {
            if l.contains(['\n', '\0']) {
                bail!("host configuration line {l:?}: no newlines or NULs");
            }
        }
        Ok(lines.join("\n"))
    }
}

/// The compiled host: `<toolchains>/windows-host/<key>/host.exe`, compiled by
/// `zig` unless there already. Returns its path.
pub fn compiled(zig: &Path, zig_version: &str, toolchains: &Path) -> Result<PathBuf> {
    let key = Fingerprint::new("windows-host")
        .with("source", crate::util::sha256_bytes(SOURCE.as_bytes()))
        .with("zig", zig_version)
        .with("flags", FLAGS)
        .key();
    let dir = toolchains.join("windows-host").join(&key[..16]);
    let exe = dir.join("host.exe");
    if exe.is_file() {
        return Ok(exe);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&dir)?;
    let src = work.path().join("host.c");
    fs::write(&src, SOURCE)?;
    let out = work.path().join("host.exe");
    // zig's caches beside the result: the Windows C runtime it builds once
    // (minutes) is reused by every later compile with this zig.
    let cache = toolchains.join("windows-host").join("zig-cache");
    let res = Command::new(zig)
        .arg("cc")
        .args(FLAGS)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .env("ZIG_GLOBAL_CACHE_DIR", &cache)
        .env("ZIG_LOCAL_CACHE_DIR", &cache)
        .output()
        .with_context(|| format!("running {}", zig.display()))?;
    if !res.status.success() {
        bail!(
            "compiling the Windows host (packaging/windows/host.c) with {} failed:\n{}",
            zig.display(),
            String::from_utf8_lossy(&res.stderr)
        );
    }
    let bytes = fs::read(&out)?;
    marker_offset(&bytes).context("the compiled Windows host has no configuration block")?;
    fs::rename(&out, &exe)?;
    Ok(exe)
}

/// Where the configuration block starts: exactly one marker.
fn marker_offset(bytes: &[u8]) -> Result<usize> {
    let mut hits = memchr::memmem::find_iter(bytes, MARKER);
    let (Some(at), None) = (hits.next(), hits.next()) else {
        bail!("not exactly one configuration marker");
    };
    if at + CONFIG_SIZE > bytes.len() {
        bail!("the configuration block is cut short");
    }
    Ok(at)
}

/// A copy of `host` (the compiled program's bytes) configured by `cfg`.
pub fn configure(host: &[u8], cfg: &HostConfig) -> Result<Vec<u8>> {
    let at = marker_offset(host)?;
    let text = cfg.text()?;
    let start = at + MARKER.len() + 1;
    let room = CONFIG_SIZE - MARKER.len() - 2;
    if text.len() > room {
        bail!(
            "host configuration of {} bytes exceeds the {room} the block holds",
            text.len()
        );
    }
    let mut out = host.to_vec();
    if out[start..at + CONFIG_SIZE].iter().any(|b| *b != 0) {
        bail!("this host is already configured");
    }
    out[start..start + text.len()].copy_from_slice(text.as_bytes());
    Ok(out)
}

/// The configuration written into a configured host, if any (for checks).
pub fn configuration(bytes: &[u8]) -> Option<String> {
    let at = marker_offset(bytes).ok()?;
    let block = &bytes[at + MARKER.len() + 1..at + CONFIG_SIZE];
    let end = block.iter().position(|b| *b == 0).unwrap_or(block.len());
    Some(String::from_utf8_lossy(&block[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_writes_the_block_once() {
        let mut fake = vec![7u8; 100];
        fake.extend_from_slice(MARKER);
        fake.extend(std::iter::repeat_n(0u8, CONFIG_SIZE - MARKER.len()));
        fake.extend_from_slice(&[9; 10]);
        let cfg = HostConfig {
            role: Role::Console,
            python: r"..\python\python.exe".into(),
            module: "demo_agent.main".into(),
            attr: "main".into(),
        };
        let out = configure(&fake, &cfg).unwrap();
        assert_eq!(out.len(), fake.len());
        assert_eq!(
            configuration(&out).unwrap(),
            "role=console\npython=..\\python\\python.exe\nmodule=demo_agent.main\nattr=main"
        );
        assert!(configure(&out, &cfg).is_err(), "configured twice");
        assert!(configure(&[0u8; 10], &cfg).is_err());
    }
}
