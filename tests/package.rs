//! Installers from a staged tree: reproducible bytes, and real tools accept them
//! (dpkg-deb reads the .deb, dpkg installs it into a root, tar lists the tarballs).

use ferrobus::package::{Meta, package_all};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn meta() -> Meta {
    Meta {
        name: "tiny".into(),
        version: "1.2.3".into(),
        iteration: 4,
        maintainer: "Ops <ops@example.invalid>".into(),
        description: "A tiny test package\nIt has a longer description.\n\nWith a blank line."
            .into(),
        homepage: "https://example.invalid/tiny".into(),
        license: "MIT".into(),
        install_dir: "/opt/tiny".into(),
        epoch: 1_700_000_000,
        deb_section: "admin".into(),
        deb_priority: "optional".into(),
        deb_depends: vec!["libc6".into()],
        rpm_group: "Applications/System".into(),
        rpm_requires: vec![],
        rpm_compression: "xz".into(),
        user: None,
        services: vec![],
        config: vec![],
    }
}

/// A staged image `<root>/opt/tiny/...` with a script, a file, a link and an
/// empty directory; `mode_noise` varies what must not matter (mtimes, perms).
fn stage(root: &Path, mode_noise: bool) {
    let d = root.join("opt/tiny/embedded");
    fs::create_dir_all(d.join("bin")).unwrap();
    fs::create_dir_all(d.join("share/empty")).unwrap();
    fs::write(d.join("bin/hello"), "#!/bin/sh\necho hello from tiny\n").unwrap();
    fs::write(d.join("share/data.txt"), "x".repeat(5000)).unwrap();
    std::os::unix::fs::symlink("hello", d.join("bin/hi")).unwrap();
    let mode = if mode_noise { 0o775 } else { 0o755 };
    fs::set_permissions(d.join("bin/hello"), fs::Permissions::from_mode(mode)).unwrap();
    let data_mode = if mode_noise { 0o664 } else { 0o600 };
    fs::set_permissions(
        d.join("share/data.txt"),
        fs::Permissions::from_mode(data_mode),
    )
    .unwrap();
    if mode_noise {
        let f = fs::File::open(d.join("share/data.txt")).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(12345))
            .unwrap();
    }
}

fn formats() -> Vec<String> {
    vec!["tar.xz".into(), "tar.zst".into(), "deb".into()]
}

#[test]
fn packages_are_byte_identical_when_rebuilt() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    stage(&a, false);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    stage(&b, true);
    let da = package_all(&a, &meta(), &formats(), &t.path().join("dist-a"), "id").unwrap();
    let db = package_all(&b, &meta(), &formats(), &t.path().join("dist-b"), "id").unwrap();
    assert_eq!(da.len(), 3);
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
            "tiny_1.2.3-4_amd64.deb"
        ]
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn deb_is_read_by_dpkg_and_installs_into_a_root() {
    let t = tempfile::tempdir().unwrap();
    stage(&t.path().join("s"), false);
    let out = package_all(
        &t.path().join("s"),
        &meta(),
        &["deb".into()],
        &t.path().join("d"),
        "id",
    )
    .unwrap();
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
    // 1 + 5 KiB of files, one block each for 6 directories and 1 link.
    assert_eq!(field("Installed-Size"), "13");
    let desc = field("Description");
    assert!(
        desc.starts_with("A tiny test package\n It has a longer description.\n ."),
        "{desc}"
    );
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
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
}

#[test]
fn tarballs_hold_the_install_dir_owned_by_root() {
    let t = tempfile::tempdir().unwrap();
    stage(&t.path().join("s"), true);
    let out = package_all(
        &t.path().join("s"),
        &meta(),
        &["tar.xz".into(), "tar.zst".into()],
        &t.path().join("d"),
        "id",
    )
    .unwrap();
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
