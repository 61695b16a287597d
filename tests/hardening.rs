//! The health check's hardening report agrees with Debian's `hardening-check`
//! (devscripts) file by file: on programs and a library compiled here with and
//! without each hardening flag, and on real binaries of the host.
//!
//! Small projects (zlib, zdemo and `tinylib`: a C library with nothing to
//! protect, a program using it, and a library linked from a library alone)
//! built with the standard environment by gcc and by zig (glibc 2.17) pass
//! `hardening-check` on every property, but for the files the health check
//! names as having nothing to protect, and lintian finds no `hardening-no-pie`
//! in their deb; a definition opting out of a protection fails the build,
//! naming the file and the property.

mod common;
use common::zdemo::Zdemo;
use ferrobus::hardening::Protection;
use ferrobus::target::{Target, TargetName};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const C: &str = r#"#include <stdio.h>
#include <string.h>
int work(const char *s) { char b[64]; strcpy(b, s); printf("%s\n", b); return (int)strlen(b); }
int main(int argc, char **argv) { return work(argc > 1 ? argv[1] : "x") > 100; }
"#;

#[test]
fn the_hardening_report_agrees_with_hardening_check() {
    if !common::have("hardening-check") || !common::have("cc") {
        return common::skip(
            "hardening-check (devscripts) or cc",
            "scripts/deps installs devscripts and build-essential",
        );
    }
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("p.c");
    fs::write(&src, C).unwrap();
    let tree = d.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    let hardened = "-O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -pie \
                    -Wl,-z,relro,-z,now -fcf-protection -fstack-clash-protection";
    let variants = [
        ("hardened", hardened),
        (
            "plain",
            "-O0 -fno-stack-protector -no-pie -Wl,-z,norelro -fcf-protection=none",
        ),
        ("pie-only", "-O2 -fPIE -pie -fno-stack-protector"),
        (
            "lib.so",
            "-O2 -fPIC -shared -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wl,-z,now",
        ),
    ];
    for (name, flags) in variants {
        let mut c = Command::new("cc");
        c.args(flags.split_whitespace())
            .arg("-o")
            .arg(tree.join(name))
            .arg(&src);
        common::run(&mut c);
    }
    // Real binaries of the host, built by Debian with its own flags.
    for f in [
        "/usr/bin/ls",
        "/usr/bin/tar",
        "/usr/bin/gpg",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    ] {
        let p = Path::new(f);
        if p.exists() {
            fs::copy(p, tree.join(p.file_name().unwrap())).unwrap();
        }
    }
    // The host's binaries need libraries the tree lacks: the check reports
    // problems (exit 1), and the hardening of every file all the same.
    let out = Command::new(common::bin())
        .args(["check", "--json"])
        .arg(&tree)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = report["hardening"].as_object().unwrap();
    assert!(ours.len() >= 4, "{report}");
    let mut compared = 0;
    for (file, h) in ours {
        let want = common::hardening::reference(&tree.join(file));
        for (k, v) in &want {
            let got = match &h[*k] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(
                &got, v,
                "{file}: {k}: ferrobus says {got}, hardening-check {v}"
            );
            compared += 1;
        }
    }
    eprintln!(
        "{} files, {compared} properties agree with hardening-check",
        ours.len()
    );
    let h = &ours["hardened"];
    assert_eq!(
        (
            h["pie"].as_str(),
            h["relro"].as_bool(),
            h["bind_now"].as_bool()
        ),
        (Some("yes"), Some(true), Some(true))
    );
    assert_eq!(ours["plain"]["pie"], "no");
    assert_eq!(ours["plain"]["stack_protector"], false);
}

common::zdemo::fixture! {
    /// zlib (`--libdir={prefix}/lib`), zdemo and `tinylib`.
}

/// `tinylib`'s library: nothing in it needs a canary or a checked call, but
/// it calls libc (`puts`), so hardening-check looks for a stack protector.
/// `libtiny3.so` is linked from `libtiny.so` alone, as CPython's
/// `libpython3.so` from `libpython3.x.so` (zig's wrapper adds an object).
const TINY_LIB: &str = "#include <stdio.h>\n\
int tiny_add(int a, int b) { return a + b; }\n\
void tiny_hello(void) { puts(\"tiny\"); }\n";

/// `tinylib`'s program: a local buffer (a canary) and a checked `snprintf`.
const TINY_MAIN: &str = "#include <stdio.h>\n\
int tiny_add(int, int);\nvoid tiny_hello(void);\n\
int main(int argc, char **argv) { char b[32]; (void)argv;\n\
  snprintf(b, sizeof b, \"%d\", tiny_add(argc, 1)); tiny_hello(); puts(b); return 0; }\n";

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture(Zdemo::new(" --libdir={prefix}/lib", ""));
        let src = common::targz(
            "tinylib-1.0",
            &[
                ("tiny.c", TINY_LIB, 0o644),
                ("main.c", TINY_MAIN, 0o644),
                ("LICENSE", "MIT License\n\nCopyright (c) tinylib\n", 0o644),
            ],
        );
        let version = f.srv.source("tinylib-1.0.tar.gz", "1.0", src);
        f.def(
            "tinylib",
            &format!(
                r#"name = "tinylib"
license = "MIT"
license_files = ["LICENSE"]
default_version = "1.0"
steps = [
  "$CC $CPPFLAGS $CFLAGS -shared -o libtiny.so tiny.c $LDFLAGS",
  "$CC $CPPFLAGS $CFLAGS -o tinyprog main.c -L. -ltiny $LDFLAGS",
  "$CC $CFLAGS -shared -o libtiny3.so libtiny.so $LDFLAGS",
  "mkdir -p {{destdir}}{{prefix}}/lib {{destdir}}{{prefix}}/bin",
  "cp libtiny.so libtiny3.so {{destdir}}{{prefix}}/lib/ && cp tinyprog {{destdir}}{{prefix}}/bin/",
]
{version}"#
            ),
        );
        f
    }

    /// Write the project `name` (zdemo and tinylib) with `extra`; its path.
    fn project(&self, name: &str, extra: &str) -> String {
        common::write_project(self.dir.path(), name, "1.0", &["zdemo", "tinylib"], extra)
            .display()
            .to_string()
    }

    /// `build --json` of a project: (success, report, stderr).
    fn build(&self, project: &str) -> (bool, serde_json::Value, String) {
        let (ok, out, err) = self.ferrobus(&["--json", "build", "--jobs", "2", project]);
        let v = serde_json::from_str(&out).unwrap_or(serde_json::Value::Null);
        (ok, v, err)
    }

    /// The deb in dist/.
    fn deb(&self) -> PathBuf {
        fs::read_dir(self.build_dir().join("dist"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .expect("no deb in dist/")
    }

    fn stage(&self, name: &str) -> PathBuf {
        self.build_dir()
            .join(format!("{name}/stage/opt/{name}/embedded"))
    }
}

/// Build the fixture's project with `toolchain` (a `[toolchain]` table or
/// nothing) and hold every ELF file of the tree against hardening-check:
/// all properties pass, but a stack protector or FORTIFY the health check
/// names as having nothing to protect, and control-flow protection when the
/// toolchain cannot produce it (Debian 12's gcc: its glibc's start files are
/// unmarked). The health check's per-file report agrees with hardening-check.
fn hardened_build(toolchain: &str) {
    let f = Fixture::new();
    let p = f.project("hz", toolchain);
    let (ok, report, err) = f.build(&p);
    assert!(ok, "build failed:\n{err}");
    let (_, plan, _) = f.ferrobus(&["--json", "plan", &p]);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let cet = plan["toolchain"]["cf_protection"].as_bool().unwrap();
    let check = &report["check"];
    let required: Vec<&str> = check["hardening_required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut want = vec!["pie", "stack-protector", "fortify", "relro", "bind-now"];
    if cet {
        want.push("cf-protection");
    } else {
        // Not a missing prerequisite but what this toolchain can do (Debian
        // 12's glibc start files carry no IBT/SHSTK property): the policy
        // leaves cf-protection out and the report says why.
        let notes = check["hardening_notes"].to_string();
        assert!(
            notes.contains("cf-protection"),
            "no note on cf-protection: {check}"
        );
        eprintln!(
            "{}: cannot keep IBT/SHSTK in a link; hardening-check runs with --nocfprotection: {notes}",
            plan["toolchain"]["cc_version"]
        );
    }
    assert_eq!(required, want, "{check}");
    let stage = f.stage("hz");
    let files = common::hardening::elf_files(&stage);
    for want in [
        "bin/zdemo",
        "bin/tinyprog",
        "lib/libtiny.so",
        "lib/libtiny3.so",
    ] {
        assert!(files.iter().any(|x| x == want), "{want} not in {files:?}");
    }
    assert!(
        files.iter().any(|x| x.starts_with("lib/libz.so")),
        "{files:?}"
    );
    let spared = check["nothing_to_protect"].as_object().unwrap();
    // The library with nothing to protect is named, and hardening-check does
    // fail it on exactly that.
    let tiny = &spared["lib/libtiny.so"];
    assert_eq!(tiny[0]["property"], "stack-protector", "{check}");
    assert!(
        tiny[0]["why"]
            .as_str()
            .unwrap()
            .contains("tinylib compiled it"),
        "{tiny}"
    );
    let cf = if cet {
        vec![]
    } else {
        vec!["--nocfprotection"]
    };
    let (passed, out) = common::hardening::hardening_check(&stage.join("lib/libtiny.so"), &cf);
    assert!(
        !passed && out.contains("Stack protected: no, not found!"),
        "{out}"
    );
    let (n, spared_n) = common::hardening::tree_passes_hardening_check(&stage, check, cet);
    assert_eq!((n, spared_n), (files.len(), spared.len()));
    // lintian's own hardening checks agree on the deb.
    if common::have("lintian") {
        let tags = common::hardening::lintian(&f.deb());
        assert!(!tags.contains("hardening-no-pie"), "{tags}");
        assert!(!tags.contains("hardening-no-relro"), "{tags}");
        assert!(!tags.contains("hardening-no-bindnow"), "{tags}");
    } else {
        common::skip_part("lintian", "apt-get install lintian");
    }
}

#[test]
fn a_gcc_build_passes_hardening_check() {
    if !common::have("hardening-check") || !common::have("cc") {
        return common::skip(
            "hardening-check (devscripts) or cc",
            "scripts/deps installs devscripts and build-essential",
        );
    }
    hardened_build("");
}

#[test]
fn a_zig_build_for_glibc_2_17_passes_hardening_check() {
    if !common::have("hardening-check") {
        return common::skip(
            "hardening-check (devscripts)",
            "scripts/deps installs devscripts",
        );
    }
    if let Err(e) = ferrobus::toolchain::zig::find() {
        return common::skip(
            &format!("zig not found ({e:#})"),
            "scripts/deps installs it (the ziglang Python package)",
        );
    }
    hardened_build("[toolchain]\ncompiler = \"zig\"\nglibc = \"2.17\"\n");
}

#[test]
fn an_opt_out_fails_the_build_naming_file_and_property() {
    if !common::have("cc") {
        return common::skip("cc", "scripts/deps installs build-essential");
    }
    let f = Fixture::new();
    let reason = "built at a fixed address to test the policy";
    f.write_zdemo(
        &format!("license = \"MIT\"\nhardening.disable.pie = \"{reason}\""),
        "",
    );
    let p = f.project("ho", "");
    let (ok, report, err) = f.build(&p);
    assert!(!ok, "an executable that is not PIE passed the policy");
    assert!(
        err.contains("hardening property")
            && err.contains("bin/zdemo: pie: a fixed-address executable")
            && err.contains(reason),
        "{err}"
    );
    let problems = report["problems"].as_array().unwrap();
    let pie: Vec<_> = problems
        .iter()
        .filter(|p| p["kind"] == "hardening")
        .collect();
    assert_eq!(pie.len(), 1, "{report}");
    assert_eq!(
        (pie[0]["path"].as_str(), pie[0]["property"].as_str()),
        (Some("bin/zdemo"), Some("pie"))
    );
    // A project that does not require PIE accepts it; lintian then sees it.
    let p = f.project(
        "ho",
        "[health]\nhardening = [\"stack-protector\", \"fortify\", \"relro\", \"bind-now\"]\n",
    );
    let (ok, report, err) = f.build(&p);
    assert!(ok, "{err}");
    let notes = report["check"]["hardening_notes"].to_string();
    assert!(notes.contains("pie not required"), "{notes}");
    let (status, out) = common::check(&f.stage("ho"), &["--hardening", "pie,relro"]);
    assert!(!status.success());
    assert!(
        out.contains("bin/zdemo: pie: a fixed-address executable"),
        "{out}"
    );
    if common::have("lintian") {
        let tags = common::hardening::lintian(&f.deb());
        assert!(
            tags.contains("hardening-no-pie") && tags.contains("zdemo"),
            "{tags}"
        );
    } else {
        common::skip_part("lintian", "apt-get install lintian");
    }
}

/// A definition `a.toml` with `extra` after its top-level keys, loaded.
fn definition(dir: &Path, extra: &str) -> ferrobus::load::SoftwareDef {
    let p = dir.join("a.toml");
    fs::write(
        &p,
        format!(
            "name = \"a\"\nlicense = \"MIT\"\ndefault_version = \"1\"\nsteps = [\"true\"]\n\
             {extra}\n[[version]]\nversion = \"1\"\nsha256 = \"{}\"\nurl = [\"http://127.0.0.1/a.tgz\"]\n",
            "a".repeat(64)
        ),
    )
    .unwrap();
    ferrobus::load::load_software(&p).unwrap()
}

#[test]
fn an_opt_out_is_in_the_flags_and_the_cache_key() {
    let d = tempfile::tempdir().unwrap();
    let tc = ferrobus::toolchain::Toolchain {
        target: "linux-x86_64".into(),
        cc: "cc".into(),
        cxx: "c++".into(),
        cc_version: "cc 1".into(),
        triple: "x86_64-linux-gnu".into(),
        libc: "glibc 2.36".into(),
        compiler: String::new(),
        ar: None,
        ranlib: None,
        wrapper: None,
        cf_protection: false,
        unhardened: false,
        sysroot: None,
        guard_bin: Default::default(),
    };
    let pp = d.path().join("p.toml");
    std::fs::write(
        &pp,
        "name = \"p\"\nversion = \"1\"\ninstall_dir = \"/opt/p\"\ncomponents = [\"a\"]\n",
    )
    .unwrap();
    let project = ferrobus::load::load_project(&pp).unwrap();
    let target = Target::new(TargetName::LinuxX86_64, None);
    let plan = |extra: &str| {
        let a = definition(d.path(), extra);
        let defs: BTreeMap<String, ferrobus::load::SoftwareDef> = [("a".to_string(), a)].into();
        let p = ferrobus::plan::resolve(
            &project,
            &defs,
            d.path(),
            &BTreeMap::new(),
            &tc,
            std::path::Path::new("/p"),
            &Default::default(),
            &target,
            None,
        )
        .unwrap();
        p.components[0].clone()
    };
    let std = plan("");
    assert!(std.env["CFLAGS"].contains("-fstack-protector-strong"));
    assert!(std.env["LDFLAGS"].ends_with("-Wl,-z,relro -Wl,-z,now"));
    let off = plan("[hardening]\ndisable = { stack-protector = \"a reason given here\" }");
    assert!(off.env["CFLAGS"].contains("-fno-stack-protector"));
    assert_eq!(
        off.hardening_disabled
            .get(&Protection::StackProtector)
            .map(String::as_str),
        Some("a reason given here")
    );
    assert_ne!(std.key, off.key);
    // The reason is part of the key too.
    let other = plan("[hardening]\ndisable = { stack-protector = \"another reason\" }");
    assert_ne!(off.key, other.key);
    // A definition's own CFLAGS keep the hardening.
    let own = plan("[env]\nCFLAGS = \"-O1 -DX\"");
    assert!(own.env["CFLAGS"].starts_with("-O1 -DX -fstack-protector-strong"));
}
