//! toolchain: the C toolchain of the build target, detected with the `cc` crate.
//!
//! This is the seam for targets: today `linux-x86_64` on the host; other targets
//! (aarch64, a zig-based glibc floor, Windows assembly) plug in here.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::process::Command;

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
    /// glibc version of the build root (the floor of what we build).
    pub libc: String,
}

fn first_line(cmd: &str, args: &[&str]) -> Result<String> {
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

/// Detect the host toolchain (honours `CC`/`CXX` like the `cc` crate does).
pub fn detect() -> Result<Toolchain> {
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
    Ok(Toolchain {
        target: "linux-x86_64".into(),
        cc_version: first_line(&cc, &["--version"])?,
        triple: first_line(&cc, &["-dumpmachine"])?,
        cxx: resolve(cxx.path()),
        cc,
        libc: format!("glibc {}", glibc_version()),
    })
}

/// Absolute path of a program name found on PATH.
fn which(p: &std::path::Path) -> Option<String> {
    if p.is_absolute() {
        return Some(p.display().to_string());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .map(|c| c.display().to_string())
}
