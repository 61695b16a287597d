//! TLS that verifies on a target (issue 13): the demo's .deb (as root) and .sh
//! (as a non-root user, in its own prefix) in a Debian root of every fleet
//! release, with nothing inherited from this machine's environment (the roots
//! run with `PATH` alone: no `SSL_CERT_FILE`, `SSL_CERT_DIR`, ...), offline.
//! In each:
//! - the installed Python's default context holds more than 100 CA roots, from
//!   the system store and, with that store moved away, from the shipped bundle;
//! - an HTTPS request to a server on 127.0.0.1 whose certificate a test CA
//!   signed fails verification, then succeeds once the CA is added to the
//!   root's system store with `update-ca-certificates`;
//! - `FERROBUS_TRUST=bundled` ignores the system store, and `SSL_CERT_FILE`
//!   set by the operator wins over everything.
//!
//! Prints a table. Needs root (chroot, unshare) and openssl; skipped otherwise
//! (a failure under CI=true).

mod common;
use common::roots;

use std::fs;

const RELEASES: &[&str] = &["bullseye", "bookworm", "trixie", "sid"];

/// An HTTPS server on 127.0.0.1:$1 with the test CA's server certificate.
const SERVER: &str = r#"import http.server, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/tmp/server.pem", "/tmp/server.key")
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

/// Prints `CA <n>` (the default context's CA count) and `TLS ok` or
/// `TLS verify-failed <reason>` for a request to 127.0.0.1:$1.
const CLIENT: &str = r#"import ssl, sys, time, urllib.error, urllib.request
print("CA", ssl.create_default_context().cert_store_stats()["x509_ca"])
for _ in range(100):
    try:
        urllib.request.urlopen("https://127.0.0.1:%s/" % sys.argv[1], timeout=5).read()
        print("TLS ok")
        break
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLCertVerificationError):
            print("TLS verify-failed", e.reason.verify_message)
            break
        if not isinstance(e.reason, ConnectionRefusedError):
            raise
        time.sleep(0.1)
else:
    raise SystemExit("the TLS server never answered")
"#;

/// What the client printed: (CA count, TLS outcome).
fn outcome(log: &str, label: &str) -> (u64, String) {
    let ca = log
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label} CA ")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no CA count for {label}:\n{log}"));
    let tls = log
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label} TLS ")))
        .unwrap_or_else(|| panic!("no TLS outcome for {label}:\n{log}"))
        .to_string();
    (ca, tls)
}

#[test]
fn tls_verifies_with_the_system_store_and_the_shipped_bundle() {
    if !roots::can_chroot_or_skip("the trust test (chroot, unshare)") {
        return;
    }
    if !common::have("openssl") {
        common::skip("openssl", "apt-get install openssl");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let pki = common::pki::test_pki(t.path());
    let p = common::demo_project(t.path(), &[("formats", "[\"deb\", \"sh\"]")]);
    let build = t.path().join("build");
    common::ferrobus_on_json(&build, &["build"], &p);
    let deb = build.join("dist/demo-agent_0.1.0-1_amd64.deb");
    let sh = build.join("dist/demo-agent-0.1.0-1.linux-x86_64.sh");
    let mut rows = vec![];
    let mut failures = vec![];
    for (i, release) in RELEASES.iter().enumerate() {
        for format in ["deb", "sh"] {
            let root = roots::Root::new(release);
            for f in &pki {
                root.put(f);
            }
            fs::write(root.path.join("tmp/server.py"), SERVER).unwrap();
            fs::write(root.path.join("tmp/client.py"), CLIENT).unwrap();
            let (install, user, python) = if format == "deb" {
                let f = root.put(&deb);
                (
                    format!("dpkg -i {f}"),
                    "root",
                    "/opt/demo-agent/embedded/bin/python3",
                )
            } else {
                let f = root.put(&sh);
                root.ok("useradd -m tester");
                (
                    format!("su -s /bin/sh tester -c 'sh {f} --prefix /home/tester/agent'"),
                    "tester",
                    "/home/tester/agent/current/embedded/bin/python3",
                )
            };
            let (ok, log) = root.offline(&install);
            assert!(ok, "{release} {format}: install failed:\n{log}");
            let port = 18580 + (i as u16) * 2 + u16::from(format == "sh");
            // Each client run is labelled; the environment is the root's
            // (PATH only) plus what the line sets.
            let client = |label: &str, env: &str| {
                format!(
                    "su -s /bin/sh {user} -c '{env} {python} /tmp/client.py {port}' | sed 's/^/{label} /'\n"
                )
            };
            let script = format!(
                "set -e\n{python} /tmp/server.py {port} 2>/dev/null &\nserver=$!\n\
                 {}\
                 cp /tmp/ca.crt /usr/local/share/ca-certificates/ferrobus-test-ca.crt\n\
                 update-ca-certificates >/dev/null 2>&1\n\
                 {}{}{}\
                 mv /etc/ssl/certs /etc/ssl/certs.away\n\
                 {}\
                 kill $server\n",
                client("plain", "env"),
                client("added", "env"),
                client("bundled", "env FERROBUS_TRUST=bundled"),
                client("operator", "env SSL_CERT_FILE=/tmp/ca.crt"),
                client("nostore", "env"),
            );
            let (ok, log) = root.offline(&script);
            if !ok {
                failures.push(format!("{release} {format}: the script failed:\n{log}"));
                continue;
            }
            let plain = outcome(&log, "plain");
            let added = outcome(&log, "added");
            let bundled = outcome(&log, "bundled");
            let operator = outcome(&log, "operator");
            let nostore = outcome(&log, "nostore");
            let mut problems = vec![];
            if plain.0 <= 100 || nostore.0 <= 100 || bundled.0 <= 100 {
                problems.push("100 CA roots or fewer");
            }
            if !plain.1.starts_with("verify-failed") {
                problems.push("a CA nobody installed was trusted");
            }
            if added.1 != "ok" || added.0 != plain.0 + 1 {
                problems.push("the CA added to the system store was not trusted");
            }
            if !bundled.1.starts_with("verify-failed") || bundled.0 != nostore.0 {
                problems.push("FERROBUS_TRUST=bundled did not use the shipped bundle alone");
            }
            if operator != (1, "ok".into()) {
                problems.push("SSL_CERT_FILE set by the operator was not used alone");
            }
            if !nostore.1.starts_with("verify-failed") {
                problems.push("without a system store the test CA was still trusted");
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{release} {format}: {}:\n{log}",
                    problems.join("; ")
                ));
            }
            rows.push((release, format, plain, added, nostore));
        }
    }
    println!(
        "{:<10} {:<6} {:>9} {:<28} {:>9} {:<6} {:>9}",
        "release", "format", "system CA", "test CA not in store", "+test CA", "", "shipped"
    );
    for (r, f, plain, added, nostore) in &rows {
        println!(
            "{r:<10} {f:<6} {:>9} {:<28} {:>9} {:<6} {:>9}",
            plain.0,
            plain.1.chars().take(28).collect::<String>(),
            added.0,
            added.1,
            nostore.0
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
