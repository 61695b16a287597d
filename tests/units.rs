//! The systemd units ferrobus writes are confined by default: the demo's unit
//! as `systemd-analyze` (offline, from the host's systemd) rates and checks it,
//! and a `[service.sandbox]` override changing, adding and removing directives.

mod common;
use ferrobus::load::load_project;
use ferrobus::package::{Meta, scripts};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The demo project's unit, as its packages carry it.
fn demo_unit(extra: &str) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(repo.join("projects/demo-agent.toml")).unwrap();
    let text = text
        .replace("source = \"../", &format!("source = \"{}/", repo.display()))
        .replace(
            "requirements = \"../",
            &format!("requirements = \"{}/", repo.display()),
        )
        .replace("[[service]]\n", &format!("[[service]]\n{extra}"));
    let p = d.path().join("demo-agent.toml");
    fs::write(&p, text).unwrap();
    let project = load_project(&p).unwrap();
    let meta = Meta::from_project(&project).unwrap();
    scripts::unit(&meta, &meta.services[0])
}

/// `systemd-analyze security --offline=true`'s overall exposure of `unit`.
fn exposure(dir: &Path, unit: &str) -> (f64, String) {
    let f = dir.join("demo-agent.service");
    fs::write(&f, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let level = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for demo-agent.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}{}", common::stderr(&out)));
    (level, text)
}

#[test]
fn the_demo_unit_is_confined_and_valid() {
    if !common::have("systemd-analyze") {
        return common::skip("systemd-analyze", "apt-get install systemd (scripts/deps)");
    }
    let d = tempfile::tempdir().unwrap();
    let unit = demo_unit("");
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "StateDirectory=demo-agent",
        "LogsDirectory=demo-agent",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=\n",
        "UMask=0027",
    ] {
        assert!(unit.contains(line), "no {line:?} in\n{unit}");
    }
    assert!(!unit.contains("MemoryDenyWriteExecute"), "{unit}");
    let (level, text) = exposure(d.path(), &unit);
    assert!(level <= 2.5, "exposure {level}:\n{text}");
    eprintln!("demo-agent.service: exposure {level}");

    // `verify` checks every directive; it also wants ExecStart's program to
    // exist, so the copy runs an executable that does.
    let exe = d.path().join("python3");
    fs::write(&exe, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let copy: String = unit
        .lines()
        .map(|l| match l.strip_prefix("ExecStart=") {
            Some(cmd) => {
                let args = cmd.split_once(' ').map_or("", |(_, a)| a);
                format!("ExecStart={} {args}\n", exe.display())
            }
            None => format!("{l}\n"),
        })
        .collect();
    let f = d.path().join("demo-agent.service");
    fs::write(&f, copy).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&f)
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert!(
        out.status.success() && !err.contains("demo-agent.service:"),
        "systemd-analyze verify:\n{err}"
    );
}

#[test]
fn a_service_overrides_its_confinement() {
    let unit = demo_unit(
        "sandbox = { ProtectSystem = \"full\", PrivateDevices = \"\", ReadWritePaths = \"/srv/data\" }\n",
    );
    assert!(unit.contains("ProtectSystem=full\n"), "{unit}");
    assert!(!unit.contains("ProtectSystem=strict"), "{unit}");
    assert!(!unit.contains("PrivateDevices="), "{unit}");
    assert!(unit.contains("ReadWritePaths=/srv/data\n"), "{unit}");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(repo.join("projects/demo-agent.toml"))
        .unwrap()
        .replace(
            "[[service]]\n",
            "[[service]]\nsandbox = { \"Bad Key\" = \"x\" }\n",
        );
    let p = d.path().join("bad.toml");
    fs::write(&p, text).unwrap();
    let e = load_project(&p).unwrap_err().to_string();
    assert!(
        e.contains("sandbox Bad Key") && e.contains("not a systemd directive"),
        "{e}"
    );
}
