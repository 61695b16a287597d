//! Installers from a staged tree: reproducible bytes, and real tools accept them
//! (dpkg-deb reads the .deb, dpkg installs it into a root, tar lists the tarballs).

mod common;
use common::{package_all, run_text as run, stage_tiny, tiny_meta};
use ferrobus::load::{ServiceConfig, UserConfig};
use ferrobus::package::Meta;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn meta() -> Meta {
    Meta {
        iteration: 4,
        description: "A tiny test package\nIt has a longer description.\n\nWith a blank line."
            .into(),
        homepage: "https://example.invalid/tiny".into(),
        deb_depends: vec!["libc6".into()],
        ..tiny_meta("1.2.3", "greeting = hello\n")
    }
}

/// The same package with a service user and a systemd service: its maintainer
/// scripts create users, so it is only inspected here, never installed on the
/// host (tests/debroot.rs installs one into a Debian root).
fn meta_with_service() -> Meta {
    let mut m = meta();
    m.user = Some(UserConfig {
        name: "tiny".into(),
        home: None,
    });
    m.services = vec![ServiceConfig {
        name: "tiny".into(),
        description: String::new(),
        exec: "embedded/bin/hello --loop".into(),
        user: None,
        restart: Default::default(),
        environment: [("TINY_MODE".to_string(), "demo".to_string())].into(),
        sandbox: Default::default(),
        windows_account: Default::default(),
    }];
    m
}

/// A staged image `<root>/opt/tiny/...` with a script, a file, a link and an
/// empty directory; `mode_noise` varies what must not matter (mtimes, perms).
fn stage(root: &Path, mode_noise: bool) {
    stage_tiny(root, "hello from tiny", mode_noise);
    fs::create_dir_all(root.join("opt/tiny/embedded/share/empty")).unwrap();
}

/// A tree staged in `<dir>/s` (see [`stage`]) packaged in `formats` into
/// `<dir>/d`: the files written.
fn packaged(dir: &Path, mode_noise: bool, meta: &Meta, formats: &[&str]) -> Vec<PathBuf> {
    stage(&dir.join("s"), mode_noise);
    let formats: Vec<String> = formats.iter().map(|f| f.to_string()).collect();
    package_all(&dir.join("s"), meta, &formats, &dir.join("d"), "id").unwrap()
}

fn formats() -> Vec<String> {
    ["tar.xz", "tar.zst", "deb", "rpm", "sh"]
        .map(String::from)
        .to_vec()
}

#[test]
fn packages_are_byte_identical_when_rebuilt() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    stage(&a, false);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    stage(&b, true);
    let m = meta_with_service();
    let da = package_all(&a, &m, &formats(), &t.path().join("dist-a"), "id").unwrap();
    let db = package_all(&b, &m, &formats(), &t.path().join("dist-b"), "id").unwrap();
    assert_eq!(da.len(), 5);
    for (x, y) in da.iter().zip(&db) {
        assert_eq!(x.file_name(), y.file_name());
        assert!(
            fs::read(x).unwrap() == fs::read(y).unwrap(),
            "{} differs",
            x.display()
        );
    }
    assert_eq!(
        fs::read(t.path().join("dist-a/SHA256SUMS")).unwrap(),
        fs::read(t.path().join("dist-b/SHA256SUMS")).unwrap()
    );
    let names: Vec<String> = da
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "tiny-1.2.3-4.linux-x86_64.tar.xz",
            "tiny-1.2.3-4.linux-x86_64.tar.zst",
            "tiny_1.2.3-4_amd64.deb",
            "tiny-1.2.3-4.x86_64.rpm",
            "tiny-1.2.3-4.linux-x86_64.sh"
        ]
    );
}

#[test]
fn deb_is_read_by_dpkg_and_installs_into_a_root() {
    let t = tempfile::tempdir().unwrap();
    let out = packaged(t.path(), false, &meta(), &["deb"]);
    let deb = &out[0];
    let field = |f: &str| {
        run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(f))
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "tiny");
    assert_eq!(field("Version"), "1.2.3-4");
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Depends"), "libc6");
    // Installed-Size as dpkg-gencontrol counts it: KiB per file, 1 per dir/link.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    let kib: u64 = listing
        .lines()
        .map(|l| {
            let size: u64 = l.split_whitespace().nth(2).unwrap().parse().unwrap();
            if l.starts_with('-') {
                size.div_ceil(1024)
            } else {
                1
            }
        })
        .sum();
    assert_eq!(field("Installed-Size"), kib.to_string());
    let desc = field("Description");
    assert!(
        desc.starts_with("A tiny test package\n It has a longer description.\n ."),
        "{desc}"
    );
    for f in [
        "etc/tiny/tiny.conf",
        "usr/share/doc/tiny/copyright",
        "usr/share/doc/tiny/changelog.Debian.gz",
    ] {
        assert!(listing.contains(f), "{f} missing:\n{listing}");
    }
    assert!(
        listing.contains("-rwxr-xr-x root/root") && listing.contains("opt/tiny/embedded/bin/hello"),
        "{listing}"
    );
    assert!(
        listing.contains("-rw-r--r-- root/root") && listing.contains("share/data.txt"),
        "{listing}"
    );
    assert!(
        listing.contains("2023-11-14 22:13"),
        "mtime must be SOURCE_DATE_EPOCH:\n{listing}"
    );
    // A real install with dpkg into an empty root.
    let root = t.path().join("root");
    fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-script-chrootless",
            "--force-not-root",
            "--force-depends",
            "--log=/dev/null",
            "-i",
        ])
        .arg(deb));
    let hello = root.join("opt/tiny/embedded/bin/hello");
    assert_eq!(run(&mut Command::new(&hello)), "hello from tiny\n");
    assert_eq!(
        fs::read_link(root.join("opt/tiny/embedded/bin/hi")).unwrap(),
        Path::new("hello")
    );
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(
        status.contains("Package: tiny") && status.contains("Status: install ok installed"),
        "{status}"
    );
    // md5sums agree with the installed files.
    let sums = fs::read_to_string(root.join("var/lib/dpkg/info/tiny.md5sums")).unwrap();
    assert!(sums.contains("opt/tiny/embedded/share/data.txt"), "{sums}");
    // The config file is a conffile: dpkg records its hash.
    let conf = fs::read_to_string(root.join("var/lib/dpkg/info/tiny.conffiles")).unwrap();
    assert_eq!(conf, "/etc/tiny/tiny.conf\n");
    assert!(
        status.contains("Conffiles:\n /etc/tiny/tiny.conf "),
        "{status}"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/tiny/tiny.conf")).unwrap(),
        "greeting = hello\n"
    );
}

#[test]
fn deb_carries_scripts_and_units_and_passes_lintian() {
    let t = tempfile::tempdir().unwrap();
    let out = packaged(t.path(), false, &meta_with_service(), &["deb"]);
    let deb = &out[0];
    let ctl = t.path().join("ctl");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&ctl));
    for s in ["postinst", "prerm", "postrm"] {
        let mode = fs::metadata(ctl.join(s)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{s}");
        let text = fs::read_to_string(ctl.join(s)).unwrap();
        assert!(text.starts_with("#!/bin/sh\nset -e\n"), "{s}: {text}");
        assert!(text.contains("SVC_USER='tiny'"), "{s}: {text}");
        assert!(text.contains("SERVICES='tiny.service'"), "{s}: {text}");
        // Every script parses.
        run(Command::new("sh").arg("-n").arg(ctl.join(s)));
    }
    let postinst = fs::read_to_string(ctl.join("postinst")).unwrap();
    assert!(postinst.contains("useradd --system"), "{postinst}");
    assert_eq!(
        fs::read_to_string(ctl.join("conffiles")).unwrap(),
        "/etc/tiny/tiny.conf\n"
    );
    let x = t.path().join("x");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&x));
    let unit = fs::read_to_string(x.join("lib/systemd/system/tiny.service")).unwrap();
    for line in [
        "ExecStart=/opt/tiny/embedded/bin/hello --loop",
        "User=tiny",
        "WorkingDirectory=/var/lib/tiny",
        "Environment=\"TINY_MODE=demo\"",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    // lintian: no errors (the warnings we keep are listed in the README).
    match common::lintian(deb) {
        Some(l) => assert!(l.errors.is_empty(), "lintian errors:\n{}", l.report),
        None => common::skip_part("lintian is not installed", "scripts/deps installs it"),
    }
}

/// A real shared library `libtiny.so.1` at `path`, built by the host's cc with
/// both symbol hash tables, as the components' libraries are (the SysV `.hash`
/// rpmlint asks for, which the system's own libraries lack).
fn shared_library(path: &Path) {
    let src = path.with_file_name("tiny.c");
    fs::write(
        &src,
        "#include <stdlib.h>\nint tiny(const char *s) { return atoi(s) + 1; }\n",
    )
    .unwrap();
    run(Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wl,--hash-style=both"])
        .args(["-Wl,-soname,libtiny.so.1", "-o"])
        .arg(path)
        .arg(&src));
    fs::remove_file(&src).unwrap();
}

#[test]
fn rpm_is_read_by_rpm_and_installs_into_a_root() {
    let t = tempfile::tempdir().unwrap();
    // The tiny tree plus a shared library at 0644, as relocation leaves it.
    let s = t.path().join("s");
    stage(&s, true);
    let lib = s.join("opt/tiny/embedded/lib/libtiny.so.1");
    fs::create_dir_all(lib.parent().unwrap()).unwrap();
    shared_library(&lib);
    fs::set_permissions(&lib, fs::Permissions::from_mode(0o644)).unwrap();
    let out = package_all(
        &s,
        &meta_with_service(),
        &["rpm".into()],
        &t.path().join("d"),
        "id",
    )
    .unwrap();
    let rpm = &out[0];
    let k = run(Command::new("rpm").arg("-K").arg(rpm));
    assert!(k.trim_end().ends_with("digests OK"), "{k}");
    let q = |fmt: &str| run(Command::new("rpm").args(["-qp", "--qf", fmt]).arg(rpm));
    assert_eq!(
        q("%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{GROUP}|%{URL}|%{BUILDTIME}"),
        "tiny|1.2.3|4|x86_64|MIT|Applications/System|https://example.invalid/tiny|1700000000"
    );
    assert_eq!(q("%{SUMMARY}"), "A tiny test package");
    let info = run(Command::new("rpm").arg("-qpi").arg(rpm));
    assert!(info.contains("It has a longer description."), "{info}");
    // Files with their flags: the config file is %config(noreplace).
    let files = q("[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEMTIMES} %{FILENAMES}\n]");
    for want in [
        "cn -rw-r--r-- 1700000000 /etc/tiny/tiny.conf",
        " -rwxr-xr-x 1700000000 /opt/tiny/embedded/bin/hello",
        " lrwxrwxrwx 1700000000 /opt/tiny/embedded/bin/hi",
        " -rw-r--r-- 1700000000 /usr/lib/systemd/system/tiny.service",
        " drwxr-xr-x 1700000000 /opt/tiny",
        " drwxr-xr-x 1700000000 /etc/tiny",
        // Shared libraries are executable in an rpm (0644 in a deb).
        " -rwxr-xr-x 1700000000 /opt/tiny/embedded/lib/libtiny.so.1",
    ] {
        assert!(
            files
                .lines()
                .any(|l| l.ends_with(want.trim_start()) && l.contains(want)),
            "{want}:\n{files}"
        );
    }
    // Shared directories stay the system's.
    assert!(
        !files
            .lines()
            .any(|l| l.ends_with(" /etc") || l.ends_with(" /opt")),
        "{files}"
    );
    let scripts = run(Command::new("rpm").args(["-qp", "--scripts"]).arg(rpm));
    for want in [
        "preinstall scriptlet",
        "postinstall scriptlet",
        "preuninstall scriptlet",
        "postuninstall scriptlet",
        "useradd --system",
        "systemctl --no-reload enable",
    ] {
        assert!(scripts.contains(want), "{want}:\n{scripts}");
    }
    // One %changelog entry: the maintainer, the version-release, SOURCE_DATE_EPOCH.
    assert_eq!(
        q("[%{CHANGELOGTIME}|%{CHANGELOGNAME}|%{CHANGELOGTEXT}\n]"),
        "1700000000|Ops <ops@example.invalid> - 1.2.3-4|- Package built by ferrobus.\n"
    );
    // rpmlint, with the configuration written beside the rpm: no errors.
    let config = t.path().join("d/tiny-1.2.3-4.rpmlint.toml");
    let text = fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with(ferrobus::package::rpm::RPMLINT_FILTERS)
            && text.ends_with("\nValidLicenses = [\"MIT\"]\n"),
        "{text}"
    );
    assert!(
        fs::read_to_string(t.path().join("d/SHA256SUMS"))
            .unwrap()
            .contains("  tiny-1.2.3-4.rpmlint.toml\n")
    );
    match common::rpmlint(rpm, &config) {
        Some(l) => assert!(l.errors.is_empty(), "rpmlint errors:\n{}", l.report),
        None => common::skip_part("rpmlint is not installed", "scripts/deps installs it"),
    }
    // Installed into an empty root. The scriptlets would run inside that root,
    // which has no /bin/sh, hence --noscripts (tests/debroot.rs runs the deb's).
    let root = t.path().join("root");
    run(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--nodeps", "--noscripts", "-i"])
        .arg(rpm));
    assert_eq!(
        run(&mut Command::new(root.join("opt/tiny/embedded/bin/hello"))),
        "hello from tiny\n"
    );
    assert_eq!(
        fs::read_link(root.join("opt/tiny/embedded/bin/hi")).unwrap(),
        Path::new("hello")
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/tiny/tiny.conf")).unwrap(),
        "greeting = hello\n"
    );
    let qa = run(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["-q", "tiny"]));
    assert_eq!(qa.trim(), "tiny-1.2.3-4.x86_64");
}

#[test]
fn tarballs_hold_the_install_dir_owned_by_root() {
    let t = tempfile::tempdir().unwrap();
    let out = packaged(t.path(), true, &meta(), &["tar.xz", "tar.zst"]);
    for (p, flag) in out.iter().zip(["-J", "--zstd"]) {
        let l = run(Command::new("tar").arg("-tv").arg(flag).arg("-f").arg(p));
        let first: Vec<&str> = l.lines().take(2).collect();
        assert!(
            first[0].starts_with("drwxr-xr-x root/root") && first[0].ends_with(" tiny/"),
            "{l}"
        );
        assert!(l.contains("tiny/embedded/bin/hi -> hello"), "{l}");
        assert!(
            !l.contains("12345") && l.lines().all(|x| x.contains("2023-11-14 22:13")),
            "{l}"
        );
        let dest = t.path().join(format!("x{flag}"));
        fs::create_dir_all(&dest).unwrap();
        run(Command::new("tar")
            .arg("-x")
            .arg(flag)
            .arg("-f")
            .arg(p)
            .arg("-C")
            .arg(&dest));
        assert_eq!(
            run(&mut Command::new(dest.join("tiny/embedded/bin/hello"))),
            "hello from tiny\n"
        );
    }
    // A second call with the same tree id reuses the files instead of rewriting them.
    let before = fs::metadata(&out[0]).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    package_all(
        &t.path().join("s"),
        &meta(),
        &["tar.xz".into(), "tar.zst".into()],
        &t.path().join("d"),
        "id",
    )
    .unwrap();
    assert_eq!(fs::metadata(&out[0]).unwrap().modified().unwrap(), before);
}
