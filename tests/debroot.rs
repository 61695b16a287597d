//! The demo project's deb in a real Debian root (debootstrap, chroot): dpkg runs
//! the maintainer scripts; the embedded Python runs; the service user and unit
//! exist; an edited conffile survives an upgrade; remove and purge behave as
//! Debian policy says. Needs root (chroot); reported as skipped otherwise (a
//! failure under CI=true).

mod common;
use common::roots;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The demo project with the deb and sh formats at `version`; `extra_config`
/// is appended to its config default.
fn project(dir: &Path, version: &str, extra_config: &str) -> PathBuf {
    let p = common::demo_project(
        dir,
        &[
            ("version", &format!("\"{version}\"")),
            ("formats", "[\"deb\", \"sh\"]"),
        ],
    );
    let conf = dir.join("agent.yaml");
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(&conf, format!("{text}{extra_config}")).unwrap();
    p
}

#[test]
fn demo_deb_installs_upgrades_and_purges_in_a_debian_root() {
    if !roots::can_chroot_or_skip("installing into a Debian root (chroot)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let build = t.path().join("build");
    // v1 and v2 are built (from the cache when warm); v2 differs in version
    // (recorded in the tree's version manifest) and in its config default.
    let v1 = project(&t.path().join("v1"), "0.1.0", "");
    let v2 = project(&t.path().join("v2"), "0.1.1", "extra: true\n");
    common::ferrobus_on_ok(&build, &["build"], &v1);
    let deb1 = build.join("dist/demo-agent_0.1.0-1_amd64.deb");
    assert!(deb1.is_file());
    let kept = t.path().join("demo-agent_0.1.0-1_amd64.deb");
    fs::copy(&deb1, &kept).unwrap();
    common::ferrobus_on_ok(&build, &["build"], &v2);
    let deb2 = build.join("dist/demo-agent_0.1.1-1_amd64.deb");

    let root = roots::Root::new("bookworm");
    let (p1, p2) = (root.put(&kept), root.put(&deb2));
    let t0 = Instant::now();
    root.ok(&format!("dpkg -i {p1}"));
    eprintln!(
        "dpkg -i of the demo deb: {:.2} s",
        t0.elapsed().as_secs_f64()
    );

    // The embedded Python runs inside the root, with its own OpenSSL.
    let out = root.ok("/opt/demo-agent/embedded/bin/python3 -c \
         'import ssl, sqlite3, lzma, ctypes, uuid; print(ssl.OPENSSL_VERSION)'");
    assert!(out.starts_with("OpenSSL 3."), "{out}");
    // Its bytecode is valid as shipped: importing the stdlib writes nothing into
    // the install dir.
    root.ok("touch /tmp/marker && sleep 1");
    root.ok(
        "/opt/demo-agent/embedded/bin/python3 -c \
         'import json, asyncio, email.mime.text, http.server, logging.handlers, xml.dom.minidom, decimal'",
    );
    let written = root.ok("find /opt/demo-agent -newer /tmp/marker");
    assert_eq!(written, "", "the target wrote into the install dir");
    // The service user, its home, the unit, enabled for multi-user.target.
    let pw = root.ok("getent passwd demo-agent");
    assert!(
        pw.contains(":/var/lib/demo-agent:/usr/sbin/nologin"),
        "{pw}"
    );
    let home = root.ok("stat -c '%U %a' /var/lib/demo-agent");
    assert_eq!(home.trim(), "demo-agent 750");
    let unit = fs::read_to_string(root.path.join("lib/systemd/system/demo-agent.service")).unwrap();
    assert!(
        unit.contains(
            "ExecStart=/opt/demo-agent/bin/demo-agent --config /etc/demo-agent/agent.yaml\n"
        ),
        "{unit}"
    );
    assert!(
        root.path
            .join("etc/systemd/system/multi-user.target.wants/demo-agent.service")
            .symlink_metadata()
            .is_ok(),
        "the unit is not enabled"
    );

    // Edit the config, upgrade: the edit stays, the new default lands beside it.
    root.ok("echo 'port: 9999  # edited' >> /etc/demo-agent/agent.yaml");
    root.ok(&format!("dpkg --force-confdef --force-confold -i {p2}"));
    let version = root.ok("dpkg-query -W -f '${Version}' demo-agent");
    assert_eq!(version, "0.1.1-1");
    let conf = fs::read_to_string(root.path.join("etc/demo-agent/agent.yaml")).unwrap();
    assert!(
        conf.contains("# edited") && !conf.contains("extra: true"),
        "{conf}"
    );
    let dist = fs::read_to_string(root.path.join("etc/demo-agent/agent.yaml.dpkg-dist")).unwrap();
    assert!(dist.contains("extra: true"), "{dist}");
    root.ok("/opt/demo-agent/embedded/bin/python3 -c 'import ssl'");

    // Remove: the program goes, conffiles, the user and its state stay.
    root.ok("dpkg -r demo-agent");
    assert!(
        !root
            .path
            .join("opt/demo-agent/embedded/bin/python3")
            .exists()
    );
    assert!(
        !root
            .path
            .join("lib/systemd/system/demo-agent.service")
            .exists()
    );
    assert!(root.path.join("etc/demo-agent/agent.yaml").is_file());
    let status = root.ok("dpkg-query -W -f '${Status}' demo-agent");
    assert_eq!(status, "deinstall ok config-files");
    root.ok("getent passwd demo-agent");

    // Purge: conffiles and state go; the system user stays (policy 9.2).
    root.ok("dpkg --purge demo-agent");
    assert!(!root.path.join("etc/demo-agent/agent.yaml").exists());
    assert!(
        !root
            .path
            .join("etc/demo-agent/agent.yaml.dpkg-dist")
            .exists()
    );
    assert!(!root.path.join("var/lib/demo-agent").exists());
    assert!(
        root.path
            .join("etc/systemd/system/multi-user.target.wants/demo-agent.service")
            .symlink_metadata()
            .is_err()
    );
    let (installed, _) = root.sh("dpkg-query -W demo-agent");
    assert!(!installed);
    root.ok("getent passwd demo-agent");
    assert!(
        !root.path.join("opt/demo-agent").exists(),
        "install dir left behind"
    );

    // The .sh, as a user who is not root, into a prefix in its home: the tree
    // runs from a place other than the one it was built for.
    let sh = root.put(&build.join("dist/demo-agent-0.1.0-1.linux-x86_64.sh"));
    root.ok(&format!("useradd -m tester && chmod 644 {sh}"));
    let t0 = Instant::now();
    root.ok(&format!(
        "su -s /bin/sh tester -c 'sh {sh} --prefix $HOME/x'"
    ));
    eprintln!(
        "sh install of the demo: {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let out = root.ok(
        "su -s /bin/sh tester -c '$HOME/x/current/embedded/bin/python3 -c \
         \"import ssl, sqlite3, sys; print(sys.prefix); print(ssl.OPENSSL_VERSION)\"'",
    );
    assert!(
        out.starts_with("/home/tester/x/current/embedded\nOpenSSL 3."),
        "{out}"
    );
    let conf = root.ok("cat /home/tester/x/etc/demo-agent/agent.yaml");
    assert!(conf.contains("port: 8470"), "{conf}");
}
