//! seal: bind the SBOM to the exact payload it describes.
//!
//! Once the tree is relocated and checked, [`seal`] lists the install dir (every
//! file's path and sha256, every symlink's path and target; directories, modes
//! and mtimes left out, since packagers normalise those) in
//! [`PAYLOAD_LIST`] at its top, and records the sha256 of that list, the payload
//! digest, in `bom.json` as the `ferrobus:payload-sha256` property of the
//! metadata. `bom.json` and the list are the two files left out of the list.
//! `ferrobus verify` recomputes the digest from an artifact's payload ([`digest`]
//! over the same nodes) and compares; when it differs, the list shipped in the
//! payload (bound to the SBOM by the same digest) names the files that differ
//! ([`differences`]).
//!
//! Why a list file rather than per-file hashes in the SBOM: a CycloneDX
//! component per file (thousands for a CPython tree) would bury the components
//! that matter (the software and its licenses) under files that are not
//! software, and one property holding thousands of lines is not what properties
//! are for. The list is plain text an administrator can read on an installed
//! system, the SBOM stays as it was (one digest, now of a file one can look at),
//! and SBOMs sealed before the list existed record the same digest.

use super::{SBOM_FILE, render};
use crate::util::{sha256_bytes, sha256_file, write_atomic};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The SBOM property holding the payload digest.
pub const PAYLOAD_PROPERTY: &str = "ferrobus:payload-sha256";

/// The SBOM property naming the payload's file list.
pub const LIST_PROPERTY: &str = "ferrobus:payload-list";

/// The file list at the top of the install dir: one line per file
/// (`file <sha256> <path>`) and symlink (`link <target> <path>`), sorted by path;
/// its sha256 is the payload digest.
pub const PAYLOAD_LIST: &str = "payload-files.txt";

/// One non-directory entry of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file, by its sha256.
    File(String),
    /// A symbolic link, by its target.
    Link(String),
}

/// The file list of a payload ([`PAYLOAD_LIST`]): `nodes` maps paths relative
/// to the install dir to their node; the SBOM and the list at the top are left
/// out.
pub fn listing(nodes: &BTreeMap<String, Node>) -> String {
    let mut text = String::new();
    for (rel, node) in nodes
        .iter()
        .filter(|(rel, _)| *rel != SBOM_FILE && *rel != PAYLOAD_LIST)
    {
        match node {
            Node::File(sha) => text.push_str(&format!("file {sha} {rel}\n")),
            Node::Link(target) => text.push_str(&format!("link {target} {rel}\n")),
        }
    }
    text
}

/// The digest of a payload: the sha256 of its [`listing`].
pub fn digest(nodes: &BTreeMap<String, Node>) -> String {
    sha256_bytes(listing(nodes).as_bytes())
}

/// The nodes a [`listing`] records (`None` if it is not one).
pub fn parse_listing(text: &str) -> Option<BTreeMap<String, Node>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (kind, rest) = line.split_once(' ')?;
        let (value, rel) = rest.split_once(' ')?;
        let node = match kind {
            "file" => Node::File(value.to_string()),
            "link" => Node::Link(value.to_string()),
            _ => return None,
        };
        out.insert(rel.to_string(), node);
    }
    Some(out)
}

/// How one path of a payload differs from what was sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// In both, with other contents (or another symlink target).
    Changed(String),
    /// In the payload only.
    Added(String),
    /// Sealed, but not in the payload.
    Missing(String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Changed(p) => write!(f, "{p} differs from what its SBOM records"),
            Difference::Added(p) => write!(f, "{p} is not in what its SBOM records"),
            Difference::Missing(p) => write!(f, "{p} is missing (its SBOM records it)"),
        }
    }
}

/// The paths where `got` (a payload's nodes) differs from `sealed` (its list),
/// sorted by path; the SBOM and the list themselves are left out.
pub fn differences(
    sealed: &BTreeMap<String, Node>,
    got: &BTreeMap<String, Node>,
) -> Vec<Difference> {
    let skip = |rel: &str| rel == SBOM_FILE || rel == PAYLOAD_LIST;
    let mut out = Vec::new();
    for (rel, node) in got.iter().filter(|(r, _)| !skip(r)) {
        match sealed.get(rel) {
            Some(n) if n == node => {}
            Some(_) => out.push(Difference::Changed(rel.clone())),
            None => out.push(Difference::Added(rel.clone())),
        }
    }
    for rel in sealed.keys().filter(|r| !skip(r) && !got.contains_key(*r)) {
        out.push(Difference::Missing(rel.clone()));
    }
    out.sort_by(|a, b| path_of(a).cmp(path_of(b)));
    out
}

fn path_of(d: &Difference) -> &str {
    match d {
        Difference::Changed(p) | Difference::Added(p) | Difference::Missing(p) => p,
    }
}

/// The nodes of a tree on disk.
pub fn tree_nodes(dir: &Path) -> Result<BTreeMap<String, Node>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e?;
        let rel = e.path().strip_prefix(dir)?.to_string_lossy().into_owned();
        let ft = e.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(e.path())?;
            out.insert(rel, Node::Link(target.to_string_lossy().into_owned()));
        } else if ft.is_file() {
            out.insert(rel, Node::File(sha256_file(e.path())?));
        }
    }
    Ok(out)
}

/// The payload digest an SBOM records, if any.
pub fn recorded(bom: &Value) -> Option<String> {
    bom["metadata"]["properties"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == PAYLOAD_PROPERTY)
        .and_then(|p| p["value"].as_str())
        .map(String::from)
}

/// Write the file list of the staged `install_dir` ([`PAYLOAD_LIST`]) and record
/// its digest in its `bom.json` (and give the SBOM its new serial number).
/// Returns the digest.
pub fn seal(install_dir: &Path) -> Result<String> {
    let path = install_dir.join(SBOM_FILE);
    let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut bom: Value =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    let list = listing(&tree_nodes(install_dir)?);
    write_atomic(&install_dir.join(PAYLOAD_LIST), list.as_bytes())?;
    let sum = sha256_bytes(list.as_bytes());
    let Some(props) = bom["metadata"]["properties"].as_array_mut() else {
        bail!("{}: no metadata.properties", path.display());
    };
    props.retain(|p| p["name"] != PAYLOAD_PROPERTY && p["name"] != LIST_PROPERTY);
    props.push(json!({"name": PAYLOAD_PROPERTY, "value": sum}));
    props.push(json!({"name": LIST_PROPERTY, "value": PAYLOAD_LIST}));
    super::sbom::set_serial(&mut bom);
    write_atomic(&path, render(&bom).as_bytes())?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_covers_paths_contents_and_links_but_not_the_sbom() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::create_dir_all(d.join("embedded/bin")).unwrap();
        fs::write(d.join("embedded/bin/tool"), "a").unwrap();
        std::os::unix::fs::symlink("embedded/bin/tool", d.join("tool")).unwrap();
        fs::write(
            d.join(SBOM_FILE),
            r#"{"metadata":{"properties":[]},"components":[]}"#,
        )
        .unwrap();
        let first = seal(d).unwrap();
        // Sealing again (the SBOM changed, nothing else) gives the same digest.
        assert_eq!(seal(d).unwrap(), first);
        let bom: Value = serde_json::from_slice(&fs::read(d.join(SBOM_FILE)).unwrap()).unwrap();
        assert_eq!(recorded(&bom).as_deref(), Some(first.as_str()));
        // A changed byte, a changed link target, a new file: each changes it.
        fs::write(d.join("embedded/bin/tool"), "b").unwrap();
        let second = digest(&tree_nodes(d).unwrap());
        assert_ne!(second, first);
        fs::remove_file(d.join("tool")).unwrap();
        std::os::unix::fs::symlink("embedded/bin", d.join("tool")).unwrap();
        let third = digest(&tree_nodes(d).unwrap());
        assert_ne!(third, second);
        fs::write(d.join("extra"), "").unwrap();
        assert_ne!(digest(&tree_nodes(d).unwrap()), third);
    }

    #[test]
    fn the_list_names_what_differs() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::create_dir_all(d.join("python")).unwrap();
        fs::write(d.join("python/a.dll"), "a").unwrap();
        fs::write(d.join("python/b dll"), "b").unwrap();
        fs::write(d.join("gone"), "c").unwrap();
        fs::write(
            d.join(SBOM_FILE),
            r#"{"metadata":{"properties":[]},"components":[]}"#,
        )
        .unwrap();
        let sum = seal(d).unwrap();
        let list = fs::read_to_string(d.join(PAYLOAD_LIST)).unwrap();
        assert_eq!(sha256_bytes(list.as_bytes()), sum);
        let sealed = parse_listing(&list).unwrap();
        // The list and the SBOM do not list themselves; the digest is the same
        // with or without the list in the tree.
        assert_eq!(sealed.len(), 3, "{list}");
        assert_eq!(digest(&tree_nodes(d).unwrap()), sum);
        fs::write(d.join("python/b dll"), "B").unwrap();
        fs::remove_file(d.join("gone")).unwrap();
        fs::write(d.join("new"), "").unwrap();
        let diff: Vec<String> = differences(&sealed, &tree_nodes(d).unwrap())
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert_eq!(
            diff,
            [
                "gone is missing (its SBOM records it)",
                "new is not in what its SBOM records",
                "python/b dll differs from what its SBOM records"
            ]
        );
    }
}
