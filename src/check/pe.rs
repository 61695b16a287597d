//! pe: the health check of a Windows bundle's PE files (goblin parses them).
//!
//! Every DLL a `.exe`, `.dll` or `.pyd` imports must be found where Windows
//! will look for it: beside the importing file (Python loads extension modules
//! with `LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR`), in the directory of the bundle's
//! `python.exe` (the application directory), or among the DLLs every Windows
//! x64 system has (the API sets and the system DLL list below); and every PE
//! file must be built for x86-64. A problem names the file (and the DLL).

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// DLLs in `System32` of every supported Windows x64 (10 and later), in lower case.
pub const SYSTEM_DLLS: &[&str] = &[
    "advapi32.dll",
    "bcrypt.dll",
    "cabinet.dll",
    "cfgmgr32.dll",
    "comctl32.dll",
    "comdlg32.dll",
    "crypt32.dll",
    "dbghelp.dll",
    "dnsapi.dll",
    "gdi32.dll",
    "imm32.dll",
    "iphlpapi.dll",
    "kernel32.dll",
    "kernelbase.dll",
    "mpr.dll",
    "msi.dll",
    "mswsock.dll",
    "msvcrt.dll",
    "ncrypt.dll",
    "netapi32.dll",
    "normaliz.dll",
    "ntdll.dll",
    "ole32.dll",
    "oleaut32.dll",
    "pdh.dll",
    "powrprof.dll",
    "propsys.dll",
    "psapi.dll",
    "rpcrt4.dll",
    "secur32.dll",
    "setupapi.dll",
    "shell32.dll",
    "shlwapi.dll",
    "ucrtbase.dll",
    "user32.dll",
    "userenv.dll",
    "uxtheme.dll",
    "version.dll",
    "winhttp.dll",
    "wininet.dll",
    "winmm.dll",
    "wintrust.dll",
    "ws2_32.dll",
    "wtsapi32.dll",
];

/// One import that resolves nowhere.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Missing {
    /// The importing file, relative to the bundle.
    pub file: String,
    /// The DLL it imports.
    pub dll: String,
}

/// The result of a PE check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// PE files examined.
    pub pe_files: usize,
    /// Imports resolved.
    pub imports: usize,
    /// Imports that resolve nowhere.
    pub missing: Vec<Missing>,
    /// PE files for another machine than x86-64 (file, machine), which an
    /// x64 python.exe cannot load.
    pub wrong_machine: Vec<(String, String)>,
    /// Files with a PE extension that goblin could not parse (file, error).
    pub unreadable: Vec<(String, String)>,
}

impl Report {
    /// No problem found.
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.unreadable.is_empty() && self.wrong_machine.is_empty()
    }

    /// A human-readable report, one line per problem.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for m in &self.missing {
            s.push_str(&format!(
                "{}: imports {}, which is neither in the bundle (beside it or beside python.exe) nor a Windows system DLL\n",
                m.file, m.dll
            ));
        }
        for (f, m) in &self.wrong_machine {
            s.push_str(&format!("{f}: built for {m}, not x86-64\n"));
        }
        for (f, e) in &self.unreadable {
            s.push_str(&format!("{f}: not a readable PE file: {e}\n"));
        }
        s.push_str(&format!(
            "{} PE files, {} imports resolved, {} missing\n",
            self.pe_files,
            self.imports,
            self.missing.len()
        ));
        s
    }
}

/// Whether a DLL name is provided by Windows itself.
pub fn is_system_dll(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("api-ms-win-") || n.starts_with("ext-ms-") || SYSTEM_DLLS.contains(&n.as_str())
}

fn is_pe_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".exe") || n.ends_with(".dll") || n.ends_with(".pyd")
}

/// Lower-case names of the files in a directory.
fn names_in(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// Check every PE file under `root`.
pub fn check(root: &Path) -> Result<Report> {
    let mut files = Vec::new();
    let mut app_dirs = Vec::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.with_context(|| format!("walking {}", root.display()))?;
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && is_pe_name(&name) {
            if name.eq_ignore_ascii_case("python.exe") {
                app_dirs.push(e.path().parent().unwrap_or(root).to_path_buf());
            }
            files.push(e.into_path());
        }
    }
    let app: BTreeSet<String> = app_dirs.iter().flat_map(|d| names_in(d)).collect();
    let mut r = Report::default();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        let data = fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
        let pe = match goblin::pe::PE::parse(&data) {
            Ok(pe) => pe,
            Err(e) => {
                r.unreadable.push((rel, e.to_string()));
                continue;
            }
        };
        r.pe_files += 1;
        let machine = pe.header.coff_header.machine;
        if machine != goblin::pe::header::COFF_MACHINE_X86_64 {
            r.wrong_machine.push((rel.clone(), machine_name(machine)));
        }
        let beside = names_in(f.parent().unwrap_or(root));
        let mut libs: Vec<String> = pe.libraries.iter().map(|l| l.to_string()).collect();
        libs.sort_by_key(|l| l.to_ascii_lowercase());
        libs.dedup_by_key(|l| l.to_ascii_lowercase());
        for lib in libs {
            let n = lib.to_ascii_lowercase();
            if beside.contains(&n) || app.contains(&n) || is_system_dll(&n) {
                r.imports += 1;
            } else {
                r.missing.push(Missing {
                    file: rel.clone(),
                    dll: lib,
                });
            }
        }
    }
    r.missing.sort();
    Ok(r)
}

fn machine_name(m: u16) -> String {
    match m {
        goblin::pe::header::COFF_MACHINE_X86 => "x86 (32-bit)".into(),
        goblin::pe::header::COFF_MACHINE_ARM64 => "ARM64".into(),
        goblin::pe::header::COFF_MACHINE_ARMNT => "ARM (32-bit)".into(),
        other => format!("machine 0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_dlls_are_known() {
        assert!(is_system_dll("KERNEL32.dll"));
        assert!(is_system_dll("api-ms-win-crt-runtime-l1-1-0.dll"));
        assert!(!is_system_dll("vcruntime140.dll"));
        assert!(!is_system_dll("libffi-8.dll"));
    }
}
