//! The fleet test: the demo agent's .deb and .sh in Debian roots of several
//! releases (debootstrap minbase, cached; no compiler in them), each run in its own
//! network namespace with only loopback, so nothing can be downloaded. In each
//! root the agent runs as its user and answers /status and /metrics on
//! 127.0.0.1. Prints a table: release, glibc, format, install time, answered.
//! A release whose glibc is older than the tree's achieved floor is reported as
//! such and not run. Needs root (chroot, unshare); reported as skipped otherwise
//! (a failure under CI=true).

mod common;
use common::roots;

use std::process::Command;
use std::time::Instant;

const RELEASES: &[&str] = &["bullseye", "bookworm", "trixie", "sid"];

/// The config the .sh installed, with a log file its user may write.
const SH_CONFIG: &str = "sed 's#^log_file:.*#log_file: /home/tester/agent.log#' \
    /home/tester/agent/etc/demo-agent/agent.yaml > /home/tester/agent.yaml";

/// `x.y` as a comparable pair.
fn version(v: &str) -> (u32, u32) {
    let mut it = v.trim().split('.').map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Start the agent as `user` with `cmd`, wait for /status, fetch /status and
/// /metrics with the embedded Python, stop it with SIGTERM and check it exits.
fn agent_script(user: &str, cmd: &str, python: &str, port: u16) -> String {
    format!(
        r#"set -e
su -s /bin/sh {user} -c '{cmd} > /tmp/agent.out 2>&1 & echo $! > /tmp/agent.pid'
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

#[test]
fn the_demo_agent_runs_on_every_release() {
    if !roots::can_chroot_or_skip("the fleet test (chroot, unshare)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let p = common::demo_project(t.path(), &[("formats", "[\"deb\", \"sh\"]")]);
    let build = t.path().join("build");
    let report = common::ferrobus_on_json(&build, &["build"], &p);
    // The tree's achieved floor: from this build's check, or (when the stage was
    // already current) from a check of the staged tree.
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
    let floor = format!("{}.{}", v[0], v[1]);
    let deb = build.join("dist/demo-agent_0.1.0-1_amd64.deb");
    let sh = build.join("dist/demo-agent-0.1.0-1.linux-x86_64.sh");
    let mut rows = vec![];
    let mut failures = vec![];
    for (i, release) in RELEASES.iter().enumerate() {
        for format in ["deb", "sh"] {
            let root = roots::Root::new(release);
            let glibc = root.ok("getconf GNU_LIBC_VERSION").replace("glibc", "");
            let glibc = glibc.trim().to_string();
            if version(&glibc) < version(&floor) {
                rows.push((
                    release,
                    glibc,
                    format,
                    "-".into(),
                    format!("not supported: floor {floor}"),
                ));
                continue;
            }
            for tool in ["cc", "gcc", "curl", "wget"] {
                let (has, _) = root.sh(&format!("command -v {tool}"));
                assert!(!has, "{release} has {tool}");
            }
            let port = 18480 + (i as u16) * 2 + u16::from(format == "sh");
            let (install, run) = if format == "deb" {
                let f = root.put(&deb);
                (
                    format!("dpkg -i {f}"),
                    agent_script(
                        "demo-agent",
                        &format!("/opt/demo-agent/bin/demo-agent --port {port}"),
                        "/opt/demo-agent/embedded/bin/python3",
                        port,
                    ),
                )
            } else {
                let f = root.put(&sh);
                root.ok("useradd -m tester");

                (
                    format!("su -s /bin/sh tester -c 'sh {f} --prefix /home/tester/agent'"),
                    agent_script(
                        "tester",
                        &format!(
                            "/home/tester/agent/current/bin/demo-agent --config /home/tester/agent.yaml --port {port}"
                        ),
                        "/home/tester/agent/current/embedded/bin/python3",
                        port,
                    ),
                )
            };
            let t0 = Instant::now();
            let (ok, log) = root.offline(&install);
            let secs = t0.elapsed().as_secs_f64();
            assert!(ok, "{release} {format}: install failed:\n{log}");
            if format == "sh" {
                root.ok(SH_CONFIG);
            }
            let (ok, log) = root.offline(&run);
            let answered = ok && log.contains("ANSWERED");
            if !answered {
                failures.push(format!("{release} {format}:\n{log}"));
            }
            rows.push((
                release,
                glibc,
                format,
                format!("{secs:.2} s"),
                if answered { "yes".into() } else { "NO".into() },
            ));
        }
    }
    println!("tree floor: GLIBC {floor}");
    println!(
        "{:<10} {:<6} {:<6} {:>9}  answered",
        "release", "glibc", "format", "install"
    );
    for (r, g, f, s, a) in &rows {
        println!("{r:<10} {g:<6} {f:<6} {s:>9}  {a}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
