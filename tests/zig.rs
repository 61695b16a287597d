//! Integration: a small real project (zlib and a tiny C program linking it) built
//! with `[toolchain] compiler = "zig"` for glibc 2.17: the program runs, the health
//! check reports the glibc it needs, a floor below what the tree needs fails the
//! build, the program runs in a Debian bullseye root (glibc 2.31), and a bad
//! compiler name is an error naming the project file.

mod common;
use common::roots;
use common::zdemo::Zdemo;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

common::zdemo::fixture! {
    /// The zlib + zdemo fixture (zlib configured with `--libdir={prefix}/lib`),
    /// the project `zz`.
}

impl Fixture {
    fn new() -> Fixture {
        Fixture(Zdemo::new(" --libdir={prefix}/lib", ""))
    }
    /// Write the project with `extra` appended; returns its path.
    fn project(&self, extra: &str) -> String {
        self.write_project("zz", extra).display().to_string()
    }
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        self.ferrobus(args)
    }
    fn stage(&self) -> PathBuf {
        self.build_dir().join("zz/stage/opt/zz/embedded")
    }
}

/// The highest GLIBC_ version in a `build --json` report, as "2.17".
fn max_glibc(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let m = &v["check"]["max_glibc"][0];
    format!("{}.{}", m[0], m[1])
}

fn version_le(a: &str, b: &str) -> bool {
    let p = |s: &str| -> Vec<u32> { s.split('.').map(|x| x.parse().unwrap()).collect() };
    p(a) <= p(b)
}

fn zig_missing() -> bool {
    if let Err(e) = ferrobus::toolchain::zig::find() {
        common::skip(
            &format!("zig not found ({e:#})"),
            "scripts/deps installs it (the ziglang Python package)",
        );
        return true;
    }
    false
}

#[test]
fn zig_project_builds_for_glibc_2_17_and_runs() {
    if zig_missing() {
        return;
    }
    let f = Fixture::new();
    let p = f.project("[toolchain]\ncompiler = \"zig\"\nglibc = \"2.17\"\n");
    let (ok, out, _) = f.run(&["plan", &p]);
    assert!(ok);
    assert!(out.contains("x86_64-linux-gnu.2.17"), "{out}");
    assert!(out.contains("glibc 2.17"), "{out}");

    let (ok, out, err) = f.run(&["--json", "build", "--jobs", "2", &p]);
    assert!(ok, "zig build failed:\n{err}");
    let glibc = max_glibc(&out);
    assert!(version_le(&glibc, "2.17"), "needs GLIBC_{glibc}");
    let run = Command::new(f.stage().join("bin/zdemo")).output().unwrap();
    assert!(run.status.success());
    assert_eq!(String::from_utf8_lossy(&run.stdout), "zlib 1.3.1 ok\n");
    // Built by zig: no gcc-only sections, and zlib is a shared library (zlib's
    // configure falls back to static-only when its shared link fails).
    let lib = f.stage().join("lib/libz.so.1.3.1");
    assert!(lib.is_file(), "no shared zlib in {}", f.stage().display());
    let comment = Command::new("readelf")
        .args(["-p", ".comment"])
        .arg(f.stage().join("bin/zdemo"))
        .output()
        .unwrap();
    let comment = String::from_utf8_lossy(&comment.stdout);
    assert!(!comment.contains("GCC: ("), "{comment}");
    // zig's caches live in the ferrobus cache, not in ~/.cache/zig.
    assert!(has_zig_cache(&f.cache().join("toolchains")));
    // It runs where the host's glibc (2.36) is not: Debian 11 has 2.31.
    if roots::can_chroot() {
        let root = roots::Root::new("bullseye");
        let dest = root.path.join("opt/zz");
        fs::create_dir_all(&dest).unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(f.stage())
            .arg(&dest)
            .status()
            .unwrap();
        assert!(ok.success());
        assert_eq!(root.ok("/opt/zz/embedded/bin/zdemo"), "zlib 1.3.1 ok\n");
    } else {
        common::skip_part(
            "running zdemo in a bullseye root needs root (chroot)",
            "run the tests as root",
        );
    }

    // A newer target with a floor below what it produces: the check fails the
    // build and names the symbol version.
    let p = f.project(
        "[toolchain]\ncompiler = \"zig\"\nglibc = \"2.34\"\n[health]\nglibc_floor = \"2.17\"\n",
    );
    let (ok, _, err) = f.run(&["build", "--jobs", "2", &p]);
    assert!(!ok, "a 2.34 build passed a 2.17 floor");
    assert!(err.contains("symbol versions above the floor"), "{err}");
    assert!(err.contains("GLIBC_2.34"), "{err}");
}

fn has_zig_cache(dir: &Path) -> bool {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.path().join(ferrobus::toolchain::zig::ZIG_CACHE).is_dir())
}

#[test]
fn unknown_compiler_is_an_error_naming_the_project_file() {
    let f = Fixture::new();
    let p = f.project("[toolchain]\ncompiler = \"tcc\"\n");
    let (ok, _, err) = f.run(&["plan", &p]);
    assert!(!ok);
    assert!(err.contains(&format!("{p}:")), "{err}");
    assert!(err.contains("tcc"), "{err}");
    assert!(err.contains("zig"), "{err}");
    let p = f.project("[toolchain]\nglibc = \"2.17\"\n");
    let (ok, _, err) = f.run(&["plan", &p]);
    assert!(!ok);
    assert!(
        err.contains(&p) && err.contains("compiler = \"zig\""),
        "{err}"
    );
    let p = f.project("[toolchain]\ncompiler = \"zig\"\nglibc = \"17\"\n");
    let (ok, _, err) = f.run(&["plan", &p]);
    assert!(!ok);
    assert!(
        err.contains(&p) && err.contains("not a glibc version"),
        "{err}"
    );
}
