//! verify: check a written artifact the way its receiver would.
//!
//! Three checks, each reported by name:
//! - `checksum`: the artifact's sha256 is the one `SHA256SUMS` beside it lists;
//!   with a public key, `SHA256SUMS.sig` must be a good signature of that list;
//! - `signature`: the deb's `_gpgorigin` or the rpm's header signature, checked
//!   against the public key (tarballs and the `.sh` carry none: the signed
//!   `SHA256SUMS` covers them);
//! - `authenticode` (zip and msi): the MSI's Authenticode signature and that of
//!   every executable ferrobus wrote into the bundle (launchers, service hosts,
//!   the script host), read from the payload, checked with osslsigncode against
//!   `--authenticode-ca` when given, else their content digests only;
//! - `sbom`: the SBOM inside the payload records the digest of exactly the files
//!   the payload installs ([`crate::provenance::seal`]), names exactly the Python
//!   distributions installed, and equals the `.cdx.json` beside the artifact.
//!   When the digest differs, the file list the seal left in the payload names
//!   the files that differ.
//!
//! Every format is read, Linux and Windows alike ([`payload`]): deb, rpm,
//! tar.xz, tar.zst, sh, zip and msi.

pub mod cabinet;
pub mod payload;

use crate::package::{deb, sign};
use crate::provenance::seal::{self, Node, PAYLOAD_LIST};
use crate::pypkg::PackageName;
use crate::util::sha256_file;
use anyhow::Result;
use payload::{Format, Payload};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Passed.
    Ok,
    /// Failed: the artifact must not be trusted.
    Failed,
    /// Not applicable or not possible (e.g. no key given).
    Skipped,
}

/// One named check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `checksum`, `signature` or `sbom`.
    pub name: &'static str,
    /// Its outcome.
    pub outcome: Outcome,
    /// What was compared, or what was wrong.
    pub detail: String,
}

/// Every check of one artifact.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The artifact.
    pub artifact: PathBuf,
    /// Its checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Failed)
    }

    /// The names of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Failed)
            .map(|c| c.name)
            .collect()
    }

    /// Human-readable lines.
    pub fn render(&self) -> String {
        let mut s = format!("{}\n", self.artifact.display());
        for c in &self.checks {
            let o = match c.outcome {
                Outcome::Ok => "ok",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => "skipped",
            };
            s.push_str(&format!("  {:<12} {o:<8} {}\n", c.name, c.detail));
        }
        s
    }
}

fn check(name: &'static str, r: Result<String, String>) -> Check {
    match r {
        Ok(detail) => Check {
            name,
            outcome: Outcome::Ok,
            detail,
        },
        Err(detail) => Check {
            name,
            outcome: Outcome::Failed,
            detail,
        },
    }
}

fn skipped(name: &'static str, detail: &str) -> Check {
    Check {
        name,
        outcome: Outcome::Skipped,
        detail: detail.into(),
    }
}

/// Verify one artifact; `public_key` is an armoured OpenPGP public key,
/// `authenticode_ca` the certificates a Windows artifact's Authenticode
/// signatures must chain to.
pub fn verify(
    artifact: &Path,
    public_key: Option<&[u8]>,
    authenticode_ca: Option<&Path>,
) -> Result<Report> {
    let format = Format::of(artifact)?;
    anyhow::ensure!(artifact.is_file(), "{}: no such file", artifact.display());
    let mut checks = vec![check("checksum", checksum(artifact, public_key))];
    match payload::read(artifact, format) {
        Ok(p) => {
            checks.push(signature(artifact, format, &p, public_key));
            if matches!(format, Format::Zip | Format::Msi) {
                checks.push(authenticode(artifact, format, &p, authenticode_ca));
            }
            checks.push(check("sbom", sbom(artifact, format, &p)));
        }
        Err(e) => {
            let detail = format!("the payload cannot be read: {e:#}");
            checks.push(check("signature", Err(detail.clone())));
            if format == Format::Msi {
                // The MSI's own signature needs no payload.
                checks.push(authenticode(
                    artifact,
                    format,
                    &Payload::default(),
                    authenticode_ca,
                ));
            }
            checks.push(check("sbom", Err(detail)));
        }
    }
    Ok(Report {
        artifact: artifact.to_path_buf(),
        checks,
    })
}

fn checksum(artifact: &Path, key: Option<&[u8]>) -> Result<String, String> {
    let dir = artifact.parent().unwrap_or(Path::new("."));
    let name = artifact.file_name().unwrap_or_default().to_string_lossy();
    let sums_path = dir.join("SHA256SUMS");
    let sums = fs::read(&sums_path).map_err(|_| format!("no {} beside it", sums_path.display()))?;
    let text = String::from_utf8_lossy(&sums);
    let listed = text
        .lines()
        .filter_map(|l| l.split_once("  "))
        .find(|(_, n)| *n == name)
        .map(|(h, _)| h.to_string())
        .ok_or_else(|| format!("{name} is not listed in SHA256SUMS"))?;
    let got = sha256_file(artifact).map_err(|e| e.to_string())?;
    if got != listed {
        return Err(format!(
            "sha256 {got} differs from SHA256SUMS ({listed}): the file was changed"
        ));
    }
    let Some(key) = key else {
        return Ok(format!(
            "sha256 {got} as SHA256SUMS lists (the list's signature not checked: no --key)"
        ));
    };
    let sig = fs::read(dir.join("SHA256SUMS.sig"))
        .map_err(|_| "SHA256SUMS is not signed (no SHA256SUMS.sig beside it)".to_string())?;
    sign::verify_detached(key, &sums[..], &sig)
        .map_err(|e| format!("SHA256SUMS.sig does not verify SHA256SUMS: {e:#}"))?;
    Ok(format!(
        "sha256 {got} as SHA256SUMS lists; SHA256SUMS.sig good"
    ))
}

fn signature(artifact: &Path, format: Format, p: &Payload, key: Option<&[u8]>) -> Check {
    match format {
        Format::Deb => {
            let origin = p.members.iter().find(|(n, _)| n == deb::GPG_ORIGIN);
            match (origin, key) {
                (None, None) => skipped("signature", "unsigned (no _gpgorigin member)"),
                (None, Some(_)) => check(
                    "signature",
                    Err("unsigned: the deb has no _gpgorigin member".into()),
                ),
                (Some(_), None) => {
                    skipped("signature", "_gpgorigin present, not checked: no --key")
                }
                (Some((_, sig)), Some(key)) => {
                    let members: Vec<(&str, Vec<u8>)> = p
                        .members
                        .iter()
                        .map(|(n, d)| (n.as_str(), d.clone()))
                        .collect();
                    let data = deb::signed_data(&members);
                    check(
                        "signature",
                        sign::verify_detached(key, &data[..], sig)
                            .map(|_| "_gpgorigin good (debian-binary, control, data)".into())
                            .map_err(|e| format!("_gpgorigin: {e:#}")),
                    )
                }
            }
        }
        Format::Rpm => {
            let Some(key) = key else {
                return skipped("signature", "header signature not checked: no --key");
            };
            let r = rpm::Package::open(artifact)
                .map_err(|e| e.to_string())
                .and_then(|pkg| sign::verify_rpm(key, &pkg).map_err(|e| format!("{e:#}")));
            check("signature", r.map(|_| "rpm header signature good".into()))
        }
        Format::Zip | Format::Msi => skipped(
            "signature",
            "no OpenPGP signature of its own (see authenticode); SHA256SUMS.sig covers it",
        ),
        _ => skipped(
            "signature",
            "this format carries no signature of its own; SHA256SUMS.sig covers it",
        ),
    }
}

/// The Authenticode signatures of a Windows artifact: the MSI's own and those
/// of the executables ferrobus wrote into it. All unsigned is `skipped` (a
/// build without `--codesign`); some signed and some not, a bad digest or
/// (with `ca`) a chain that does not verify, `failed`.
fn authenticode(artifact: &Path, format: Format, p: &Payload, ca: Option<&Path>) -> Check {
    use crate::package::authenticode as ac;
    let r = (|| -> Result<Vec<ac::Verified>> {
        let mut out = Vec::new();
        if format == Format::Msi {
            let name = artifact.file_name().unwrap_or_default().to_string_lossy();
            out.push(ac::verify(artifact, &name, ca)?);
        }
        let dir = tempfile::tempdir()?;
        for (path, data) in &p.executables {
            let f = dir.path().join("file.exe");
            fs::write(&f, data)?;
            out.push(ac::verify(&f, path, ca)?);
        }
        Ok(out)
    })();
    let results = match r {
        Ok(v) => v,
        Err(e) => return check("authenticode", Err(format!("{e:#}"))),
    };
    if results.is_empty() {
        return skipped("authenticode", "no executables of ferrobus' in the payload");
    }
    let unsigned: Vec<&str> = results
        .iter()
        .filter(|v| !v.signed)
        .map(|v| v.file.as_str())
        .collect();
    if unsigned.len() == results.len() {
        return skipped(
            "authenticode",
            "unsigned (built without --codesign): the MSI and the executables",
        );
    }
    let bad: Vec<String> = results
        .iter()
        .filter(|v| !v.ok)
        .map(|v| format!("{}: {}", v.file, v.detail))
        .collect();
    if !bad.is_empty() {
        return check("authenticode", Err(bad.join("; ")));
    }
    let signers: BTreeSet<&str> = results.iter().filter_map(|v| v.signer.as_deref()).collect();
    let how = if ca.is_some() {
        "signatures and certificate chains verified"
    } else {
        "content digests verified (chains not checked: no --authenticode-ca)"
    };
    check(
        "authenticode",
        Ok(format!(
            "{} signed ({}): {how}; signer {}",
            results.len(),
            results
                .iter()
                .map(|v| v.file.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            signers.into_iter().collect::<Vec<_>>().join(", ")
        )),
    )
}

/// The directory (relative, no leading `/`) the payload holds the install dir
/// in, for the SBOM at `bom_path` that records `install_dir`; `None` when that
/// SBOM is not the one at the top of the install dir.
fn payload_root(format: Format, bom_path: &str, install_dir: &str) -> Option<String> {
    let root = match format {
        // The zip's top folder, whatever its name.
        Format::Zip => bom_path
            .strip_suffix(crate::provenance::SBOM_FILE)?
            .strip_suffix('/')
            .filter(|top| !top.is_empty() && !top.contains('/'))?
            .to_string(),
        _ => payload_root_linux(format, install_dir),
    };
    (bom_path == join(&root, crate::provenance::SBOM_FILE)).then_some(root)
}

fn payload_root_linux(format: Format, install_dir: &str) -> String {
    match format {
        Format::Deb | Format::Rpm => install_dir.trim_matches('/').to_string(),
        Format::TarXz | Format::TarZst => install_dir
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        Format::Sh | Format::Zip | Format::Msi => String::new(),
    }
}

fn join(root: &str, rel: &str) -> String {
    if root.is_empty() {
        rel.to_string()
    } else {
        format!("{root}/{rel}")
    }
}

fn sbom(artifact: &Path, format: Format, p: &Payload) -> Result<String, String> {
    // The SBOM at the top of the install dir, wherever the format puts it.
    let (root, bom_bytes, bom) = p
        .boms
        .iter()
        .find_map(|(path, data)| {
            let bom: Value = serde_json::from_slice(data).ok()?;
            let install_dir = bom["metadata"]["properties"]
                .as_array()?
                .iter()
                .find(|x| x["name"] == "ferrobus:install-dir")?["value"]
                .as_str()?
                .to_string();
            let root = payload_root(format, path, &install_dir)?;
            Some((root, data, bom))
        })
        .ok_or("no SBOM (bom.json) at the top of the payload's install dir")?;
    let recorded = seal::recorded(&bom)
        .ok_or("the SBOM records no payload digest (made by an older ferrobus?): build again")?;
    let prefix = join(&root, "");
    let nodes: BTreeMap<String, Node> = p
        .nodes
        .iter()
        .filter_map(|(path, n)| {
            let rel = if prefix.is_empty() {
                Some(path.as_str())
            } else {
                path.strip_prefix(&prefix)
            }?;
            // The .sh carries the config defaults beside the install dir's files.
            (!rel.starts_with(".ferrobus/")).then(|| (rel.to_string(), n.clone()))
        })
        .collect();
    let got = seal::digest(&nodes);
    if got != recorded {
        let list = p.lists.get(&join(&root, PAYLOAD_LIST));
        return Err(format!(
            "{}: {} (the payload does not match its SBOM: its {} files digest to {got}, the SBOM records {recorded})",
            artifact.file_name().unwrap_or_default().to_string_lossy(),
            what_differs(list.map(|l| &l[..]), &recorded, &nodes),
            nodes.len()
        ));
    }
    // The Python distributions: installed (dist-info) == listed (pkg:pypi).
    // A name that is not a valid one stays as written, so it shows as a difference.
    let normalize = |n: &str| {
        n.parse::<PackageName>()
            .map_or(n.to_string(), |n| n.to_string())
    };
    let installed: BTreeSet<(String, String)> = nodes
        .keys()
        .filter_map(|rel| {
            let dir = rel.strip_suffix(".dist-info/METADATA")?;
            if !dir.contains("/site-packages/") {
                return None;
            }
            let (name, version) = dir.rsplit('/').next()?.split_once('-')?;
            Some((normalize(name), version.to_string()))
        })
        .collect();
    let listed: BTreeSet<(String, String)> = bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let purl = c["purl"].as_str()?.strip_prefix("pkg:pypi/")?;
            let (name, version) = purl.split_once('@')?;
            Some((normalize(name), version.to_string()))
        })
        .collect();
    if installed != listed {
        let fmt = |s: Vec<&(String, String)>| {
            s.iter()
                .map(|(n, v)| format!("{n} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "Python distributions differ from the SBOM: installed, not listed: [{}]; listed, not installed: [{}]",
            fmt(installed.difference(&listed).collect()),
            fmt(listed.difference(&installed).collect())
        ));
    }
    // The copy beside the artifact.
    let c = &bom["metadata"]["component"];
    let name = artifact.file_name().unwrap_or_default().to_string_lossy();
    let beside = match format {
        // `<stem>.zip`, `<stem>.msi` beside `<stem>.cdx.json`.
        Format::Zip | Format::Msi => artifact.with_file_name(format!(
            "{}.cdx.json",
            name.rsplit_once('.').map_or(&name[..], |(stem, _)| stem)
        )),
        // `<name>-<v>-<i>[.linux-<arch>].cdx.json` ([`crate::package::Meta::beside_stem`]).
        _ => {
            let stem = format!(
                "{}-{}",
                c["name"].as_str().unwrap_or_default(),
                c["version"].as_str().unwrap_or_default()
            );
            let stem = match crate::package::arch_of_file_name(&name) {
                Some(a) if a != crate::target::Arch::X86_64 => format!("{stem}.linux-{a}"),
                _ => stem,
            };
            artifact.with_file_name(format!("{stem}.cdx.json"))
        }
    };
    let copy = match fs::read(&beside) {
        Ok(b) if &b == bom_bytes => "; the .cdx.json beside it is the same",
        Ok(_) => {
            return Err(format!(
                "{} differs from the SBOM inside the payload",
                beside.display()
            ));
        }
        Err(_) => "; no .cdx.json beside it",
    };
    Ok(format!(
        "{} files digest to {got} as the SBOM records; {} Python distributions as listed{copy}",
        nodes.len(),
        installed.len()
    ))
}

/// The files of a payload that differ from what was sealed, named from the file
/// list the payload carries (`list`), if that is the list the SBOM's digest
/// `recorded` is of.
fn what_differs(list: Option<&[u8]>, recorded: &str, nodes: &BTreeMap<String, Node>) -> String {
    const SHOWN: usize = 20;
    let Some(list) = list else {
        return format!(
            "files differ from what its SBOM records (no {PAYLOAD_LIST} in it to name them: made by an older ferrobus)"
        );
    };
    if crate::util::sha256_bytes(list) != recorded {
        return format!(
            "{PAYLOAD_LIST} differs from what its SBOM records, so the files that differ cannot be named"
        );
    }
    let Some(sealed) = std::str::from_utf8(list).ok().and_then(seal::parse_listing) else {
        return format!("{PAYLOAD_LIST} cannot be read");
    };
    let diff = seal::differences(&sealed, nodes);
    let mut text: Vec<String> = diff.iter().take(SHOWN).map(|d| d.to_string()).collect();
    if diff.len() > SHOWN {
        text.push(format!("and {} more", diff.len() - SHOWN));
    }
    if text.is_empty() {
        // Only the SBOM or the list itself can be left: both are checked above.
        text.push("the payload differs from what its SBOM records".into());
    }
    text.join("; ")
}
