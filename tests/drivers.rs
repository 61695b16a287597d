//! The drivers project (projects/drivers.toml, issue 15) against real servers.
//!
//! Builds the project (zig, glibc floor 2.17: the build's health check must
//! pass), checks its SBOM names every driver library with its license, then
//! installs its .deb in a bullseye and a sid root and, in each, from the
//! installed Python with a clean environment:
//! - `ldd` of every ELF file under the install dir resolves nothing outside it
//!   but the C library's own (`ferrobus::check::SYSTEM_LIBS`);
//! - each probe of `drivers-agent probe` talks to its peer: PostgreSQL over TLS
//!   with `sslmode=verify-full`, slapd over StartTLS, MariaDB over TLS, an
//!   HTTPS server through pycurl (all four started by the test from Debian's
//!   packages, in a network namespace whose only interface is loopback, which
//!   the root's commands join: the roots have no other network), a pyzmq
//!   REQ/REP round trip, a PyNaCl SecretBox, an lxml XSLT transform, gevent
//!   serving and fetching 100 concurrent requests, gssapi naming a principal
//!   and a cffi ABI-mode call. Each prints which libraries (their paths, from
//!   the process's mappings) served the call: every one must be the
//!   install dir's.
//!
//! Needs root (chroot, ip netns), debootstrap and the servers (installed by
//! `scripts/deps`); skipped otherwise, a failure under CI=true.

mod common;
use common::{roots, servers};

use std::path::Path;

const RELEASES: &[&str] = &["bullseye", "sid"];
const INSTALL: &str = "/opt/drivers-agent";

/// The components the project adds to the demo's, each with its license as the
/// SBOM must give it.
const LIBRARIES: &[(&str, &str)] = &[
    ("libpq", "PostgreSQL"),
    ("libxml2", "MIT"),
    ("libxslt", "X11"),
    ("mariadb-connector-c", "LGPL-2.1-or-later"),
    ("openldap", "OLDAP-2.8"),
    ("cyrus-sasl", "BSD-Attribution-HPND-disclaimer"),
    (
        "krb5",
        "BSD-2-Clause AND HPND-export-US AND MIT AND BSD-3-Clause AND BSD-4-Clause",
    ),
    ("libsodium", "ISC"),
    (
        "zeromq",
        "LGPL-3.0-or-later WITH LGPL-3.0-linking-exception",
    ),
    ("nghttp2", "MIT"),
    ("curl", "curl"),
    ("zstd", "BSD-3-Clause"),
];

/// Every `ldd` line of the tree's ELF files (`<file>: <ldd line>`).
const LDD: &str = r#"find /opt/drivers-agent -type f | while read -r f; do
  [ "$(od -An -tx1 -N4 "$f" | tr -d ' ')" = 7f454c46 ] || continue
  ldd "$f" 2>&1 | sed "s|^|$f: |"
done"#;

/// What `ldd` resolved outside the install dir beyond the allowed system
/// libraries, and what it did not find.
fn foreign(ldd: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for line in ldd.lines() {
        let Some((file, rest)) = line.split_once(": ") else {
            continue;
        };
        let rest = rest.trim();
        if rest.contains("not found") {
            bad.push(line.to_string());
            continue;
        }
        if rest.contains("not a dynamic executable") || rest.contains("statically linked") {
            continue;
        }
        let lib = rest.split_whitespace().next().unwrap_or("");
        let lib_name = Path::new(lib)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(lib);
        let resolved = rest
            .split_once("=> ")
            .map(|(_, r)| r.split(" (").next().unwrap_or("").trim())
            .unwrap_or(lib);
        let inside = resolved.starts_with(&format!("{INSTALL}/"));
        if !inside && !ferrobus::check::SYSTEM_LIBS.contains(&lib_name) {
            bad.push(format!("{file}: {lib} => {resolved}"));
        }
    }
    bad
}

/// The probes to run: (name, settings, what the line must show was used).
fn probes(s: &servers::Servers) -> Vec<(&'static str, Vec<String>, Vec<String>)> {
    let lib = |l: &str| format!("{INSTALL}/embedded/lib/{l}");
    let ca = "ca=/tmp/ca.crt".to_string();
    vec![
        (
            "psycopg2",
            vec![
                "host=127.0.0.1".into(),
                format!("port={}", s.pg_port),
                "user=agent".into(),
                ca.clone(),
            ],
            vec![lib("libpq.so"), lib("libssl.so"), "verify-full".into()],
        ),
        (
            "ldap",
            vec![
                format!("uri=ldap://127.0.0.1:{}", s.ldap_port),
                format!("binddn={}", s.ldap_bind.0),
                format!("password={}", s.ldap_bind.1),
                format!("base={}", s.ldap_base),
                ca.clone(),
            ],
            vec![lib("libldap"), lib("libssl.so"), "StartTLS".into()],
        ),
        (
            "mysqlclient",
            vec![
                "host=127.0.0.1".into(),
                format!("port={}", s.mariadb_port),
                "user=agent".into(),
                format!("password={}", s.mariadb_password),
                ca.clone(),
            ],
            vec![lib("libmariadb.so"), lib("libssl.so"), "TLSv1".into()],
        ),
        (
            "pycurl",
            vec![format!("url=https://127.0.0.1:{}/", s.https_port), ca],
            vec![lib("libcurl.so"), lib("libssl.so"), "OpenSSL/3".into()],
        ),
        ("pyzmq", vec![], vec![lib("libzmq.so")]),
        ("pynacl", vec![], vec![lib("libsodium.so")]),
        ("lxml", vec![], vec![lib("libxslt.so"), lib("libxml2.so")]),
        (
            "gevent",
            vec!["n=100".into()],
            vec![lib("python3"), "100 concurrent".into()],
        ),
        ("gssapi", vec![], vec![lib("libgssapi_krb5.so")]),
        (
            "cffi",
            vec![],
            vec![lib("libffi.so"), "_cffi_backend".into()],
        ),
    ]
}

/// The files after "served by" in a probe's line.
fn served(line: &str) -> Vec<&str> {
    line.rsplit_once("served by ")
        .map(|(_, l)| l.split(", ").map(str::trim).collect())
        .unwrap_or_default()
}

#[test]
fn drivers_talk_to_real_servers_in_bullseye_and_sid() {
    if !roots::can_chroot_or_skip("the drivers test (chroot, ip netns)") {
        return;
    }
    if !common::have("debootstrap") {
        common::skip("debootstrap", "apt-get install debootstrap");
        return;
    }
    if let Some((tool, pkg)) = servers::missing() {
        common::skip(
            &format!("{tool} (the drivers test's servers)"),
            &format!("apt-get install {pkg}, or sh scripts/deps"),
        );
        return;
    }
    let build = common::fresh_tmp("drivers", "build");
    let project = common::repo().join("projects/drivers.toml");
    let started = std::time::Instant::now();
    let report = common::ferrobus_on_json(&build, &["build"], &project);
    eprintln!(
        "drivers-agent built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // What each unit took (cold on a fresh cache; restored from it otherwise).
    for c in report["components"].as_array().unwrap() {
        eprintln!(
            "  component {:<20} {:<12} {:>6.1} s",
            c["name"].as_str().unwrap(),
            c["outcome"].as_str().unwrap_or("?"),
            c["seconds"].as_f64().unwrap()
        );
    }
    for u in report["app"]["units"].as_array().unwrap() {
        eprintln!(
            "  wheel     {:<20} {:<12} {:>6.1} s",
            u["name"].as_str().unwrap(),
            if u["built"] == true {
                "built"
            } else {
                "cached"
            },
            u["seconds"].as_f64().unwrap()
        );
    }
    // The health check's report: nothing wrong, nothing above glibc 2.17.
    let check = &report["check"];
    assert_eq!(check["problems"], serde_json::json!([]), "{check:#}");
    assert_eq!(check["glibc_floor"], serde_json::json!([2, 17, 0]));
    let highest: Vec<u64> = check["max_glibc"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(highest <= vec![2, 17, 0], "{}", check["max_glibc"]);

    // The SBOM: every driver library, with its license.
    let sbom: serde_json::Value = serde_json::from_str(&common::read(
        &build.join("dist/drivers-agent-0.1.0-1.cdx.json"),
    ))
    .unwrap();
    let comps = sbom["components"].as_array().unwrap();
    for (name, license) in LIBRARIES {
        let c = comps
            .iter()
            .find(|c| c["name"] == *name)
            .unwrap_or_else(|| panic!("{name} is not in the SBOM"));
        let lic = c["licenses"].to_string();
        assert!(
            lic.contains(&format!("\"{license}\"")),
            "{name}'s license in the SBOM is {lic}, expected {license}"
        );
    }

    let pki_dir = common::fresh_tmp("drivers", "pki");
    let pki = common::pki::test_pki(&pki_dir);
    let s = servers::start(&common::fresh_tmp("drivers", "servers"), &pki);
    let deb = build.join("dist/drivers-agent_0.1.0-1_amd64.deb");
    let mut failures = Vec::new();
    for release in RELEASES {
        let root = roots::Root::new(release);
        let deb_in = root.put(&deb);
        root.put(&pki[0]);
        root.ok(&format!("dpkg -i {deb_in}"));

        let (ok, ldd) = s.ns.chroot(&root.path, LDD);
        assert!(ok, "{release}: ldd over the tree failed:\n{ldd}");
        let bad = foreign(&ldd);
        assert!(
            bad.is_empty(),
            "{release}: libraries from outside {INSTALL}:\n{}",
            bad.join("\n")
        );
        eprintln!(
            "{release}: ldd: {} ELF files resolve inside {INSTALL} (or the C library)",
            ldd.lines()
                .filter_map(|l| l.split_once(": ").map(|p| p.0))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );

        for (name, settings, expect) in probes(&s) {
            let script = format!(
                "{INSTALL}/bin/drivers-agent probe {name} {}",
                settings
                    .iter()
                    .map(|a| common::unit::sh_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let (ok, out) = s.ns.chroot(&root.path, &script);
            let line = out.trim();
            println!("{release} {line}");
            if !ok {
                failures.push(format!("{release} {name}: {line}"));
                continue;
            }
            for e in &expect {
                if !line.contains(e.as_str()) {
                    failures.push(format!("{release} {name}: no {e} in: {line}"));
                }
            }
            for f in served(line) {
                if !f.starts_with(&format!("{INSTALL}/")) {
                    failures.push(format!(
                        "{release} {name}: served by {f}, outside {INSTALL}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
