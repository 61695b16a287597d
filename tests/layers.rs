//! Modules import downwards only: every module of src/ has a layer (its place in
//! the pipeline, or below it for shared support code), and no module may name a
//! module of a later layer (`crate::<module>` in a `use` or a path). The layer
//! table is the pipeline order of README.md's "Pipeline" section.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Layers, lowest first. A module may use modules of its own or lower layers.
const LAYERS: &[&[&str]] = &[
    // Shared support code: no pipeline knowledge.
    &["util", "paths", "fingerprint", "target", "elf", "pypkg"],
    // A definition's hardening opt-out is part of what load validates.
    &["load", "hardening"],
    &["toolchain"],
    &["plan"],
    &["fetch", "extract", "cache"],
    // The runtime: built from definitions (build) or assembled (windows).
    &["build", "windows"],
    &["app"],
    &["stage"],
    &["provenance"],
    &["relocate"],
    &["check"],
    &["package"],
    &["verify"],
    // After a build: the repository the packages are shipped from.
    &["publish"],
    &["ops"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// `crate::name` occurrences in `text`, outside comments, and the names in
/// `use crate::{a, b::c}` groups.
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        out.push(name.to_string());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn modules_import_downwards_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    let mut violations = BTreeMap::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if matches!(module.as_str(), "lib" | "main" | "cli") {
            continue; // the crate roots and the binary's arguments
        }
        let own = layer_of(&module).unwrap_or_else(|| {
            panic!("src/{module}: not in the layer table of tests/layers.rs; add it")
        });
        checked += 1;
        for used in uses(&fs::read_to_string(f).unwrap()) {
            let Some(l) = layer_of(&used) else { continue };
            if l > own {
                violations
                    .entry(rel.display().to_string())
                    .or_insert_with(Vec::new)
                    .push(used);
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked");
    assert!(
        violations.is_empty(),
        "modules that import a later stage (file: modules): {violations:#?}"
    );
}

#[test]
fn the_use_scanner_sees_groups_and_paths() {
    let u = uses("use crate::{a, b::c};\nlet x = crate::d::e(); // crate::f\n");
    assert_eq!(u, ["a", "b", "d"]);
}
