//! Debian roots for install tests: made once with `debootstrap --variant=minbase`
//! plus `ca-certificates` (the system trust store a real server has, and
//! `update-ca-certificates`) from the archive the host's apt uses (read at run
//! time), cached as a tarball in the ferrobus cache
//! (`roots/<release>-minbase-ca.tar`; another architecture's, such as arm64,
//! `roots/<release>-<arch>-minbase-ca.tar`, run under qemu-user through
//! binfmt_misc), unpacked fresh for every test.

#![allow(dead_code)] // each test binary uses part of it

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// True when this process can chroot (root).
pub fn can_chroot() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// [`can_chroot`]; when it cannot, the calling test is reported as skipped
/// ([`super::skip`]): `what` needs root. The test then returns.
pub fn can_chroot_or_skip(what: &str) -> bool {
    let can = can_chroot();
    if !can {
        super::skip(&format!("{what} needs root"), "run the tests as root");
    }
    can
}

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("FERROBUS_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ferrobus")))
        .expect("HOME or FERROBUS_CACHE");
    base.join("roots")
}

/// The host's Debian architecture (`amd64`).
pub fn host_arch() -> &'static str {
    ferrobus::target::Arch::host().deb()
}

/// Whether this machine runs `arch`'s programs: its own, or another's through
/// binfmt_misc (qemu-user-static registers `qemu-<uname arch>`). When it
/// cannot, the calling test is reported as skipped (a failure under CI=true).
pub fn can_run_arch_or_skip(arch: &str, what: &str) -> bool {
    if arch == host_arch() {
        return true;
    }
    let uname = match arch {
        "arm64" => "aarch64",
        other => other,
    };
    let reg = Path::new("/proc/sys/fs/binfmt_misc").join(format!("qemu-{uname}"));
    let on = fs::read_to_string(&reg).is_ok_and(|s| s.starts_with("enabled"));
    if !on {
        super::skip(
            &format!(
                "{what}: {arch} programs cannot run here ({} is not registered)",
                reg.display()
            ),
            "scripts/deps installs qemu-user-static and mounts binfmt_misc",
        );
    }
    on
}

/// The cached tarball of a minbase root of `release` for the host's
/// architecture ([`root_tarball_for`]).
pub fn root_tarball(release: &str) -> PathBuf {
    root_tarball_for(release, host_arch())
}

/// The cached tarball of a minbase root of `release` for the Debian
/// architecture `arch`, made if missing (another architecture's by
/// debootstrap under qemu-user). A lock file keeps concurrent tests from
/// bootstrapping the same root twice; the tarball appears by rename, so a
/// killed run leaves no half-made cache.
pub fn root_tarball_for(release: &str, arch: &str) -> PathBuf {
    let dir = cache_dir();
    fs::create_dir_all(&dir).unwrap();
    let name = if arch == host_arch() {
        release.to_string()
    } else {
        format!("{release}-{arch}")
    };
    let tar = dir.join(format!("{name}-minbase-ca.tar"));
    let lock = fs::File::create(dir.join(format!(".{name}.lock"))).unwrap();
    fs2::FileExt::lock_exclusive(&lock).unwrap();
    if tar.is_file() {
        return tar;
    }
    let mirror = ferrobus::fetch::apt::debian_archives()
        .into_iter()
        .next()
        .expect("no Debian archive in the apt configuration");
    let work = tempfile::tempdir_in(&dir).unwrap();
    let target = work.path().join("root");
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", "--include=ca-certificates"])
        .arg(format!("--arch={arch}"))
        .arg(release)
        .arg(&target)
        .arg(&mirror)
        .output()
        .expect("debootstrap is installed by scripts/deps");
    assert!(
        out.status.success(),
        "debootstrap {release} ({arch}) failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let part = work.path().join("root.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&target)
        .args(["--numeric-owner", "-cf"])
        .arg(&part)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    fs::rename(&part, &tar).unwrap();
    tar
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.path.join("proc"))
            .status();
    }
}

/// A fresh Debian root unpacked under a temporary directory.
pub struct Root {
    _tmp: tempfile::TempDir,
    /// The root directory.
    pub path: PathBuf,
}

impl Root {
    /// Unpack the cached `release` root of the host's architecture.
    pub fn new(release: &str) -> Root {
        Root::new_for(release, host_arch())
    }

    /// Unpack the cached `release` root of the Debian architecture `arch`.
    pub fn new_for(release: &str, arch: &str) -> Root {
        let tar = root_tarball_for(release, arch);
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("root");
        fs::create_dir_all(&path).unwrap();
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&path)
            .args(["--numeric-owner", "-xf"])
            .arg(&tar)
            .status()
            .unwrap();
        assert!(ok.success());
        // ld.so resolves $ORIGIN through /proc/self/exe: every real system has
        // /proc, so the root gets one too (unmounted on drop).
        let ok = Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(path.join("proc"))
            .status()
            .unwrap();
        assert!(ok.success(), "mounting /proc in the root");
        Root { _tmp: tmp, path }
    }

    /// Copy a file into the root's `/tmp`; returns its path inside the root.
    pub fn put(&self, file: &Path) -> String {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        fs::copy(file, self.path.join("tmp").join(&name)).unwrap();
        format!("/tmp/{name}")
    }

    /// Run `sh -c script` inside the root with a clean environment; returns
    /// (success, stdout + stderr).
    pub fn sh(&self, script: &str) -> (bool, String) {
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.path).args(["/bin/sh", "-c", script]);
        run(cmd)
    }

    /// Like [`Root::sh`], in a new network namespace whose only interface is
    /// loopback: the root has no network at all.
    pub fn offline(&self, script: &str) -> (bool, String) {
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "sh", "-c"])
            .arg(format!(
                "ip link set lo up && exec chroot {} /bin/sh -c \"$0\"",
                self.path.display()
            ))
            .arg(script);
        run(cmd)
    }

    /// Like [`Root::offline`], with the filesystem confinement of `unit`
    /// reproduced around the script ([`super::unit::Unit::confinement`]): in a
    /// mount namespace of its own (propagation private, so nothing reaches the
    /// host) the directories systemd makes at start are made, the root is bound
    /// onto itself and the unit's mounts are made in it; then the script runs as
    /// root in there, and starts the service with [`super::unit::Unit::exec`].
    /// Everything mounted goes with the namespace's last process.
    pub fn confined(&self, unit: &super::unit::Unit, script: &str) -> (bool, String) {
        let c = unit.confinement();
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "--mount", "--propagation", "private"]);
        if c.uts {
            cmd.arg("--uts");
        }
        cmd.args(["sh", "-c"])
            .arg(format!(
                "set -e\nip link set lo up\nchroot \"$1\" /bin/sh -c \"$2\"\n\
                 mount --rbind \"$1\" \"$1\"\n{}\
                 exec chroot \"$1\" /bin/sh -c \"$3\" \"$0\"",
                c.host
            ))
            .arg(script)
            .arg(&self.path)
            .arg(c.prepare)
            .arg(c.mounts + "exec /bin/sh -c \"$0\"\n");
        run(cmd)
    }

    /// Like [`Root::sh`], but the script must succeed.
    pub fn ok(&self, script: &str) -> String {
        let (ok, text) = self.sh(script);
        assert!(ok, "in the root: {script}\n{text}");
        text
    }
}

/// Run with a clean environment and no stdin; (success, stdout + stderr).
fn run(mut cmd: Command) -> (bool, String) {
    let out = cmd
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (out.status.success(), super::both(&out))
}
