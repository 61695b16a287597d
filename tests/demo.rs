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

    // _ssl links the prefix's libssl, not the system's.
    let ssl_mod = walkdir::WalkDir::new(embedded.join("lib"))
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("_ssl."))
        .expect("_ssl extension module");
    let ldd = Command::new("ldd").arg(ssl_mod.path()).output().unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    let prefix = first["prefix"].as_str().unwrap();
    for lib in ["libssl.so", "libcrypto.so", "libpython3"] {
        let line = ldd.lines().find(|l| l.contains(lib)).unwrap_or_default();
        assert!(line.contains(prefix), "{lib} not from the prefix:\n{ldd}");
    }

    // A second build changes nothing.
    let second = run();
    for c in second["components"].as_array().unwrap() {
        assert_eq!(c["outcome"], "up-to-date", "{c}");
    }
}
