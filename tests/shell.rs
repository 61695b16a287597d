//! The self-extracting `.sh` installer, run for real with `/bin/sh` (dash on
//! Debian): install, upgrade, rollback, uninstall, a kill during the upgrade, a
//! damaged file, a non-root user, no usable TMPDIR, and reproducible bytes.

mod common;
use common::{package_all, stage_tiny, tiny_meta};
use ferrobus::package::shell::Shell;
use ferrobus::package::{Meta, Packager};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CONF: &str = "etc/tiny/tiny.conf";

/// A staged image `<root>/opt/tiny/embedded/...`: `bin/hello` printing the
/// version, a link to it, a data file and `big` bytes of noise (which xz
/// cannot compress).
fn stage(root: &Path, version: &str, big: usize, mode_noise: bool) {
    stage_tiny(root, &format!("hello from tiny {version}"), mode_noise);
    if big > 0 {
        fs::write(
            root.join("opt/tiny/embedded/share/big.bin"),
            common::noise(big, 1),
        )
        .unwrap();
    }
}

/// The installer of `version` (config default `conf`), written into `dir`.
fn installer(dir: &Path, version: &str, conf: &str, big: usize) -> PathBuf {
    let root = dir.join(format!("stage-{version}"));
    stage(&root, version, big, false);
    let m = tiny_meta(version, conf);
    let out = dir.join(Shell.file_name(&m));
    Shell.write(&root, &m, &out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o644)).unwrap();
    out
}

fn sh(installer: &Path, args: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg(installer)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}stderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run and require success; the output's text.
fn ok(installer: &Path, args: &[&str]) -> String {
    let o = sh(installer, args);
    assert!(o.status.success(), "{installer:?} {args:?}: {}", text(&o));
    text(&o)
}

fn hello(prefix: &Path) -> String {
    let o = Command::new(prefix.join("current/embedded/bin/hello"))
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn link(p: &Path) -> String {
    fs::read_link(p).unwrap().to_string_lossy().into_owned()
}

fn p(prefix: &Path) -> &str {
    prefix.to_str().unwrap()
}

/// Every path below `dir` with what it is (link target, file contents' length).
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir(dir)
        .into_iter()
        .map(|e| {
            let m = e.symlink_metadata().unwrap();
            let what = if m.file_type().is_symlink() {
                format!("-> {}", link(&e))
            } else {
                format!("{:o} {}", m.permissions().mode(), m.len())
            };
            format!("{} {what}", e.strip_prefix(dir).unwrap().display())
        })
        .collect();
    out.sort();
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        out.push(path.clone());
        if path.symlink_metadata().unwrap().is_dir() {
            out.extend(walkdir(&path));
        }
    }
    out
}

#[test]
fn installs_and_refuses_the_same_version_twice() {
    let t = tempfile::tempdir().unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    assert_eq!(
        v1.file_name().unwrap().to_str().unwrap(),
        "tiny-1.0-1.linux-x86_64.sh"
    );
    let prefix = t.path().join("x");
    let out = ok(&v1, &["--prefix", p(&prefix)]);
    assert!(out.contains("current -> releases/1.0-1"), "{out}");
    assert!(out.contains("config: installed"), "{out}");
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
    assert_eq!(link(&prefix.join("current")), "releases/1.0-1");
    assert_eq!(link(&prefix.join("embedded")), "current/embedded");
    assert_eq!(link(&prefix.join("current/embedded/bin/hi")), "hello");
    // The compat link keeps the absolute install-dir paths working.
    let o = Command::new(prefix.join("embedded/bin/hi"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello from tiny 1.0\n");
    assert_eq!(fs::read_to_string(prefix.join(CONF)).unwrap(), "level: 1\n");
    assert!(!prefix.join("current/.ferrobus").exists());
    let modes = fs::metadata(prefix.join("current/embedded/share/data.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(modes & 0o777, 0o644);

    let again = sh(&v1, &["--prefix", p(&prefix)]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(
        text(&again).contains("1.0-1 is already installed"),
        "{}",
        text(&again)
    );
    // --force reinstalls it; the unchanged config is left alone.
    let out = ok(&v1, &["--prefix", p(&prefix), "--force"]);
    assert!(out.contains("unchanged"), "{out}");
    assert!(!prefix.join(format!("{CONF}.new")).exists());
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
    let releases: Vec<_> = fs::read_dir(prefix.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(releases, ["1.0-1"]);

    // --check, --help and a bad option.
    assert!(ok(&v1, &["--check"]).contains("payload ok"));
    let help = ok(&v1, &["--help"]);
    assert!(
        help.contains("generated by ferrobus") && help.contains("--rollback"),
        "{help}"
    );
    assert_eq!(sh(&v1, &["--bogus"]).status.code(), Some(2));
    assert_eq!(sh(&v1, &["--upgrade", "--rollback"]).status.code(), Some(2));
}

#[test]
fn upgrade_keeps_the_edited_config_and_lists_releases() {
    let t = tempfile::tempdir().unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    let v2 = installer(t.path(), "2.0", "level: 2\n", 0);
    let prefix = t.path().join("x");
    ok(&v1, &["--prefix", p(&prefix)]);
    fs::write(prefix.join(CONF), "level: 9\n").unwrap();

    // A plain install over another version points to --upgrade.
    let o = sh(&v2, &["--prefix", p(&prefix)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("use --upgrade"), "{}", text(&o));
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");

    let out = ok(&v2, &["--prefix", p(&prefix), "--upgrade"]);
    assert!(out.contains("kept your"), "{out}");
    assert_eq!(hello(&prefix), "hello from tiny 2.0\n");
    assert_eq!(link(&prefix.join("current")), "releases/2.0-1");
    assert_eq!(link(&prefix.join("previous")), "releases/1.0-1");
    assert_eq!(fs::read_to_string(prefix.join(CONF)).unwrap(), "level: 9\n");
    assert_eq!(
        fs::read_to_string(prefix.join(format!("{CONF}.new"))).unwrap(),
        "level: 2\n"
    );
    let list = ok(&v2, &["--prefix", p(&prefix), "--list"]);
    assert!(
        list.contains("  1.0-1 (previous)\n") && list.contains("  2.0-1 (current)\n"),
        "{list}"
    );
    // Upgrading to the current version again is refused.
    let o = sh(&v2, &["--prefix", p(&prefix), "--upgrade"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn rollback_then_uninstall_then_purge() {
    let t = tempfile::tempdir().unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    let v2 = installer(t.path(), "2.0", "level: 2\n", 0);
    let prefix = t.path().join("x");
    ok(&v1, &["--prefix", p(&prefix)]);
    let o = sh(&v1, &["--prefix", p(&prefix), "--rollback"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no previous release"), "{}", text(&o));

    ok(&v2, &["--prefix", p(&prefix), "--upgrade"]);
    assert_eq!(hello(&prefix), "hello from tiny 2.0\n");
    ok(&v2, &["--prefix", p(&prefix), "--rollback"]);
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
    assert_eq!(link(&prefix.join("current")), "releases/1.0-1");
    assert_eq!(link(&prefix.join("previous")), "releases/2.0-1");
    // And back again.
    ok(&v1, &["--prefix", p(&prefix), "--rollback"]);
    assert_eq!(hello(&prefix), "hello from tiny 2.0\n");

    let out = ok(&v2, &["--prefix", p(&prefix), "--uninstall"]);
    assert!(out.contains("configuration left"), "{out}");
    let mut left = snapshot(&prefix);
    left.retain(|l| !l.starts_with("etc/tiny/tiny.conf.new"));
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left[0].starts_with("etc "), "{left:?}");
    assert!(left[1].starts_with("etc/tiny "), "{left:?}");
    assert!(left[2].starts_with("etc/tiny/tiny.conf "), "{left:?}");

    ok(&v2, &["--prefix", p(&prefix), "--uninstall", "--purge"]);
    assert!(!prefix.exists(), "{:?}", snapshot(&prefix));
}

#[test]
fn a_kill_during_the_upgrade_leaves_the_old_release_current() {
    let t = tempfile::tempdir().unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    let v2 = installer(t.path(), "2.0", "level: 2\n", 16 << 20);
    let prefix = t.path().join("x");
    ok(&v1, &["--prefix", p(&prefix)]);

    let mut child = Command::new("/bin/sh")
        .arg(&v2)
        .args(["--prefix", p(&prefix), "--upgrade"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let releases = prefix.join("releases");
    let start = Instant::now();
    let incoming = loop {
        let found = fs::read_dir(&releases)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|e| {
                e.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(".incoming-")
                    && e.join("embedded/share").exists()
            });
        if let Some(d) = found {
            break d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no extraction seen"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let pgid = child.id() as i32;
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed too late");
    assert!(incoming.exists(), "the kill did not land during extraction");

    assert_eq!(link(&prefix.join("current")), "releases/1.0-1");
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
    assert!(!releases.join("2.0-1").exists());

    let out = ok(&v2, &["--prefix", p(&prefix), "--upgrade"]);
    assert!(out.contains("left by an interrupted run"), "{out}");
    assert!(!incoming.exists());
    assert_eq!(hello(&prefix), "hello from tiny 2.0\n");
    let hidden: Vec<_> = fs::read_dir(&releases)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    assert_eq!(
        fs::metadata(prefix.join("current/embedded/share/big.bin"))
            .unwrap()
            .len(),
        16 << 20
    );
}

#[test]
fn a_force_interrupted_between_its_two_renames_is_repaired() {
    let t = tempfile::tempdir().unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    let prefix = t.path().join("x");
    ok(&v1, &["--prefix", p(&prefix)]);
    // The state a kill leaves between moving the current release aside and moving
    // its replacement in (the one moment `current` dangles): made by hand.
    let mut dead = Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    let releases = prefix.join("releases");
    let aside = releases.join(format!(".replaced-1.0-1-{}", dead.id()));
    fs::rename(releases.join("1.0-1"), &aside).unwrap();
    let out = ok(&v1, &["--prefix", p(&prefix), "--force"]);
    assert!(out.contains("restored"), "{out}");
    assert!(!aside.exists());
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
}

#[test]
fn a_damaged_installer_touches_nothing() {
    let t = tempfile::tempdir().unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    let v2 = installer(t.path(), "2.0", "level: 2\n", 0);
    let bad = t.path().join("bad.sh");
    let mut bytes = fs::read(&v2).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&bad, bytes).unwrap();

    let fresh = t.path().join("fresh");
    let o = sh(&bad, &["--prefix", p(&fresh)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("payload checksum mismatch: expected ")
            && err.contains(", got ")
            && err.contains("the installer file is damaged"),
        "{err}"
    );
    assert!(!fresh.exists());
    assert_eq!(sh(&bad, &["--check"]).status.code(), Some(1));

    let prefix = t.path().join("x");
    ok(&v1, &["--prefix", p(&prefix)]);
    let before = snapshot(&prefix);
    let o = sh(&bad, &["--prefix", p(&prefix), "--upgrade"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(snapshot(&prefix), before);
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
}

#[test]
fn an_xz_payload_installs_and_missing_xz_is_reported_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("stage");
    stage(&root, "1.0", 0, false);
    let m = Meta {
        sh_compression: ferrobus::load::ShCompression::Xz,
        ..tiny_meta("1.0", "level: 1\n")
    };
    let v1 = t.path().join(Shell.file_name(&m));
    Shell.write(&root, &m, &v1).unwrap();
    let ok = t.path().join("ok");
    let o = sh(&v1, &["--prefix", p(&ok)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(hello(&ok), "hello from tiny 1.0\n");
    let bin = t.path().join("bin");
    fs::create_dir(&bin).unwrap();
    for tool in ["tail", "tar", "sha256sum"] {
        let o = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
        std::os::unix::fs::symlink(path, bin.join(tool)).unwrap();
    }
    let prefix = t.path().join("x");
    let o = Command::new("/bin/sh")
        .arg(&v1)
        .args(["--prefix", p(&prefix)])
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("missing tools: xz"), "{}", text(&o));
    assert!(!prefix.exists());
}

#[test]
fn an_installer_for_another_architecture_is_refused_before_anything_is_written() {
    use ferrobus::target::Arch;
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("stage");
    stage(&root, "1.0", 0, false);
    let here = Arch::host();
    let other = if here == Arch::X86_64 {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };
    let m = Meta {
        arch: other,
        ..tiny_meta("1.0", "level: 1\n")
    };
    let name = Shell.file_name(&m);
    assert_eq!(name, format!("tiny-1.0-1.linux-{other}.sh"));
    let inst = t.path().join(&name);
    Shell.write(&root, &m, &inst).unwrap();
    let prefix = t.path().join("p");
    for args in [
        vec!["--prefix", p(&prefix)],
        vec!["--prefix", p(&prefix), "--upgrade"],
    ] {
        let o = sh(&inst, &args);
        let msg = text(&o);
        assert_eq!(o.status.code(), Some(3), "{msg}");
        assert!(
            msg.contains(&format!(
                "this installer is for {other} machines; this one is {here}"
            )),
            "{msg}"
        );
        assert!(!prefix.exists(), "{} written: {msg}", prefix.display());
    }
    // The same payload for this machine installs.
    let m = Meta { arch: here, ..m };
    let inst = t.path().join(Shell.file_name(&m));
    Shell.write(&root, &m, &inst).unwrap();
    ok(&inst, &["--prefix", p(&prefix)]);
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
}

#[test]
fn installs_as_a_user_who_is_not_root() {
    let t = tempfile::tempdir().unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    let home = t.path().join("home");
    fs::create_dir(&home).unwrap();
    let prefix = home.join("x");
    let as_user = |program: &Path, args: &[&str]| -> Output {
        if unsafe { libc::geteuid() } != 0 {
            return Command::new(program)
                .args(args)
                .env("HOME", &home)
                .output()
                .unwrap();
        }
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(program)
            .args(args)
            .env("HOME", &home)
            .output()
            .unwrap()
    };
    if unsafe { libc::geteuid() } == 0 {
        if !common::have("setpriv") {
            common::skip(
                "running as root and setpriv is missing",
                "scripts/deps installs it (util-linux)",
            );
            return;
        }
        let o = Command::new("chown")
            .arg("nobody:nogroup")
            .arg(&home)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = as_user(
        Path::new("/bin/sh"),
        &[v1.to_str().unwrap(), "--prefix", p(&prefix)],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = as_user(&prefix.join("current/embedded/bin/hello"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello from tiny 1.0\n");
    use std::os::unix::fs::MetadataExt;
    let me = fs::metadata(&home).unwrap().uid();
    for f in ["releases/1.0-1/embedded/bin/hello", CONF] {
        assert_eq!(fs::metadata(prefix.join(f)).unwrap().uid(), me, "{f}");
    }
    // The default prefix (/opt/tiny) is not writable: a clear refusal.
    if unsafe { libc::geteuid() } == 0 {
        let o = as_user(Path::new("/bin/sh"), &[v1.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("cannot create /opt/tiny"), "{}", text(&o));
    } else {
        common::skip_part(
            "the refusal of the default prefix /opt/tiny is checked as nobody, which needs root",
            "run the tests as root",
        );
    }
}

#[test]
fn packages_are_byte_identical_when_rebuilt() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    stage(&a, "1.0", 1000, false);
    std::thread::sleep(Duration::from_millis(1100));
    stage(&b, "1.0", 1000, true);
    let m = tiny_meta("1.0", "level: 1\n");
    let da = package_all(&a, &m, &["sh".into()], &t.path().join("dist-a"), "id").unwrap();
    let db = package_all(&b, &m, &["sh".into()], &t.path().join("dist-b"), "id").unwrap();
    assert_eq!(da[0].file_name(), db[0].file_name());
    assert!(fs::read(&da[0]).unwrap() == fs::read(&db[0]).unwrap());
    // And what was packaged installs.
    let prefix = t.path().join("x");
    ok(&da[0], &["--prefix", p(&prefix)]);
    assert_eq!(hello(&prefix), "hello from tiny 1.0\n");
}

#[test]
fn needs_no_tmpdir() {
    let t = tempfile::tempdir().unwrap();
    let v1 = installer(t.path(), "1.0", "level: 1\n", 0);
    let v2 = installer(t.path(), "2.0", "level: 2\n", 0);
    let file = t.path().join("not-a-dir");
    fs::write(&file, "").unwrap();
    let prefix = t.path().join("x");
    for (inst, tmpdir, args) in [
        (
            &v1,
            Path::new("/nonexistent/tmp"),
            vec!["--prefix", p(&prefix)],
        ),
        (
            &v2,
            file.as_path(),
            vec!["--prefix", p(&prefix), "--upgrade"],
        ),
    ] {
        let o = Command::new("/bin/sh")
            .arg(inst)
            .args(&args)
            .env("TMPDIR", tmpdir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(hello(&prefix), "hello from tiny 2.0\n");
}
