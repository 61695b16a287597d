//! manifest: `version-manifest.json`, what a build ships and where it came from.
//!
//! Also what `ferrobus manifest` prints, from the plan alone: then the files the
//! distributions are made from are not known yet (`file` and `sha256` are null,
//! `lock_hashes` says what the lock allows, `license_metadata` is null until
//! the metadata is read).

use super::{Contents, Distribution, rfc3339};
use serde_json::{Value, json};

/// The version manifest of `c`.
pub fn render(c: &Contents) -> Value {
    let components: Vec<Value> = c
        .components
        .iter()
        .map(|x| {
            json!({
                "name": x.name,
                "version": x.version,
                "license": x.license,
                "license_files": x.license_dests,
                "source": {
                    "urls": x.urls,
                    "sha256": x.sha256,
                    "file_name": x.file_name,
                    "debian_orig": x.debian,
                },
                "cache_key": x.key,
                "patches": x.patches.iter().map(|(f, s)| json!({"file": f, "sha256": s})).collect::<Vec<_>>(),
                "depends": x.depends,
            })
        })
        .collect();
    let toolchain = c.toolchain.as_ref().map(|t| {
        json!({
            "cc": t.cc,
            "cxx": t.cxx,
            "cc_version": t.cc_version,
            "triple": t.triple,
            "libc": t.libc,
        })
    });
    json!({
        "manifest_version": 1,
        "project": {
            "name": c.project.name,
            "version": c.project.version,
            "iteration": c.project.iteration,
            "license": c.project.license,
            "install_dir": c.project.install_dir,
        },
        "build_date": rfc3339(c.source_date_epoch),
        "source_date_epoch": c.source_date_epoch,
        "ferrobus_version": env!("CARGO_PKG_VERSION"),
        "target": c.target,
        // null when the runtime was assembled, not compiled here.
        "toolchain": toolchain,
        "components": components,
        "python_distributions": c.distributions.iter().map(dist).collect::<Vec<_>>(),
        "app": c.app.as_ref().map(dist),
        // What built the sdists (the build lock): not shipped.
        "build_dependencies": c.build_only.iter().map(|f| json!({
            "name": f.name,
            "version": f.version,
            "file": f.file,
            "sha256": f.sha256,
            "scope": "build",
        })).collect::<Vec<_>>(),
    })
}

fn dist(d: &Distribution) -> Value {
    json!({
        "name": d.name,
        "version": d.version,
        "kind": d.kind,
        "file": d.file,
        "sha256": d.sha256,
        "lock_hashes": d.lock_hashes,
        // The license shipped under; what the project states and what the
        // metadata determines (null: none, or not read yet).
        "license": d.license,
        "license_stated": d.license_stated,
        "license_metadata": d.license_metadata,
        "license_files": d.license_dests,
    })
}

/// The manifest as text, for `ferrobus manifest`.
pub fn text(c: &Contents) -> String {
    let mut s = format!(
        "{} {}-{} -> {} ({}), build date {} (SOURCE_DATE_EPOCH {}), ferrobus {}\n",
        c.project.name,
        c.project.version,
        c.project.iteration,
        c.project.install_dir,
        c.target,
        rfc3339(c.source_date_epoch),
        c.source_date_epoch,
        env!("CARGO_PKG_VERSION")
    );
    match &c.toolchain {
        Some(t) => s.push_str(&format!(
            "toolchain {} ({}, {})\n",
            t.cc_version, t.triple, t.libc
        )),
        None => s.push_str("toolchain none: the runtime is assembled, nothing compiled\n"),
    }
    s.push_str(&format!(
        "{:<15} {:<14} {:<36} {:<16} {:<16} {:<7} license files\n",
        "component", "version", "license", "source sha256", "key", "patches"
    ));
    for x in &c.components {
        s.push_str(&format!(
            "{:<15} {:<14} {:<36} {:<16} {:<16} {:<7} {}\n",
            x.name,
            x.version,
            if x.license.is_empty() {
                "(none)"
            } else {
                &x.license
            },
            &x.sha256[..x.sha256.len().min(16)],
            &x.key[..x.key.len().min(16)],
            x.patches.len(),
            x.license_dests.join(" ")
        ));
    }
    if !c.distributions.is_empty() {
        s.push_str(&format!(
            "{:<20} {:<14} {:<6} {:<36} lock sha256\n",
            "python distribution", "version", "from", "license"
        ));
        for d in &c.distributions {
            let h: Vec<&str> = d
                .lock_hashes
                .iter()
                .map(|h| &h[..h.len().min(16)])
                .collect();
            let license = match &d.license_stated {
                Some(l) => format!("{l} (stated)"),
                None if d.license_unknown() => "(from its metadata)".into(),
                None => d.license.clone(),
            };
            s.push_str(&format!(
                "{:<20} {:<14} {:<6} {:<36} {}\n",
                d.name,
                d.version,
                d.kind,
                license,
                h.join(",")
            ));
        }
    }
    if let Some(a) = &c.app {
        s.push_str(&format!(
            "app {} {} (license {}), built from its source\n",
            a.name, a.version, a.license
        ));
    }
    s
}
