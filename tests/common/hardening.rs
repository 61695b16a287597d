//! hardening-check (devscripts) and lintian as references for the health
//! check's hardening report: what they say of a file, and a whole tree held
//! against them (tests/hardening.rs, tests/demo.rs).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

/// What `hardening-check` says of one file, in the health check's words.
pub fn reference(file: &Path) -> BTreeMap<&'static str, String> {
    let out = Command::new("hardening-check").arg(file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in {text}"))
            .trim()
            .to_string()
    };
    let yes_no = |v: String| {
        (if v.starts_with("yes") {
            "true"
        } else {
            "false"
        })
        .to_string()
    };
    let pie = get("Position Independent Executable:");
    let pie = match () {
        _ if pie.starts_with("yes") => "yes",
        _ if pie.contains("shared library") => "library",
        _ => "no",
    };
    let sp = get("Stack protected:");
    let sp = match () {
        _ if sp.starts_with("yes") => "true",
        _ if sp.starts_with("unknown") => "null",
        _ => "false",
    };
    let fo = get("Fortify Source functions:");
    let fo = match () {
        _ if fo.starts_with("yes") => "yes",
        _ if fo.starts_with("unknown") => "nothing-to-protect",
        _ => "no",
    };
    [
        ("pie", pie.to_string()),
        ("stack_protector", sp.to_string()),
        ("fortify", fo.to_string()),
        ("relro", yes_no(get("Read-only relocations:"))),
        ("bind_now", yes_no(get("Immediate binding:"))),
        ("cf_protection", yes_no(get("Control flow integrity:"))),
    ]
    .into()
}

/// The ELF executables and shared libraries under `dir`, relative to it.
pub fn elf_files(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| fs::read(e.path()).is_ok_and(|d| d.starts_with(b"\x7fELF")))
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

/// `hardening-check` with every check on, but those `skip` names
/// (`--nocfprotection`...): its success and output.
pub fn hardening_check(file: &Path, skip: &[&str]) -> (bool, String) {
    let out = Command::new("hardening-check")
        .args(skip)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// lintian's hardening tags on a deb (its whole output).
pub fn lintian(deb: &Path) -> String {
    let out = Command::new("lintian")
        .args([
            "--allow-root",
            "--tags",
            "hardening-no-pie,hardening-no-relro,hardening-no-bindnow,hardening-no-fortify-functions",
        ])
        .arg(deb)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Hold every ELF file of `tree` against hardening-check with every check on,
/// but a stack protector or FORTIFY that `check` (the health check's report,
/// as JSON) lists under `nothing_to_protect`, and control-flow protection when
/// `cet` is false; and the health check's report of each file must agree
/// with hardening-check's, property by property. Returns (ELF files, files
/// with nothing to protect).
pub fn tree_passes_hardening_check(
    tree: &Path,
    check: &serde_json::Value,
    cet: bool,
) -> (usize, usize) {
    let ours = check["hardening"].as_object().unwrap();
    let spared = check["nothing_to_protect"].as_object().unwrap();
    let files = elf_files(tree);
    let cf = if cet {
        vec![]
    } else {
        vec!["--nocfprotection"]
    };
    let mut failed = vec![];
    for file in &files {
        let path = tree.join(file);
        let mut skip = cf.clone();
        for n in spared
            .get(file)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            skip.push(match n["property"].as_str().unwrap() {
                "stack-protector" => "--nostackprotector",
                "fortify" => "--nofortify",
                other => panic!("{file}: {other} cannot have nothing to protect"),
            });
        }
        let (passed, out) = hardening_check(&path, &skip);
        if !passed {
            failed.push(format!("{file} (hardening-check {skip:?}):\n{out}"));
        }
        for (k, v) in reference(&path) {
            let got = match &ours[file][k] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(
                got, v,
                "{file}: {k}: ferrobus says {got}, hardening-check {v}"
            );
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    eprintln!(
        "{} ELF files pass hardening-check ({} with nothing to protect)",
        files.len(),
        spared.len()
    );
    (files.len(), spared.len())
}
