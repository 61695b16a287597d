//! The remote cache, against a real OCI registry on 127.0.0.1 (Debian's
//! `docker-registry`, tests/common/registry.rs). Each "machine" is its own
//! cache dir, build dir and `HOME`; nothing but the registry connects them.
//!
//! The zlib + zdemo fixture (compiled in seconds) proves integrity (a flipped
//! byte, unsigned manifests), resilience (the registry stopped mid-build) and
//! the CI fan-out (`build --component`); the demo proves what the issue is
//! for: a second machine builds nothing, and a second project shares the stack.

mod common;
use common::registry::Registry;
use common::zdemo::{MIT, Zdemo};
use common::*;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One machine: its own cache, build dir, dist dir and home.
struct Machine {
    root: PathBuf,
}

impl Machine {
    fn new(under: &Path, name: &str) -> Machine {
        let root = under.join(name);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("home")).unwrap();
        Machine { root }
    }
    fn dist(&self) -> PathBuf {
        self.root.join("dist")
    }
    /// ferrobus here, with `env` added and nothing of the caller's remote
    /// cache settings.
    fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = ferrobus_cmd(
            &self.root.join("cache"),
            &self.root.join("build"),
            &self.dist(),
        );
        c.env("HOME", self.root.join("home"))
            .env_remove("FERROBUS_SOURCE_CACHE")
            .env_remove("FERROBUS_WHEEL_CACHE")
            .env_remove("FERROBUS_CACHE_REMOTE")
            .env_remove("FERROBUS_CACHE_REMOTE_READ_ONLY")
            .env_remove("FERROBUS_CACHE_SIGNING_KEY")
            .env_remove("FERROBUS_CACHE_TRUSTED_KEYS")
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }
    /// `--json build ARGS` (which must succeed): the report and stderr.
    fn build(&self, args: &[&str], env: &[(&str, &str)]) -> (Value, String) {
        let mut a = vec!["--json", "build", "--jobs", "2"];
        a.extend(args);
        let out = run(&mut self.cmd(&a, env));
        assert_success(&out, &format!("build {args:?} on {}", self.root.display()));
        (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
    }
}

/// (name, `field`) of every component of a report (a build's or a plan's).
fn per_component(r: &Value, field: &str) -> Vec<(String, String)> {
    r["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c[field].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// name -> outcome of a build report's components.
fn outcomes(r: &Value) -> Vec<(String, String)> {
    per_component(r, "outcome")
}

fn with(r: &Value, outcome: &str) -> Vec<String> {
    outcomes(r)
        .into_iter()
        .filter(|(_, o)| o == outcome)
        .map(|(n, _)| n)
        .collect()
}

/// The remote events of a report with this action.
fn events(r: &Value, action: &str) -> Vec<String> {
    r["remote"]["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["action"] == action)
                .map(|e| {
                    format!(
                        "{}:{}",
                        e["kind"].as_str().unwrap(),
                        e["name"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The zdemo fixture with the project `zr` (a tarball only) and a registry
/// storing in its directory; `None` (after a skip) without docker-registry.
fn zdemo() -> Option<(Zdemo, String, Registry)> {
    let z = Zdemo::new("", "");
    let p = z.write_project("zr", "\n[package]\nformats = [\"tar.zst\"]\n");
    let reg = Registry::start(&z.dir.path().join("registry"))?;
    Some((z, p.display().to_string(), reg))
}

/// Every component's key, from `plan --json`.
fn keys(m: &Machine, project: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
    let out = run(&mut m.cmd(&["--json", "plan", project], env));
    assert_success(&out, "plan");
    per_component(&serde_json::from_slice(&out.stdout).unwrap(), "key")
}

fn key_of(keys: &[(String, String)], name: &str) -> String {
    keys.iter().find(|(n, _)| n == name).unwrap().1.clone()
}

#[test]
fn a_flipped_byte_in_the_registry_is_refused_named_rebuilt_and_never_pushed_back() {
    let Some((z, p, reg)) = zdemo() else {
        return;
    };
    let url = reg.url("team/cache");
    let a = Machine::new(z.dir.path(), "a");
    let (r, _) = a.build(&["--cache-remote", &url, &p], &[]);
    assert_eq!(with(&r, "built"), ["zlib", "zdemo"]);
    assert!(
        events(&r, "pushed").contains(&"component:zlib".to_string()),
        "{r}"
    );
    let zlib = key_of(&keys(&a, &p, &[]), "zlib");
    let tag = format!("component-{zlib}");
    let manifest = reg.manifest("team/cache", &tag);
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // One byte of the artifact flipped in the registry's own storage.
    let file = reg.blob(&layer);
    let mut data = std::fs::read(&file).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x20;
    std::fs::write(&file, &data).unwrap();

    let b = Machine::new(z.dir.path(), "b");
    let (r, err) = b.build(&["--cache-remote", &url, &p], &[]);
    assert!(
        err.contains("component zlib")
            && err.contains(&format!("blob {layer} arrived with digest sha256:")),
        "the refusal names the component and both digests:\n{err}"
    );
    assert_eq!(with(&r, "built"), ["zlib"], "{r}");
    assert_eq!(with(&r, "pulled"), ["zdemo"], "{r}");
    assert_eq!(events(&r, "refused"), ["component:zlib"]);
    assert!(!events(&r, "pushed").contains(&"component:zlib".to_string()));
    // The registry's copy is the one A pushed (still damaged: never replaced
    // by this run), and B's tree is right.
    assert_eq!(
        reg.manifest("team/cache", &tag)["layers"][0]["digest"],
        layer.as_str()
    );
    assert_eq!(std::fs::read(&file).unwrap(), data);
    let zdemo = b.root.join("build/zr/stage/opt/zr/embedded/bin/zdemo");
    let out = run_text(&mut Command::new(zdemo));
    assert!(out.ends_with(" ok\n"), "{out}");
}

#[test]
fn with_signing_on_an_unsigned_manifest_is_refused_and_a_signed_one_pulled() {
    let Some((z, p, reg)) = zdemo() else {
        return;
    };
    let keys_dir = z.dir.path().join("keys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    let key = keys_dir.join("cache.pem");
    let public = keys_dir.join("cache.pub");
    assert_success(
        &run(Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&key)),
        "openssl genpkey",
    );
    assert_success(
        &run(Command::new("openssl")
            .arg("pkey")
            .arg("-in")
            .arg(&key)
            .arg("-pubout")
            .arg("-out")
            .arg(&public)),
        "openssl pkey -pubout",
    );
    let (key, public) = (key.display().to_string(), public.display().to_string());
    // An unsigned push (no key on that machine) ...
    let plain = reg.url("team/plain");
    let u = Machine::new(z.dir.path(), "unsigned");
    let (r, _) = u.build(&["--cache-remote", &plain, &p], &[]);
    assert_eq!(with(&r, "built"), ["zlib", "zdemo"]);
    // ... is refused where signatures are required.
    let v = Machine::new(z.dir.path(), "verifier");
    let trust = [("FERROBUS_CACHE_TRUSTED_KEYS", public.as_str())];
    let (r, err) = v.build(&["--cache-remote", &plain, &p], &trust);
    assert_eq!(with(&r, "built"), ["zlib", "zdemo"], "{r}");
    assert!(
        err.contains("component zlib") && err.contains("not signed"),
        "{err}"
    );
    // A signed push is pulled by a machine that trusts the key.
    let signed = reg.url("team/signed");
    let s = Machine::new(z.dir.path(), "signer");
    let (r, _) = s.build(
        &["--cache-remote", &signed, &p],
        &[("FERROBUS_CACHE_SIGNING_KEY", &key)],
    );
    assert_eq!(with(&r, "built"), ["zlib", "zdemo"]);
    let tag = format!("component-{}", key_of(&keys(&s, &p, &[]), "zlib"));
    let m = reg.manifest("team/signed", &tag);
    assert!(
        m["annotations"]["dev.ferrobus.signature.ed25519"].is_string(),
        "{m}"
    );
    assert_eq!(m["artifactType"], "application/vnd.ferrobus.component.v1");
    let v2 = Machine::new(z.dir.path(), "verifier2");
    let (r, _) = v2.build(&["--cache-remote", &signed, &p], &trust);
    assert_eq!(with(&r, "pulled"), ["zlib", "zdemo"], "{r}");
}

#[test]
fn a_registry_stopped_mid_build_leaves_the_build_local_and_the_cache_correct() {
    let Some((z, p, mut reg)) = zdemo() else {
        return;
    };
    // zdemo takes a few seconds, so that the registry is gone before its push.
    z.write_zdemo(MIT, "sleep 3");
    let url = reg.url("team/cache");
    let a = Machine::new(z.dir.path(), "a");
    let mut child = a
        .cmd(
            &["--json", "build", "--jobs", "2", "--cache-remote", &url, &p],
            &[],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        err.push_str(&line);
        err.push('\n');
        if line.contains("built zlib") {
            reg.stop();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the build finishes locally:\n{err}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(with(&r, "built"), ["zlib", "zdemo"]);
    let warnings = r["remote"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    assert!(
        warnings[0].as_str().unwrap().contains("building locally"),
        "{warnings:?}"
    );
    assert!(err.contains("warning: remote cache"), "{err}");
    // With the registry still down, a new machine builds locally (one warning).
    let c = Machine::new(z.dir.path(), "c");
    let (r, err) = c.build(&["--cache-remote", &url, &p], &[]);
    assert_eq!(with(&r, "built"), ["zlib", "zdemo"]);
    assert_eq!(err.matches("warning: remote cache").count(), 1, "{err}");
    // A's cache is whole: the next build takes everything from it, and the
    // registry (back) holds a whole zlib, which a fresh machine pulls.
    reg.resume();
    let (r, _) = a.build(&["--cache-remote", &url, &p], &[]);
    assert_eq!(with(&r, "up-to-date"), ["zlib", "zdemo"], "{r}");
    let d = Machine::new(z.dir.path(), "d");
    let (r, _) = d.build(&["--cache-remote", &url, &p], &[]);
    assert_eq!(with(&r, "pulled"), ["zlib"], "{r}");
    assert_eq!(with(&r, "built"), ["zdemo"], "{r}");
    let zdemo = d.root.join("build/zr/stage/opt/zr/embedded/bin/zdemo");
    assert!(run_text(&mut Command::new(zdemo)).ends_with(" ok\n"));
}

#[test]
fn component_jobs_fill_the_registry_so_a_full_build_only_packages() {
    let Some((z, p, reg)) = zdemo() else {
        return;
    };
    let url = reg.url("ci/cache");
    // Two CI jobs, one component each, separate caches.
    let j1 = Machine::new(z.dir.path(), "job1");
    let (r, _) = j1.build(&["--component", "zlib", "--cache-remote", &url, &p], &[]);
    assert_eq!(with(&r, "built"), ["zlib"], "{r}");
    let j2 = Machine::new(z.dir.path(), "job2");
    let (r, _) = j2.build(&["--component", "zdemo", "--cache-remote", &url, &p], &[]);
    assert_eq!(with(&r, "pulled"), ["zlib"], "{r}");
    assert_eq!(with(&r, "built"), ["zdemo"], "{r}");
    assert!(!j2.dist().exists(), "--component packages nothing");
    // The full build: every component pulled, nothing compiled.
    let full = Machine::new(z.dir.path(), "full");
    let (r, _) = full.build(&["--cache-remote", &url, &p], &[]);
    assert_eq!(with(&r, "pulled"), ["zlib", "zdemo"], "{r}");
    assert!(
        r["packages"].as_array().is_some_and(|a| !a.is_empty()),
        "{r}"
    );
    // An unknown component is named with the ones there are.
    let out = full
        .cmd(&["build", "--component", "zstd", &p], &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--component zstd") && stderr(&out).contains("zlib, zdemo"),
        "{}",
        stderr(&out)
    );
}

/// The demo's checkout (project, definitions, app) copied under `dir`, as a
/// second machine's clone would be, with a second project `demo-plus`: the
/// demo with another name and one more library (nghttp2). Returns the two
/// project files.
fn checkout(dir: &Path) -> (String, String) {
    let copy = |from: &Path, to: &Path| {
        assert_success(
            &run(Command::new("cp").arg("-a").arg(from).arg(to)),
            "copying the checkout",
        )
    };
    std::fs::create_dir_all(dir.join("projects")).unwrap();
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    copy(&repo().join("software-defs"), dir);
    copy(&repo().join("examples/demo-agent"), &dir.join("examples"));
    let demo = dir.join("projects/demo-agent.toml");
    let text = std::fs::read_to_string(repo().join("projects/demo-agent.toml")).unwrap();
    std::fs::write(&demo, &text).unwrap();
    let plus = text
        .replace(
            "install_dir = \"/opt/demo-agent\"",
            "install_dir = \"/opt/demo-plus\"",
        )
        .replace(
            "components = [\"python\", \"libyaml\"]",
            "components = [\"python\", \"libyaml\", \"nghttp2\"]",
        )
        .replacen("name = \"demo-agent\"", "name = \"demo-plus\"", 1);
    assert!(plus.contains("nghttp2") && plus.contains("/opt/demo-plus"));
    let plus_path = dir.join("projects/demo-plus.toml");
    std::fs::write(&plus_path, plus).unwrap();
    (demo.display().to_string(), plus_path.display().to_string())
}

/// The wheels a build report says were built (requirements' and the app's).
fn wheels_built(r: &Value) -> Vec<String> {
    built_wheels(r)
}

/// Every file in `dist` (installers, SBOM, manifest, SHA256SUMS; not the
/// hidden bookkeeping of what was packaged) with its bytes.
fn installers(dist: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dist)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_second_machine_and_a_second_project_take_the_demo_stack_from_the_registry() {
    let tmp = fresh_tmp("remote", "demo");
    let Some(reg) = Registry::start(&tmp.join("registry")) else {
        return;
    };
    let url = reg.url("fleet/cache");
    let demo = repo()
        .join("projects/demo-agent.toml")
        .display()
        .to_string();
    // Machine A: the user's cache (the suite's, warm or cold), its own build
    // dir. What it builds is pushed as it goes; what its cache already held
    // is pushed by `cache push`.
    let a_build = tmp.join("a");
    let a = |args: &[&str]| {
        let mut c = Command::new(bin());
        c.arg("--build-dir")
            .arg(&a_build)
            .arg("--dist-dir")
            .arg(a_build.join("dist"))
            .env_remove("FERROBUS_CACHE_REMOTE")
            .args(args);
        run(&mut c)
    };
    assert_success(&a(&["build", "--cache-remote", &url, &demo]), "A: build");
    let out = a(&["--json", "cache", "push", "--cache-remote", &url, &demo]);
    assert_success(&out, "A: cache push");
    eprintln!("A pushed: {}", String::from_utf8_lossy(&out.stdout));
    assert!(
        reg.tags("fleet/cache")
            .iter()
            .any(|t| t.starts_with("component-"))
    );

    // Machine B: another home, an empty cache, the checkout elsewhere.
    let b = Machine::new(&tmp, "b");
    let (b_demo, b_plus) = checkout(&b.root.join("checkout"));
    let a_keys = keys(&b, &b_demo, &[]);
    let t = std::time::Instant::now();
    let (r, err) = b.build(&["--cache-remote", &url, &b_demo], &[]);
    let wall = t.elapsed().as_secs_f64();
    eprintln!("machine B: the demo from the registry alone in {wall:.1} s");
    assert!(
        with(&r, "built").is_empty(),
        "B compiled nothing: {r}\n{err}"
    );
    assert_eq!(with(&r, "pulled").len(), outcomes(&r).len(), "{r}");
    assert!(wheels_built(&r).is_empty(), "B built no wheel: {r}");
    assert!(!err.contains("built wheel"), "{err}");
    assert!(err.contains("pulled wheel"), "{err}");
    assert!(
        r["remote"]["warnings"].as_array().unwrap().is_empty(),
        "{r}"
    );
    let a_dist = installers(&a_build.join("dist"));
    let b_dist = installers(&b.dist());
    assert_eq!(
        a_dist.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        b_dist.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((n, x), (_, y)) in a_dist.iter().zip(&b_dist) {
        assert!(x == y, "{n}: B's installer differs from A's");
    }

    // The second project shares every key of the stack with the demo ...
    let plus_keys = keys(&b, &b_plus, &[]);
    for (n, k) in &a_keys {
        assert_eq!(
            &key_of(&plus_keys, n),
            k,
            "{n}: the same component, the same key"
        );
    }
    // ... so a machine with an empty cache builds only its extra library,
    let c = Machine::new(&tmp, "c");
    let (r, _) = c.build(&["--cache-remote", &url, &b_plus], &[]);
    assert_eq!(with(&r, "built"), ["nghttp2"], "{r}");
    assert!(wheels_built(&r).is_empty(), "{r}");
    // ... and so does B, from its own cache alone.
    let (r, _) = b.build(&["--cache-remote", "none", &b_plus], &[]);
    assert_eq!(with(&r, "built"), ["nghttp2"], "{r}");
    assert!(r["remote"].is_null(), "{r}");
}
