//! relocate: make a staged tree independent of the build prefix.
//!
//! - ELF: RPATH/RUNPATH entries inside the build prefix become `$ORIGIN/<relative>`;
//!   entries outside it are dropped (see [`crate::elf`]). Binaries are stripped first.
//! - Other NUL-terminated strings embedding the build prefix (OpenSSL's OPENSSLDIR,
//!   ncurses' terminfo dirs, libpython's prefix, ...) are rewritten to the install
//!   dir and NUL-padded to the same length.
//! - Text files (shebangs, `_sysconfigdata*`, the config Makefile, `.pc`, scripts)
//!   get the install dir in place of the build prefix. Libtool `.la` files go.
//!   A Python module that is not executable loses its dead `#!` line (the line
//!   stays, empty).
//! - `.pyc` files record their source path: they are recompiled with the install
//!   path by the tree's own Python.
//!
//! Every change is written to a temporary file beside the original and renamed over
//! it with the same mode, so an interrupted run never leaves a half-written file.

use crate::elf;
use crate::paths::PLACEHOLDER;
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::Serialize;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What to rewrite.
#[derive(Debug, Clone)]
pub struct Options {
    /// The build prefix the tree was built in.
    pub build_prefix: PathBuf,
    /// Where the tree will live on the target (e.g. `/opt/demo-agent/embedded`).
    pub install_prefix: PathBuf,
    /// Strip unstripped ELF files.
    pub strip: bool,
    /// Keep debug symbols of stripped files under this directory (`<rel>.debug`).
    pub debug_dir: Option<PathBuf>,
    /// Only rewrite ELF RPATH/RUNPATH (for comparisons with patchelf).
    pub rpath_only: bool,
    /// SOURCE_DATE_EPOCH: the mtime every package gives the `.py` files, and so
    /// the one their `.pyc` files must record to stay valid on the target.
    pub source_date_epoch: u64,
    /// A cross build's interpreter (the build host's, of the same version):
    /// it compiles the tree's bytecode, which the tree's own cannot do on this
    /// machine, and the console scripts pip wrote name it in their `#!` line
    /// (its prefix counts as the tree's own there).
    pub build_python: Option<PathBuf>,
}

impl Options {
    /// The prefix of [`Options::build_python`] (`<prefix>/bin/python3`).
    fn build_python_prefix(&self) -> Option<&Path> {
        self.build_python
            .as_deref()
            .and_then(Path::parent)
            .and_then(Path::parent)
    }
}

/// Counts of what was done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// ELF files seen.
    pub elf_files: usize,
    /// ELF files whose RPATH/RUNPATH changed.
    pub rpaths_rewritten: usize,
    /// Files with NUL-padded string rewrites.
    pub binary_files: usize,
    /// Text files rewritten.
    pub text_files: usize,
    /// `.la` files removed.
    pub la_removed: usize,
    /// ELF files stripped.
    pub stripped: usize,
    /// `.pyc` files in the tree after compiling the Python library.
    pub pyc_recompiled: usize,
    /// Seconds spent.
    pub seconds: f64,
}

enum Done {
    Nothing,
    Elf { rpath: bool, strings: bool },
    Binary,
    Text,
    La,
    Pyc,
}

/// Relocate the tree rooted at `root` (the future `install_prefix`).
pub fn relocate(root: &Path, opts: &Options) -> Result<Report> {
    let t = Instant::now();
    let files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    let mut report = Report::default();
    if opts.strip {
        report.stripped = strip_all(root, &files, opts.debug_dir.as_deref())?;
    }
    let results: Vec<Result<Done>> = files
        .par_iter()
        .map(|f| {
            relocate_file(root, f, opts).with_context(|| format!("relocating {}", f.display()))
        })
        .collect();
    for r in results {
        match r? {
            Done::Nothing => {}
            Done::Elf { rpath, strings } => {
                report.elf_files += 1;
                report.rpaths_rewritten += rpath as usize;
                report.binary_files += strings as usize;
            }
            Done::Binary => report.binary_files += 1,
            Done::Text => report.text_files += 1,
            Done::La => report.la_removed += 1,
            Done::Pyc => {}
        }
    }
    // Bytecode is compiled here, once, with the install path recorded, so that the
    // target never has to write into the install dir.
    if !opts.rpath_only {
        report.pyc_recompiled = recompile_pyc(root, opts)?;
        fix_records(root)?;
    }
    report.seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

fn relocate_file(root: &Path, f: &Path, opts: &Options) -> Result<Done> {
    let name = f.file_name().unwrap_or_default().to_string_lossy();
    if name.ends_with(".la") && !opts.rpath_only {
        fs::remove_file(f)?;
        return Ok(Done::La);
    }
    let from = opts.build_prefix.as_os_str().as_encoded_bytes();
    let to = opts.install_prefix.as_os_str().as_encoded_bytes();
    let mut data = fs::read(f)?;
    // What came from the cache holds the placeholder for the build prefix
    // (a cached wheel): it is the build prefix, and is rewritten as such.
    if from.len() == PLACEHOLDER.len() {
        crate::util::swap_bytes(&mut data, PLACEHOLDER.as_bytes(), from);
    }
    if elf::is_elf(&data) {
        let dir = f.parent().unwrap_or(root);
        let changes = elf::rewrite_rpaths(&mut data, |entry| {
            rpath_entry(entry, &opts.build_prefix, root, dir)
        })?;
        let n = if opts.rpath_only {
            0
        } else {
            elf::replace_c_strings(&mut data, from, to)?
        };
        if !changes.is_empty() || n > 0 {
            write_replace(f, &data)?;
        }
        // Shared libraries are mapped, not executed: 0644, as Debian policy 10.2
        // and lintian (shared-library-is-executable) ask.
        let mode = fs::metadata(f)?.permissions().mode();
        if !opts.rpath_only && mode & 0o111 != 0 && elf::is_shared_library(&data) {
            fs::set_permissions(f, fs::Permissions::from_mode(mode & !0o111))?;
        }
        return Ok(Done::Elf {
            rpath: !changes.is_empty(),
            strings: n > 0,
        });
    }
    if opts.rpath_only {
        return Ok(Done::Nothing);
    }
    let new = python_shebang(root, f, &data, opts).or_else(|| inert_shebang(f, &name, &data));
    if let Some(new) = new {
        data = new;
        if memchr::memmem::find(&data, from).is_none() {
            write_replace(f, &data)?;
            return Ok(Done::Text);
        }
    }
    if memchr::memmem::find(&data, from).is_none() {
        return Ok(Done::Nothing);
    }
    if name.ends_with(".pyc") {
        fs::remove_file(f)?;
        return Ok(Done::Pyc);
    }
    if memchr::memchr(0, &data[..data.len().min(8192)]).is_some() {
        elf::replace_c_strings(&mut data, from, to)?;
        write_replace(f, &data)?;
        return Ok(Done::Binary);
    }
    let text = replace_all(&data, from, to);
    write_replace(f, &text)?;
    Ok(Done::Text)
}

/// An executable script run by a Python — "some python" (`#!/usr/bin/env
/// python3`, `#!/usr/bin/python`) or the tree's own by its build or install path
/// (pip's console scripts) — in a tree that ships its own: it becomes relocatable.
/// The first lines are a polyglot (the form pip itself writes for long paths):
/// `sh` execs the tree's interpreter found relative to the script's real location,
/// and Python sees a string literal. So the script runs wherever the tree is
/// unpacked (the `.sh` installer's `--prefix`) and through symlinks. Returns the
/// new contents.
fn python_shebang(root: &Path, f: &Path, data: &[u8], opts: &Options) -> Option<Vec<u8>> {
    if !data.starts_with(b"#!") || !root.join("bin/python3").exists() {
        return None;
    }
    let mode = fs::metadata(f).ok()?.permissions().mode();
    if mode & 0o111 == 0 {
        return None;
    }
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let line = std::str::from_utf8(&data[2..end]).ok()?.trim();
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let interp = if first == "/usr/bin/env" {
        words.next()?
    } else {
        first
    };
    let name = interp.rsplit('/').next()?;
    let is_python = name == "python"
        || name
            .strip_prefix("python3")
            .is_some_and(|v| v.is_empty() || v.starts_with('.'));
    let ours = [
        Some(opts.build_prefix.as_path()),
        Some(opts.install_prefix.as_path()),
        opts.build_python_prefix(),
    ]
    .into_iter()
    .flatten()
    .any(|p| Path::new(first).starts_with(p));
    if !is_python || !(ours || first == "/usr/bin/env" || first.starts_with("/usr/bin/")) {
        return None;
    }
    let target = if ours && root.join("bin").join(name).exists() {
        name
    } else {
        "python3"
    };
    let dir = f.parent()?.strip_prefix(root).ok()?;
    let rel = if dir == Path::new("bin") {
        PathBuf::from(target)
    } else {
        let mut rel: PathBuf = dir.components().map(|_| "..").collect();
        rel.push("bin");
        rel.push(target);
        rel
    };
    let mut out = format!(
        "#!/bin/sh\n'''exec' \"$(dirname -- \"$(readlink -f -- \"$0\")\")/{}\" \"$0\" \"$@\"\n' '''\n",
        rel.display()
    )
    .into_bytes();
    out.extend_from_slice(&data[(end + 1).min(data.len())..]);
    Some(out)
}

/// A Python module that is not executable but starts with a `#!` line (the
/// standard library's `base64.py`, `pdb.py`, `tarfile.py`, ...): it is imported
/// or run as `python -m`, never exec'd, so the line is dead, and it names an
/// interpreter outside the tree (`/usr/bin/env python3`). rpmlint
/// (`non-executable-script`) and lintian (`script-not-executable`) flag such
/// files; making them executable instead would give `/usr/bin/env` scripts
/// (`env-script-interpreter`). The line is emptied, not removed, so that line
/// numbers in tracebacks and an encoding declaration on line 2 stay where they
/// were. Returns the new contents.
fn inert_shebang(f: &Path, name: &str, data: &[u8]) -> Option<Vec<u8>> {
    if !name.ends_with(".py") || !data.starts_with(b"#!") {
        return None;
    }
    if fs::metadata(f).ok()?.permissions().mode() & 0o111 != 0 {
        return None;
    }
    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    Some(data[end..].to_vec())
}

/// The new form of one RPATH entry of a file in `dir`: inside the build prefix →
/// `$ORIGIN/<relative>`, `$ORIGIN`-relative entries kept, anything else dropped.
pub fn rpath_entry(entry: &str, build_prefix: &Path, root: &Path, dir: &Path) -> Option<String> {
    if entry.starts_with("$ORIGIN") || entry.starts_with("${ORIGIN}") {
        return Some(entry.to_string());
    }
    let target = Path::new(entry).strip_prefix(build_prefix).ok()?;
    let from = dir.strip_prefix(root).ok()?;
    let common = from
        .components()
        .zip(target.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut relpath = PathBuf::new();
    for _ in from.components().skip(common) {
        relpath.push("..");
    }
    for c in target.components().skip(common) {
        relpath.push(c);
    }
    let s = relpath.to_string_lossy();
    Some(if s.is_empty() {
        "$ORIGIN".into()
    } else {
        format!("$ORIGIN/{s}")
    })
}

fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut last = 0;
    for i in memchr::memmem::find_iter(data, from) {
        out.extend_from_slice(&data[last..i]);
        out.extend_from_slice(to);
        last = i + from.len();
    }
    out.extend_from_slice(&data[last..]);
    out
}

/// Write `data` to a temporary file beside `path`, keep the mode, rename over it.
pub fn write_replace(path: &Path, data: &[u8]) -> Result<()> {
    let mode = fs::metadata(path)?.permissions().mode();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".ferrobus-")
        .tempfile_in(dir)?;
    std::io::Write::write_all(&mut tmp, data)?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Only the first four bytes: most files in a Python tree are not ELF.
fn starts_like_elf(path: &Path) -> bool {
    let mut head = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && elf::is_elf(&head)
}

fn has_symtab(data: &[u8]) -> bool {
    elf::parse(data)
        .map(|e| {
            !e.syms.is_empty()
                || e.section_headers.iter().any(|s| {
                    s.sh_type == goblin::elf::section_header::SHT_PROGBITS
                        && e.shdr_strtab
                            .get_at(s.sh_name)
                            .is_some_and(|n| n.starts_with(".debug"))
                })
        })
        .unwrap_or(false)
}

/// Strip every unstripped ELF file (in parallel), optionally keeping debug info.
fn strip_all(root: &Path, files: &[PathBuf], debug_dir: Option<&Path>) -> Result<usize> {
    let todo: Vec<&PathBuf> = files
        .par_iter()
        .filter(|f| starts_like_elf(f) && fs::read(f).is_ok_and(|d| has_symtab(&d)))
        .collect();
    todo.par_iter()
        .map(|f| -> Result<()> {
            let tmp = f.with_file_name(format!(
                ".ferrobus-strip-{}",
                f.file_name().unwrap_or_default().to_string_lossy()
            ));
            if let Some(dbg) = debug_dir {
                let rel = f.strip_prefix(root)?;
                let out = dbg.join(format!("{}.debug", rel.display()));
                fs::create_dir_all(out.parent().unwrap_or(dbg))?;
                run(Command::new(binutil(f, "objcopy")?)
                    .arg("--only-keep-debug")
                    .arg(f)
                    .arg(&out))?;
            }
            run(Command::new(binutil(f, "strip")?)
                .arg("--strip-unneeded")
                .arg("-o")
                .arg(&tmp)
                .arg(f))?;
            let mode = fs::metadata(f)?.permissions().mode();
            fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
            fs::rename(&tmp, f)?;
            Ok(())
        })
        .collect::<Result<Vec<()>>>()?;
    Ok(todo.len())
}

/// The binutils program `tool` (`strip`, `objcopy`) for the ELF file `f`:
/// the host's own for the host's architecture, `<arch>-linux-gnu-<tool>`
/// (Debian's `binutils-<arch>-linux-gnu`) for another, as the host's
/// binutils know only their own machine.
fn binutil(f: &Path, tool: &str) -> Result<String> {
    use crate::target::Arch;
    let mut head = [0u8; 20];
    std::io::Read::read_exact(&mut fs::File::open(f)?, &mut head)?;
    // e_machine: 2 bytes at offset 18, in the file's byte order (EI_DATA).
    let m = match head[5] {
        2 => u16::from_be_bytes([head[18], head[19]]),
        _ => u16::from_le_bytes([head[18], head[19]]),
    };
    match Arch::of_elf_machine(m) {
        Some(a) if a == Arch::host() => Ok(tool.to_string()),
        Some(a) => Ok(format!("{}-linux-gnu-{tool}", a.uname())),
        None => bail!(
            "{}: ELF machine {m} is not one ferrobus builds for",
            f.display()
        ),
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Compile the Python library's bytecode with the install path recorded, using the
/// tree's own (now relocated) interpreter. Returns how many `.pyc` files exist after.
///
/// The `.pyc` files are timestamp-checked, as Python's own install does; the
/// packages give every file the mtime `epoch`, so the sources get it here first:
/// the bytecode then matches its source on the target (never rewritten there)
/// and is the same bytes in every build.
/// Make every installed distribution's `RECORD` true again for the files
/// relocation rewrote (pip hashed a console script with the build prefix in
/// its `#!` line): their sha256 and size are those of the files as shipped,
/// so the tree is the same whichever prefix it was built in.
fn fix_records(root: &Path) -> Result<()> {
    use base64::Engine as _;
    let records: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name() == "RECORD"
                && e.path()
                    .parent()
                    .is_some_and(|d| d.to_string_lossy().ends_with(".dist-info"))
        })
        .map(|e| e.into_path())
        .collect();
    records.par_iter().try_for_each(|rec| -> Result<()> {
        let site = rec.parent().and_then(Path::parent).unwrap_or(root);
        let text = fs::read_to_string(rec)?;
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        for line in text.lines() {
            let parts: Vec<&str> = line.splitn(3, ',').collect();
            let fixed = match parts.as_slice() {
                [path, hash, _] if hash.starts_with("sha256=") && !path.starts_with('"') => {
                    fs::read(site.join(path)).ok().and_then(|data| {
                        let d = <sha2::Sha256 as sha2::Digest>::digest(&data);
                        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d);
                        let new = format!("{path},sha256={h},{}", data.len());
                        (new != line).then_some(new)
                    })
                }
                _ => None,
            };
            changed |= fixed.is_some();
            out.push_str(fixed.as_deref().unwrap_or(line));
            out.push('\n');
        }
        if changed {
            write_replace(rec, out.as_bytes())?;
        }
        Ok(())
    })
}

fn recompile_pyc(root: &Path, opts: &Options) -> Result<usize> {
    let (install_prefix, epoch) = (&opts.install_prefix, opts.source_date_epoch);
    if !root.join("bin/python3").exists() {
        return Ok(0);
    }
    // Bytecode is the same for every architecture: a cross-built tree's is
    // compiled by the build host's interpreter of the same version.
    let py = opts
        .build_python
        .clone()
        .unwrap_or_else(|| root.join("bin/python3"));
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    for e in walkdir::WalkDir::new(root.join("lib"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "py"))
    {
        fs::File::options()
            .write(true)
            .open(e.path())?
            .set_modified(when)
            .with_context(|| format!("setting the mtime of {}", e.path().display()))?;
    }
    let libs: Vec<PathBuf> = fs::read_dir(root.join("lib"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
                && p.is_dir()
        })
        .collect();
    for lib in libs {
        run(Command::new(&py)
            .env_clear()
            .env("LC_ALL", "C")
            // -B: the interpreter's own imports must not write bytecode with the
            // staging path in it; -f: every file is compiled here, none kept.
            .args(["-E", "-s", "-B", "-m", "compileall", "-f", "-q", "-j0"])
            .args(["--invalidation-mode", "timestamp"])
            .args(["-x", "bad_coding|badsyntax|lib2to3/tests/data"])
            .arg("-s")
            .arg(root)
            .arg("-p")
            .arg(install_prefix)
            .arg(&lib))?;
    }
    Ok(walkdir::WalkDir::new(root.join("lib"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pyc"))
        .count())
}

#[cfg(test)]
mod tests {
    use super::{inert_shebang, rpath_entry};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    #[test]
    fn dead_shebangs_of_modules_are_emptied() {
        let t = tempfile::tempdir().unwrap();
        let file = |name: &str, mode: u32| {
            let p = t.path().join(name);
            fs::write(
                &p,
                "#!/usr/bin/env python3\n# -*- coding: latin-1 -*-\nx = 1\n",
            )
            .unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let data = fs::read(&p).unwrap();
            inert_shebang(&p, name, &data).map(|d| String::from_utf8(d).unwrap())
        };
        // Line 1 emptied: the encoding line stays line 2.
        assert_eq!(
            file("base64.py", 0o644).as_deref(),
            Some("\n# -*- coding: latin-1 -*-\nx = 1\n")
        );
        // A script that is run keeps its interpreter line; other files are not touched.
        assert_eq!(file("tool.py", 0o755), None);
        assert_eq!(file("tool", 0o644), None);
    }

    #[test]
    fn rpath_entries_become_origin_relative() {
        let bp = Path::new("/b/p____");
        let root = Path::new("/stage/emb");
        let e = |entry: &str, dir: &str| rpath_entry(entry, bp, root, &root.join(dir));
        assert_eq!(e("/b/p____/lib", "lib").as_deref(), Some("$ORIGIN"));
        assert_eq!(e("/b/p____/lib", "bin").as_deref(), Some("$ORIGIN/../lib"));
        assert_eq!(
            e("/b/p____/lib", "lib/python3.13/lib-dynload").as_deref(),
            Some("$ORIGIN/../..")
        );
        assert_eq!(e("/b/p____/lib/x", "lib").as_deref(), Some("$ORIGIN/x"));
        assert_eq!(e("/usr/lib", "lib"), None);
        assert_eq!(
            e("$ORIGIN/../lib", "bin").as_deref(),
            Some("$ORIGIN/../lib")
        );
    }
}
