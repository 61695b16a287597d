//! Integration: a small real project (zlib and a tiny C program linking it), fetched
//! from a local HTTP server, built, cached, rebuilt selectively, broken and killed.

mod common;
use common::zdemo::{MIT, Zdemo};
use common::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

common::zdemo::fixture! {
    /// The zlib + zdemo fixture, the project `zt`.
}

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture(Zdemo::new("", ""));
        f.write_project("zt", "");
        f
    }
    /// (Re)write the zdemo definition; `extra_step` runs before the compile.
    fn zdemo(&self, extra_step: &str) {
        self.write_zdemo(MIT, extra_step);
    }
    fn project(&self) -> String {
        self.dir
            .path()
            .join("projects/zt.toml")
            .display()
            .to_string()
    }
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let p = self.project();
        let mut a: Vec<&str> = args.to_vec();
        a.push(&p);
        self.ferrobus(&a)
    }
    /// Build with --json; returns name -> outcome.
    fn build(&self) -> Vec<(String, String)> {
        let (ok, out, err) = self.run(&["--json", "build", "--jobs", "2"]);
        assert!(ok, "build failed:\n{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
    fn zdemo_bin(&self) -> PathBuf {
        self.build_dir().join("zt/stage/opt/zt/embedded/bin/zdemo")
    }
    fn run_zdemo(&self) -> String {
        let out = Command::new(self.zdemo_bin()).output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn small_project_builds_caches_and_rebuilds_only_what_changed() {
    let f = Fixture::new();
    assert_eq!(f.build(), pairs(&[("zlib", "built"), ("zdemo", "built")]));
    assert_eq!(f.run_zdemo(), "zlib 1.3.1 ok\n");
    // The program links the tree's own zlib (through $ORIGIN), not the host's.
    let ldd = Command::new("ldd").arg(f.zdemo_bin()).output().unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    let libz = ldd.lines().find(|l| l.contains("libz.so")).unwrap();
    let stage = f.build_dir().join("zt/stage/opt/zt/embedded");
    assert!(libz.contains(&stage.display().to_string()), "{ldd}");
    // Pruned files are not in the artifact.
    assert!(
        !f.build_dir()
            .join("zt/stage/opt/zt/embedded/lib/libz.a")
            .exists()
    );

    // Unchanged: nothing rebuilt (timing lives in bench/, not here).
    assert_eq!(
        f.build(),
        pairs(&[("zlib", "up-to-date"), ("zdemo", "up-to-date")])
    );

    // A changed leaf rebuilds itself only; plan shows which key changed.
    f.zdemo("echo changed-recipe");
    let (ok, out, _) = f.run(&["plan"]);
    assert!(ok);
    let line = |n: &str| out.lines().find(|l| l.starts_with(n)).unwrap().to_string();
    assert!(line("zlib ").contains("up-to-date"), "{out}");
    assert!(line("zdemo ").contains("changed"), "{out}");
    assert_eq!(
        f.build(),
        pairs(&[("zlib", "up-to-date"), ("zdemo", "built")])
    );

    // A changed dependency rebuilds it and its dependents.
    f.def(
        "zlib",
        &read(&f.dir.path().join("software-defs/zlib.toml")).replace(
            "default_version",
            "env = { ZLIB_EXTRA = \"1\" }\ndefault_version",
        ),
    );
    assert_eq!(f.build(), pairs(&[("zlib", "built"), ("zdemo", "built")]));

    // A lost prefix is restored from the artifact cache, not rebuilt.
    fs::remove_dir_all(f.cache().join("prefixes")).unwrap();
    assert_eq!(
        f.build(),
        pairs(&[("zlib", "restored"), ("zdemo", "restored")])
    );
    assert_eq!(f.run_zdemo(), "zlib 1.3.1 ok\n");

    // Only what the server was asked for: each source once (the cache did the rest).
    let gets: Vec<String> = f.srv.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        gets.iter().filter(|p| p.contains("zlib")).count(),
        1,
        "{gets:?}"
    );
}

#[test]
fn failing_step_names_component_and_log_and_keeps_finished_work() {
    let f = Fixture::new();
    f.zdemo("echo boom-marker-123; exit 3");
    let (ok, _, err) = f.run(&["build", "--jobs", "2"]);
    assert!(!ok);
    assert!(err.contains("component zdemo failed"), "{err}");
    assert!(err.contains("logs/zdemo.log"), "{err}");
    assert!(
        err.contains("boom-marker-123"),
        "tail of the log expected:\n{err}"
    );
    assert!(err.contains("step 1 failed"), "{err}");
    // zlib finished and stays cached.
    let (_, list, _) = ferrobus(&f.cache(), &f.build_dir(), &["cache", "list"]);
    assert!(
        list.lines().any(|l| l.trim_start().starts_with("zlib")),
        "{list}"
    );
    f.zdemo("");
    assert_eq!(
        f.build(),
        pairs(&[("zlib", "up-to-date"), ("zdemo", "built")])
    );
    assert_eq!(f.run_zdemo(), "zlib 1.3.1 ok\n");
}

#[test]
fn build_killed_midway_then_next_build_is_correct() {
    let f = Fixture::new();
    f.zdemo("echo started > {work}/../../started; sleep 30");
    let mut child = ferrobus_cmd(&f.cache(), &f.build_dir(), &f.build_dir().join("dist"))
        .args(["build", "--jobs", "2", &f.project()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let marker = f.build_dir().join("zt/started");
    let t = Instant::now();
    while !marker.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "build never reached zdemo"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    f.zdemo("");
    let out = f.build();
    assert_eq!(out[0], ("zlib".to_string(), "up-to-date".to_string()));
    assert_eq!(out[1], ("zdemo".to_string(), "built".to_string()));
    assert_eq!(f.run_zdemo(), "zlib 1.3.1 ok\n");
}

/// Two independent components whose makefiles run 4 jobs each; every job logs its
/// start and end. Returns the highest number of jobs seen running at once, and
/// whether jobs of both components overlapped.
fn max_concurrency(jobs: &str) -> (usize, bool) {
    let f = Fixture::new();
    let probe = f.dir.path().join("probe.log");
    let mk = "all: j1 j2 j3 j4\nj%:\n\techo \"$$(date +%s%N) + $(NAME)\" >> $(PROBE); sleep 0.4; echo \"$$(date +%s%N) - $(NAME)\" >> $(PROBE)\n";
    for name in ["pa", "pb"] {
        let tgz = targz(&format!("{name}-1"), &[("Makefile", mk, 0o644)]);
        f.def(
            name,
            &format!(
                r#"name = "{name}"
license = "MIT"
default_version = "1"
steps = ["make NAME={name} PROBE={}", "mkdir -p {{destdir}}{{prefix}}/share && touch {{destdir}}{{prefix}}/share/{name}"]
{}"#,
                probe.display(),
                f.srv.source(&format!("{name}.tar.gz"), "1", tgz)
            ),
        );
    }
    write_project(f.dir.path(), "zt", "1.0", &["pa", "pb"], "");
    let (ok, _, err) = f.run(&["build", "--jobs", jobs]);
    assert!(ok, "{err}");
    let mut events: Vec<(u128, i32, String)> = read(&probe)
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            let t: u128 = w.next().unwrap().parse().unwrap();
            let d = if w.next().unwrap() == "+" { 1 } else { -1 };
            (t, d, w.next().unwrap().to_string())
        })
        .collect();
    assert_eq!(events.len(), 16, "8 jobs, each with a start and an end");
    events.sort_by_key(|e| (e.0, e.1));
    let (mut cur, mut max) = (0i32, 0i32);
    let mut running: Vec<String> = vec![];
    let mut both = false;
    for (_, d, n) in events {
        cur += d;
        max = max.max(cur);
        if d > 0 {
            running.push(n);
        } else if let Some(i) = running.iter().position(|x| *x == n) {
            running.remove(i);
        }
        both |= running.iter().any(|x| x == "pa") && running.iter().any(|x| x == "pb");
    }
    (max as usize, both)
}

#[test]
fn jobserver_caps_parallelism_across_components() {
    let (max, both) = max_concurrency("3");
    assert!(max <= 3, "saw {max} jobs at once with --jobs 3");
    assert!(max >= 2, "expected parallel jobs, saw {max}");
    assert!(both, "independent components should build at the same time");
    let (max, _) = max_concurrency("1");
    assert_eq!(max, 1, "--jobs 1 must run one job at a time");
}

#[test]
fn offline_build_with_a_warm_cache_needs_no_server() {
    let f = Fixture::new();
    let (ok, _, err) = f.run(&["fetch"]);
    assert!(ok, "{err}");
    let n = f.srv.seen().len();
    let (ok, _, err) = f.run(&["build", "--offline"]);
    assert!(ok, "{err}");
    assert_eq!(f.srv.seen().len(), n);
}

/// The compiler wrappers run the build's own ferrobus through /proc/<pid>/exe:
/// its file can be replaced or removed mid-build (a reinstall, a cargo build)
/// without a compiler call failing, which a configure script would take for a
/// missing function. Here the file is gone before the first compile.
#[test]
fn a_build_goes_on_when_its_ferrobus_file_is_removed() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("ferrobus");
    fs::copy(bin(), &exe).unwrap();
    let project = f.project();
    let child = Command::new(&exe)
        .arg("--cache-dir")
        .arg(f.cache())
        .arg("--build-dir")
        .arg(f.build_dir())
        .arg("--dist-dir")
        .arg(f.build_dir().join("dist"))
        .args(["build", &project])
        .env_remove("FERROBUS_CACHE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // spawn returns once the program runs: its file can go now.
    fs::remove_file(&exe).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out, "a build whose ferrobus file was removed");
    assert!(f.run_zdemo().contains(" ok"));
}
