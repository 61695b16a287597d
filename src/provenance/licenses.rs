//! licenses: the license texts of everything shipped, gathered into `LICENSES/`.
//!
//! A component's license files (its definition's `license_files`, paths inside
//! the unpacked source) are read straight out of its cached source archive with
//! the same entry checks as unpacking ([`crate::extract::read_files`]), so no
//! component is rebuilt for them; they land in `LICENSES/<component>/<file>`. A
//! Python distribution's come from its installed `.dist-info` (the `licenses/`
//! directory of PEP 639, else its `LICENSE*`, `LICENCE*`, `COPYING*` and
//! `NOTICE*` files) and land in `LICENSES/python-<name>/`. `LICENSE` in the
//! install dir lists every component and distribution with its SPDX license,
//! marking those the project states (`[provenance.licenses]`).

use super::Contents;
use crate::pypkg::{Metadata, PackageName};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// Where each of a component's license files lands, relative to the install dir:
/// `LICENSES/<name>/<file name>`, or the whole source-relative path when two
/// files share a name. Returns (source-relative path, destination).
pub fn component_dests(name: &str, files: &[String]) -> Vec<(String, String)> {
    let base = |f: &str| f.rsplit('/').next().unwrap_or(f).to_string();
    files
        .iter()
        .map(|f| {
            let clash = files.iter().filter(|g| base(g) == base(f)).count() > 1;
            let rel = if clash {
                f.trim_start_matches("./").to_string()
            } else {
                base(f)
            };
            (f.clone(), format!("LICENSES/{name}/{rel}"))
        })
        .collect()
}

/// What a `.dist-info` says about its distribution.
#[derive(Debug, Clone, Default)]
pub struct DistInfo {
    /// `Version`.
    pub version: String,
    /// SPDX license ([`Metadata::license`]), if the metadata determines one:
    /// an SPDX `License-Expression`, else an SPDX `License`, else license
    /// classifiers that each name one license.
    pub license: Option<String>,
    /// What the metadata says about the license ([`Metadata::license_evidence`]).
    pub license_evidence: String,
    /// License files: (path under `LICENSES/python-<name>/`, the file).
    pub license_files: Vec<(String, PathBuf)>,
}

/// The `.dist-info` directories of `site_packages`, by name.
pub fn dist_infos(site_packages: &Path) -> Result<BTreeMap<PackageName, DistInfo>> {
    let mut out = BTreeMap::new();
    let rd = fs::read_dir(site_packages)
        .with_context(|| format!("reading {}", site_packages.display()))?;
    let mut dirs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dist-info") && p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let meta = dir.join("METADATA");
        let text =
            fs::read_to_string(&meta).with_context(|| format!("reading {}", meta.display()))?;
        let m = Metadata::parse(&text);
        let name = m
            .name()
            .map_err(|e| anyhow::anyhow!("{}: {e}", meta.display()))?;
        out.insert(
            name,
            DistInfo {
                version: m.version().to_string(),
                license: m.license(),
                license_evidence: m.license_evidence(),
                license_files: dist_license_files(&dir)?,
            },
        );
    }
    Ok(out)
}

/// A `.dist-info`'s license files, sorted.
fn dist_license_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let lic = dir.join("licenses");
    if lic.is_dir() {
        for e in walkdir::WalkDir::new(&lic).sort_by_file_name() {
            let e = e?;
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(&lic)?.to_string_lossy().into_owned();
                out.push((rel, e.into_path()));
            }
        }
        return Ok(out);
    }
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        let n = p.file_name().unwrap_or_default().to_string_lossy();
        let up = n.to_ascii_uppercase();
        if p.is_file()
            && ["LICENSE", "LICENCE", "COPYING", "NOTICE"]
                .iter()
                .any(|k| up.starts_with(k))
        {
            out.push((n.into_owned(), p));
        }
    }
    out.sort();
    Ok(out)
}

/// The components' license files from their source archives (the components'
/// `license_dests` are narrowed to those found): (path relative to the install
/// dir, contents). Fails, naming the component, when a component's file is not
/// in its source and the project does not allow it.
pub fn component_files(
    c: &mut Contents,
    sources: &HashMap<String, PathBuf>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let allow = c.allow_missing_licenses.clone();
    // Every component's archive is read at once (one decompression each, the
    // slowest being CPython's tar.xz), unless an earlier build cached its files.
    type Found<'a> = BTreeMap<String, (&'a PathBuf, BTreeMap<String, Vec<u8>>)>;
    let found: Found = c
        .components
        .par_iter()
        .filter(|comp| !comp.license_files.is_empty())
        .map(|comp| {
            let archive = sources
                .get(&comp.name)
                .with_context(|| format!("{}: no cached source archive", comp.name))?;
            Ok((
                comp.name.clone(),
                (archive, read_cached(archive, &comp.license_files)?),
            ))
        })
        .collect::<Result<_>>()?;
    for comp in &mut c.components {
        let allowed = allow.contains(&comp.name);
        if comp.license.is_empty() && !allowed {
            return Err(super::no_license(comp));
        }
        comp.license_dests.clear();
        if comp.license_files.is_empty() {
            continue;
        }
        let (archive, found) = &found[&comp.name];
        for (src, dest) in component_dests(&comp.name, &comp.license_files) {
            match found.get(&src) {
                Some(data) => {
                    out.push((dest.clone(), data.clone()));
                    comp.license_dests.push(dest);
                }
                None if allowed => {}
                None => bail!(
                    "{}: license file \"{src}\" (license_files) is not in its source {} ({}); \
                     fix the definition or allow it with [provenance] \
                     allow_missing_licenses = [\"{}\"]",
                    comp.name,
                    comp.file_name,
                    archive.display(),
                    comp.name
                ),
            }
        }
    }
    Ok(out)
}

/// The distributions' license files from their `.dist-info` in `site_packages`:
/// `LICENSES/python-<name>/...`, whatever the target.
pub fn dist_files(c: &Contents, site_packages: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let infos = dist_infos(site_packages)?;
    for d in c.distributions.iter().chain(c.app.iter()) {
        if let Some(info) = infos.get(&d.name) {
            for (rel, path) in &info.license_files {
                let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                out.push((format!("LICENSES/python-{}/{rel}", d.name), data));
            }
        }
    }
    Ok(out)
}

/// [`read_from_source`], remembered beside the archive in the source cache
/// (`<sha256>.licenses-<key>.json`; the archive is content-addressed, so the
/// record never goes stale). An unreadable record is read again from the archive.
fn read_cached(archive: &Path, wanted: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    let key = crate::fingerprint::Fingerprint::new("license-files")
        .with("wanted", wanted)
        .key();
    let mut record = archive.as_os_str().to_owned();
    record.push(format!(".licenses-{}.json", &key[..16]));
    let record = PathBuf::from(record);
    let cached: Option<BTreeMap<String, String>> = fs::read(&record)
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok());
    if let Some(files) = cached.and_then(|m| {
        m.into_iter()
            .map(|(k, v)| hex::decode(v).ok().map(|v| (k, v)))
            .collect::<Option<BTreeMap<_, _>>>()
    }) {
        return Ok(files);
    }
    let files = read_from_source(archive, wanted)?;
    let text: BTreeMap<&String, String> = files.iter().map(|(k, v)| (k, hex::encode(v))).collect();
    crate::util::write_atomic(&record, &serde_json::to_vec(&text)?)?;
    Ok(files)
}

/// The files `wanted` (paths inside the unpacked source, i.e. below the archive's
/// single top-level directory if it has one) that `archive` holds, by path.
pub fn read_from_source(archive: &Path, wanted: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    let want: BTreeSet<PathBuf> = wanted.iter().map(PathBuf::from).collect();
    let tops = RefCell::new(BTreeSet::new());
    let flat = RefCell::new(false);
    let strip = |p: &Path| -> PathBuf { p.components().skip(1).collect() };
    let files = crate::extract::read_files(archive, &|p: &Path| {
        let mut comps = p.components();
        if let Some(first) = comps.next() {
            tops.borrow_mut().insert(first.as_os_str().to_owned());
            if comps.next().is_none() {
                *flat.borrow_mut() = true;
            }
        }
        want.contains(p) || want.contains(&strip(p))
    })?;
    let single_top = tops.borrow().len() == 1 && !*flat.borrow();
    let mut out = BTreeMap::new();
    for (p, data) in files {
        let rel = if single_top { strip(&p) } else { p };
        if want.contains(&rel) {
            out.insert(rel.to_string_lossy().into_owned(), data);
        }
    }
    Ok(out)
}

/// The summary `LICENSE` of the install dir.
pub fn summary(c: &Contents) -> String {
    let p = &c.project;
    let mut s = format!(
        "{} {}-{}{}\n\n",
        p.name,
        p.version,
        p.iteration,
        if p.license.is_empty() {
            String::new()
        } else {
            format!(" is licensed under {}", p.license)
        }
    );
    s.push_str(
        "It bundles the software below, each under its own license (SPDX identifiers).\n\
         The license texts are in LICENSES/<name>/ (LICENSES/python-<name>/ for Python\n\
         distributions); version-manifest.json and bom.json say where each came from.\n\n",
    );
    s.push_str(&format!("{:<28} {:<20} license\n", "name", "version"));
    let none = |l: &str| {
        if l.is_empty() {
            "NOASSERTION".to_string()
        } else {
            l.to_string()
        }
    };
    for x in &c.components {
        s.push_str(&format!(
            "{:<28} {:<20} {}\n",
            x.name,
            x.version,
            none(&x.license)
        ));
    }
    let mut stated = false;
    for d in c.distributions.iter().chain(c.app.iter()) {
        let mark = if d.license_stated.is_some() {
            stated = true;
            " *"
        } else {
            ""
        };
        s.push_str(&format!(
            "{:<28} {:<20} {}{mark}\n",
            format!("python-{}", d.name),
            d.version,
            none(&d.license)
        ));
    }
    if stated {
        s.push_str(
            "\n* stated by the packager (the project's [provenance.licenses]), not read\n  \
             from the distribution's metadata; version-manifest.json has both.\n",
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashing_license_file_names_keep_their_path() {
        let d = component_dests(
            "x",
            &["a/COPYING".into(), "b/COPYING".into(), "LICENSE".into()],
        );
        let dests: Vec<&str> = d.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(
            dests,
            [
                "LICENSES/x/a/COPYING",
                "LICENSES/x/b/COPYING",
                "LICENSES/x/LICENSE"
            ]
        );
    }

    #[test]
    fn license_files_are_read_out_of_source_archives() {
        let t = tempfile::tempdir().unwrap();
        // A tarball with one top-level directory (as most sources are).
        let tgz = t.path().join("a.tar.gz");
        let enc = flate2::write::GzEncoder::new(
            fs::File::create(&tgz).unwrap(),
            flate2::Compression::default(),
        );
        let mut b = tar::Builder::new(enc);
        for (p, c) in [
            ("a-1/LICENSE", "lic"),
            ("a-1/sub/COPYING", "cp"),
            ("a-1/x.c", ""),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, p, c.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        let got = read_from_source(
            &tgz,
            &["LICENSE".into(), "sub/COPYING".into(), "NOTICE".into()],
        )
        .unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["LICENSE", "sub/COPYING"]);
        assert_eq!(got["LICENSE"], b"lic");
        // A zip without a top-level directory.
        let z = t.path().join("b.zip");
        let mut w = zip::ZipWriter::new(fs::File::create(&z).unwrap());
        for (p, c) in [("LICENSE", "zl"), ("src/LICENSE", "other")] {
            w.start_file(p, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, c.as_bytes()).unwrap();
        }
        w.finish().unwrap();
        let got = read_from_source(&z, &["LICENSE".into()]).unwrap();
        assert_eq!(got["LICENSE"], b"zl");
        // Entries are checked as when unpacking.
        let bad = t.path().join("c.zip");
        let mut w = zip::ZipWriter::new(fs::File::create(&bad).unwrap());
        w.start_file("../LICENSE", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.finish().unwrap();
        let e = read_from_source(&bad, &["LICENSE".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("refusing entry ../LICENSE"), "{e}");
    }

    #[test]
    fn dist_info_licenses_and_metadata_are_read() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("Foo_Bar-1.2.dist-info");
        fs::create_dir_all(a.join("licenses/sub")).unwrap();
        fs::write(
            a.join("METADATA"),
            "Metadata-Version: 2.4\nName: Foo_Bar\nVersion: 1.2\nLicense-Expression: MIT\n\nbody\n",
        )
        .unwrap();
        fs::write(a.join("licenses/LICENSE"), "mit").unwrap();
        fs::write(a.join("licenses/sub/NOTICE"), "n").unwrap();
        let b = t.path().join("baz-2.dist-info");
        fs::create_dir_all(&b).unwrap();
        fs::write(
            b.join("METADATA"),
            "Name: baz\nVersion: 2\nLicense: Copyright (c) someone\n  more text\n\
             Classifier: License :: OSI Approved :: MIT License\n\n",
        )
        .unwrap();
        fs::write(b.join("COPYING.txt"), "c").unwrap();
        fs::write(b.join("RECORD"), "").unwrap();
        let i = dist_infos(t.path()).unwrap();
        assert_eq!(i["foo-bar"].version, "1.2");
        assert_eq!(i["foo-bar"].license.as_deref(), Some("MIT"));
        let rels: Vec<&str> = i["foo-bar"]
            .license_files
            .iter()
            .map(|(r, _)| r.as_str())
            .collect();
        assert_eq!(rels, ["LICENSE", "sub/NOTICE"]);
        assert_eq!(i["baz"].license.as_deref(), Some("MIT"));
        let rels: Vec<&str> = i["baz"]
            .license_files
            .iter()
            .map(|(r, _)| r.as_str())
            .collect();
        assert_eq!(rels, ["COPYING.txt"]);
    }
}
