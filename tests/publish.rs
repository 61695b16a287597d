//! `ferrobus publish`: signed apt and yum repositories read by the real
//! clients. The repository is served by a real HTTP server on 127.0.0.1
//! (Python's `http.server`); apt runs in a Debian root (bookworm, `signed-by`
//! keyrings), dnf is Debian's dnf 4 on the host with `gpgcheck=1` and
//! `repo_gpgcheck=1` in an install root of its own. Keys are made by gpg.
//! Needs root (chroot) and dnf; reported as skipped otherwise (a failure under
//! CI=true).

mod common;
use common::roots;

use ferrobus::publish::{self, apt::Suite, openpgp::RepoKey};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A static file server of `dir` on 127.0.0.1 (Python's http.server).
struct Http {
    child: Child,
    port: u16,
}

impl Http {
    fn start(dir: &Path) -> Http {
        let port = common::free_port();
        let mut child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Http { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("http.server did not start");
    }
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when this test can run here (root for chroot, dnf); otherwise skipped.
fn can_run() -> bool {
    if !roots::can_chroot_or_skip("apt clients in a Debian root (chroot)") {
        return false;
    }
    if !common::have("dnf") {
        common::skip("dnf is not installed", "run scripts/deps (Debian's dnf)");
        return false;
    }
    true
}

/// The tiny package at `version`, deb and rpm, signed with `key`.
fn tiny(dir: &Path, version: &str, key: &Path) -> Vec<PathBuf> {
    tiny_as(dir, version, key, &["deb", "rpm"])
}

/// The tiny package at `version` in `formats`, signed with `key`.
fn tiny_as(dir: &Path, version: &str, key: &Path, formats: &[&str]) -> Vec<PathBuf> {
    let root = dir.join(format!("stage-{version}"));
    common::stage_tiny(&root, &format!("hello {version}"), false);
    let mut meta = common::tiny_meta(version, "greeting = hello\n");
    meta.signing = Some(ferrobus::package::sign::SigningKey::load(key, None).unwrap());
    let dist = dir.join(format!("dist-{version}"));
    let formats: Vec<String> = formats.iter().map(|f| f.to_string()).collect();
    common::package_all(&root, &meta, &formats, &dist, version).unwrap()
}

/// Publish settings for the repository `repo`, signed by `keys`, at `now`.
fn settings(repo: &Path, keys: &[&Path], now: u64) -> publish::Settings {
    publish::Settings {
        repo: repo.to_path_buf(),
        suite: Suite {
            suite: "stable".into(),
            component: "main".into(),
            origin: "tiny".into(),
            label: "tiny".into(),
        },
        keys: keys
            .iter()
            .map(|k| RepoKey::load(k, None).unwrap())
            .collect(),
        now,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Point the root's apt at the repository only, trusting `keyring`.
fn apt_source(root: &roots::Root, http: &Http, keyring: &Path) {
    let _ = fs::remove_file(root.path.join("etc/apt/sources.list"));
    let dir = root.path.join("etc/apt/keyrings");
    fs::create_dir_all(&dir).unwrap();
    let ext = keyring.extension().unwrap().to_string_lossy().to_string();
    fs::copy(keyring, dir.join(format!("repo.{ext}"))).unwrap();
    fs::write(
        root.path.join("etc/apt/sources.list.d/repo.list"),
        format!(
            "deb [signed-by=/etc/apt/keyrings/repo.{ext}] {} stable main\n",
            http.url("deb")
        ),
    )
    .unwrap();
    root.ok("rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/apt/lists/partial");
}

/// dnf on the host in an install root of its own under `dir`, reading only
/// the repository with both checks on and trusting the key at `gpgkey`.
fn dnf(dir: &Path, http: &Http, gpgkey: &str, args: &[&str]) -> (bool, String) {
    let repos = dir.join("repos");
    fs::create_dir_all(&repos).unwrap();
    fs::write(
        repos.join("repo.repo"),
        format!(
            "[repo]\nname=repo\nbaseurl={}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={gpgkey}\nmetadata_expire=0\nskip_if_unavailable=0\n",
            http.url("rpm")
        ),
    )
    .unwrap();
    let out = Command::new("dnf")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", dir)
        .arg("-y")
        .arg(format!("--installroot={}", dir.join("root").display()))
        .arg(format!("--setopt=reposdir={}", repos.display()))
        .arg(format!("--setopt=cachedir={}", dir.join("cache").display()))
        .args(["--releasever=1", "--setopt=install_weak_deps=0"])
        // Debian's dnf-plugins-core adds a local repository of its own.
        .arg("--disableplugin=local")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (out.status.success(), common::both(&out))
}

#[test]
fn two_keys_idempotence_expiry_and_bad_input() {
    if !can_run() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (_home, keys) = common::gpg_keys(t.path(), &["old", "new"]);
    let (old, new) = (&keys[0].0, &keys[1].0);
    let repo = t.path().join("repo");
    let pkgs = tiny(t.path(), "1.0", old);
    let r = publish::publish(&pkgs, &settings(&repo, &[old, new], now())).unwrap();
    assert!(r.apt.as_ref().unwrap().indexed && r.yum.as_ref().unwrap().indexed);
    let fprs: Vec<String> = r.keys.iter().map(|k| k.fingerprint.clone()).collect();
    let http = Http::start(&repo);

    // apt: a client trusting only the old key, one trusting only the new one.
    let root = roots::Root::new("bookworm");
    for (i, f) in fprs.iter().enumerate() {
        apt_source(&root, &http, &repo.join(format!("keys/{f}.gpg")));
        let out = root.ok("apt-get update 2>&1");
        assert!(!out.contains("W:") && !out.contains("E:"), "key {i}: {out}");
        root.ok(
            "apt-get install -y tiny && /opt/tiny/embedded/bin/hello && apt-get remove -y tiny",
        );
    }
    // A client trusting neither refuses the repository.
    let (_, stranger) = common::gpg_keys(&t.path().join("stranger"), &["stranger"]);
    let stranger_pub = t.path().join("stranger.asc");
    fs::copy(&stranger[0].1, &stranger_pub).unwrap();
    apt_source(&root, &http, &stranger_pub);
    let (ok, out) = root.sh("apt-get update 2>&1");
    assert!(
        !ok || out.contains("NO_PUBKEY") || out.contains("not signed"),
        "{out}"
    );
    assert!(out.contains("NO_PUBKEY"), "{out}");

    // dnf: the same, with the armoured keys.
    for (i, f) in fprs.iter().enumerate() {
        let d = t.path().join(format!("dnf-{i}"));
        let key = http.url(&format!("keys/{f}.asc"));
        let (ok, out) = dnf(&d, &http, &key, &["makecache"]);
        assert!(ok, "dnf with key {i}: {out}");
        let (ok, out) = dnf(&d, &http, &key, &["list", "--showduplicates", "tiny"]);
        assert!(ok && out.contains("1.0-1"), "{out}");
    }

    // Publishing the same again changes nothing, not even the date.
    let inrelease = fs::read(repo.join("deb/dists/stable/InRelease")).unwrap();
    let repomd = fs::read(repo.join("rpm/repodata/repomd.xml")).unwrap();
    let r = publish::publish(&pkgs, &settings(&repo, &[old, new], now() + 60)).unwrap();
    assert!(!r.apt.unwrap().indexed && !r.yum.unwrap().indexed);
    assert_eq!(
        fs::read(repo.join("deb/dists/stable/InRelease")).unwrap(),
        inrelease
    );
    assert_eq!(
        fs::read(repo.join("rpm/repodata/repomd.xml")).unwrap(),
        repomd
    );

    // Bad input, each refused with the file named and the repository intact:
    // an rpm signed by no repository key, another file under a published name.
    let (_, other) = common::gpg_keys(&t.path().join("other"), &["other"]);
    let foreign = tiny(&t.path().join("foreign"), "1.1", &other[0].0);
    let e = publish::publish(&foreign, &settings(&repo, &[old, new], now()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tiny-1.1-1.x86_64.rpm") && e.contains("not signed"),
        "{e}"
    );
    let changed = {
        let dir = t.path().join("changed");
        common::stage_tiny(&dir.join("stage"), "hello changed", false);
        let mut meta = common::tiny_meta("1.0", "greeting = changed\n");
        meta.signing = Some(ferrobus::package::sign::SigningKey::load(new, None).unwrap());
        let deb = ["deb".to_string()];
        common::package_all(&dir.join("stage"), &meta, &deb, &dir.join("dist"), "c").unwrap()
    };
    let e = publish::publish(&changed, &settings(&repo, &[old, new], now()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tiny_1.0-1_amd64.deb") && e.contains("never changes"),
        "{e}"
    );
    assert_eq!(
        fs::read(repo.join("deb/dists/stable/InRelease")).unwrap(),
        inrelease
    );

    // A key that expires within 30 days warns; an expired one is refused.
    let soon = gpg_key_expiring(t.path(), "soon", "10d");
    let r = publish::publish(&pkgs, &settings(&repo, &[old, &soon], now())).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("expires") && (w.contains("in 9 days") || w.contains("in 10 days"))),
        "{:?}",
        r.warnings
    );
    let gone = gpg_key_expiring(t.path(), "gone", "seconds=1");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let e = publish::publish(&pkgs, &settings(&repo, &[old, &gone], now()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("expired"), "{e}");
}

/// A gpg key (secret, armoured) that expires after `expire` (gpg's syntax).
fn gpg_key_expiring(dir: &Path, name: &str, expire: &str) -> PathBuf {
    let home = dir.join(format!("gnupg-{name}"));
    fs::create_dir_all(&home).unwrap();
    fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        common::run(
            Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args),
        )
        .stdout
    };
    let uid = format!("{name} <{name}@ferrobus.invalid>");
    gpg(&["--quick-gen-key", &uid, "ed25519", "sign", expire]);
    let sec = dir.join(format!("{name}.sec.asc"));
    fs::write(&sec, gpg(&["--armor", "--export-secret-keys", &uid])).unwrap();
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "gpg-agent"])
        .status();
    sec
}

#[test]
fn apt_update_in_a_loop_never_sees_a_mix_while_versions_are_published() {
    if !can_run() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (_home, keys) = common::gpg_keys(t.path(), &["repo"]);
    let key = &keys[0].0;
    let repo = t.path().join("repo");
    let versions: Vec<String> = (0..24).map(|i| format!("1.{i}")).collect();
    let pkgs: Vec<Vec<PathBuf>> = versions
        .iter()
        .map(|v| tiny_as(t.path(), v, key, &["deb"]))
        .collect();
    let r = publish::publish(&pkgs[0], &settings(&repo, &[key], now())).unwrap();
    let http = Http::start(&repo);
    let root = roots::Root::new("bookworm");
    let fpr = &r.keys[0].fingerprint;
    apt_source(&root, &http, &repo.join(format!("keys/{fpr}.gpg")));
    root.ok("apt-get update");

    // The client: apt-get update every 50 ms, 200 times (bounded), recording
    // every failure; meanwhile a new version is published every 300 ms.
    let rootdir = root.path.clone();
    let client = std::thread::spawn(move || {
        Command::new("chroot")
            .arg(&rootdir)
            .args([
                "/bin/sh",
                "-c",
                "fails=0; for i in $(seq 200); do \
                   if ! apt-get update -qq >/tmp/u.log 2>&1 || grep -q . /tmp/u.log; then \
                     fails=$((fails+1)); cat /tmp/u.log; fi; sleep 0.05; done; \
                 echo \"updates: 200, failed: $fails\"",
            ])
            .output()
            .unwrap()
    });
    let mut published = 1;
    while !client.is_finished() && published < pkgs.len() {
        std::thread::sleep(std::time::Duration::from_millis(300));
        publish::publish(&pkgs[published], &settings(&repo, &[key], now())).unwrap();
        published += 1;
    }
    let out = client.join().unwrap();
    let text = common::both(&out);
    eprintln!(
        "{published} versions published during the loop; {}",
        text.lines().last().unwrap_or("")
    );
    assert!(
        published >= 10,
        "the loop ended before 10 publishes: {text}"
    );
    assert!(text.contains("failed: 0"), "{text}");
    assert!(!text.contains("mismatch"), "{text}");
    // The client ends up seeing the newest version.
    root.ok("apt-get update -qq");
    let policy = root.ok("apt-cache policy tiny");
    assert!(
        policy.contains(&format!("Candidate: {}-1", versions[published - 1])),
        "{policy}"
    );
}

/// The demo project at `version` (deb and rpm) in `dir`, publishing to `repo`.
fn demo(dir: &Path, version: &str, repo: &Path) -> PathBuf {
    let p = common::demo_project(
        dir,
        &[
            ("version", &format!("\"{version}\"")),
            ("formats", "[\"deb\", \"rpm\"]"),
        ],
    );
    let text = fs::read_to_string(&p).unwrap();
    fs::write(
        &p,
        format!("{text}\n[publish]\nrepo = \"{}\"\n", repo.display()),
    )
    .unwrap();
    p
}

/// Every file of the apt repository holding the amd64 `Packages` index
/// (plain, xz, by hash), each with one byte changed.
fn tamper_packages(repo: &Path) {
    let dir = repo.join("deb/dists/stable/main/binary-amd64");
    let mut files = vec![dir.join("Packages"), dir.join("Packages.xz")];
    for e in fs::read_dir(dir.join("by-hash/SHA256")).unwrap() {
        files.push(e.unwrap().path());
    }
    for f in files {
        let mut data = fs::read(&f).unwrap();
        let i = data.len() / 2;
        data[i] ^= 0x20;
        fs::write(&f, data).unwrap();
    }
}

#[test]
fn the_demo_ships_through_apt_and_dnf_repositories() {
    if !can_run() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (_home, keys) = common::gpg_keys(t.path(), &["release"]);
    let key = keys[0].0.to_str().unwrap().to_string();
    let repo = t.path().join("repo");
    let build = t.path().join("build");
    let sign = ["--signing-key", key.as_str()];
    let publish_args = ["publish", "--key", key.as_str()];

    // 0.1.0: built signed, published, installed by apt from the repository.
    let v1 = demo(&t.path().join("v1"), "0.1.0", &repo);
    common::ferrobus_on_ok(&build, &[&["build"][..], &sign].concat(), &v1);
    let out = common::ferrobus_on_ok(&build, &publish_args, &v1);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("added pool/main/d/demo-agent/demo-agent_0.1.0-1_amd64.deb"),
        "{text}"
    );
    assert!(
        text.contains("added Packages/demo-agent-0.1.0-1.x86_64.rpm"),
        "{text}"
    );
    let http = Http::start(&repo);
    let root = roots::Root::new("bookworm");
    apt_source(&root, &http, &repo.join("keys/demo-agent.gpg"));
    root.ok("apt-get update");
    root.ok("DEBIAN_FRONTEND=noninteractive apt-get install -y demo-agent");
    assert_eq!(
        root.ok("dpkg-query -W -f '${Version}' demo-agent"),
        "0.1.0-1"
    );
    let user = root.ok("getent passwd demo-agent");
    root.ok("echo 'interval_seconds: 7  # edited' >> /etc/demo-agent/agent.yaml");

    // 0.2.0 published beside it: apt-get upgrade installs it, keeping the
    // edited config and the service user.
    let v2 = demo(&t.path().join("v2"), "0.2.0", &repo);
    common::ferrobus_on_ok(&build, &[&["build"][..], &sign].concat(), &v2);
    common::ferrobus_on_ok(&build, &publish_args, &v2);
    root.ok("apt-get update");
    root.ok("DEBIAN_FRONTEND=noninteractive apt-get upgrade -y \
         -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold");
    assert_eq!(
        root.ok("dpkg-query -W -f '${Version}' demo-agent"),
        "0.2.0-1"
    );
    let conf = root.ok("cat /etc/demo-agent/agent.yaml");
    assert!(conf.contains("# edited"), "{conf}");
    assert_eq!(root.ok("getent passwd demo-agent"), user);
    let policy = root.ok("apt-cache policy demo-agent");
    assert!(
        policy.contains("0.1.0-1") && policy.contains("0.2.0-1"),
        "{policy}"
    );

    // dnf, both checks on: both versions listed, the newest downloaded and
    // verified by rpm -K against the published key.
    let d = t.path().join("dnf");
    let gpgkey = http.url("keys/demo-agent.asc");
    let (ok, out) = dnf(
        &d,
        &http,
        &gpgkey,
        &["list", "--showduplicates", "demo-agent"],
    );
    assert!(
        ok && out.contains("0.1.0-1") && out.contains("0.2.0-1"),
        "{out}"
    );
    let got = t.path().join("downloaded");
    let destdir = format!("--destdir={}", got.display());
    let (ok, out) = dnf(&d, &http, &gpgkey, &["download", &destdir, "demo-agent"]);
    assert!(ok, "{out}");
    let rpm = got.join("demo-agent-0.2.0-1.x86_64.rpm");
    assert!(rpm.is_file(), "{out}");
    let dbpath = format!("--dbpath={}", t.path().join("rpmdb").display());
    common::run(
        Command::new("rpm")
            .args([&dbpath, "--import"])
            .arg(repo.join("keys/demo-agent.asc")),
    );
    let k = common::run_text(Command::new("rpm").args([&dbpath, "-K"]).arg(&rpm));
    assert!(k.contains("digests signatures OK"), "{k}");

    // A tampered repomd.xml is refused (fresh cache).
    let repomd = repo.join("rpm/repodata/repomd.xml");
    let good = fs::read(&repomd).unwrap();
    let mut bad = good.clone();
    let i = String::from_utf8_lossy(&bad).find("<revision>").unwrap() + 10;
    bad[i] = if bad[i] == b'9' { b'8' } else { b'9' };
    fs::write(&repomd, &bad).unwrap();
    let (ok, out) = dnf(&t.path().join("dnf-2"), &http, &gpgkey, &["makecache"]);
    assert!(!ok, "dnf accepted a tampered repomd.xml: {out}");
    assert!(
        out.to_lowercase().contains("signature") || out.contains("GPG"),
        "{out}"
    );
    fs::write(&repomd, &good).unwrap();

    // One byte of Packages changed on the server: a client's update fails on
    // the hash and nothing is installed.
    tamper_packages(&repo);
    let fresh = roots::Root::new("bookworm");
    apt_source(&fresh, &http, &repo.join("keys/demo-agent.gpg"));
    let (ok, out) = fresh.sh("apt-get update 2>&1");
    assert!(!ok && out.contains("Hash Sum mismatch"), "{out}");
    let (ok, out) = fresh.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y demo-agent 2>&1");
    assert!(!ok, "{out}");
    assert!(!fresh.path.join("opt/demo-agent").exists());
}
