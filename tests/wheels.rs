//! Wheels as build units, on the demo project's real stack (the user's cache):
//! independent wheels build at the same time under one jobserver, never more
//! compilers than `--jobs`; `plan` lists each distribution with its key and
//! status; each wheel's log holds its environment and compiler commands.

mod common;
use common::{assert_success, stderr};
use std::fs;
use std::path::Path;
use std::process::Output;

/// `ferrobus <args> <project>` with the repository's definitions, the
/// user's cache, and `wheels` as the wheel cache.
fn ferrobus(build: &Path, wheels: &Path, args: &[&str], project: &Path) -> Output {
    let defs = common::repo().join("software-defs");
    common::ferrobus_with(
        &defs,
        build,
        args,
        project,
        &[("FERROBUS_WHEEL_CACHE", wheels)],
    )
}

/// The entries of the wheel cache `wheels` whose names start with `prefix`.
fn cached_entries(wheels: &Path, prefix: &str) -> Vec<std::ffi::OsString> {
    fs::read_dir(wheels)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with(prefix))
        .collect()
}

/// The compiler runs recorded in `logs` (`ferrobus-cc: start|end <time> <pid>`):
/// (time, +1 or -1, log index), sorted.
fn compiler_events(logs: &[&Path]) -> Vec<(f64, i32, usize)> {
    let mut ev = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        for l in fs::read_to_string(log).unwrap().lines() {
            let mut w = l.split_whitespace();
            if w.next() != Some("ferrobus-cc:") {
                continue;
            }
            let d = match w.next() {
                Some("start") => 1,
                Some("end") => -1,
                _ => continue,
            };
            let t: f64 = w.next().unwrap().parse().unwrap();
            ev.push((t, d, i));
        }
    }
    ev.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ev
}

#[test]
fn independent_wheels_build_at_once_and_never_exceed_the_jobs() {
    let t = tempfile::tempdir().unwrap();
    let p = common::demo_project(t.path(), &[("formats", "[\"tar.zst\"]")]);
    let (b, wheels) = (t.path().join("b"), t.path().join("wheels"));
    // An empty wheel cache: both of the demo's C extensions (psutil, PyYAML
    // against libyaml) are built again, the components come from the cache.
    let o = ferrobus(&b, &wheels, &["plan"], &p);
    assert_success(&o, "ferrobus plan");
    let plan = String::from_utf8_lossy(&o.stdout);
    for d in ["psutil", "pyyaml"] {
        let line = plan
            .lines()
            .find(|l| l.starts_with(&format!("{d} ")))
            .unwrap_or_else(|| panic!("{d} not in the plan:\n{plan}"));
        assert!(line.contains(" build "), "{line}");
    }
    assert!(
        plan.lines()
            .any(|l| l.starts_with("pyyaml ") && l.trim_end().ends_with("libyaml")),
        "{plan}"
    );
    let o = ferrobus(&b, &wheels, &["--json", "build", "--jobs", "2"], &p);
    assert_success(&o, "ferrobus build");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let units = r["app"]["units"].as_array().unwrap();
    assert_eq!(units.len(), 2, "{units:?}");
    for u in units {
        assert_eq!(u["built"], true, "{u}");
        assert!(u["seconds"].as_f64().unwrap() > 0.0, "{u}");
    }
    // Their builds overlap in time...
    let span = |u: &serde_json::Value| {
        let b = u["began"].as_f64().unwrap();
        (b, b + u["seconds"].as_f64().unwrap())
    };
    let (a, c) = (span(&units[0]), span(&units[1]));
    assert!(a.0 < c.1 && c.0 < a.1, "one after the other: {a:?} {c:?}");
    // ... and so do their compilers, never more than two at once.
    let logs: Vec<std::path::PathBuf> = units
        .iter()
        .map(|u| u["log"].as_str().unwrap().into())
        .collect();
    let paths: Vec<&Path> = logs.iter().map(|p| p.as_path()).collect();
    let ev = compiler_events(&paths);
    assert!(ev.len() >= 4, "no compiler runs recorded: {ev:?}");
    let (mut running, mut most, mut both) = (0, 0, 0);
    let mut per = [0i32; 2];
    for (_, d, i) in &ev {
        running += d;
        per[*i] += d;
        most = most.max(running);
        if per[0] > 0 && per[1] > 0 {
            both += 1;
        }
    }
    assert!(most <= 2, "{most} compilers at once with --jobs 2");
    eprintln!(
        "compiler runs: {}, at most {most} at once, {both} moments with both wheels compiling",
        ev.len() / 2
    );
    // Each log holds the environment and the full compiler commands.
    let log = fs::read_to_string(&logs[0]).unwrap();
    assert!(
        log.contains("==> environment (nothing else is inherited):"),
        "{log}"
    );
    assert!(log.contains("    CC="), "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("ferrobus-cc: start") && l.contains(" -c ")),
        "{log}"
    );
    // Built once: the next plan says cached, with no earlier key.
    let o = ferrobus(&b, &wheels, &["plan"], &p);
    let plan = String::from_utf8_lossy(&o.stdout).into_owned();
    for d in ["psutil", "pyyaml"] {
        let line = plan
            .lines()
            .find(|l| l.starts_with(&format!("{d} ")))
            .unwrap();
        assert!(line.contains(" cached "), "{line}\n{}", stderr(&o));
    }
    assert!(!plan.contains(" was "), "{plan}");
}

#[test]
fn a_wheel_linking_an_undeclared_component_is_refused_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let p = common::demo_project(t.path(), &[("formats", "[\"tar.zst\"]")]);
    // PyYAML's declaration goes: its wheel would not be rebuilt with libyaml.
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("[app.distribution.pyyaml]\nlinks = [\"libyaml\"]\n", "");
    fs::write(&p, text).unwrap();
    let (b, wheels) = (t.path().join("b"), t.path().join("wheels"));
    let o = ferrobus(&b, &wheels, &["build", "--jobs", "2"], &p);
    assert!(!o.status.success(), "the build passed");
    let e = stderr(&o);
    assert!(
        e.contains("pyyaml 6.0.2 (requirements.lock:8): its wheel links libyaml-0.so.2 (component libyaml; from yaml/_yaml.cpython-313-x86_64-linux-gnu.so)")
            && e.contains("[app.distribution.pyyaml]\n  links = [\"libyaml\"]"),
        "{e}"
    );
    // Nothing of it reached the wheel cache.
    let cached = cached_entries(&wheels, "pyyaml-");
    assert!(cached.is_empty(), "{cached:?}");
}

#[test]
fn a_wheel_linking_a_library_of_the_build_host_is_refused_naming_it() {
    let t = tempfile::tempdir().unwrap();
    // A shared library of the build host, outside every host directory the
    // guard knows (so neither the guard nor zig drops the flags): psutil's
    // link is made to need it.
    let host = t.path().join("hostlib");
    fs::create_dir_all(&host).unwrap();
    fs::write(
        host.join("h.c"),
        "int ferrobus_host_only(void) { return 1; }\n",
    )
    .unwrap();
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(host.join("libferrobushost.so"))
        .arg(host.join("h.c"))
        .output()
        .unwrap();
    assert_success(&out, "cc -shared");
    let p = common::demo_project(t.path(), &[("formats", "[\"tar.zst\"]")]);
    let mut text = fs::read_to_string(&p).unwrap();
    text.push_str(&format!(
        "\n[app.distribution.psutil]\nenv = {{ LDFLAGS = \"-L{} -Wl,--no-as-needed -lferrobushost\" }}\n",
        host.display()
    ));
    fs::write(&p, text).unwrap();
    let (b, wheels) = (t.path().join("b"), t.path().join("wheels"));
    let o = ferrobus(&b, &wheels, &["build"], &p);
    assert!(!o.status.success(), "the build passed");
    let e = stderr(&o);
    assert!(
        e.contains("psutil 7.2.2 (requirements.lock:")
            && e.contains("came from the build host")
            && e.contains("psutil/_psutil_linux.abi3.so links libferrobushost.so"),
        "{e}"
    );
    // Nothing of it reached the wheel cache.
    assert_eq!(cached_entries(&wheels, "psutil-").len(), 0);
}
