//! Integration: a small real project (zlib and a tiny C program linking it) built
//! with `[toolchain] compiler = "zig"` for glibc 2.17: the program runs, the health
//! check reports the glibc it needs, a floor below what the tree needs fails the
//! build, the program runs in a Debian bullseye root (glibc 2.31), and a bad
//! compiler name is an error naming the project file.

mod common;
#[path = "common/roots.rs"]
mod roots;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Built with gcc on a current glibc this needs GLIBC_2.34 (`__libc_start_main`)
/// and more; built for 2.17 nothing above GLIBC_2.17.
const ZDEMO_C: &str = r#"#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <zlib.h>
static void *work(void *arg) { return arg; }
int main(void) {
    const char *msg = "ferrobus ferrobus ferrobus ferrobus";
    unsigned char packed[256], back[256];
    uLongf plen = sizeof packed, blen = sizeof back;
    pthread_t t;
    void *r;
    if (pthread_create(&t, NULL, work, (void *)msg) || pthread_join(t, &r)) return 3;
    if (compress(packed, &plen, (const Bytef *)msg, strlen(msg)) != Z_OK) return 1;
    if (uncompress(back, &blen, packed, plen) != Z_OK) return 2;
    back[blen] = 0;
    printf("zlib %s %s\n", zlibVersion(), strcmp((char *)back, r) == 0 ? "ok" : "bad");
    return 0;
}
"#;

struct Fixture {
    dir: tempfile::TempDir,
    _srv: Server,
}

impl Fixture {
    fn new() -> Fixture {
        let srv = Server::start();
        let zdemo = targz("zdemo-1.0", &[("zdemo.c", ZDEMO_C, 0o644)]);
        let zdemo_sha = sha256(&zdemo);
        srv.add("/up/zdemo-1.0.tar.gz", zdemo);
        let dir = tempfile::tempdir().unwrap();
        let defs = dir.path().join("software-defs");
        fs::create_dir_all(dir.path().join("projects")).unwrap();
        fs::create_dir_all(&defs).unwrap();
        fs::write(
            defs.join("zlib.toml"),
            zlib_def(&srv, " --libdir={prefix}/lib", ""),
        )
        .unwrap();
        fs::write(
            defs.join("zdemo.toml"),
            format!(
                r#"name = "zdemo"
license = "MIT"
default_version = "1.0"
depends = ["zlib"]
steps = ["$CC $CPPFLAGS $CFLAGS -o zdemo zdemo.c $LDFLAGS -lz -lpthread", "mkdir -p {{destdir}}{{prefix}}/bin", "cp zdemo {{destdir}}{{prefix}}/bin/"]
[[version]]
version = "1.0"
sha256 = "{zdemo_sha}"
url = ["{}"]
"#,
                srv.url("/up/zdemo-1.0.tar.gz")
            ),
        )
        .unwrap();
        Fixture { dir, _srv: srv }
    }
    /// Write the project with `extra` appended; returns its path.
    fn project(&self, extra: &str) -> String {
        let p = self.dir.path().join("projects/zz.toml");
        fs::write(
            &p,
            format!(
                "name = \"zz\"\nversion = \"1.0\"\ninstall_dir = \"/opt/zz\"\ncomponents = [\"zdemo\"]\n{extra}"
            ),
        )
        .unwrap();
        p.display().to_string()
    }
    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        ferrobus(&self.cache(), &self.dir.path().join("build"), args)
    }
    fn stage(&self) -> PathBuf {
        self.dir.path().join("build/zz/stage/opt/zz/embedded")
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
        eprintln!("SKIPPED: zig not found ({e:#}); scripts/deps installs it");
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
        eprintln!("SKIPPED (part): running in a bullseye root needs root (chroot)");
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
        .any(|e| e.path().join("zig-cache").is_dir())
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
