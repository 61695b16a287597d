//! Integration: the provenance files of a small real project (zlib and a tiny C
//! program, served from a local HTTP server): the version manifest, LICENSES/ and
//! the CycloneDX SBOM in the stage, in the packages and in dist/, the SBOM checked
//! against the CycloneDX 1.5 schema by cyclonedx-python-lib's validator, and the
//! build failing on a component without a license or its license file; and, on
//! the demo project's real stack, on a Python distribution whose license its
//! metadata does not determine, until the project states it.

mod common;
use common::zdemo::Zdemo;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

common::zdemo::fixture! {
    /// The zlib + zdemo fixture with license files, the project `zt` (reproducible:
    /// a fixed source_date_epoch).
}

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture(Zdemo::new("", "license_files = [\"LICENSE\"]"));
        f.project("");
        f.zdemo("MIT", "[\"LICENSE\"]");
        f
    }
    /// (Re)write the project file (tar.xz only); `extra` is appended.
    fn project(&self, extra: &str) {
        self.project_with(r#"["tar.xz"]"#, extra);
    }
    /// (Re)write the project file with these package formats.
    fn project_with(&self, formats: &str, extra: &str) {
        self.write_project(
            "zt",
            &format!(
                "license = \"MIT\"\nsource_date_epoch = 1700000000\n\
                 [package]\nformats = {formats}\n{extra}"
            ),
        );
    }
    /// (Re)write the zdemo definition with this license and license_files.
    fn zdemo(&self, license: &str, license_files: &str) {
        self.write_zdemo(
            &format!("license = \"{license}\"\nlicense_files = {license_files}"),
            "",
        );
    }
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let p = self.dir.path().join("projects/zt.toml");
        let mut a: Vec<&str> = args.to_vec();
        let p = p.display().to_string();
        a.push(&p);
        self.ferrobus(&a)
    }
    fn build(&self) -> Result<(), String> {
        match self.run(&["build", "--jobs", "2"]) {
            (true, _, _) => Ok(()),
            (false, _, err) => Err(err),
        }
    }
    fn install_dir(&self) -> PathBuf {
        self.dir.path().join("build/zt/stage/opt/zt")
    }
    fn dist(&self) -> PathBuf {
        self.dir.path().join("build/dist")
    }
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

/// The SBOM components' `ferrobus:license-file` properties, by bom-ref.
fn sbom_license_files(bom: &Value) -> Vec<(String, Vec<String>)> {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let files = c["properties"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["name"] == "ferrobus:license-file")
                        .map(|p| p["value"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (c["name"].as_str().unwrap().to_string(), files)
        })
        .collect()
}

/// Validate a CycloneDX 1.5 JSON document with cyclonedx-python-lib's strict
/// validator (the official schema files ship inside it; scripts/deps installs it).
fn validate_cyclonedx(path: &Path) {
    let script = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
err = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())
if err:
    print(err)
    sys.exit(1)
print("valid")
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3");
    let text = both(&out);
    assert!(
        !text.contains("No module named"),
        "cyclonedx-python-lib[json-validation] is not installed (scripts/deps installs it):\n{text}"
    );
    assert!(
        out.status.success(),
        "{} is not valid CycloneDX 1.5:\n{text}",
        path.display()
    );
}

#[test]
fn manifest_licenses_and_sbom_are_staged_packaged_and_valid() {
    let f = Fixture::new();
    f.build().unwrap();
    let inst = f.install_dir();

    // The version manifest.
    let m = json(&inst.join("version-manifest.json"));
    assert_eq!(m["project"]["name"], "zt");
    assert_eq!(m["project"]["version"], "1.0");
    assert_eq!(m["project"]["iteration"], 1);
    assert_eq!(m["build_date"], "2023-11-14T22:13:20Z");
    assert_eq!(m["source_date_epoch"], 1_700_000_000);
    assert_eq!(m["target"], "linux-x86_64");
    assert_eq!(m["ferrobus_version"], env!("CARGO_PKG_VERSION"));
    assert!(m["toolchain"]["cc_version"].as_str().unwrap().len() > 3);
    let comps = m["components"].as_array().unwrap();
    let names: Vec<&str> = comps.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["zdemo", "zlib"]);
    assert_eq!(comps[0]["source"]["sha256"], f.zdemo_sha.as_str());
    assert_eq!(comps[0]["depends"], serde_json::json!(["zlib"]));
    assert_eq!(comps[1]["license"], "Zlib");
    assert_eq!(comps[1]["cache_key"].as_str().unwrap().len(), 64);
    // What `ferrobus manifest` says from the plan alone is what the build wrote.
    let (ok, out, err) = f.run(&["--json", "manifest"]);
    assert!(ok, "{err}");
    assert_eq!(out, read(&inst.join("version-manifest.json")));

    // LICENSES/ and the summary.
    let lic = files_under(&inst.join("LICENSES"));
    assert_eq!(
        lic,
        BTreeSet::from(["zdemo/LICENSE".to_string(), "zlib/LICENSE".to_string()])
    );
    assert!(read(&inst.join("LICENSES/zlib/LICENSE")).contains("Jean-loup Gailly"));
    let summary = read(&inst.join("LICENSE"));
    for l in ["zlib", "zdemo"] {
        assert!(summary.lines().any(|x| x.starts_with(l)), "{summary}");
    }
    assert!(
        summary.contains("Zlib") && summary.contains("MIT"),
        "{summary}"
    );

    // The SBOM: valid CycloneDX 1.5, reproducible timestamp, purls, graph.
    let bom_path = inst.join("bom.json");
    validate_cyclonedx(&bom_path);
    let bom = json(&bom_path);
    assert_eq!(bom["specVersion"], "1.5");
    assert_eq!(bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(bom["metadata"]["component"]["name"], "zt");
    let zlib = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "zlib")
        .unwrap();
    let purl = zlib["purl"].as_str().unwrap();
    assert!(
        purl.starts_with("pkg:generic/zlib@1.3.1?download_url=http")
            && purl.ends_with(&format!(
                "&checksum=sha256:{}",
                comps[1]["source"]["sha256"].as_str().unwrap()
            )),
        "{purl}"
    );
    assert_eq!(zlib["licenses"][0]["expression"], "Zlib");
    let deps = bom["dependencies"].as_array().unwrap();
    let on = |r: &str| {
        deps.iter()
            .find(|d| d["ref"] == r)
            .unwrap_or_else(|| panic!("no {r} in {deps:?}"))["dependsOn"]
            .clone()
    };
    assert_eq!(on("component:zdemo"), serde_json::json!(["component:zlib"]));
    assert_eq!(on("project:zt"), serde_json::json!(["component:zdemo"]));

    // Every file under LICENSES/ belongs to a component of the SBOM, and every
    // component with license files has them there.
    let by_comp = sbom_license_files(&bom);
    for file in &lic {
        let comp = file.split('/').next().unwrap();
        let listed = by_comp
            .iter()
            .find(|(n, _)| n == comp || format!("python-{n}") == comp)
            .unwrap_or_else(|| panic!("LICENSES/{file}: no component {comp} in the SBOM"));
        assert!(listed.1.contains(&format!("LICENSES/{file}")), "{listed:?}");
    }
    for (name, files) in &by_comp {
        for file in files {
            assert!(inst.join(file).is_file(), "{name}: {file} missing");
        }
        assert!(!files.is_empty(), "{name} has no license file in the SBOM");
    }

    // Beside the packages in dist/, byte for byte.
    let dist = f.dist();
    assert_eq!(
        fs::read(dist.join("zt-1.0-1.version-manifest.json")).unwrap(),
        fs::read(inst.join("version-manifest.json")).unwrap()
    );
    assert_eq!(
        fs::read(dist.join("zt-1.0-1.cdx.json")).unwrap(),
        fs::read(&bom_path).unwrap()
    );

    let sums = read(&dist.join("SHA256SUMS"));
    for n in [
        "zt-1.0-1.cdx.json",
        "zt-1.0-1.version-manifest.json",
        "zt-1.0-1.linux-x86_64.tar.xz",
    ] {
        let h = sha256(&fs::read(dist.join(n)).unwrap());
        assert!(
            sums.contains(&format!("{h}  {n}\n")),
            "{n} not in SHA256SUMS:\n{sums}"
        );
    }

    // Inside the package.
    let tar = fs::File::open(dist.join("zt-1.0-1.linux-x86_64.tar.xz")).unwrap();
    let mut a = tar::Archive::new(liblzma::read::XzDecoder::new(tar));
    let entries: BTreeSet<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for p in [
        "zt/version-manifest.json",
        "zt/bom.json",
        "zt/LICENSE",
        "zt/LICENSES/zlib/LICENSE",
        "zt/LICENSES/zdemo/LICENSE",
    ] {
        assert!(entries.contains(p), "{p} not in the tar.xz: {entries:?}");
    }

    // A rebuild from scratch (another build dir) writes the same bytes.
    let other = f.dir.path().join("build2");
    let (ok, _, err) = ferrobus(
        &f.dir.path().join("cache"),
        &other,
        &[
            "build",
            &f.dir.path().join("projects/zt.toml").display().to_string(),
        ],
    );
    assert!(ok, "{err}");
    for n in ["version-manifest.json", "bom.json", "LICENSE"] {
        assert_eq!(
            fs::read(other.join("zt/stage/opt/zt").join(n)).unwrap(),
            fs::read(inst.join(n)).unwrap(),
            "{n} differs between two builds"
        );
    }
}

#[test]
fn a_component_without_a_license_fails_the_build_unless_allowed() {
    let f = Fixture::new();
    f.zdemo("", "[]");
    let err = f.build().unwrap_err();
    assert!(
        err.contains("component zdemo 1.0: no license in its definition")
            && err.contains("software-defs/zdemo.toml"),
        "{err}"
    );
    assert!(err.contains("allow_missing_licenses"), "{err}");
    // Found before anything was built.
    assert!(
        !f.dir.path().join("cache/artifacts").exists()
            || files_under(&f.dir.path().join("cache/artifacts")).is_empty()
    );

    f.project("[provenance]\nallow_missing_licenses = [\"zdemo\"]\n");
    f.build().unwrap();
    let bom = json(&f.install_dir().join("bom.json"));
    let zdemo = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "zdemo")
        .unwrap();
    assert!(zdemo.get("licenses").is_none(), "{zdemo}");
    assert!(!f.install_dir().join("LICENSES/zdemo").exists());
    assert!(read(&f.install_dir().join("LICENSE")).contains("NOASSERTION"));
}

#[test]
fn a_license_file_missing_from_the_source_fails_the_build_naming_the_component() {
    let f = Fixture::new();
    f.zdemo("MIT", "[\"LICENSE\", \"COPYING\"]");
    let err = f.build().unwrap_err();
    assert!(
        err.contains("zdemo: license file \"COPYING\"") && err.contains("zdemo-1.0.tar.gz"),
        "{err}"
    );
    // Nothing was packaged.
    assert!(!f.dist().join("zt-1.0-1.version-manifest.json").exists());

    // Allowed: the files that exist are shipped, the missing one is not listed.
    f.project("[provenance]\nallow_missing_licenses = [\"zdemo\"]\n");
    f.build().unwrap();
    assert_eq!(
        files_under(&f.install_dir().join("LICENSES/zdemo")),
        BTreeSet::from(["LICENSE".to_string()])
    );
    let m = json(&f.install_dir().join("version-manifest.json"));
    let zdemo = m["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "zdemo")
        .unwrap();
    assert_eq!(
        zdemo["license_files"],
        serde_json::json!(["LICENSES/zdemo/LICENSE"])
    );
}

#[test]
fn manifest_command_reads_the_plan_without_building() {
    let f = Fixture::new();
    let (ok, out, err) = f.run(&["manifest"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("zt 1.0-1 -> /opt/zt (linux-x86_64), build date 2023-11-14T22:13:20Z"),
        "{out}"
    );
    let line = out.lines().find(|l| l.starts_with("zlib ")).unwrap();
    assert!(
        line.contains("Zlib") && line.contains("LICENSES/zlib/LICENSE"),
        "{out}"
    );
    let (ok, out, err) = f.run(&["--json", "manifest"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["components"].as_array().unwrap().len(), 2);
    assert_eq!(v["python_distributions"], serde_json::json!([]));
    // Nothing fetched, nothing built.
    assert!(f.srv.seen().is_empty(), "{:?}", f.srv.seen());
    assert!(!f.dir.path().join("build/zt/stage").exists());
}

/// A throwaway OpenPGP key made by gpg in its own home: (home, secret key file,
/// public key file).
fn gpg_key(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    // One home per key: a key's home knows no other key.
    let d = dir.join(format!("key-{name}"));
    fs::create_dir_all(&d).unwrap();
    let (home, mut keys) = common::gpg_keys(&d, &[name]);
    let (sec, public) = keys.remove(0);
    (home, sec, public)
}

/// `ferrobus verify` on `artifacts` (with `key`): (success, stdout + stderr).
fn verify(f: &Fixture, artifacts: &[PathBuf], key: Option<&Path>) -> (bool, String) {
    let mut args: Vec<String> = vec!["verify".into()];
    args.extend(artifacts.iter().map(|a| a.display().to_string()));
    if let Some(k) = key {
        args.extend(["--key".into(), k.display().to_string()]);
    }
    let out = Command::new(bin())
        .args(&args)
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    (out.status.success(), both(&out))
}

/// True when `check` is reported FAILED in verify's output.
fn failed(text: &str, check: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with(check) && l.contains(" FAILED "))
}

fn flip_byte(p: &Path, at: usize) {
    let mut data = fs::read(p).unwrap();
    data[at] ^= 0x55;
    fs::write(p, data).unwrap();
}

/// Acceptance 3 of issue 7: signatures made with a key generated here, checked
/// by rpm and gpg themselves, and `ferrobus verify` naming the check that fails
/// on a tampered artifact.
#[test]
fn signed_artifacts_verify_and_tampering_names_the_failed_check() {
    let f = Fixture::new();
    f.project_with(r#"["deb", "rpm", "tar.xz", "sh"]"#, "");
    let t = f.dir.path();
    let (home, sec, public) = gpg_key(t, "signer");
    let sec_s = sec.display().to_string();
    let (ok, _, err) = f.run(&["build", "--jobs", "2", "--signing-key", &sec_s]);
    assert!(ok, "{err}");
    let dist = f.dist();
    let find = |suffix: &str| -> PathBuf {
        fs::read_dir(&dist)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no *{suffix} in {}", dist.display()))
    };
    let (deb, rpm, txz, sh) = (find(".deb"), find(".rpm"), find(".tar.xz"), find(".sh"));

    // rpm itself: the header signature is good with the key imported.
    let db = t.join("rpmdb");
    fs::create_dir_all(&db).unwrap();
    let rpm_cmd = |args: &[&str]| {
        Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        rpm_cmd(&["--import", &public.display().to_string()])
            .status
            .success()
    );
    let k = rpm_cmd(&["-K", &rpm.display().to_string()]);
    let k_out = String::from_utf8_lossy(&k.stdout);
    assert!(
        k.status.success() && k_out.contains("digests signatures OK"),
        "{k_out}"
    );

    // gpg itself: the deb's _gpgorigin over debian-binary + control + data, and
    // SHA256SUMS.sig over SHA256SUMS.
    let x = t.join("deb-x");
    fs::create_dir_all(&x).unwrap();
    assert!(
        Command::new("ar")
            .arg("x")
            .arg(&deb)
            .current_dir(&x)
            .status()
            .unwrap()
            .success()
    );
    let mut signed = Vec::new();
    for m in ["debian-binary", "control.tar.xz", "data.tar.xz"] {
        signed.extend(fs::read(x.join(m)).unwrap());
    }
    fs::write(x.join("signed"), signed).unwrap();
    for (sig, data) in [
        (x.join("_gpgorigin"), x.join("signed")),
        (dist.join("SHA256SUMS.sig"), dist.join("SHA256SUMS")),
    ] {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &home)
            .arg("--verify")
            .args([&sig, &data])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.contains("Good signature"),
            "{}: {err}",
            sig.display()
        );
    }
    // dpkg still reads a deb with the extra member.
    assert!(
        Command::new("dpkg-deb")
            .arg("-c")
            .arg(&deb)
            .output()
            .unwrap()
            .status
            .success()
    );

    // ferrobus verify: every check passes on what was built.
    let all = [deb.clone(), rpm.clone(), txz.clone(), sh.clone()];
    let (ok, text) = verify(&f, &all, Some(&public));
    assert!(ok, "{text}");
    assert_eq!(text.matches("SHA256SUMS.sig good").count(), 4, "{text}");
    assert!(
        text.contains("_gpgorigin good") && text.contains("rpm header signature good"),
        "{text}"
    );
    assert_eq!(text.matches("as the SBOM records").count(), 4, "{text}");

    // Signed packages are reproducible: packaging again gives the same bytes.
    let dist2 = t.join("dist2");
    let p = t.join("projects/zt.toml").display().to_string();
    let out = ferrobus_cmd(&f.cache(), &f.build_dir(), &dist2)
        .args(["package", "--signing-key", &sec_s, &p])
        .output()
        .unwrap();
    assert_success(&out, "ferrobus package");
    for a in &all {
        let again = dist2.join(a.file_name().unwrap());
        assert!(
            fs::read(a).unwrap() == fs::read(&again).unwrap(),
            "{} differs",
            a.display()
        );
    }

    // Another key: the signatures are not its.
    let (_, _, other) = gpg_key(t, "stranger");
    let (ok, text) = verify(&f, &[deb.clone(), rpm.clone()], Some(&other));
    assert!(!ok, "{text}");
    assert!(
        failed(&text, "signature") && failed(&text, "checksum"),
        "{text}"
    );

    // Tampering, in a copy of dist/: one flipped byte fails the checksum.
    let bad = t.join("bad");
    fs::create_dir_all(&bad).unwrap();
    for e in fs::read_dir(&dist).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), bad.join(e.file_name())).unwrap();
    }
    let bad_deb = bad.join(deb.file_name().unwrap());
    let len = fs::metadata(&bad_deb).unwrap().len() as usize;
    flip_byte(&bad_deb, len / 2);
    let (ok, text) = verify(&f, std::slice::from_ref(&bad_deb), Some(&public));
    assert!(!ok, "{text}");
    assert!(
        failed(&text, "checksum") && text.contains("differs from SHA256SUMS"),
        "{text}"
    );
    // ... and, with SHA256SUMS rewritten to match, its signature fails, and so
    // does the deb's own.
    let sums = fs::read_to_string(bad.join("SHA256SUMS")).unwrap();
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    let fixed: String = sums
        .lines()
        .map(|l| {
            if l.ends_with(&format!("  {name}")) {
                format!("{}  {name}\n", sha256(&fs::read(&bad_deb).unwrap()))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(bad.join("SHA256SUMS"), fixed).unwrap();
    let (ok, text) = verify(&f, std::slice::from_ref(&bad_deb), Some(&public));
    assert!(!ok, "{text}");
    assert!(text.contains("SHA256SUMS.sig does not verify"), "{text}");
    assert!(failed(&text, "signature"), "{text}");

    // A payload changed and repacked consistently (checksums updated, no key to
    // re-sign): the SBOM check finds the file that no longer matches.
    let tree = t.join("tree");
    fs::create_dir_all(&tree).unwrap();
    let tar = |args: &[&str], dir: &Path| {
        assert!(
            Command::new("tar")
                .args(args)
                .current_dir(dir)
                .status()
                .unwrap()
                .success()
        );
    };
    tar(&["-xJf", &txz.display().to_string()], &tree);
    fs::write(
        tree.join("zt/embedded/bin/zdemo"),
        "#!/bin/sh\necho replaced\n",
    )
    .unwrap();
    let bad_txz = bad.join(txz.file_name().unwrap());
    tar(&["-cJf", &bad_txz.display().to_string(), "zt"], &tree);
    fs::write(
        bad.join("SHA256SUMS"),
        format!(
            "{}  {}\n",
            sha256(&fs::read(&bad_txz).unwrap()),
            txz.file_name().unwrap().to_string_lossy()
        ),
    )
    .unwrap();
    let (ok, text) = verify(&f, std::slice::from_ref(&bad_txz), None);
    assert!(!ok, "{text}");
    assert!(
        failed(&text, "sbom") && text.contains("does not match its SBOM"),
        "{text}"
    );
    assert!(!failed(&text, "checksum"), "{text}");

    // An unsigned build verified with a key: the deb is reported unsigned.
    let (ok, _, err) = f.run(&["build", "--jobs", "2"]);
    assert!(ok, "{err}");
    assert!(
        !dist.join("SHA256SUMS.sig").exists(),
        "a stale SHA256SUMS.sig was left"
    );
    let (ok, text) = verify(&f, std::slice::from_ref(&deb), Some(&public));
    assert!(!ok, "{text}");
    assert!(
        text.contains("unsigned: the deb has no _gpgorigin"),
        "{text}"
    );
    assert!(text.contains("SHA256SUMS is not signed"), "{text}");
    // Without a key, the unsigned build passes what can be checked.
    let (ok, text) = verify(&f, &all, None);
    assert!(ok, "{text}");
}

/// `[stage] prune` takes dead weight out of the tree before it is listed and
/// packaged, `keep` saves what a prune glob would take; a glob leaving the
/// prefix is refused, naming the project file.
#[test]
fn stage_prune_and_keep_shape_the_shipped_tree() {
    let f = Fixture::new();
    f.project("[stage]\nprune = [\"include\", \"lib/libz.so*\"]\nkeep = [\"lib/libz.so.1*\"]\n");
    f.build().unwrap();
    let emb = f.install_dir().join("embedded");
    assert!(!emb.join("include").exists(), "include/ was not pruned");
    assert!(
        fs::symlink_metadata(emb.join("lib/libz.so")).is_err(),
        "lib/libz.so was not pruned"
    );
    assert!(
        emb.join("lib/libz.so.1").exists(),
        "keep did not keep lib/libz.so.1"
    );
    let out = Command::new(emb.join("bin/zdemo")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("zlib 1.3.1"));
    // The packaged payload is the pruned tree, as the SBOM records it.
    let txz = fs::read_dir(f.dist())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.xz"))
        .unwrap();
    let (ok, text) = verify(&f, &[txz], None);
    assert!(ok, "{text}");

    f.project("[stage]\nprune = [\"../x\"]\n");
    let err = f.build().unwrap_err();
    assert!(
        err.contains("zt.toml") && err.contains("must stay inside"),
        "{err}"
    );
}

/// text-unidecode 1.3: pure Python, a 77 kB sdist (first hash; the Windows
/// bundle takes its py2.py3-none-any wheel, second hash), whose metadata
/// determines no license: `License: Artistic License` and the classifiers
/// Artistic License, GNU General Public License (GPL) and GPLv2+ (its LICENSE:
/// "either GPL or GPLv2+, or the Artistic License").
const TEXT_UNIDECODE: &str = "text-unidecode==1.3 \\\n    \
    --hash=sha256:bad6603bb14d279193107714b288be206cac565dfa49aa5b105294dd5c4aab93 \\\n    \
    --hash=sha256:1311f10e8b895935241623731c2ba64f4c455287888b18189350b67134a822e8\n";
/// What a packager who read that LICENSE states.
const TEXT_UNIDECODE_LICENSE: &str = "Artistic-1.0-Perl OR GPL-1.0-or-later";

/// The demo project (its cached stack; tar.zst only) with text-unidecode added
/// to its lock: the build fails naming it, where it is locked, what its
/// metadata says and what to write; once `[provenance.licenses]` states it, the
/// build passes and LICENSE, the SBOM (valid CycloneDX) and the manifest show
/// the stated license; the deny policy judges the stated license. The Windows
/// bundle of the same project follows the same rules.
#[test]
fn an_undeterminable_license_fails_the_build_until_the_project_states_it() {
    let t = tempfile::tempdir().unwrap();
    let p = demo_project(t.path(), &[("formats", "[\"tar.zst\"]")]);
    let project = read(&p);
    let lock = t.path().join("app/requirements.lock");
    let mut locked = read(&lock);
    let line = locked.lines().count() + 1;
    locked.push_str(TEXT_UNIDECODE);
    fs::write(&lock, &locked).unwrap();
    let build = t.path().join("b");
    // Its sdist and build requirements into the build lock.
    let o = ferrobus_on(&build, &["lock", "--jobs", "2"], &p);
    assert!(o.status.success(), "ferrobus lock: {}", stderr(&o));

    let o = ferrobus_on(&build, &["build", "--jobs", "2"], &p);
    let e = stderr(&o);
    assert!(!o.status.success(), "the build passed:\n{e}");
    for want in [
        "the license of 1 Python distribution cannot be determined from its metadata".to_string(),
        format!("text-unidecode 1.3 (locked at {}:{line})", lock.display()),
        "License: \"Artistic License\" (not SPDX); classifiers: \
         License :: OSI Approved :: Artistic License; "
            .to_string(),
        "text_unidecode-1.3.dist-info/".to_string(),
        format!("as an SPDX expression, in {}", p.display()),
        "[provenance.licenses]\n  text-unidecode = \"<SPDX expression>\"".to_string(),
    ] {
        assert!(e.contains(&want), "no {want:?} in:\n{e}");
    }
    // The other distributions' metadata determines theirs.
    assert!(!e.contains("pyyaml 6") && !e.contains("psutil 7"), "{e}");
    // Nothing was packaged.
    let packages = || {
        fs::read_dir(build.join("dist"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(packages(), 0);
    let windows = ["build", "--target", "windows-x86_64"];
    let o = ferrobus_on(&build, &windows, &p);
    let e = stderr(&o);
    assert!(
        !o.status.success()
            && e.contains(&format!(
                "text-unidecode 1.3 (locked at {}:{line})",
                lock.display()
            ))
            && e.contains("[provenance.licenses]\n  text-unidecode = \"<SPDX expression>\""),
        "the Windows bundle:\n{e}"
    );
    assert_eq!(packages(), 0);

    let stated = format!(
        "{project}\n[provenance.licenses]\ntext-unidecode = \"{TEXT_UNIDECODE_LICENSE}\"\n"
    );
    fs::write(&p, &stated).unwrap();
    let o = ferrobus_on(&build, &["build", "--jobs", "2"], &p);
    assert_success(&o, "the build with the license stated");
    let inst = build.join("demo-agent/stage/opt/demo-agent");
    let summary = read(&inst.join("LICENSE"));
    assert!(
        summary.contains(&format!(
            "python-text-unidecode        1.3                  {TEXT_UNIDECODE_LICENSE} *\n"
        )) && summary.contains("python-pyyaml                6.0.2                MIT\n")
            && summary.contains("* stated by the packager")
            && !summary.contains("NOASSERTION"),
        "{summary}"
    );
    assert!(
        inst.join("LICENSES/python-text-unidecode/LICENSE")
            .is_file()
    );
    let bom_path = inst.join("bom.json");
    let bom = json(&bom_path);
    let tu = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == "pypi:text-unidecode")
        .unwrap_or_else(|| panic!("no text-unidecode in the SBOM"));
    assert_eq!(
        tu["licenses"],
        serde_json::json!([{ "expression": TEXT_UNIDECODE_LICENSE }])
    );
    assert!(
        tu["properties"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "ferrobus:license-source" && p["value"] == "project"),
        "{tu}"
    );
    validate_cyclonedx(&bom_path);
    // The copy beside the packages is the same SBOM.
    assert_eq!(
        fs::read(build.join("dist/demo-agent-0.1.0-1.cdx.json")).unwrap(),
        fs::read(&bom_path).unwrap()
    );
    let m = json(&inst.join("version-manifest.json"));
    let d = m["python_distributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "text-unidecode")
        .unwrap();
    assert_eq!(d["license"], TEXT_UNIDECODE_LICENSE);
    assert_eq!(d["license_stated"], TEXT_UNIDECODE_LICENSE);
    assert!(d["license_metadata"].is_null(), "{d}");
    assert_eq!(d["kind"], "sdist");

    assert_success(
        &ferrobus_on(&build, &windows, &p),
        "the Windows bundle, stated",
    );
    let bundle = build.join("demo-agent/windows/stage");
    assert!(read(&bundle.join("LICENSE")).contains(&format!(
        "python-text-unidecode        1.3                  {TEXT_UNIDECODE_LICENSE} *\n"
    )));
    let bom = json(&bundle.join("bom.json"));
    let tu = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == "pypi:text-unidecode")
        .unwrap();
    assert_eq!(
        tu["licenses"],
        serde_json::json!([{ "expression": TEXT_UNIDECODE_LICENSE }])
    );

    // The policy judges the stated license (at plan time: nothing is built).
    let plan = |deny: &str| {
        fs::write(
            &p,
            format!("{stated}[provenance]\ndeny_licenses = {deny}\n"),
        )
        .unwrap();
        ferrobus_on(&build, &["plan"], &p)
    };
    assert_success(&plan("[\"GPL-*\"]"), "plan: GPL denied, Artistic chosen");
    let o = plan("[\"GPL-*\", \"Artistic-*\"]");
    let e = stderr(&o);
    assert!(
        !o.status.success()
            && e.contains(
                "Python distribution text-unidecode 1.3 (license stated in [provenance.licenses]): \
                 license Artistic-1.0-Perl OR GPL-1.0-or-later is denied"
            ),
        "{e}"
    );
}
