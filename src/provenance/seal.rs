//! seal: bind the SBOM to the exact payload it describes.
//!
//! Once the tree is relocated and checked, [`seal`] computes one digest over the
//! install dir (every file's path and sha256, every symlink's path and target;
//! directories, modes and mtimes left out, since packagers normalise those) and
//! records it in `bom.json` as the `ferrobus:payload-sha256` property of the
//! metadata. `bom.json` itself is the one file left out. `ferrobus verify`
//! recomputes the digest from an artifact's payload ([`digest`] over the same
//! nodes) and compares.

use super::{SBOM_FILE, render};
use crate::util::{sha256_bytes, sha256_file, write_atomic};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The SBOM property holding the payload digest.
pub const PAYLOAD_PROPERTY: &str = "ferrobus:payload-sha256";

/// One non-directory entry of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file, by its sha256.
    File(String),
    /// A symbolic link, by its target.
    Link(String),
}

/// The digest of a payload: `nodes` maps paths relative to the install dir to
/// their node; the SBOM file at the top is left out.
pub fn digest(nodes: &BTreeMap<String, Node>) -> String {
    let mut text = String::new();
    for (rel, node) in nodes.iter().filter(|(rel, _)| *rel != SBOM_FILE) {
        match node {
            Node::File(sha) => text.push_str(&format!("file {sha} {rel}\n")),
            Node::Link(target) => text.push_str(&format!("link {target} {rel}\n")),
        }
    }
    sha256_bytes(text.as_bytes())
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

/// Record the digest of the staged `install_dir` in its `bom.json` (and give the
/// SBOM its new serial number). Returns the digest.
pub fn seal(install_dir: &Path) -> Result<String> {
    let path = install_dir.join(SBOM_FILE);
    let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut bom: Value =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    let sum = digest(&tree_nodes(install_dir)?);
    let Some(props) = bom["metadata"]["properties"].as_array_mut() else {
        bail!("{}: no metadata.properties", path.display());
    };
    props.retain(|p| p["name"] != PAYLOAD_PROPERTY);
    props.push(json!({"name": PAYLOAD_PROPERTY, "value": sum}));
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
}
