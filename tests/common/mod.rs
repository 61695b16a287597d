//! Shared test fixtures and helpers: a real HTTP/1.1 server on 127.0.0.1 with
//! range support and scripted faults, tarball builders, access to real source
//! archives, definition and project writers, the zlib + zdemo fixture
//! ([`zdemo`]), Debian roots ([`roots`]) and systemd units reproduced in them
//! ([`unit`]), runners for ferrobus and other commands, the staged `tiny` tree
//! of the packaging tests, and [`skip`] for a test that cannot run here.
#![allow(dead_code)] // each test binary uses part of it

pub mod hardening;
pub mod pki;
pub mod registry;
pub mod roots;
pub mod servers;
mod skip;
pub mod unit;
pub mod zdemo;

#[allow(unused_imports)] // each test binary uses part of it
pub use skip::{skip, skip_part};

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// path -> number of bytes after which the next responses are cut (count of cuts left).
    cut: HashMap<String, (usize, u32)>,
    seen: Vec<Seen>,
}

/// A small threaded HTTP server serving in-memory files.
pub struct Server {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || handle(conn, st));
            }
        });
        Server { port, state }
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
    pub fn add(&self, path: &str, data: Vec<u8>) {
        self.state.lock().unwrap().files.insert(path.into(), data);
    }
    /// Cut the connection after `after` bytes of body, for the next `times` requests.
    pub fn cut(&self, path: &str, after: usize, times: u32) {
        self.state
            .lock()
            .unwrap()
            .cut
            .insert(path.into(), (after, times));
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
    /// Serve `data` at `/up/<file>`; returns the `[[version]]` table of a
    /// software definition fetching it as `version`.
    pub fn source(&self, file: &str, version: &str, data: Vec<u8>) -> String {
        let sha = sha256(&data);
        let path = format!("/up/{file}");
        self.add(&path, data);
        format!(
            "[[version]]\nversion = \"{version}\"\nsha256 = \"{sha}\"\nurl = [\"{}\"]\n",
            self.url(&path)
        )
    }
}

fn handle(conn: TcpStream, st: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    let (body, cut) = {
        let mut s = st.lock().unwrap();
        s.seen.push(Seen {
            path: path.clone(),
            range: range.clone(),
        });
        let body = s.files.get(&path).cloned();
        let cut = match s.cut.get_mut(&path) {
            Some((after, times)) if *times > 0 => {
                *times -= 1;
                Some(*after)
            }
            _ => None,
        };
        (body, cut)
    };
    let Some(body) = body else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, slice) = match start {
        Some(s) if s >= body.len() => {
            let _ = conn.write_all(b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        Some(s) => ("206 Partial Content", &body[s..]),
        None => ("200 OK", &body[..]),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        slice.len()
    );
    let _ = conn.write_all(head.as_bytes());
    match cut {
        Some(after) => {
            let _ = conn.write_all(&slice[..after.min(slice.len())]);
            let _ = conn.flush();
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        None => {
            let _ = conn.write_all(slice);
        }
    }
}

/// Deterministic pseudo-random bytes.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

pub fn sha256(data: &[u8]) -> String {
    ferrobus::util::sha256_bytes(data)
}

/// `data` compressed with gzip.
pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip tarball of `files` (path, contents, mode) under a top directory.
pub fn targz(top: &str, files: &[(&str, &str, u32)]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(enc);
    for (p, c, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(c.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, format!("{top}/{p}"), c.as_bytes())
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// The real zlib source archive (sha256 from software-defs/zlib.toml), taken from
/// the user's ferrobus source cache, or fetched once through the real definition
/// (upstream, then the Debian archive apt is configured for).
pub fn zlib_source() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let def = ferrobus::load::load_software(&root.join("software-defs/zlib.toml")).unwrap();
    let v = def
        .versions
        .iter()
        .find(|v| v.version == def.default_version)
        .unwrap();
    let cache_dir = ferrobus::paths::default_cache_dir().join("sources");
    let path = cache_dir.join(&v.sha256);
    if !path.is_file() {
        let src = ferrobus::plan::Source {
            sha256: v.sha256.clone(),
            urls: v.url.clone(),
            debian: v.debian.clone(),
            file_name: v.debian.clone().unwrap_or_else(|| "zlib.tar.gz".into()),
        };
        let cache = ferrobus::fetch::SourceCache::new(&cache_dir);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(ferrobus::fetch::fetch_all(
            &[("zlib".into(), src)],
            &cache,
            &ferrobus::fetch::FetchOptions {
                attempts: 2,
                ..Default::default()
            },
        ))
        .expect("zlib source: not cached and not fetchable (is the Debian archive reachable?)");
    }
    std::fs::read(&path).unwrap()
}

/// Path of the built ferrobus binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrobus"))
}

/// ferrobus with a private cache, build dir and dist dir, ready for its arguments.
pub fn ferrobus_cmd(cache: &Path, build: &Path, dist: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--cache-dir")
        .arg(cache)
        .arg("--build-dir")
        .arg(build)
        .arg("--dist-dir")
        .arg(dist)
        .env_remove("FERROBUS_CACHE");
    cmd
}

/// Run ferrobus with a private cache and build dir (installers in `build/dist`);
/// returns (success, stdout, stderr).
pub fn ferrobus(cache: &Path, build: &Path, args: &[&str]) -> (bool, String, String) {
    let out = ferrobus_cmd(cache, build, &build.join("dist"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Read a whole file.
pub fn read(p: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(p)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// A copy of `projects/demo-agent.toml` in `dir` — same name, so it shares the
/// user's cached stack — with the app (source and lock) copied into `dir/app`,
/// the config defaults into `dir/agent.yaml` (for the test to edit) and
/// `dir/agent.windows.yaml`, and
/// `key = value` lines replaced by `set`.
pub fn demo_project(dir: &Path, set: &[(&str, &str)]) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ex = repo.join("examples/demo-agent");
    let app = dir.join("app");
    for f in [
        "pyproject.toml",
        "requirements.lock",
        "build-requirements.lock",
        "src/demo_agent/__init__.py",
        "src/demo_agent/main.py",
    ] {
        let to = app.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(ex.join(f), to).unwrap();
    }
    std::fs::copy(ex.join("agent.yaml"), dir.join("agent.yaml")).unwrap();
    std::fs::copy(
        ex.join("agent.windows.yaml"),
        dir.join("agent.windows.yaml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(repo.join("projects/demo-agent.toml")).unwrap();
    let mut out = String::new();
    // Each key of `set` replaces its first occurrence only (`formats` is the
    // Linux `[package]` one, not `[windows]`'s).
    let mut done = std::collections::HashSet::new();
    for line in text.lines() {
        let key = line.split(" = ").next().unwrap_or("");
        let found = set.iter().find(|(k, _)| *k == key && !done.contains(k));
        let line = match found {
            Some((k, v)) => {
                done.insert(*k);
                format!("{k} = {v}")
            }
            None => match key {
                "source" if line.contains("agent.yaml") => "source = \"agent.yaml\"".into(),
                "windows_source" => "windows_source = \"agent.windows.yaml\"".into(),
                "source" => "source = \"app\"".into(),
                "requirements" => "requirements = \"app/requirements.lock\"".into(),
                _ => line.to_string(),
            },
        };
        out.push_str(&line);
        out.push('\n');
    }
    let p = dir.join("demo-agent.toml");
    std::fs::write(&p, out).unwrap();
    p
}

/// The demo project in `dir` (as [`demo_project`], with `set`) with the
/// drivers fixture (tests/fixtures/drivers): psycopg2 and lxml added to the
/// app's locks, libpq and libxslt to the components, each driver declaring
/// the components it links.
pub fn drivers_project(dir: &Path, set: &[(&str, &str)]) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut set = set.to_vec();
    if !set.iter().any(|(k, _)| *k == "components") {
        set.push((
            "components",
            "[\"python\", \"libyaml\", \"libpq\", \"libxslt\"]",
        ));
    }
    let p = demo_project(dir, &set);
    for f in ["requirements.lock", "build-requirements.lock"] {
        std::fs::copy(
            repo.join("tests/fixtures/drivers").join(f),
            dir.join("app").join(f),
        )
        .unwrap();
    }
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(
        "\n[app.distribution.psycopg2]\nlinks = [\"libpq\"]\n\n\
         [app.distribution.lxml]\nlinks = [\"libxml2\", \"libxslt\"]\n\n\
         # psycopg2's metadata says \"LGPL with exceptions\" (not SPDX); its\n\
         # LICENSE: LGPL 3 or later, with an exception for linking OpenSSL.\n\
         [provenance.licenses]\npsycopg2 = \"LGPL-3.0-or-later\"\n",
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// Run ferrobus on a project with the repository's definitions, building in
/// `build` (installers in `build/dist`), with the user's cache.
pub fn ferrobus_on(build: &Path, args: &[&str], project: &Path) -> Output {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    ferrobus_with(&repo.join("software-defs"), build, args, project, &[])
}

/// [`ferrobus_on`] with the definitions in `defs` and more environment.
pub fn ferrobus_with(
    defs: &Path,
    build: &Path,
    args: &[&str],
    project: &Path,
    env: &[(&str, &Path)],
) -> Output {
    let mut cmd = Command::new(bin());
    cmd.arg("--defs")
        .arg(defs)
        .arg("--build-dir")
        .arg(build)
        .arg("--dist-dir")
        .arg(build.join("dist"))
        .args(args)
        .arg(project);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The distributions whose wheel a `build --json` report says were built now.
pub fn built_wheels(report: &serde_json::Value) -> Vec<String> {
    report["app"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["built"] == true)
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect()
}

/// [`ferrobus_on`], which must succeed.
pub fn ferrobus_on_ok(build: &Path, args: &[&str], project: &Path) -> Output {
    let out = ferrobus_on(build, args, project);
    assert_success(&out, &format!("ferrobus {args:?}"));
    out
}

/// [`ferrobus_on`] with `--json` before `args`, which must succeed: its report.
pub fn ferrobus_on_json(build: &Path, args: &[&str], project: &Path) -> serde_json::Value {
    let args: Vec<&str> = ["--json"].iter().chain(args).copied().collect();
    let out = ferrobus_on_ok(build, &args, project);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ferrobus check <dir> <args>`: its exit status and its stdout.
pub fn check(dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let out = Command::new(bin())
        .arg("check")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A finished command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A finished command's stdout, then its stderr, as text.
pub fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `o` succeeded; else panic naming `what`, with its stdout and stderr.
pub fn assert_success(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}",
        o.status,
        both(o)
    );
}

/// Run `cmd` with no stdin; it must succeed. Its output.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert_success(&out, &format!("{cmd:?}"));
    out
}

/// [`run`], returning stdout as text.
pub fn run_text(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

/// True when `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A lint tool's report on one package: its error lines and the whole report.
pub struct Lint {
    /// The lines reporting an error (`E:`).
    pub errors: Vec<String>,
    /// Everything the tool printed.
    pub report: String,
}

/// `rpmlint -c <config> <rpm>`. The configuration must have been read (rpmlint
/// only warns about a missing one) and the summary must agree with the error
/// lines. None when rpmlint is not installed: the caller skips.
pub fn rpmlint(rpm: &Path, config: &Path) -> Option<Lint> {
    if !have("rpmlint") {
        return None;
    }
    let out = Command::new("rpmlint")
        .arg("-c")
        .arg(config)
        .arg(rpm)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = both(&out);
    assert!(
        report.contains(&config.display().to_string()) && !report.contains("error locating"),
        "rpmlint did not read {}:\n{report}",
        config.display()
    );
    let errors: Vec<String> = report
        .lines()
        .filter(|l| l.contains(": E: "))
        .map(String::from)
        .collect();
    let summary = report
        .lines()
        .find(|l| l.contains("packages and") && l.contains(" errors,"))
        .unwrap_or_else(|| panic!("no rpmlint summary:\n{report}"));
    assert!(
        summary.contains(&format!(" {} errors,", errors.len())),
        "{summary}\n{report}"
    );
    Some(Lint { errors, report })
}

/// `lintian --fail-on error --allow-root` on a deb, every tag shown; its exit
/// status must agree with the error lines. None when lintian is not
/// installed: the caller skips.
pub fn lintian(deb: &Path) -> Option<Lint> {
    if !have("lintian") {
        return None;
    }
    let out = Command::new("lintian")
        .args([
            "--fail-on",
            "error",
            "--tag-display-limit",
            "0",
            "--allow-root",
        ])
        .arg(deb)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = both(&out);
    let errors: Vec<String> = report
        .lines()
        .filter(|l| l.starts_with("E: "))
        .map(String::from)
        .collect();
    // Exit status 1 is "errors found", anything else but 0 is lintian failing.
    let expected = if errors.is_empty() { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(expected), "lintian:\n{report}");
    Some(Lint { errors, report })
}

/// Write `<dir>/software-defs/<name>.toml`.
pub fn write_def(dir: &Path, name: &str, text: &str) {
    let defs = dir.join("software-defs");
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::write(defs.join(format!("{name}.toml")), text).unwrap();
}

/// Write `<dir>/projects/<name>.toml`: `name` at `version`, installed in
/// `/opt/<name>`, made of `components` (four lines), then `extra` (more keys,
/// then tables). Returns its path.
pub fn write_project(
    dir: &Path,
    name: &str,
    version: &str,
    components: &[&str],
    extra: &str,
) -> PathBuf {
    let projects = dir.join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    let components: Vec<String> = components.iter().map(|c| format!("\"{c}\"")).collect();
    let p = projects.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "name = \"{name}\"\nversion = \"{version}\"\ninstall_dir = \"/opt/{name}\"\n\
             components = [{}]\n{extra}",
            components.join(", ")
        ),
    )
    .unwrap();
    p
}

/// `ferrobus::package::package_all`, returning only the written paths.
pub fn package_all(
    root: &Path,
    meta: &ferrobus::package::Meta,
    formats: &[String],
    dist: &Path,
    tree_id: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let formats: Vec<ferrobus::load::Format> = formats
        .iter()
        .map(|f| f.parse())
        .collect::<anyhow::Result<_>>()?;
    let written = ferrobus::package::package_all(root, meta, &formats, dist, tree_id)?;
    Ok(written.into_iter().map(|p| p.path).collect())
}

/// Serve the real zlib source at `/up/zlib.tar.gz` on `srv` and return its
/// software definition (configure, shared library, DESTDIR install, static
/// library and man pages pruned): `configure_extra` is added to configure's
/// arguments, `extra` (e.g. `license_files = [...]`) to the top-level keys.
pub fn zlib_def(srv: &Server, configure_extra: &str, extra: &str) -> String {
    let zlib = zlib_source();
    format!(
        r#"name = "zlib"
license = "Zlib"
{extra}
default_version = "1.3.1"
steps = ["./configure --prefix={{prefix}}{configure_extra}", "make", "make install DESTDIR={{destdir}}"]
prune = ["share/man", "lib/libz.a"]
{}"#,
        srv.source("zlib.tar.gz", "1.3.1", zlib)
    )
}

/// The `tiny` package of the packaging tests: `tiny` at `version`, installed
/// in /opt/tiny, with the config file `/etc/tiny/tiny.conf` holding `conf`.
pub fn tiny_meta(version: &str, conf: &str) -> ferrobus::package::Meta {
    ferrobus::package::Meta {
        maintainer: "Ops <ops@example.invalid>".into(),
        description: "A tiny test package".into(),
        license: "MIT".into(),
        epoch: 1_700_000_000,
        config: vec![ferrobus::package::ConfigData {
            dest: "/etc/tiny/tiny.conf".into(),
            data: conf.as_bytes().to_vec(),
        }],
        ..ferrobus::package::Meta::new("tiny", version, "/opt/tiny")
    }
}

/// A staged `tiny` tree `<root>/opt/tiny/embedded/...`: `bin/hello` printing
/// `hello`, a link `bin/hi` to it and a data file; `mode_noise` varies what must
/// not matter (modes, an mtime).
pub fn stage_tiny(root: &Path, hello: &str, mode_noise: bool) {
    use std::os::unix::fs::PermissionsExt;
    let d = root.join("opt/tiny/embedded");
    std::fs::create_dir_all(d.join("bin")).unwrap();
    std::fs::create_dir_all(d.join("share")).unwrap();
    std::fs::write(d.join("bin/hello"), format!("#!/bin/sh\necho {hello}\n")).unwrap();
    std::os::unix::fs::symlink("hello", d.join("bin/hi")).unwrap();
    std::fs::write(d.join("share/data.txt"), "x".repeat(5000)).unwrap();
    let (exe, data) = if mode_noise {
        (0o775, 0o664)
    } else {
        (0o755, 0o600)
    };
    let mode = std::fs::Permissions::from_mode;
    std::fs::set_permissions(d.join("bin/hello"), mode(exe)).unwrap();
    std::fs::set_permissions(d.join("share/data.txt"), mode(data)).unwrap();
    if mode_noise {
        let f = std::fs::File::open(d.join("share/data.txt")).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(12345))
            .unwrap();
    }
}

/// Throwaway OpenPGP keys made by gpg in one home of their own (one agent):
/// (home, [(secret key file, public key file)] in the order of `names`). The
/// agent is stopped once the keys are exported.
pub fn gpg_keys(dir: &Path, names: &[&str]) -> (PathBuf, Vec<(PathBuf, PathBuf)>) {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg (scripts/deps installs gnupg)");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut keys = Vec::new();
    for name in names {
        let email = format!("{name}@ferrobus.invalid");
        gpg(&[
            "--quick-gen-key",
            &format!("{name} <{email}>"),
            "rsa2048",
            "sign",
            "never",
        ]);
        let (sec, public) = (
            dir.join(format!("{name}.sec.asc")),
            dir.join(format!("{name}.pub.asc")),
        );
        std::fs::write(&sec, gpg(&["--armor", "--export-secret-keys", &email])).unwrap();
        std::fs::write(&public, gpg(&["--armor", "--export", &email])).unwrap();
        keys.push((sec, public));
    }
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "gpg-agent"])
        .status();
    (home, keys)
}

/// A port on 127.0.0.1 nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The repository (where Cargo.toml is).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory `<cargo's test tmp>/<group>/<name>` (kept after the
/// test for a look at what it left).
pub fn fresh_tmp(group: &str, name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
