//! sbom: a CycloneDX 1.5 JSON SBOM (`bom.json`).
//!
//! Written by hand with serde_json rather than with the `cyclonedx-bom` crate: that
//! crate brings a large model (validated string newtypes, XML support, its own
//! SPDX parser, uuid and time) for the few dozen objects written here, and its
//! writer leaves ordering and the random `serialNumber` to the caller anyway. Here
//! every map is a BTreeMap (sorted keys), every list is sorted, the timestamp is
//! SOURCE_DATE_EPOCH and the serial number is derived from the content, so the
//! same build gives the same bytes. Licenses are written as SPDX `expression`s,
//! which the schema accepts for single ids and compound expressions alike; a
//! distribution's says where its license comes from (`ferrobus:license-source`:
//! the project's `[provenance.licenses]` or the metadata) and, where the project
//! states another, what the metadata said (`ferrobus:license-metadata`).

use super::{Contents, Distribution, rfc3339};
use crate::util::sha256_bytes;
use serde_json::{Value, json};

/// bom-ref of a C component.
pub fn component_ref(name: &str) -> String {
    format!("component:{name}")
}

/// bom-ref of a Python distribution.
pub fn pypi_ref(name: &str) -> String {
    format!("pypi:{name}")
}

/// Percent-encode for a purl (unreserved characters, `:` and `/` kept).
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn licenses(expr: &str) -> Value {
    if expr.is_empty() || expr == "NOASSERTION" {
        json!([])
    } else {
        json!([{ "expression": expr }])
    }
}

fn dist_component(d: &Distribution, kind: &str) -> Value {
    let mut v = json!({
        "type": kind,
        "bom-ref": pypi_ref(&d.name),
        "name": d.name,
        "version": d.version,
        "purl": format!("pkg:pypi/{}@{}", pct(&d.name), pct(&d.version)),
        "licenses": licenses(&d.license),
        "hashes": d.sha256.iter().map(|h| json!({"alg": "SHA-256", "content": h})).collect::<Vec<_>>(),
        "properties": props(&[
            ("ferrobus:installed-from", vec![d.kind.clone()]),
            ("ferrobus:file", d.file.iter().cloned().collect()),
            ("ferrobus:license-file", d.license_dests.clone()),
            ("ferrobus:license-source", license_source(d)),
            ("ferrobus:license-metadata", overridden(d)),
        ]),
    });
    prune(&mut v);
    v
}

/// Where a distribution's license comes from: `project` (stated in
/// `[provenance.licenses]`) or `metadata`.
fn license_source(d: &Distribution) -> Vec<String> {
    match (&d.license_stated, &d.license_metadata) {
        (Some(_), _) => vec!["project".into()],
        (None, Some(_)) => vec!["metadata".into()],
        (None, None) => vec![],
    }
}

/// The metadata's license where the project states another.
fn overridden(d: &Distribution) -> Vec<String> {
    match (&d.license_stated, &d.license_metadata) {
        (Some(s), Some(m)) if s != m => vec![m.clone()],
        _ => vec![],
    }
}

fn props(items: &[(&str, Vec<String>)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (name, values) in items {
        for v in values {
            out.push(json!({"name": name, "value": v}));
        }
    }
    out
}

/// Drop empty arrays (the schema allows them, but they say nothing).
fn prune(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !matches!(x, Value::Array(a) if a.is_empty()));
    }
}

/// The SBOM of `c`.
pub fn render(c: &Contents) -> Value {
    let p = &c.project;
    let root_ref = format!("project:{}", p.name);
    let mut components = Vec::new();
    let mut deps: Vec<(String, Vec<String>)> = Vec::new();
    for x in &c.components {
        let purl = format!(
            "pkg:generic/{}@{}?{}checksum=sha256:{}",
            pct(&x.name),
            pct(&x.version),
            x.urls
                .first()
                .map(|u| format!("download_url={}&", pct(u)))
                .unwrap_or_default(),
            x.sha256
        );
        let mut v = json!({
            "type": "library",
            "bom-ref": component_ref(&x.name),
            "name": x.name,
            "version": x.version,
            "purl": purl,
            "licenses": licenses(&x.license),
            "hashes": [{"alg": "SHA-256", "content": x.sha256}],
            "externalReferences": x.urls.iter().map(|u| json!({"type": "distribution", "url": u})).collect::<Vec<_>>(),
            "properties": props(&[
                ("ferrobus:cache-key", vec![x.key.clone()]),
                ("ferrobus:source-file", vec![x.file_name.clone()]),
                ("ferrobus:debian-orig", x.debian.iter().cloned().collect()),
                ("ferrobus:patch", x.patches.iter().map(|(f, s)| format!("{f} sha256:{s}")).collect()),
                ("ferrobus:license-file", x.license_dests.clone()),
            ]),
        });
        prune(&mut v);
        components.push(v);
        deps.push((
            component_ref(&x.name),
            x.depends.iter().map(|d| component_ref(d)).collect(),
        ));
    }
    for d in &c.distributions {
        components.push(dist_component(d, "library"));
        deps.push((pypi_ref(&d.name), vec![]));
    }
    let mut root_deps: Vec<String> = c.roots.iter().map(|r| component_ref(r)).collect();
    // What the interpreter bundled (pip) is shipped, though the app needs none of it.
    root_deps.extend(
        c.distributions
            .iter()
            .filter(|d| d.kind == "bundled")
            .map(|d| pypi_ref(&d.name)),
    );
    if let Some(a) = &c.app {
        components.push(dist_component(a, "application"));
        let mut on: Vec<String> = c
            .distributions
            .iter()
            .filter(|d| d.kind != "bundled")
            .map(|d| pypi_ref(&d.name))
            .collect();
        if c.components.iter().any(|x| x.name == "python") {
            on.push(component_ref("python"));
        }
        deps.push((pypi_ref(&a.name), on));
        root_deps.push(pypi_ref(&a.name));
    }
    deps.push((root_ref.clone(), root_deps));
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    deps.sort();
    let dependencies: Vec<Value> = deps
        .into_iter()
        .map(|(r, mut on)| {
            on.sort();
            on.dedup();
            json!({"ref": r, "dependsOn": on})
        })
        .collect();
    let mut root = json!({
        "type": "application",
        "bom-ref": root_ref,
        "name": p.name,
        "version": format!("{}-{}", p.version, p.iteration),
        "licenses": licenses(&p.license),
    });
    prune(&mut root);
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(c.source_date_epoch),
            "tools": {"components": [{
                "type": "application",
                "name": "ferrobus",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": root,
            "properties": [
                {"name": "ferrobus:target", "value": c.target},
                {"name": "ferrobus:install-dir", "value": p.install_dir},
            ],
        },
        "components": components,
        "dependencies": dependencies,
    });
    // The build lock's build-only wheels: how the shipped components were
    // made (CycloneDX 1.5 `formulation`), not among what ships.
    if !c.build_only.is_empty() {
        let build: Vec<Value> = c
            .build_only
            .iter()
            .map(|f| {
                json!({
                    "type": "library",
                    "bom-ref": format!("build:pypi:{}@{}", f.name, f.version),
                    "name": f.name,
                    "version": f.version,
                    "scope": "excluded",
                    "purl": format!("pkg:pypi/{}@{}?file_name={}", f.name, f.version, f.file),
                    "hashes": [{"alg": "SHA-256", "content": f.sha256}],
                })
            })
            .collect();
        bom["formulation"] = json!([{
            "bom-ref": "formulation:python-build-requirements",
            "components": build,
        }]);
    }
    set_serial(&mut bom);
    bom
}

/// Give `bom` its content-derived (name-based, version 5 layout) serial number,
/// computed without the old one.
pub fn set_serial(bom: &mut Value) {
    if let Some(o) = bom.as_object_mut() {
        o.remove("serialNumber");
    }
    let h = sha256_bytes(super::render(bom).as_bytes());
    let variant = ["8", "9", "a", "b"][usize::from(h.as_bytes()[16] % 4)];
    bom["serialNumber"] = json!(format!(
        "urn:uuid:{}-{}-5{}-{variant}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    ));
}
