//! The application layer on the demo project's real stack (the user's ferrobus
//! cache, as tests/demo.rs): bad locks give errors naming the distribution; an
//! unchanged lock reuses the wheelhouse; a change to the app's own code rebuilds
//! only the app.

mod common;
use common::{ferrobus_on as ferrobus, ferrobus_on_json, stderr};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const PSUTIL: &str = "psutil==7.2.2 \\\n    --hash=sha256:0746f5f8d406af344fd547f1c8daa5f5c33dbc293bb8d6a16d80b4bb88f59372\n";
const PYYAML: &str = "pyyaml==6.0.2 \\\n    --hash=sha256:d584d9ec91ad65861cc08d42e834324ef890a082e591037abe114850ff7bbc3e\n";

/// The demo project (sharing the cached stack) with its app copied into
/// `dir/app` and the given lock; only tar.zst, to stay quick.
fn project(dir: &Path, lock: &str) -> PathBuf {
    let p = common::demo_project(dir, &[("formats", "[\"tar.zst\"]")]);
    fs::write(dir.join("app/requirements.lock"), lock).unwrap();
    p
}

#[test]
fn an_unhashed_or_unpinned_line_is_refused_before_anything_runs() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &format!("{PSUTIL}pyyaml==6.0.2\n"));
    let o = ferrobus(&t.path().join("b"), &["plan"], &p);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("requirements.lock:3: pyyaml==6.0.2 has no --hash=sha256:"),
        "{e}"
    );
    let p = project(
        t.path(),
        &format!("{PSUTIL}pyyaml>=6 --hash=sha256:{}\n", "a".repeat(64)),
    );
    let e = stderr(&ferrobus(&t.path().join("b"), &["plan"], &p));
    assert!(
        e.contains("requirements.lock:3: pyyaml is not pinned"),
        "{e}"
    );
}

#[test]
fn a_hash_mismatch_names_the_distribution_and_both_hashes() {
    let t = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let lock = format!("{PSUTIL}pyyaml==6.0.2 --hash=sha256:{wrong}\n");
    let p = project(t.path(), &lock);
    // The build lock (the demo's) was written for the other file: stale.
    let e = stderr(&ferrobus(&t.path().join("b"), &["plan"], &p));
    assert!(
        e.contains("pyyaml==6.0.2 (requirements.lock:3) is locked there as sdist pyyaml 6.0.2 (pyyaml-6.0.2.tar.gz)")
            && e.contains("build-requirements.lock is stale: run `ferrobus lock"),
        "{e}"
    );
    // Locking again finds the index's file and names both hashes.
    let o = ferrobus(&t.path().join("b"), &["lock"], &p);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("requirements.lock:3: hash mismatch for pyyaml==6.0.2: pyyaml-6.0.2.tar.gz has sha256 d584d9ec")
            && e.contains(&format!("the lock allows {wrong}")),
        "{e}"
    );
}

#[test]
fn a_distribution_that_cannot_be_built_is_named_with_its_log() {
    let t = tempfile::tempdir().unwrap();
    // python-ldap needs OpenLDAP's headers, which the embedded prefix lacks
    // (and the hermetic build keeps the host's out of reach).
    let lock = format!(
        "{PSUTIL}{PYYAML}python-ldap==3.4.4 \\\n    --hash=sha256:7edb0accec4e037797705f3a05cbf36a9fde50d08c8f67f2aef99a2628fab828\n"
    );
    let p = project(t.path(), &lock);
    let b = t.path().join("b");
    common::assert_success(&ferrobus(&b, &["lock"], &p), "ferrobus lock");
    let o = ferrobus(&b, &["build"], &p);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("building python-ldap 3.4.4 (requirements.lock:5) failed (log: ")
            && e.contains("wheel-python-ldap.log")
            && e.contains("'lber.h' file not found"),
        "{e}"
    );
}

#[test]
fn app_code_changes_rebuild_only_the_app() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &format!("{PSUTIL}{PYYAML}"));
    let build = t.path().join("b");
    let first = ferrobus_on_json(&build, &["build"], &p);
    let embedded = PathBuf::from(first["embedded"].as_str().unwrap());
    // The entry point runs the agent, with libyaml and psutil.
    let out = Command::new(embedded.join("bin/python3"))
        .args([
            "-c",
            "import yaml, psutil; print(yaml.__with_libyaml__, psutil.__version__)",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "True 7.2.2\n");
    let ep = embedded.parent().unwrap().join("bin/demo-agent");
    let out = Command::new(&ep).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "demo-agent 0.1.0\n",
        "{}",
        stderr(&out)
    );

    // Only the app's code changes.
    let init = t.path().join("app/src/demo_agent/__init__.py");
    fs::write(
        &init,
        "\"\"\"demo-agent.\"\"\"\n\n__version__ = \"0.1.0+local\"\n",
    )
    .unwrap();
    let second = ferrobus_on_json(&build, &["build"], &p);
    for c in second["components"].as_array().unwrap() {
        assert_eq!(c["outcome"], "up-to-date", "{c}");
    }
    assert_eq!(second["app"]["wheels_built"], 0);
    assert_eq!(second["app"]["wheels"], first["app"]["wheels"]);
    assert_ne!(second["app"]["app_wheel"], first["app"]["app_wheel"]);
    assert!(second["relocate"].is_object(), "the stage was not redone");
    let out = Command::new(&ep).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "demo-agent 0.1.0+local\n"
    );
    assert!(
        build
            .join("dist/demo-agent-0.1.0-1.linux-x86_64.tar.zst")
            .is_file()
    );
}
