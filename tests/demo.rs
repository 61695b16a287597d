//! End to end: the demo project's full CPython stack, built from source with the
//! real definitions (sources from upstream, mirrors or the Debian archive), then
//! the embedded interpreter exercised. Uses the user's ferrobus cache, so a warm
//! run restores instead of rebuilding; a cold run takes several minutes.

mod common;
use std::path::Path;
use std::process::Command;

#[test]
fn demo_project_builds_a_working_embedded_python() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let build = tempfile::tempdir().unwrap();
    let run = || {
        let out = Command::new(common::bin())
            .current_dir(root)
            .args(["--json", "--build-dir"])
            .arg(build.path())
            .arg("--dist-dir")
            .arg(build.path().join("dist"))
            .args(["build", "projects/demo-agent.toml"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "demo build failed:\n{err}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run();
    let embedded = Path::new(first["embedded"].as_str().unwrap()).to_path_buf();
    assert!(embedded.ends_with("opt/demo-agent/embedded"));
    let py = embedded.join("bin/python3");
    let out = Command::new(&py)
        .args([
            "-c",
            "import ssl, hashlib, zlib, lzma, bz2, sqlite3, ctypes, readline, curses, pyexpat, decimal, uuid\n\
             print(ssl.OPENSSL_VERSION)\n\
             print('readline backend', readline.backend)\n\
             print(sqlite3.sqlite_version)\n\
             print(hashlib.sha256(b'x').hexdigest()[:8], lzma.decompress(lzma.compress(b'ok')).decode())",
        ])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("OpenSSL 3.5."), "{stdout}");
    assert!(stdout.contains("2d711642 ok"), "{stdout}");
    // CPython's readline module is built on libedit, not GNU readline.
    assert!(stdout.contains("readline backend editline"), "{stdout}");

    // _ssl links the prefix's libssl, not the system's.
    let ssl_mod = walkdir::WalkDir::new(embedded.join("lib"))
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("_ssl."))
        .expect("_ssl extension module");
    let ldd = Command::new("ldd").arg(ssl_mod.path()).output().unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    let prefix = first["prefix"].as_str().unwrap();
    for lib in ["libssl.so", "libcrypto.so"] {
        let line = ldd.lines().find(|l| l.contains(lib)).unwrap_or_default();
        assert!(
            line.contains(embedded.to_str().unwrap()),
            "{lib} not from the embedded prefix:\n{ldd}"
        );
    }

    // The health check ran and passed at the floor the build achieved (the host's).
    assert!(
        first["check"]["problems"].as_array().unwrap().is_empty(),
        "{}",
        first["check"]
    );
    assert!(first["relocate"]["rpaths_rewritten"].as_u64().unwrap() > 20);

    // Hardened (issue 13): hardening-check, every check on, passes on every
    // ELF file but what the health check names as having nothing to protect,
    // and agrees with the health check's report file by file (lintian's
    // hardening-no-pie: below).
    let check = &first["check"];
    let required = check["hardening_required"].to_string();
    for p in ["pie", "stack-protector", "fortify", "relro", "bind-now"] {
        assert!(required.contains(p), "{required}");
    }
    let cet = required.contains("cf-protection");
    if !cet {
        common::skip_part(
            &format!("control-flow protection: {}", check["hardening_notes"]),
            "a toolchain that can produce it (zig's start files are rebuilt for it)",
        );
    }
    common::hardening::tree_passes_hardening_check(&embedded, check, cet);

    // Relocated: only $ORIGIN-relative rpaths, no mention of the build prefix, and a
    // copy elsewhere runs with the build prefix renamed away.
    let mut elf = 0;
    for e in walkdir::WalkDir::new(&embedded)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if !e.file_type().is_file() {
            continue;
        }
        let data = std::fs::read(e.path()).unwrap();
        assert!(
            memchr::memmem::find(&data, prefix.as_bytes()).is_none(),
            "{} mentions the build prefix",
            e.path().display()
        );
        if data.starts_with(b"\x7fELF") {
            elf += 1;
            let out = Command::new("readelf")
                .arg("-d")
                .arg(e.path())
                .output()
                .unwrap();
            for l in String::from_utf8_lossy(&out.stdout).lines() {
                if l.contains("(RUNPATH)") || l.contains("(RPATH)") {
                    let v = l.split('[').nth(1).unwrap_or("");
                    assert!(
                        v.split(':')
                            .all(|p| p.trim_end_matches(']').starts_with("$ORIGIN")),
                        "{}: {l}",
                        e.path().display()
                    );
                }
            }
        }
    }
    assert!(elf > 50, "only {elf} ELF files");
    let copy = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(embedded.parent().unwrap())
        .arg(copy.path().join("demo"))
        .status()
        .unwrap();
    assert!(status.success());
    struct Restore(std::path::PathBuf, std::path::PathBuf);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::rename(&self.1, &self.0);
        }
    }
    let away = std::path::PathBuf::from(format!("{prefix}.away"));
    std::fs::rename(prefix, &away).unwrap();
    let guard = Restore(prefix.into(), away);
    let out = Command::new(copy.path().join("demo/embedded/bin/python3"))
        .args([
            "-c",
            "import ssl, sqlite3, lzma, ctypes, readline; c = ssl.create_default_context(); print('ok', ssl.OPENSSL_VERSION)",
        ])
        .env_clear()
        .output()
        .unwrap();
    drop(guard);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The installers were written beside their checksums.
    let packages: Vec<String> = first["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let path = p["path"].as_str().unwrap();
            assert!(p["seconds"].as_f64().unwrap() > 0.0, "{p}");
            path.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        packages,
        [
            "demo-agent-0.1.0-1.linux-x86_64.tar.xz",
            "demo-agent-0.1.0-1.linux-x86_64.tar.zst",
            "demo-agent_0.1.0-1_amd64.deb",
            "demo-agent-0.1.0-1.x86_64.rpm",
            "demo-agent-0.1.0-1.linux-x86_64.sh"
        ]
    );
    let sums = std::fs::read_to_string(build.path().join("dist/SHA256SUMS")).unwrap();
    // The five installers, the version manifest, the SBOM and the rpm's
    // rpmlint configuration.
    assert_eq!(sums.lines().count(), 8, "{sums}");

    // Each installer's payload matches its SBOM and its checksum (no key here:
    // tests/provenance.rs checks signatures).
    let dist = build.path().join("dist");
    let out = Command::new(common::bin())
        .arg("verify")
        .args(packages.iter().map(|p| dist.join(p)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("as the SBOM records").count(), 5, "{text}");

    // rpmlint, with the configuration ferrobus writes beside the rpm (the checks
    // a bundle under /opt fails by design, filtered with their reasons), and
    // lintian (with the deb's own overrides): no errors on either.
    match common::rpmlint(
        &dist.join("demo-agent-0.1.0-1.x86_64.rpm"),
        &dist.join("demo-agent-0.1.0-1.rpmlint.toml"),
    ) {
        Some(l) => assert!(l.errors.is_empty(), "rpmlint errors:\n{}", l.report),
        None => common::skip_part("rpmlint is not installed", "scripts/deps installs it"),
    }
    match common::lintian(&dist.join("demo-agent_0.1.0-1_amd64.deb")) {
        Some(l) => {
            assert!(l.errors.is_empty(), "lintian errors:\n{}", l.report);
            // Hardened (issue 13): every executable is PIE.
            assert!(!l.report.contains("hardening-no-pie"), "{}", l.report);
        }
        None => common::skip_part("lintian is not installed", "scripts/deps installs it"),
    }

    // A second build changes nothing.
    let second = run();
    for c in second["components"].as_array().unwrap() {
        assert_eq!(c["outcome"], "up-to-date", "{c}");
    }

    // Another build dir (staged, relocated, compiled and packaged anew, as on
    // another checkout) gives byte-identical installers.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .current_dir(root)
        .arg("--build-dir")
        .arg(other.path())
        .arg("--dist-dir")
        .arg(other.path().join("dist"))
        .args(["build", "projects/demo-agent.toml"])
        .output()
        .unwrap();
    common::assert_success(&out, "the build in another build dir");
    let provenance = [
        "demo-agent-0.1.0-1.version-manifest.json",
        "demo-agent-0.1.0-1.cdx.json",
        "demo-agent-0.1.0-1.rpmlint.toml",
        "SHA256SUMS",
    ];
    // Nothing GPL in what ships (components and Python distributions alike).
    let sbom =
        std::fs::read_to_string(build.path().join("dist/demo-agent-0.1.0-1.cdx.json")).unwrap();
    let sbom: serde_json::Value = serde_json::from_str(&sbom).unwrap();
    let comps = sbom["components"].as_array().unwrap();
    assert!(
        comps.iter().any(|c| c["name"] == "libedit"),
        "no libedit in the SBOM"
    );
    for c in comps {
        let lic = c["licenses"].to_string();
        assert!(!lic.contains("GPL"), "{} ships under {lic}", c["name"]);
    }
    for name in packages.iter().map(String::as_str).chain(provenance) {
        let a = std::fs::read(build.path().join("dist").join(name)).unwrap();
        let b = std::fs::read(other.path().join("dist").join(name)).unwrap();
        assert!(a == b, "{name} differs between two builds");
    }
}
