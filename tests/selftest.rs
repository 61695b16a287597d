//! The self-test a release must pass before it goes live (`[app] selftest`):
//! its checks when the project is loaded (file:line:col); the `.sh` of a small
//! package run for real (a failing self-test leaves `current` alone and removes
//! the new release, a `--force` reinstall puts the replaced release back, a
//! killed test's release is removed by the next run, `--check` tests the
//! current release, the test's environment is clean); and the demo agent's real
//! `--selftest` in a Debian root: an upgrade of a running agent by the `.sh`
//! and by dpkg, first with a failing, then with a passing self-test. The Debian
//! root part needs root (chroot); reported as skipped otherwise (a failure
//! under CI=true).

mod common;
use common::roots;

use ferrobus::package::shell::Shell;
use ferrobus::package::{Meta, Packager};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Loading: the command is checked where it is written.

/// A project `p` whose `[app]` has `selftest_line` (its line 9).
fn project_with(dir: &Path, selftest_line: &str) -> PathBuf {
    common::write_project(
        dir,
        "p",
        "1",
        &["alpha"],
        &format!(
            "\n[app]\nsource = \"../app\"\nrequirements = \"../app/requirements.lock\"\n{selftest_line}\n"
        ),
    )
}

fn load_err(selftest_line: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    let p = project_with(t.path(), selftest_line);
    match ferrobus::load::load_project(&p) {
        Ok(_) => panic!("{selftest_line}: loaded"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn a_bad_selftest_is_refused_at_its_line_and_column() {
    for (line, want) in [
        (
            "selftest = \"bin/p --config {config_root}/etc/p.yaml --data {prefix}/x\"",
            "unknown placeholder {prefix} (known: {install_dir}, {config_root})",
        ),
        (
            "selftest = \"/usr/bin/p --check\"",
            "the program \"/usr/bin/p\" must be relative to the release under test",
        ),
        ("selftest = \"bin/../../p\"", "no .."),
        (
            "selftest = \"{install_dir}/bin/p\"",
            "placeholders go in its arguments",
        ),
        ("selftest = \"bin/p 'open\"", "unbalanced quotes"),
        ("selftest = \"  \"", "the command is empty"),
        (
            "selftest = \"bin/p --x {config_root\"",
            "a '{' without its '}'",
        ),
    ] {
        let e = load_err(line);
        assert!(e.contains("p.toml:9:12: [app] selftest = "), "{line}: {e}");
        assert!(e.contains(want), "{line}: {e}");
    }
    let t = tempfile::tempdir().unwrap();
    let p = project_with(
        t.path(),
        "selftest = \"bin/p --selftest --config '{config_root}/etc/p dir/p.yaml' --root={install_dir}\"",
    );
    let loaded = ferrobus::load::load_project(&p).unwrap();
    let words =
        ferrobus::load::selftest_words(loaded.app.unwrap().selftest.as_deref().unwrap()).unwrap();
    use ferrobus::load::SelftestPart::{Placeholder, Text};
    assert_eq!(words.len(), 5, "{words:?}");
    assert_eq!(
        words[3],
        [
            Placeholder("config_root".into()),
            Text("/etc/p dir/p.yaml".into())
        ]
    );
    assert_eq!(
        words[4],
        [Text("--root=".into()), Placeholder("install_dir".into())]
    );
}

// ---------------------------------------------------------------------------
// The .sh of a small package, run for real.

/// `bin/selfcheck CONFIG`: records where and how it ran (cwd, arguments,
/// environment) in `$HOME/seen`, sleeps while `$HOME/hang` exists, and fails
/// unless CONFIG starts with `ok`.
const SELFCHECK: &str = r#"#!/bin/sh
{ echo "cwd $(pwd)"; echo "args $*"; env | sort | sed 's/^/env /'; } > "$HOME/seen"
while [ -e "$HOME/hang" ]; do sleep 0.1; done
grep -q '^ok' "$1" 2>/dev/null || { echo "config $1 is not ok"; echo "to stderr too" >&2; exit 3; }
echo "all good"
"#;

/// The tiny installer of `version` whose self-test reads `config` (relative
/// to the config root), written into `dir/<tag>/`.
fn tiny_installer(dir: &Path, tag: &str, version: &str, config: &str) -> PathBuf {
    let root = dir.join(format!("stage-{tag}"));
    common::stage_tiny(&root, &format!("hello from tiny {version}"), false);
    let bin = root.join("opt/tiny/bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("selfcheck"), SELFCHECK).unwrap();
    fs::set_permissions(bin.join("selfcheck"), fs::Permissions::from_mode(0o755)).unwrap();
    let m = Meta {
        selftest: Some(format!(
            "bin/selfcheck {{config_root}}/{config} '{{install_dir}} as one word'"
        )),
        ..common::tiny_meta(version, "ok: the default\n")
    };
    let out = dir.join(tag);
    fs::create_dir_all(&out).unwrap();
    let out = out.join(Shell.file_name(&m));
    Shell.write(&root, &m, &out).unwrap();
    out
}

/// `sh installer args` with `home` as HOME and variables that must not reach
/// the self-test.
fn run_sh(installer: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg(installer)
        .args(args)
        .env("HOME", home)
        .env("PYTHONPATH", "/leaked")
        .env("LD_LIBRARY_PATH", "/leaked")
        .env("LANG", "de_DE.UTF-8")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("exit {:?}\n{}", o.status.code(), common::both(o))
}

fn link(p: &Path) -> String {
    fs::read_link(p).unwrap().to_string_lossy().into_owned()
}

fn hello(prefix: &Path) -> String {
    let o = Command::new(prefix.join("current/embedded/bin/hello"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_sh_switches_current_only_past_a_passing_selftest() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let prefix = t.path().join("x");
    let px = prefix.to_str().unwrap();
    let conf = "etc/tiny/tiny.conf";
    let v1 = tiny_installer(t.path(), "v1", "1.0", conf);
    let bad = tiny_installer(t.path(), "bad", "2.0", "etc/tiny/missing.conf");
    let good = tiny_installer(t.path(), "good", "2.0", conf);

    // v1: tested in its release dir, where it will live, then made current.
    let o = run_sh(&v1, &home, &["--prefix", px]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("self-test passed\n"), "{out}");
    assert!(
        !out.contains("all good"),
        "a passing test's output is not shown: {out}"
    );
    let seen = fs::read_to_string(home.join("seen")).unwrap();
    let release = prefix.join("releases/1.0-1");
    assert!(
        seen.contains(&format!("cwd {}\n", release.display())),
        "{seen}"
    );
    assert!(
        seen.contains(&format!(
            "args {px}/{conf} {} as one word\n",
            release.display()
        )),
        "{seen}"
    );
    // A clean environment: PATH, HOME and LANG, nothing of the caller's else
    // (PWD, SHLVL and _ are the test's own shell's).
    let env: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("env "))
        .filter(|l| {
            !["PWD=", "SHLVL=", "_=", "OLDPWD="]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(env.len(), 3, "{seen}");
    assert!(env.contains(&"LANG=C.UTF-8"), "{seen}");
    assert!(
        env.contains(&format!("HOME={}", home.display()).as_str()),
        "{seen}"
    );
    assert!(env.iter().any(|l| l.starts_with("PATH=")), "{seen}");
    assert!(!release.join(".ferrobus").exists());

    // A failing self-test: exit 4, its output shown, current and previous
    // untouched, the new release gone.
    let o = run_sh(&bad, &home, &["--prefix", px, "--upgrade"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(
        out.contains(&format!(
            "self-test: config {px}/etc/tiny/missing.conf is not ok\n"
        )),
        "{out}"
    );
    assert!(out.contains("self-test: to stderr too\n"), "{out}");
    assert!(out.contains("failed its self-test"), "{out}");
    assert!(!out.contains("self-test passed"), "{out}");
    assert_eq!(link(&prefix.join("current")), "releases/1.0-1");
    assert!(prefix.join("previous").symlink_metadata().is_err());
    assert!(!prefix.join("releases/2.0-1").exists());
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");

    // The fixed installer of the same version needs no --force.
    let o = run_sh(&good, &home, &["--prefix", px, "--upgrade"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("self-test passed\n"), "{out}");
    assert_eq!(link(&prefix.join("current")), "releases/2.0-1");
    assert_eq!(link(&prefix.join("previous")), "releases/1.0-1");
    assert_eq!(hello(&prefix), "hello from tiny 2.0\n");

    // --check: the payload, then the self-test of the current release.
    let o = run_sh(&good, &home, &["--prefix", px, "--check"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("payload ok") && out.contains("self-test passed"),
        "{out}"
    );
    fs::write(prefix.join(conf), "broken\n").unwrap();
    let o = run_sh(&good, &home, &["--prefix", px, "--check"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("is not ok"), "{out}");
    fs::write(prefix.join(conf), "ok: edited\n").unwrap();

    // --force over the current release with a failing self-test: the
    // replaced release is put back.
    let o = run_sh(&bad, &home, &["--prefix", px, "--force"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("restored"), "{out}");
    assert_eq!(link(&prefix.join("current")), "releases/2.0-1");
    assert_eq!(hello(&prefix), "hello from tiny 2.0\n");
    let hidden: Vec<_> = fs::read_dir(prefix.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");

    // A run killed while its self-test runs: the untested release is never
    // current, and the next run removes it.
    let v3 = tiny_installer(t.path(), "v3", "3.0", conf);
    fs::write(home.join("hang"), "").unwrap();
    let mut child = Command::new("/bin/sh")
        .arg(&v3)
        .args(["--prefix", px, "--upgrade"])
        .env("HOME", &home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let marker = prefix.join("releases/3.0-1/.ferrobus/untested");
    let start = Instant::now();
    while !(marker.exists() && home.join("seen").exists() && seen_of(&home).contains("3.0-1")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no self-test seen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) },
        0
    );
    child.wait().unwrap();
    fs::remove_file(home.join("hang")).unwrap();
    assert_eq!(link(&prefix.join("current")), "releases/2.0-1");
    let o = run_sh(&v3, &home, &["--prefix", px, "--upgrade"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("its self-test was interrupted"), "{out}");
    assert!(out.contains("self-test passed"), "{out}");
    assert_eq!(link(&prefix.join("current")), "releases/3.0-1");
}

fn seen_of(home: &Path) -> String {
    fs::read_to_string(home.join("seen")).unwrap_or_default()
}

#[test]
fn deb_and_rpm_scripts_gate_the_restart_on_the_selftest() {
    let m = Meta {
        selftest: Some("bin/check --config {config_root}/etc/tiny/tiny.conf".into()),
        user: Some(toml::from_str("name = \"tiny\"").unwrap()),
        services: vec![toml::from_str("name = \"tiny\"\nexec = \"bin/tiny\"").unwrap()],
        ..common::tiny_meta("1.0", "x\n")
    };
    let deb = ferrobus::package::scripts::deb_scripts(&m).unwrap();
    let postinst = &deb.iter().find(|(n, _)| *n == "postinst").unwrap().1;
    // The self-test runs before anything is started or restarted.
    let test_at = postinst.find("if ! selftest \"$INSTALL_DIR\" ''").unwrap();
    let restart_at = postinst.find("deb-systemd-invoke \"$action\"").unwrap();
    assert!(test_at < restart_at, "{postinst}");
    assert!(
        postinst.contains(
            "\"$@\" \"$st_release\"/'bin/check' '--config' \"$st_config_root\"'/etc/tiny/tiny.conf'"
        ),
        "{postinst}"
    );
    assert!(postinst.contains("SELFTEST_USER='tiny'"), "{postinst}");
    let (rpm, posttrans) = ferrobus::package::scripts::rpm_scripts(&m).unwrap();
    assert!(rpm[1].contains("if ! selftest"), "{}", rpm[1]);
    assert!(rpm[3].contains("[ -e \"$SELFTEST_FLAG\" ]"), "{}", rpm[3]);
    assert!(posttrans.unwrap().contains("rm -f \"$SELFTEST_FLAG\""));
    // Every script parses.
    let t = tempfile::tempdir().unwrap();
    for (i, s) in deb
        .iter()
        .map(|(_, s)| s.clone())
        .chain(rpm.iter().cloned())
        .enumerate()
    {
        let f = t.path().join(format!("s{i}"));
        fs::write(&f, &s).unwrap();
        common::run(Command::new("sh").arg("-n").arg(&f));
    }
    // Without a self-test: no %posttrans, and `selftest` passes at once.
    let plain = common::tiny_meta("1.0", "x\n");
    let (_, posttrans) = ferrobus::package::scripts::rpm_scripts(&plain).unwrap();
    assert!(posttrans.is_none());
}

// ---------------------------------------------------------------------------
// The demo agent in a Debian root.

/// A self-test that fails for real: the agent's own, on a config that is not there.
const MISSING: &str =
    "\"bin/demo-agent --selftest --config {config_root}/etc/demo-agent/missing.yaml\"";

/// The demo project at `version` with the deb and sh formats; `selftest`
/// replaces its self-test; at 0.2.0 the agent reports 0.2.0 on /status.
fn demo(dir: &Path, version: &str, selftest: Option<&str>) -> PathBuf {
    let version_value = format!("\"{version}\"");
    let mut set = vec![
        ("version", version_value.as_str()),
        ("formats", "[\"deb\", \"sh\"]"),
    ];
    if let Some(s) = selftest {
        set.push(("selftest", s));
    }
    let p = common::demo_project(dir, &set);
    assert!(
        common::read(&p).contains(&format!("selftest = {}", selftest.unwrap_or("\"bin/"))),
        "the demo project has no selftest line to replace"
    );
    let init = dir.join("app/src/demo_agent/__init__.py");
    let text = common::read(&init).replace("\"0.1.0\"", &format!("\"{version}\""));
    fs::write(&init, text).unwrap();
    p
}

/// Build `project` in `build` and copy its deb and sh to `keep/<tag>.{deb,sh}`.
fn build_and_keep(build: &Path, project: &Path, version: &str, keep: &Path, tag: &str) {
    let t0 = Instant::now();
    common::ferrobus_on_ok(build, &["build"], project);
    eprintln!("build {tag}: {:.1} s", t0.elapsed().as_secs_f64());
    fs::create_dir_all(keep).unwrap();
    let dist = build.join("dist");
    fs::copy(
        dist.join(format!("demo-agent_{version}-1_amd64.deb")),
        keep.join(format!("{tag}.deb")),
    )
    .unwrap();
    let sh = keep.join(format!("{tag}.sh"));
    fs::copy(
        dist.join(format!("demo-agent-{version}-1.linux-x86_64.sh")),
        &sh,
    )
    .unwrap();
    fs::set_permissions(&sh, fs::Permissions::from_mode(0o644)).unwrap();
}

/// The agent's /status on `port` (the root shares the host's network), waiting
/// up to 20 s for it to answer.
fn status(port: u16) -> serde_json::Value {
    let start = Instant::now();
    loop {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            let mut r = String::new();
            if c.read_to_string(&mut r).is_ok()
                && let Some((_, body)) = r.split_once("\r\n\r\n")
                && let Ok(v) = serde_json::from_str(body)
            {
                return v;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no agent answers on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Agents started in a root (their pid files there), stopped when dropped.
struct Agents<'a> {
    root: &'a roots::Root,
}

impl Agents<'_> {
    /// Start `cmd` (which execs the agent, so its pid is the agent's) in the
    /// background; its pid is written to `/tmp/<tag>.pid`, its output to
    /// `/tmp/<tag>.out`. Returns the pid.
    fn start(&self, tag: &str, cmd: &str) -> String {
        self.root.ok(&format!("{cmd} > /tmp/{tag}.out 2>&1 &"));
        let pid_file = self.root.path.join(format!("tmp/{tag}.pid"));
        let start = Instant::now();
        loop {
            if let Ok(pid) = fs::read_to_string(&pid_file)
                && !pid.trim().is_empty()
            {
                return pid.trim().to_string();
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{tag}: no pid");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self, pid: &str) -> bool {
        self.root.sh(&format!("kill -0 {pid}")).0
    }

    /// SIGTERM, then wait (10 s at most) for it to be gone.
    fn stop(&self, pid: &str) {
        self.root.ok(&format!(
            "kill {pid}; for i in $(seq 100); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.1; done; \
             echo 'agent {pid} did not stop'; exit 1"
        ));
    }
}

impl Drop for Agents<'_> {
    fn drop(&mut self) {
        self.root
            .sh("for f in /tmp/*.pid; do [ -f \"$f\" ] && kill \"$(cat \"$f\")\"; done; sleep 0.5");
    }
}

#[test]
fn demo_upgrades_go_live_only_past_the_agents_selftest_in_a_debian_root() {
    if !roots::can_chroot_or_skip("installing into a Debian root (chroot)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let build = t.path().join("build");
    let keep = t.path().join("keep");
    let v1 = demo(&t.path().join("v1"), "0.1.0", None);
    build_and_keep(&build, &v1, "0.1.0", &keep, "v1");
    let bad = demo(&t.path().join("bad"), "0.2.0", Some(MISSING));
    build_and_keep(&build, &bad, "0.2.0", &keep, "bad");
    // The fixed release differs from the bad one in its packages only.
    let good = demo(&t.path().join("good"), "0.2.0", None);
    build_and_keep(&build, &good, "0.2.0", &keep, "good");

    let root = roots::Root::new("bookworm");
    let agents = Agents { root: &root };
    let put = |f: &str| root.put(&keep.join(f));
    let (v1_sh, bad_sh, good_sh) = (put("v1.sh"), put("bad.sh"), put("good.sh"));
    let (v1_deb, bad_deb, good_deb) = (put("v1.deb"), put("bad.deb"), put("good.deb"));

    // --- The .sh, as a user who is not root, into $HOME/x.
    root.ok("useradd -m tester");
    let as_tester = |cmd: &str| format!("su -s /bin/sh tester -c '{cmd}'; echo \"exit=$?\"");
    let out = root.ok(&as_tester(&format!("sh {v1_sh} --prefix $HOME/x")));
    assert!(
        out.contains("self-test passed\n") && out.contains("exit=0"),
        "{out}"
    );
    // The agent's log goes to its home (the default is /var/lib/demo-agent): an
    // edit of the installed config, which upgrades keep.
    root.ok("sed -i 's#^log_file:.*#log_file: /home/tester/agent.log#' \
         /home/tester/x/etc/demo-agent/agent.yaml");
    let port = common::free_port();
    let pid = agents.start(
        "sh-agent",
        &format!(
            "su -s /bin/sh tester -c 'echo $$ > /tmp/sh-agent.pid; exec $HOME/x/current/bin/demo-agent \
             --config $HOME/x/etc/demo-agent/agent.yaml --port {port}'"
        ),
    );
    assert_eq!(status(port)["version"], "0.1.0");

    let t0 = Instant::now();
    let out = root
        .sh(&as_tester(&format!(
            "sh {bad_sh} --prefix $HOME/x --upgrade"
        )))
        .1;
    eprintln!(
        "sh upgrade, failing self-test: {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    eprintln!("{out}");
    assert!(out.contains("exit=4"), "{out}");
    assert!(
        out.contains(
            "self-test: selftest FAILED: config /home/tester/x/etc/demo-agent/missing.yaml"
        ),
        "{out}"
    );
    assert!(!out.contains("self-test passed"), "{out}");
    let current = root.ok("readlink /home/tester/x/current");
    assert_eq!(current.trim(), "releases/0.1.0-1");
    root.ok("test ! -e /home/tester/x/releases/0.2.0-1 && test ! -L /home/tester/x/previous");
    assert!(agents.alive(&pid));
    assert_eq!(status(port)["version"], "0.1.0");

    let t0 = Instant::now();
    let out = root.ok(&as_tester(&format!(
        "sh {good_sh} --prefix $HOME/x --upgrade"
    )));
    eprintln!(
        "sh upgrade, passing self-test: {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        out.contains("self-test passed") && out.contains("exit=0"),
        "{out}"
    );
    assert_eq!(
        root.ok("readlink /home/tester/x/current").trim(),
        "releases/0.2.0-1"
    );
    assert_eq!(
        root.ok("readlink /home/tester/x/previous").trim(),
        "releases/0.1.0-1"
    );
    let out = root.ok(&as_tester(&format!(
        "sh {good_sh} --prefix $HOME/x --check"
    )));
    assert!(
        out.contains("payload ok") && out.contains("self-test passed") && out.contains("exit=0"),
        "{out}"
    );
    // The agent restarted from current is the new release.
    agents.stop(&pid);
    let pid = agents.start(
        "sh-agent",
        &format!(
            "rm -f /tmp/sh-agent.pid; su -s /bin/sh tester -c 'echo $$ > /tmp/sh-agent.pid; \
             exec $HOME/x/current/bin/demo-agent --config $HOME/x/etc/demo-agent/agent.yaml --port {port}'"
        ),
    );
    assert_eq!(status(port)["version"], "0.2.0");
    agents.stop(&pid);

    // --- The deb under dpkg: the running service is restarted only past the
    // self-test. Its "service" runs as its unit would (its user), started by
    // hand: there is no systemd in the root, but the postinst takes the
    // systemd path.
    let out = root.ok(&format!("dpkg -i {v1_deb}"));
    assert!(out.contains("self-test passed"), "{out}");
    let port = common::free_port();
    let pid = agents.start(
        "deb-agent",
        &format!(
            "runuser -u demo-agent -- sh -c 'echo $$ > /tmp/deb-agent.pid; exec /opt/demo-agent/bin/demo-agent \
             --config /etc/demo-agent/agent.yaml --port {port}'"
        ),
    );
    assert_eq!(status(port)["version"], "0.1.0");
    root.ok("mkdir -p /run/systemd/system");

    let t0 = Instant::now();
    let (ok, out) = root.sh(&format!("dpkg -i {bad_deb}"));
    eprintln!(
        "dpkg -i, failing self-test: {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    eprintln!("{out}");
    assert!(!ok, "{out}");
    assert!(
        out.contains("installed demo-agent package post-installation script subprocess returned error exit status 1"),
        "{out}"
    );
    assert!(
        out.contains("self-test: selftest FAILED: config /etc/demo-agent/missing.yaml"),
        "{out}"
    );
    assert!(
        out.contains("demo-agent self-test failed; services not restarted"),
        "{out}"
    );
    assert!(!out.contains("restarting demo-agent"), "{out}");
    let state = root.ok("dpkg-query -W -f '${Status} ${Version}' demo-agent");
    assert_eq!(state, "install ok half-configured 0.2.0-1");
    assert!(agents.alive(&pid), "the running agent was stopped");
    assert_eq!(status(port)["version"], "0.1.0");

    let t0 = Instant::now();
    let out = root.ok(&format!("dpkg -i {good_deb}"));
    eprintln!(
        "dpkg -i, passing self-test: {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(out.contains("self-test passed"), "{out}");
    assert!(out.contains("restarting demo-agent\n"), "{out}");
    let state = root.ok("dpkg-query -W -f '${Status} ${Version}' demo-agent");
    assert_eq!(state, "install ok installed 0.2.0-1");

    // --- The .sh run by root, now that the service user exists: the test
    // runs as that user, who cannot enter a prefix only root may read.
    let out = root.ok(&format!(
        "sh {good_sh} --prefix /srv/agent; echo \"exit=$?\""
    ));
    assert!(
        out.contains("self-test passed") && out.contains("exit=0"),
        "{out}"
    );
    let out = root.ok(&format!(
        "mkdir -m 700 /root/private && sh {good_sh} --prefix /root/private/agent; echo \"exit=$?\""
    ));
    assert!(out.contains("exit=4"), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    drop(agents);
}
