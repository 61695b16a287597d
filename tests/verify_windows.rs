//! `ferrobus verify` on the Windows installers (issue 12, acceptance 5): the
//! demo agent's zip and MSI built on this host pass every check; a copy of the
//! zip, and of the MSI's cabinet, with one byte of one payload file changed (and
//! SHA256SUMS updated to match, so that only the SBOM can catch it) fails,
//! naming the artifact and the file. A Linux build (a one-file C fixture, no
//! CPython) and the Windows build, both signed with a key gpg makes here, share
//! one dist dir: one SHA256SUMS lists both, its signature checks with
//! `verify --key` and with gpg itself.
//!
//! The Windows build takes its sources (the embeddable CPython, the wheels) from
//! the user's ferrobus source cache, as tests/windows.rs does, fetching what is
//! missing. A missing prerequisite (gpg, a C compiler) fails the test when
//! `CI=true` and is reported as `SKIPPED <reason>` otherwise.

use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

mod common;
use common::{bin, have, sha256};

fn root() -> &'static Path {
    common::repo()
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_tmp("verify_windows", name)
}

/// False (after recording the skip: [`common::skip`], or [`common::skip_part`]
/// when the test already checked something) when a prerequisite is missing;
/// under `CI=true` a missing prerequisite is a failure.
fn prerequisite(ok: bool, part: bool, reason: &str) -> bool {
    if !ok {
        let remedy = "scripts/deps installs it";
        if part {
            common::skip_part(reason, remedy);
        } else {
            common::skip(reason, remedy);
        }
    }
    ok
}

/// Run ferrobus; panic with its output when it fails. Returns stdout.
fn ferrobus(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ferrobus {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ferrobus verify` (with `key`): (success, stdout + stderr).
fn verify(artifacts: &[&Path], key: Option<&Path>) -> (bool, String) {
    let mut c = Command::new(bin());
    c.arg("verify").args(artifacts);
    if let Some(k) = key {
        c.arg("--key").arg(k);
    }
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `verify` of a tampered `artifact` (named `name`, its SHA256SUMS updated):
/// only the sbom check fails, naming the artifact and VICTIM, and only it.
fn assert_only_victim_named(artifact: &Path, name: &str) {
    let (ok, text) = verify(&[artifact], None);
    assert!(!ok, "{text}");
    assert!(!failed(&text, "checksum"), "{text}");
    assert!(failed(&text, "sbom"), "{text}");
    assert!(
        text.contains(&format!(
            "{name}: {VICTIM} differs from what its SBOM records"
        )),
        "the report names neither the artifact nor the file:\n{text}"
    );
    // Only that file.
    assert_eq!(
        text.matches("differs from what its SBOM records").count(),
        1,
        "{text}"
    );
}

/// True when `check` is reported FAILED in verify's output.
fn failed(text: &str, check: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with(check) && l.contains(" FAILED "))
}

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";

/// A gzip tarball of `files` under `top`.
fn targz(top: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(enc);
    for (p, c) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(c.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, format!("{top}/{p}"), c.as_bytes())
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A one-component Linux project (a C program, host compiler, tar.xz) whose
/// source is served by a directory mirror, built offline into `dist`.
fn build_linux(dir: &Path, dist: &Path, key: Option<&Path>) {
    let src = targz(
        "hello-1.0",
        &[
            ("hello.c", HELLO_C),
            ("LICENSE", "MIT License\n\nCopyright (c) hello\n"),
        ],
    );
    let sha = sha256(&src);
    let mirror = dir.join("mirror");
    fs::create_dir_all(&mirror).unwrap();
    fs::write(mirror.join(&sha), &src).unwrap();
    let defs = dir.join("software-defs");
    fs::create_dir_all(&defs).unwrap();
    fs::write(
        defs.join("hello.toml"),
        format!(
            r#"name = "hello"
license = "MIT"
license_files = ["LICENSE"]
default_version = "1.0"
steps = ["$CC $CPPFLAGS $CFLAGS -o hello hello.c $LDFLAGS", "mkdir -p {{destdir}}{{prefix}}/bin", "cp hello {{destdir}}{{prefix}}/bin/"]
[[version]]
version = "1.0"
sha256 = "{sha}"
url = ["https://ferrobus.invalid/hello-1.0.tar.gz"]
"#
        ),
    )
    .unwrap();
    let project = dir.join("hello.toml");
    fs::write(
        &project,
        "name = \"hello\"\nversion = \"1.0\"\nlicense = \"MIT\"\ninstall_dir = \"/opt/hello\"\n\
         components = [\"hello\"]\nsource_date_epoch = 1700000000\n\
         [package]\nformats = [\"tar.xz\"]\n",
    )
    .unwrap();
    let (cache, build) = (dir.join("cache"), dir.join("build"));
    let mut args: Vec<String> = [
        "--defs",
        &defs.display().to_string(),
        "--cache-dir",
        &cache.display().to_string(),
        "--build-dir",
        &build.display().to_string(),
        "--dist-dir",
        &dist.display().to_string(),
        "build",
        "--offline",
        "--mirror",
        &mirror.display().to_string(),
        "--jobs",
        "2",
    ]
    .map(String::from)
    .to_vec();
    if let Some(k) = key {
        args.extend(["--signing-key".into(), k.display().to_string()]);
    }
    args.push(project.display().to_string());
    let t = Instant::now();
    ferrobus(&args.iter().map(String::as_str).collect::<Vec<_>>());
    eprintln!("linux fixture built in {:.1}s", t.elapsed().as_secs_f64());
}

/// The demo's Windows build into `dist` (sources from the user's cache).
fn build_windows(dir: &Path, dist: &Path, key: Option<&Path>) {
    let mut args: Vec<String> = [
        "--defs",
        &root().join("software-defs").display().to_string(),
        "--build-dir",
        &dir.join("build").display().to_string(),
        "--dist-dir",
        &dist.display().to_string(),
        "build",
        &root()
            .join("projects/demo-agent.toml")
            .display()
            .to_string(),
        "--target",
        "windows-x86_64",
    ]
    .map(String::from)
    .to_vec();
    if let Some(k) = key {
        args.extend(["--signing-key".into(), k.display().to_string()]);
    }
    let t = Instant::now();
    ferrobus(&args.iter().map(String::as_str).collect::<Vec<_>>());
    eprintln!("windows demo built in {:.1}s", t.elapsed().as_secs_f64());
}

const ZIP: &str = "demo-agent-0.1.0-1.windows-x86_64.zip";
const MSI: &str = "demo-agent-0.1.0-1.windows-x86_64.msi";
const TXZ: &str = "hello-1.0-1.linux-x86_64.tar.xz";
/// The payload file the tampering tests change.
const VICTIM: &str = "python/python313.dll";

/// One dist dir holding the Linux fixture's and the demo's Windows installers,
/// signed when gpg is here to make a key.
struct Dist {
    dir: PathBuf,
    /// When signed: the gpg home, the signer's public key, and another key's.
    keys: Option<(PathBuf, PathBuf, PathBuf)>,
}

fn dist() -> &'static Dist {
    static D: OnceLock<Dist> = OnceLock::new();
    D.get_or_init(|| {
        let t = tmp("shared");
        let dist = t.join("dist");
        let keys = have("gpg").then(|| common::gpg_keys(&t, &["signer", "stranger"]));
        let sec = keys.as_ref().map(|(_, k)| k[0].0.as_path());
        if have("cc") {
            build_linux(&t.join("linux"), &dist, sec);
        }
        build_windows(&t.join("windows"), &dist, sec);
        Dist {
            dir: dist,
            keys: keys.map(|(home, k)| (home, k[0].1.clone(), k[1].1.clone())),
        }
    })
}

/// The `SHA256SUMS` lines of `dir`: name -> sha256.
fn sums(dir: &Path) -> std::collections::BTreeMap<String, String> {
    fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let (h, n) = l.split_once("  ").unwrap();
            (n.to_string(), h.to_string())
        })
        .collect()
}

/// A copy of `names` from the shared dist into a new dir, with an unsigned
/// SHA256SUMS listing exactly them.
fn copy_dist(name: &str, names: &[&str]) -> PathBuf {
    let d = dist();
    let bad = tmp(name);
    let mut text = String::new();
    for n in names {
        fs::copy(d.dir.join(n), bad.join(n)).unwrap();
        text.push_str(&format!(
            "{}  {n}\n",
            sha256(&fs::read(bad.join(n)).unwrap())
        ));
    }
    fs::write(bad.join("SHA256SUMS"), text).unwrap();
    bad
}

/// Rewrite SHA256SUMS so that it lists the current bytes of `artifact`.
fn update_sums(artifact: &Path) {
    let dir = artifact.parent().unwrap();
    let name = artifact.file_name().unwrap().to_string_lossy().into_owned();
    let text: String = sums(dir)
        .into_iter()
        .map(|(n, h)| {
            let h = if n == name {
                sha256(&fs::read(artifact).unwrap())
            } else {
                h
            };
            format!("{h}  {n}\n")
        })
        .collect();
    fs::write(dir.join("SHA256SUMS"), text).unwrap();
}

#[test]
fn zip_and_msi_verify_and_one_signed_sha256sums_lists_both_targets() {
    let d = dist();
    let zip = d.dir.join(ZIP);
    let msi = d.dir.join(MSI);
    let t = Instant::now();
    let (ok, text) = verify(&[&zip, &msi], None);
    eprintln!(
        "verify zip + msi: {:.1}s\n{text}",
        t.elapsed().as_secs_f64()
    );
    assert!(ok, "{text}");
    assert_eq!(text.matches("as the SBOM records").count(), 2, "{text}");
    assert_eq!(
        text.matches("the .cdx.json beside it is the same").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.matches("unsigned (built without --codesign)").count(),
        2,
        "{text}"
    );
    // The old per-build checksum list is gone: one SHA256SUMS for the dist dir.
    let names: Vec<String> = fs::read_dir(&d.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".SHA256SUMS")),
        "{names:?}"
    );
    let listed = sums(&d.dir);
    for n in [
        ZIP,
        MSI,
        "demo-agent-0.1.0-1.windows-x86_64.cdx.json",
        "demo-agent-0.1.0-1.windows-x86_64.version-manifest.json",
    ] {
        assert_eq!(
            listed.get(n),
            Some(&sha256(&fs::read(d.dir.join(n)).unwrap())),
            "{n} in SHA256SUMS: {listed:?}"
        );
    }

    if !prerequisite(
        have("cc"),
        true,
        "no C compiler (cc) for the Linux fixture of one SHA256SUMS for Linux and Windows",
    ) {
        return;
    }
    for n in [
        TXZ,
        "hello-1.0-1.cdx.json",
        "hello-1.0-1.version-manifest.json",
    ] {
        assert_eq!(
            listed.get(n),
            Some(&sha256(&fs::read(d.dir.join(n)).unwrap())),
            "{n} in SHA256SUMS: {listed:?}"
        );
    }
    // Every artifact of both targets verifies.
    let txz = d.dir.join(TXZ);
    let key = d.keys.as_ref().map(|(_, public, _)| public.as_path());
    let (ok, text) = verify(&[&txz, &zip, &msi], key);
    assert!(ok, "{text}");
    assert_eq!(text.matches("as the SBOM records").count(), 3, "{text}");

    if !prerequisite(
        d.keys.is_some(),
        true,
        "gpg is not installed, so SHA256SUMS signed for both targets is not checked",
    ) {
        return;
    }
    let (home, _, other) = d.keys.as_ref().unwrap();
    assert_eq!(text.matches("SHA256SUMS.sig good").count(), 3, "{text}");
    // gpg itself agrees.
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .arg("--verify")
        .arg(d.dir.join("SHA256SUMS.sig"))
        .arg(d.dir.join("SHA256SUMS"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("Good signature"),
        "{err}"
    );
    // Another key: the list's signature is not its.
    let (ok, text) = verify(&[&zip, &msi], Some(other));
    assert!(!ok && failed(&text, "checksum"), "{text}");
    assert_eq!(
        text.matches("SHA256SUMS.sig does not verify").count(),
        2,
        "{text}"
    );
}

/// The Linux build again into a dist dir holding the Windows installers and an
/// entry of a file that is gone: the Windows entries stay, the stale one goes,
/// and the signature is made again over the merged list.
#[test]
fn another_targets_build_keeps_the_list_and_drops_what_is_gone() {
    let d = dist();
    if !prerequisite(
        have("cc"),
        false,
        "no C compiler (cc) for the Linux fixture",
    ) {
        return;
    }
    let dir = tmp("merge");
    let dist = dir.join("dist");
    fs::create_dir_all(&dist).unwrap();
    for n in [ZIP, MSI, "SHA256SUMS"] {
        fs::copy(d.dir.join(n), dist.join(n)).unwrap();
    }
    let mut text = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    text.push_str(&format!("{}  gone-1.0.tar.xz\n", "0".repeat(64)));
    fs::write(dist.join("SHA256SUMS"), text).unwrap();
    build_linux(&dir.join("linux"), &dist, None);
    let listed = sums(&dist);
    assert!(!listed.contains_key("gone-1.0.tar.xz"), "{listed:?}");
    for n in [ZIP, MSI, TXZ, "hello-1.0-1.cdx.json"] {
        assert_eq!(
            listed.get(n),
            Some(&sha256(&fs::read(dist.join(n)).unwrap())),
            "{n}: {listed:?}"
        );
    }
    // Unsigned this time: no stale signature left over a changed list.
    assert!(!dist.join("SHA256SUMS.sig").exists());
}

#[test]
fn a_changed_byte_in_a_file_of_the_zip_is_named() {
    let bad = copy_dist("zip", &[ZIP, "demo-agent-0.1.0-1.windows-x86_64.cdx.json"]);
    let zip_path = bad.join(ZIP);
    // Re-zip with one byte of one payload file changed: a valid zip, the same
    // names, SHA256SUMS updated.
    let mut z = zip::ZipArchive::new(Cursor::new(fs::read(&zip_path).unwrap())).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut changed = false;
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let name = e.name().unwrap().to_string();
        if e.is_dir() {
            w.add_directory(name, opts).unwrap();
            continue;
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if name == format!("demo-agent/{VICTIM}") {
            let at = data.len() / 2;
            data[at] ^= 0x01;
            changed = true;
        }
        w.start_file(name, opts).unwrap();
        w.write_all(&data).unwrap();
    }
    assert!(changed, "no demo-agent/{VICTIM} in the zip");
    fs::write(&zip_path, w.finish().unwrap().into_inner()).unwrap();
    update_sums(&zip_path);

    assert_only_victim_named(&zip_path, ZIP);
}

#[test]
fn a_changed_byte_in_a_file_of_the_msi_cabinet_is_named() {
    let bad = copy_dist("msi", &[MSI, "demo-agent-0.1.0-1.windows-x86_64.cdx.json"]);
    let msi_path = bad.join(MSI);
    let mut pkg = msi::open_rw(&msi_path).unwrap();
    // The File key of the victim: its long name, in the directory `python`.
    let dirs: std::collections::BTreeMap<String, String> = pkg
        .select_rows(msi::Select::table("Directory"))
        .unwrap()
        .map(|r| {
            let name = r["DefaultDir"].as_str().unwrap().to_string();
            (
                r["Directory"].as_str().unwrap().to_string(),
                name.rsplit('|').next().unwrap().to_string(),
            )
        })
        .collect();
    let comps: std::collections::BTreeMap<String, String> = pkg
        .select_rows(msi::Select::table("Component"))
        .unwrap()
        .map(|r| {
            (
                r["Component"].as_str().unwrap().to_string(),
                r["Directory_"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (dir, file) = VICTIM.split_once('/').unwrap();
    let keys: Vec<String> = pkg
        .select_rows(msi::Select::table("File"))
        .unwrap()
        .filter(|r| {
            r["FileName"].as_str().unwrap().rsplit('|').next() == Some(file)
                && dirs[&comps[r["Component_"].as_str().unwrap()]] == dir
        })
        .map(|r| r["File"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 1, "{VICTIM} in the File table: {keys:?}");
    let key = &keys[0];

    // The cabinet again, with one byte of that file changed.
    let mut cab_bytes = Vec::new();
    pkg.read_stream("bundle.cab")
        .unwrap()
        .read_to_end(&mut cab_bytes)
        .unwrap();
    let mut cab = cab::Cabinet::new(Cursor::new(cab_bytes)).unwrap();
    let entries: Vec<(String, Option<time::PrimitiveDateTime>)> = cab
        .folder_entries()
        .flat_map(|f| {
            f.file_entries()
                .map(|e| (e.name().to_string(), e.datetime()))
        })
        .collect();
    let mut files = Vec::new();
    for (name, when) in &entries {
        let mut data = Vec::new();
        cab.read_file(name).unwrap().read_to_end(&mut data).unwrap();
        if name == key {
            let at = data.len() / 2;
            data[at] ^= 0x01;
        }
        files.push((name.clone(), *when, data));
    }
    let mut cb = cab::CabinetBuilder::new();
    {
        let folder = cb.add_folder(cab::CompressionType::MsZip);
        for (name, when, _) in &files {
            let f = folder.add_file(name.clone());
            if let Some(w) = when {
                f.set_datetime(*w);
            }
        }
    }
    let mut cw = cb.build(Cursor::new(Vec::new())).unwrap();
    let mut i = 0;
    while let Some(mut w) = cw.next_file().unwrap() {
        w.write_all(&files[i].2).unwrap();
        i += 1;
    }
    let new_cab = cw.finish().unwrap().into_inner();
    pkg.write_stream("bundle.cab")
        .unwrap()
        .write_all(&new_cab)
        .unwrap();
    pkg.flush().unwrap();
    drop(pkg);
    update_sums(&msi_path);

    assert_only_victim_named(&msi_path, MSI);
}
