//! The fleet test: the demo agent's .deb and .sh in Debian roots of several
//! releases (debootstrap minbase, cached; no compiler in them), each run in its own
//! network namespace with only loopback, so nothing can be downloaded. In each
//! root the agent answers /status and /metrics on 127.0.0.1:
//!
//! - from the .deb, as its systemd unit runs it: the command, user, umask and
//!   filesystem confinement are read from the unit the package installed and
//!   reproduced without systemd (tests/common/unit.rs: the root read-only, only
//!   the state and log directories writable, private /tmp and /dev, no /home,
//!   no new privileges, no capabilities). While it runs, the test shows its
//!   process is confined: its mounts, and, as its user in its namespace, a
//!   write to /, /opt or /etc fails with EROFS; its log file is written.
//! - from the .sh, unconfined, as a user in its own prefix.
//!
//! The same for the linux-aarch64 build (cross-compiled) in arm64 roots of the
//! oldest and newest releases, run under qemu-user through binfmt_misc.
//!
//! Prints a table: architecture, release, glibc, format, install and run time, answered; then
//! what of the unit was reproduced and what its user saw. A release whose glibc
//! is older than the tree's achieved floor is reported as such and not run. Needs
//! root (chroot, unshare); reported as skipped otherwise (a failure under
//! CI=true).

mod common;
use common::roots;
use common::unit::{Unit, sh_quote};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RELEASES: &[&str] = &["bullseye", "bookworm", "trixie", "sid"];

/// The arm64 roots: the oldest and the newest release (each runs under
/// qemu-user, several times slower than the amd64 ones).
const ARM64_RELEASES: &[&str] = &["bullseye", "sid"];

/// The config the .sh installed, with a log file its user may write.
const SH_CONFIG: &str = "sed 's#^log_file:.*#log_file: /home/tester/agent.log#' \
    /home/tester/agent/etc/demo-agent/agent.yaml > /home/tester/agent.yaml";

/// `x.y` as a comparable pair.
fn version(v: &str) -> (u32, u32) {
    let mut it = v.trim().split('.').map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Start the agent with `start` (a shell command that starts it in the
/// background, its output in /tmp/agent.out, its pid in /tmp/agent.pid), wait
/// for /status, fetch /status and /metrics with the embedded Python, run
/// `checks` (Python, with `pid` the agent's) while it runs, stop it with SIGTERM
/// and check it exits. Should the script fail first, the agent is killed.
fn agent_script(start: &str, python: &str, port: u16, checks: &str) -> String {
    format!(
        r#"set -e
trap 'if [ -f /tmp/agent.pid ]; then kill "$(cat /tmp/agent.pid)" 2>/dev/null || true; fi' EXIT
{start}
{python} - <<'PY'
import json, os, signal, time, urllib.request
base = "http://127.0.0.1:{port}"
for _ in range(100):
    try:
        status = json.load(urllib.request.urlopen(base + "/status", timeout=1))
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("no answer on " + base + ": " + open("/tmp/agent.out").read())
metrics = urllib.request.urlopen(base + "/metrics", timeout=2).read().decode()
assert status["status"] == "ok" and status["libyaml"] is True, status
assert "demo_agent_memory_total_bytes" in metrics, metrics
pid = int(open("/tmp/agent.pid").read())
{checks}
os.kill(pid, signal.SIGTERM)
for _ in range(50):
    try:
        os.kill(pid, 0)
        time.sleep(0.1)
    except ProcessLookupError:
        break
else:
    raise SystemExit("the agent did not stop on SIGTERM")
print("ANSWERED", status["python"], status["psutil"])
PY
"#
    )
}

/// The line starting `cmd` as `user` with su, unconfined.
fn su_start(user: &str, cmd: &str) -> String {
    format!("su -s /bin/sh {user} -c '{cmd} > /tmp/agent.out 2>&1 & echo $! > /tmp/agent.pid'")
}

/// Run as the unit's process, in its namespace: tries to make a file in each
/// directory of argv[1]'s lists; prints what happened, as JSON.
const PROBE: &str = r#"
import errno, json, os, sys
conf = json.loads(sys.argv[1])
def make(d):
    p = os.path.join(d, ".confinement-probe")
    try:
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as e:
        return errno.errorcode[e.errno]
    mode = os.stat(p).st_mode & 0o777
    os.unlink(p)
    return oct(mode)
def enter(d):
    try:
        os.listdir(d)
        return "listed"
    except OSError as e:
        return errno.errorcode[e.errno]
seen = {d: make(d) for d in conf["read_only"] + conf["writable"]}
seen.update({d: enter(d) for d in conf["hidden"]})
seen["private /tmp"] = "yes" if not os.path.exists(conf["outside_tmp"]) else "no"
seen["private /dev"] = "yes" if not os.path.exists("/dev/console") else "no"
print(json.dumps(seen))
"#;

/// Python run while the confined agent runs (`pid`), with `CONF` set: its
/// process (user, no new privileges, no capabilities), its mounts, its log file,
/// and what its user can write in its namespace ([`PROBE`]).
const CONFINED_CHECKS: &str = r#"
import pwd, subprocess
uid = pwd.getpwnam(CONF["user"]).pw_uid
st = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status").read().splitlines())
assert int(st["Uid"].split()[0]) == uid, st["Uid"]
assert st["NoNewPrivs"].strip() == "1", st["NoNewPrivs"]
assert int(st["CapBnd"], 16) == 0, st["CapBnd"]
mounts = {}
for line in open(f"/proc/{pid}/mountinfo"):
    f = line.split()
    mounts[f[4]] = (f[5].split(","), f[f.index("-") + 1])
assert "ro" in mounts["/"][0], ("/", mounts)
for d in CONF["writable"]:
    assert d in mounts and "rw" in mounts[d][0], (d, mounts)
assert mounts["/tmp"][1] == "tmpfs", ("/tmp", mounts)
log = os.stat(CONF["log_file"])
assert log.st_uid == uid and oct(log.st_mode & 0o777) == CONF["file_mode"], oct(log.st_mode)
assert "GET /status" in open(CONF["log_file"]).read()
probe = subprocess.run(["/bin/sh", "-c", CONF["probe"]], capture_output=True, text=True)
assert probe.returncode == 0, probe.stdout + probe.stderr
seen = json.loads(probe.stdout)
want = {d: "EROFS" for d in CONF["read_only"]}
want.update({d: CONF["file_mode"] for d in CONF["writable"]})
want.update({d: "EACCES" for d in CONF["hidden"]})
want.update({"private /tmp": "yes", "private /dev": "yes"})
assert seen == want, ("as the unit's user", seen, "expected", want)
print("CONFINED", json.dumps(seen, sort_keys=True))
"#;

/// The systemd unit package `pkg` installed in `root`: its path and contents.
fn installed_unit(root: &roots::Root, pkg: &str) -> (String, Unit) {
    let files = root.ok(&format!("dpkg -L {pkg}"));
    let path = files
        .lines()
        .find(|l| l.contains("/systemd/system/") && l.ends_with(".service"))
        .unwrap_or_else(|| panic!("{pkg} installs no systemd unit:\n{files}"))
        .to_string();
    let text = std::fs::read_to_string(root.path.join(path.trim_start_matches('/'))).unwrap();
    (path, Unit::parse(&text))
}

/// The script running the .deb's agent as `unit` runs it, on `port`, with the
/// checks of its confinement; `outside_tmp` is a file the root's /tmp has.
fn confined_script(root: &roots::Root, unit: &Unit, port: u16, outside_tmp: &str) -> String {
    let cmd = unit.exec_start();
    let words: Vec<&str> = cmd.split_whitespace().collect();
    // The config the unit names, and the log file it names.
    let config = words
        .iter()
        .skip_while(|w| **w != "--config")
        .nth(1)
        .unwrap_or_else(|| panic!("no --config in ExecStart={cmd}"));
    let config_text = common::read(&root.path.join(config.trim_start_matches('/')));
    let log_file = config_text
        .lines()
        .find_map(|l| l.strip_prefix("log_file:"))
        .unwrap_or_else(|| panic!("no log_file in {config}"))
        .trim()
        .to_string();
    let program = std::path::Path::new(words[0]);
    let install_dir = program.parent().and_then(|p| p.parent()).unwrap();
    let python = install_dir.join("embedded/bin/python3");
    let python = python.to_str().unwrap();
    let parent = |p: &str| {
        std::path::Path::new(p)
            .parent()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let read_only = vec![
        "/".to_string(),
        "/etc".into(),
        parent(config),
        "/opt".into(),
        install_dir.to_string_lossy().into_owned(),
        parent(words[0]),
        "/usr".into(),
        "/var/lib".into(),
        "/var/log".into(),
    ];
    let mut writable = unit.writable();
    writable.push("/tmp".into());
    let mut conf = serde_json::json!({
        "read_only": read_only,
        "writable": writable,
        "hidden": ["/home", "/root"],
        "outside_tmp": outside_tmp,
    });
    let probe = unit.exec(&format!(
        "{python} -c {} {}",
        sh_quote(PROBE),
        sh_quote(&conf.to_string())
    ));
    conf["probe"] = probe.into();
    conf["user"] = unit.user().into();
    conf["log_file"] = log_file.into();
    conf["file_mode"] = format!("0o{:o}", 0o666 & !unit.umask()).into();
    let start = format!(
        "{} > /tmp/agent.out 2>&1 & echo $! > /tmp/agent.pid",
        unit.exec(&format!("{cmd} --port {port}"))
    );
    agent_script(
        &start,
        python,
        port,
        &format!("CONF = {conf}\n{CONFINED_CHECKS}"),
    )
}

/// One architecture's row of the fleet: its Debian name, releases, the
/// tree's achieved glibc floor, its deb and .sh.
type Arch<'a> = (&'static str, &'a [&'a str], String, PathBuf, PathBuf);

/// The tree's achieved floor: from a build's check, or (when the stage was
/// already current) from a check of the staged tree.
fn floor_of(report: &serde_json::Value) -> String {
    let check = if report["check"].is_object() {
        report["check"].clone()
    } else {
        let out = Command::new(common::bin())
            .args(["--json", "check"])
            .arg(report["embedded"].as_str().unwrap())
            .args(["--install-prefix", "/opt/demo-agent/embedded"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = &check["max_glibc"][0];
    format!("{}.{}", v[0], v[1])
}

/// Build the demo (deb and .sh) for `target` into `build`; its fleet row.
fn build_for<'a>(
    build: &Path,
    project: &Path,
    target: &str,
    arch: &'static str,
    releases: &'a [&'a str],
) -> Arch<'a> {
    let report = common::ferrobus_on_json(build, &["build", "--target", target], project);
    (
        arch,
        releases,
        floor_of(&report),
        build.join(format!("dist/demo-agent_0.1.0-1_{arch}.deb")),
        build.join(format!("dist/demo-agent-0.1.0-1.{target}.sh")),
    )
}

/// Install and run the agent in every root of `matrix`; print the table and
/// what the first confined run reproduced; fail on any root where it did not
/// answer.
fn fleet(matrix: &[Arch]) {
    let mut rows = vec![];
    let mut failures = vec![];
    // The first confined run: the unit's path, the unit, what its user saw.
    let mut record: Option<(String, Unit, String)> = None;
    let mut port = 18480;
    for (arch, releases, floor, deb, sh) in matrix {
        for release in releases.iter() {
            for format in ["deb", "sh"] {
                port += 1;
                let root = roots::Root::new_for(release, arch);
                let machine = root.ok("uname -m");
                let want = if *arch == "arm64" {
                    "aarch64"
                } else {
                    "x86_64"
                };
                assert_eq!(machine.trim(), want, "{release} {arch}: uname -m");
                let glibc = root.ok("getconf GNU_LIBC_VERSION").replace("glibc", "");
                let glibc = glibc.trim().to_string();
                if version(&glibc) < version(floor) {
                    rows.push((
                        *arch,
                        *release,
                        glibc,
                        format,
                        "-".into(),
                        "-".into(),
                        format!("not supported: floor {floor}"),
                    ));
                    continue;
                }
                for tool in ["cc", "gcc", "curl", "wget"] {
                    let (has, _) = root.sh(&format!("command -v {tool}"));
                    assert!(!has, "{release} {arch} has {tool}");
                }
                let f = root.put(if format == "deb" { deb } else { sh });
                let install = if format == "deb" {
                    format!("dpkg -i {f}")
                } else {
                    root.ok("useradd -m tester");
                    format!("su -s /bin/sh tester -c 'sh {f} --prefix /home/tester/agent'")
                };
                let t0 = Instant::now();
                let (ok, log) = root.offline(&install);
                let secs = t0.elapsed().as_secs_f64();
                assert!(ok, "{release} {arch} {format}: install failed:\n{log}");
                let t0 = Instant::now();
                let (ok, log) = if format == "deb" {
                    // As the unit the package installed runs it, confined.
                    let (path, unit) = installed_unit(&root, "demo-agent");
                    let (ok, log) = root.confined(&unit, &confined_script(&root, &unit, port, &f));
                    let probe = log.lines().find_map(|l| l.strip_prefix("CONFINED "));
                    if let Some(probe) = probe
                        && record.is_none()
                    {
                        record = Some((path, unit, probe.to_string()));
                    }
                    (ok && probe.is_some(), log)
                } else {
                    root.ok(SH_CONFIG);
                    root.offline(&agent_script(
                        &su_start(
                            "tester",
                            &format!(
                                "/home/tester/agent/current/bin/demo-agent --config /home/tester/agent.yaml --port {port}"
                            ),
                        ),
                        "/home/tester/agent/current/embedded/bin/python3",
                        port,
                        "",
                    ))
                };
                let run_secs = t0.elapsed().as_secs_f64();
                let answered = ok && log.contains("ANSWERED");
                if !answered {
                    failures.push(format!("{release} {arch} {format}:\n{log}"));
                }
                rows.push((
                    *arch,
                    *release,
                    glibc,
                    format,
                    format!("{secs:.2} s"),
                    format!("{run_secs:.2} s"),
                    match (answered, format) {
                        (true, "deb") => "yes, confined as its unit".into(),
                        (true, _) => "yes".into(),
                        _ => "NO".into(),
                    },
                ));
            }
        }
    }
    for (arch, _, floor, _, _) in matrix {
        println!("{arch} tree floor: GLIBC {floor}");
    }
    println!(
        "{:<6} {:<10} {:<6} {:<6} {:>9} {:>9}  answered",
        "arch", "release", "glibc", "format", "install", "run"
    );
    for (c, r, g, f, s, t, a) in &rows {
        println!("{c:<6} {r:<10} {g:<6} {f:<6} {s:>9} {t:>9}  {a}");
    }
    if let Some((path, unit, probe)) = &record {
        println!("{path}, reproduced:");
        for step in unit.reproduced() {
            println!("  {:<28} {}", step.directive, step.what);
        }
        println!("not reproduced:");
        for (directive, why) in unit.not_reproduced() {
            println!("  {directive:<28} {why}");
        }
        println!("as its user, in its namespace: {probe}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_demo_agent_runs_on_every_release() {
    if !roots::can_chroot_or_skip("the fleet test (chroot, unshare)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = common::demo_project(t.path(), &[("formats", "[\"deb\", \"sh\"]")]);
    let build = t.path().join("build");
    fleet(&[build_for(&build, &p, "linux-x86_64", "amd64", RELEASES)]);
}

/// The cross-compiled linux-aarch64 build in arm64 roots (qemu-user), and each
/// architecture's installers refused on the other's machine. Left out of the
/// CI tier (.ci/run): cold, the aarch64 stack and two arm64 roots made by
/// debootstrap under qemu-user take about half an hour more.
#[test]
fn the_aarch64_agent_runs_in_arm64_roots() {
    if !roots::can_chroot_or_skip("the arm64 fleet test (chroot, unshare)")
        || !roots::can_run_arch_or_skip("arm64", "the arm64 fleet test")
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = common::demo_project(t.path(), &[("formats", "[\"deb\", \"sh\"]")]);
    let build = t.path().join("build");
    let arm = build_for(&build, &p, "linux-aarch64", "arm64", ARM64_RELEASES);
    fleet(std::slice::from_ref(&arm));
    let x86 = build_for(&build, &p, "linux-x86_64", "amd64", &["bookworm"]);
    // Both architectures' packages share one dist: each one's payload matches
    // its own SBOM, and the copy beside it is its own
    // (`<name>-<v>-<i>.linux-aarch64.cdx.json` for aarch64).
    let out = Command::new(common::bin())
        .arg("verify")
        .args([&arm.3, &arm.4, &x86.3, &x86.4])
        .output()
        .unwrap();
    let text = common::both(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.matches("the .cdx.json beside it is the same").count(),
        4,
        "{text}"
    );
    assert!(
        build
            .join("dist/demo-agent-0.1.0-1.linux-aarch64.cdx.json")
            .is_file()
    );
    assert!(build.join("dist/demo-agent-0.1.0-1.cdx.json").is_file());
    // Each architecture's installers on the other's machine: the .sh refuses
    // before writing anything, naming both; dpkg refuses the deb.
    wrong_architecture("sid", "arm64", "amd64", &x86.3, &x86.4);
    wrong_architecture("bookworm", "amd64", "arm64", &arm.3, &arm.4);
}

/// Debian's architecture name as `uname -m` says it.
fn uname(deb_arch: &str) -> &str {
    match deb_arch {
        "arm64" => "aarch64",
        "amd64" => "x86_64",
        other => other,
    }
}

/// In a `release` root of `arch`, the installers built for `other` are
/// refused: the .sh (as a user, into a prefix that must stay absent) with a
/// message naming both machines, the deb by dpkg.
fn wrong_architecture(
    release: &str,
    arch: &str,
    other: &str,
    deb: &std::path::Path,
    sh: &std::path::Path,
) {
    let root = roots::Root::new_for(release, arch);
    root.ok("useradd -m tester");
    let f = root.put(sh);
    let (ok, log) = root.offline(&format!(
        "su -s /bin/sh tester -c 'sh {f} --prefix /home/tester/agent'"
    ));
    assert!(!ok, "{release} {arch}: the {other} .sh installed:\n{log}");
    let want = format!(
        "this installer is for {} machines; this one is {}",
        uname(other),
        uname(arch)
    );
    assert!(log.contains(&want), "{release} {arch}: {log}");
    let (exists, _) = root.sh("test -e /home/tester/agent");
    assert!(
        !exists,
        "{release} {arch}: the {other} .sh wrote its prefix"
    );
    let f = root.put(deb);
    let (ok, log) = root.offline(&format!("dpkg -i {f}"));
    assert!(
        !ok,
        "{release} {arch}: dpkg installed the {other} deb:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "package architecture ({other}) does not match system ({arch})"
        )),
        "{release} {arch}: {log}"
    );
    println!("{arch} {release}: the {other} .sh and deb are refused: {want}");
}
