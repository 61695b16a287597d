//! Hermetic, offline, first-class Python builds, on the demo project's stack
//! with the drivers fixture (psycopg2 against libpq, lxml against libxml2 and
//! libxslt; tests/fixtures/drivers), with the user's cache:
//!
//! - a libpq definition without `pg_config` on a host that has one
//!   (`libpq-dev`): the build fails naming psycopg2, the host's pg_config and
//!   the include path it printed, with zig and with gcc; the real definition
//!   passes;
//! - with an empty source and wheel cache, `build --offline` fails naming
//!   every missing file; after `ferrobus fetch` it builds everything, wheels
//!   included, with the network cut (`unshare -n`);
//! - changing libpq rebuilds psycopg2's wheel and no other, and `plan` says so.

mod common;
use common::{assert_success, skip, stderr};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::ferrobus_with as ferrobus;

fn repo_defs() -> PathBuf {
    common::repo().join("software-defs")
}

/// A copy of the repository's definitions in `dir/defs` with `edit` applied
/// to libpq.toml's text.
fn defs_with_libpq(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let to = dir.join("defs");
    for e in walkdir::WalkDir::new(repo_defs()) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(repo_defs()).unwrap();
        let dst = to.join(rel);
        if e.file_type().is_dir() {
            fs::create_dir_all(&dst).unwrap();
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
    let libpq = to.join("libpq.toml");
    let text = fs::read_to_string(&libpq).unwrap();
    fs::write(&libpq, edit(text)).unwrap();
    to
}

/// The drivers project for the zig toolchain (the demo's) or gcc (the host
/// compiler: the floor is the host's glibc).
fn project(dir: &Path, gcc: bool) -> PathBuf {
    let p = common::drivers_project(dir, &[("formats", "[\"tar.zst\"]")]);
    if gcc {
        let text = fs::read_to_string(&p)
            .unwrap()
            .replace(
                "compiler = \"zig\"\nglibc = \"2.17\"",
                "compiler = \"host\"",
            )
            .replace("glibc_floor = \"2.17\"", "glibc_floor = \"2.36\"");
        fs::write(&p, text).unwrap();
    }
    p
}

fn host_pg_config_fails_the_build(gcc: bool) {
    let host = Path::new("/usr/bin/pg_config");
    if !host.is_file() {
        skip(
            "the host's /usr/bin/pg_config (libpq-dev), the leak under test",
            "scripts/deps installs libpq-dev",
        );
        return;
    }
    let t = common::fresh_tmp("hermetic", if gcc { "pg-gcc" } else { "pg-zig" });
    let p = project(&t, gcc);
    let b = t.join("b");
    // libpq without its pg_config: psycopg2's setup.py finds the host's on PATH.
    let defs = defs_with_libpq(&t, |s| {
        s.replace(
            "prune = [\n  \"lib/*.a\",",
            "prune = [\n  \"bin/pg_config\",\n  \"lib/*.a\",",
        )
    });
    let o = ferrobus(&defs, &b, &["build", "--jobs", "2"], &p, &[]);
    assert!(
        !o.status.success(),
        "the build passed with the host's pg_config"
    );
    let e = stderr(&o);
    assert!(
        e.contains("distribution psycopg2 2.9.13 (requirements.lock:10): the build read the host instead of the build prefix")
            && e.contains("ran the host's /usr/bin/pg_config")
            && e.contains("-I/usr/include/postgresql: /usr/include/postgresql is a host directory (printed by the host's /usr/bin/pg_config)")
            && e.contains("[app.distribution.psycopg2] allow_host"),
        "{e}"
    );
    // The repository's libpq provides pg_config: the same project builds.
    let o = ferrobus(
        &repo_defs(),
        &b,
        &["--json", "build", "--jobs", "2"],
        &p,
        &[],
    );
    assert_success(&o, "ferrobus build with the repository's libpq");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let embedded = PathBuf::from(r["embedded"].as_str().unwrap());
    let out = Command::new(embedded.join("bin/python3"))
        .env_clear()
        .args([
            "-c",
            "import psycopg2, lxml.etree as e; print(psycopg2.extensions.libpq_version(), e.LIBXML_VERSION)",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "150018 (2, 9, 14)\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_host_pg_config_fails_the_zig_build_naming_it() {
    host_pg_config_fails_the_build(false);
}

#[test]
fn a_host_pg_config_fails_the_gcc_build_naming_it() {
    host_pg_config_fails_the_build(true);
}

#[test]
fn offline_after_fetch_builds_every_wheel_with_the_network_cut() {
    let t = common::fresh_tmp("hermetic", "offline");
    let p = project(&t, false);
    let b = t.join("b");
    let (sources, wheels) = (t.join("sources"), t.join("wheels"));
    fs::create_dir_all(&sources).unwrap();
    let env = [
        ("FERROBUS_SOURCE_CACHE", sources.as_path()),
        ("FERROBUS_WHEEL_CACHE", wheels.as_path()),
    ];
    // Nothing fetched: --offline names every missing file.
    let o = ferrobus(&repo_defs(), &b, &["build", "--offline"], &p, &env);
    assert!(!o.status.success());
    let e = stderr(&o);
    for f in [
        "lxml-6.1.3.tar.gz",
        "psycopg2-2.9.13.tar.gz",
        "cython-3.2.9-cp313-",
        "setuptools-84.2.1-py3-none-any.whl",
        "postgresql-15_15.18.orig.tar.bz2",
    ] {
        assert!(
            e.contains(f) && e.contains("is not in the cache"),
            "{f} not named:\n{e}"
        );
    }
    // The build lock and the manifest name Cython, pinned and hashed.
    let lock = fs::read_to_string(t.join("app/build-requirements.lock")).unwrap();
    assert!(
        lock.contains("name = \"cython\"\nversion = \"3.2.9\""),
        "{lock}"
    );
    // Fetch, then build with no route anywhere.
    let o = ferrobus(&repo_defs(), &b, &["fetch"], &p, &env);
    assert_success(&o, "ferrobus fetch");
    let listed = String::from_utf8_lossy(&o.stdout);
    assert!(
        listed.contains("lxml-6.1.3.tar.gz\n") && listed.contains("libpq "),
        "{listed}"
    );
    let unshare = Command::new("unshare").args(["-n", "true"]).status();
    if !unshare.is_ok_and(|s| s.success()) {
        skip(
            "a network namespace (unshare -n: root or user namespaces)",
            "run the tests as root",
        );
        return;
    }
    let mut cmd = Command::new("unshare");
    cmd.arg("-n")
        .arg(common::bin())
        .arg("--defs")
        .arg(repo_defs())
        .arg("--build-dir")
        .arg(&b)
        .arg("--dist-dir")
        .arg(b.join("dist"))
        .args(["--json", "build", "--offline", "--jobs", "2"])
        .arg(&p);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert_success(&o, "unshare -n ferrobus build --offline");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        common::built_wheels(&r),
        ["psutil", "pyyaml", "psycopg2", "lxml"]
    );
    // The provenance file of the report ending in `suffix`, parsed.
    let provenance = |suffix: &str| -> serde_json::Value {
        let path = r["provenance"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str())
            .find(|p| p.ends_with(suffix))
            .unwrap();
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    };
    let m = provenance(".version-manifest.json");
    // lxml's Cython (PyYAML's is another version).
    let cython = m["build_dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "cython" && d["version"] == "3.2.9")
        .unwrap_or_else(|| panic!("{}", m["build_dependencies"]));
    assert_eq!(cython["sha256"].as_str().unwrap().len(), 64);
    assert!(
        !m["python_distributions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "cython"),
        "cython is build-only"
    );
    // The SBOM: among the build's formulation, not the shipped components.
    let bom = provenance(".cdx.json");
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&bom["formulation"][0]["components"]).contains(&"cython".to_string()));
    assert!(!names(&bom["components"]).contains(&"cython".to_string()));
}

#[test]
fn a_change_to_libpq_rebuilds_psycopg2_alone() {
    let t = common::fresh_tmp("hermetic", "libpq-change");
    let p = project(&t, false);
    let b = t.join("b");
    // A wheel cache of its own: the other libpq's psycopg2 must not be there
    // from an earlier run.
    let wheels = t.join("wheels");
    let env = [("FERROBUS_WHEEL_CACHE", wheels.as_path())];
    let o = ferrobus(&repo_defs(), &b, &["build", "--jobs", "2"], &p, &env);
    assert_success(&o, "ferrobus build");
    // Another libpq (one more variable in its environment: a new key).
    let defs = defs_with_libpq(&t, |s| {
        format!("{s}\n[env]\nFERROBUS_TEST_VARIANT = \"1\"\n")
    });
    let o = ferrobus(&defs, &b, &["plan"], &p, &env);
    assert_success(&o, "ferrobus plan");
    let plan = String::from_utf8_lossy(&o.stdout).into_owned();
    let dists: Vec<&str> = plan
        .lines()
        .skip_while(|l| !l.starts_with("distribution"))
        .collect();
    let line = |name: &str| {
        let i = dists
            .iter()
            .position(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in the plan:\n{plan}"));
        (
            dists[i].to_string(),
            dists.get(i + 1).map(|s| s.to_string()),
        )
    };
    let (psycopg2, next) = line("psycopg2");
    assert!(psycopg2.contains(" build "), "{plan}");
    assert!(
        next.unwrap_or_default().trim_start().starts_with("was "),
        "{plan}"
    );
    for other in ["psutil", "pyyaml", "lxml"] {
        let (l, _) = line(other);
        assert!(l.contains(" cached "), "{other}: {plan}");
    }
    let o = ferrobus(&defs, &b, &["--json", "build", "--jobs", "2"], &p, &env);
    assert_success(&o, "ferrobus build with the other libpq");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(common::built_wheels(&r), ["psycopg2"]);
}
