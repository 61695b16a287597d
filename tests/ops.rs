//! The pipeline driven in process: `ops::build` on the zlib fixture (its source
//! served over HTTP on 127.0.0.1), and what its report says.

mod common;
use common::*;
use ferrobus::build::Outcome;
use ferrobus::check::Health;
use ferrobus::ops::{self, BuildOptions, Session};
use ferrobus::paths::Layout;
use ferrobus::target::TargetName;
use std::fs;

/// The demo project's text with its paths made absolute (so that a copy
/// anywhere finds the app and config).
fn demo_text() -> String {
    fs::read_to_string(repo().join("projects/demo-agent.toml"))
        .unwrap()
        .replace("\"../", &format!("\"{}/", repo().display()))
}

/// `ferrobus [--json] plan` of `text` written as `<dir>/projects/<name>.toml`,
/// with the repository's definitions: (success, stdout, stderr).
fn plan_text(dir: &std::path::Path, name: &str, text: &str, json: bool) -> (bool, String, String) {
    let p = dir.join(format!("projects/{name}.toml"));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    let defs = repo().join("software-defs").display().to_string();
    let p = p.display().to_string();
    let mut args = vec!["--defs", &defs, "plan", &p];
    if json {
        args.insert(0, "--json");
    }
    ferrobus(&dir.join("cache"), &dir.join("build"), &args)
}

fn options() -> BuildOptions {
    BuildOptions {
        fetch: ferrobus::fetch::FetchOptions {
            offline: false,
            mirrors: vec![],
            attempts: 2,
            progress: false,
            debian_archives: Some(vec![]),
            remote: None,
        },
        build: ferrobus::build::BuildOptions {
            jobs: 2,
            serial: false,
            keep_work: false,
            progress: false,
        },
        signing: None,
        codesign: None,
    }
}

#[test]
fn ops_build_runs_the_pipeline_in_process_and_reports_each_stage() {
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    let defs = d.path().join("software-defs");
    fs::create_dir_all(&defs).unwrap();
    fs::write(defs.join("zlib.toml"), zlib_def(&srv, "", "")).unwrap();
    let project = d.path().join("zl.toml");
    fs::write(
        &project,
        "name = \"zl\"\nversion = \"1.0\"\ninstall_dir = \"/opt/zl\"\ncomponents = [\"zlib\"]\n\
         [package]\nformats = [\"tar.zst\"]\n",
    )
    .unwrap();
    let layout = Layout::new(&d.path().join("cache"), &d.path().join("build")).unwrap();
    let dist = d.path().join("dist");
    let open = || Session::open(&project, Some(&defs), layout.clone(), &dist, None, &[]).unwrap();
    let s = open();
    assert_eq!(s.target.name, TargetName::LinuxX86_64);

    let r = ops::build(&s, &options()).unwrap();
    assert_eq!(r.project, "zl");
    assert_eq!(r.target, TargetName::LinuxX86_64);
    let outcomes: Vec<_> = r
        .components
        .iter()
        .map(|c| (&c.name[..], &c.outcome))
        .collect();
    assert_eq!(outcomes, [("zlib", &Outcome::Built)]);
    assert!(r.updated);
    assert!(r.embedded.join("lib/libz.so.1.3.1").is_file());
    let reloc = r.relocate.as_ref().expect("a fresh tree is relocated");
    assert!(reloc.rpaths_rewritten + reloc.stripped > 0, "{reloc:?}");
    match r.check.as_ref().expect("a fresh tree is checked") {
        Health::Elf(h) => {
            assert!(h.ok(), "{}", h.render());
            assert!(h.elf_files >= 1);
        }
        other => panic!("an ELF tree gave {other:?}"),
    }
    assert_eq!(r.packages.len(), 1);
    let pkg = &r.packages[0].path;
    assert!(
        pkg.ends_with("zl-1.0-1.linux-x86_64.tar.zst") || pkg.is_file(),
        "{pkg:?}"
    );
    assert!(pkg.is_file());
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let name = pkg.file_name().unwrap().to_string_lossy();
    assert!(sums.contains(&*name), "{sums}");
    assert!(
        r.provenance
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".cdx.json"))
    );

    // The same session again: nothing to do, and the report says so.
    let again = ops::build(&open(), &options()).unwrap();
    let outcomes: Vec<_> = again.components.iter().map(|c| &c.outcome).collect();
    assert_eq!(outcomes, [&Outcome::UpToDate]);
    assert!(!again.updated);
    assert!(again.relocate.is_none() && again.check.is_none());
    assert_eq!(
        again.packages[0].seconds, 0.0,
        "the package was not rewritten"
    );

    // The plan report of the same session: zlib is up to date in the prefix.
    let plan = ops::plan_report(&open()).unwrap();
    assert_eq!(plan.components.len(), 1);
    assert_eq!(plan.components[0].status, "up-to-date");
}

#[test]
fn a_target_the_project_does_not_list_is_refused_naming_its_targets() {
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("p.toml");
    fs::write(
        &project,
        "name = \"p\"\nversion = \"1\"\ninstall_dir = \"/opt/p\"\ncomponents = [\"zlib\"]\n",
    )
    .unwrap();
    let layout = Layout::new(&d.path().join("c"), &d.path().join("b")).unwrap();
    let e = Session::open(
        &project,
        None,
        layout,
        &d.path().join("dist"),
        Some(TargetName::WindowsX86_64),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("does not build for windows-x86_64") && e.contains("its targets: linux-x86_64"),
        "{e}"
    );
    // A target of another architecture than the host's is cross-compiled by
    // zig; the host compiler builds for the host only, and says so.
    fs::write(
        &project,
        "targets = [\"linux-aarch64\"]\nname = \"p\"\nversion = \"1\"\n\
         install_dir = \"/opt/p\"\ncomponents = [\"zlib\"]\n",
    )
    .unwrap();
    let layout = Layout::new(&d.path().join("c"), &d.path().join("b")).unwrap();
    let defs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("software-defs");
    let s = Session::open(
        &project,
        Some(&defs),
        layout,
        &d.path().join("dist"),
        None,
        &[],
    )
    .unwrap();
    let Err(e) = ops::plan(&s) else {
        panic!("a cross plan with the host compiler was made")
    };
    let e = format!("{e:#}");
    assert!(
        e.contains("compiler = \"host\"") && e.contains("aarch64"),
        "{e}"
    );
}

/// A linux-aarch64 plan is a cross plan: its own prefix beside the host's,
/// autoconf's --host, OpenSSL's target, and CPython's build interpreter the
/// host target's build of the same version, planned with it.
#[test]
fn an_aarch64_plan_cross_compiles_with_the_host_builds_python() {
    if ferrobus::toolchain::zig::find().is_err() {
        return common::skip(
            "zig",
            "scripts/deps installs it (the ziglang Python package)",
        );
    }
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("p.toml");
    fs::write(
        &project,
        "targets = [\"linux-x86_64\", \"linux-aarch64\"]\nname = \"p\"\nversion = \"1\"\n\
         install_dir = \"/opt/p\"\ncomponents = [\"python\"]\n\
         [toolchain]\ncompiler = \"zig\"\nglibc = \"2.17\"\n",
    )
    .unwrap();
    let layout = Layout::new(&d.path().join("c"), &d.path().join("b")).unwrap();
    let defs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("software-defs");
    let open = |t| {
        Session::open(
            &project,
            Some(&defs),
            layout.clone(),
            &d.path().join("dist"),
            Some(t),
            &[],
        )
        .unwrap()
    };
    let arm = ops::plan(&open(TargetName::LinuxAarch64)).unwrap();
    let x86 = ops::plan(&open(TargetName::LinuxX86_64)).unwrap();
    assert_eq!(arm.plan.slot, "p@aarch64");
    assert_eq!(x86.plan.slot, "p");
    assert_ne!(arm.plan.prefix, x86.plan.prefix);
    let host = arm.build_host.as_ref().expect("the build host's plan");
    assert_eq!(host.plan.prefix, x86.plan.prefix);
    let steps = |p: &ops::Planned, c: &str| p.plan.get(c).unwrap().steps.join("\n");
    let py = steps(&arm, "python");
    assert!(
        py.contains("--build=x86_64-linux-gnu --host=aarch64-linux-gnu"),
        "{py}"
    );
    let build_python = x86.plan.prefix.join("bin/python3");
    assert!(
        py.contains(&format!("--with-build-python={}", build_python.display())),
        "{py}"
    );
    assert!(steps(&arm, "openssl").contains("./Configure linux-aarch64 "));
    assert!(steps(&arm, "xz").contains("--host=aarch64-linux-gnu"));
    // Natively the placeholders leave nothing behind.
    for c in &x86.plan.components {
        let s = c.steps.join("\n");
        let left = ferrobus::plan::TARGET_PLACEHOLDERS
            .iter()
            .any(|v| s.contains(&format!("{{{v}}}")));
        assert!(
            !s.contains("--host=") && !s.contains("{cross:") && !left,
            "{}: {s}",
            c.name
        );
    }
    assert!(steps(&x86, "openssl").contains("./Configure --prefix="));
    // The compiled components are the target's own builds: no key is shared.
    for c in ["python", "openssl", "xz", "zlib"] {
        assert_ne!(
            arm.plan.get(c).unwrap().key,
            x86.plan.get(c).unwrap().key,
            "{c}"
        );
    }
}

/// A component that fails to cross-compile names itself, the target and its
/// log: zlib's configure knows no `--host`, so the same definition that
/// builds natively fails for linux-aarch64.
#[test]
fn a_component_failing_to_cross_compile_names_itself_the_target_and_its_log() {
    if ferrobus::toolchain::zig::find().is_err() {
        return common::skip(
            "zig",
            "scripts/deps installs it (the ziglang Python package)",
        );
    }
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    let defs = d.path().join("software-defs");
    fs::create_dir_all(&defs).unwrap();
    fs::write(defs.join("zlib.toml"), zlib_def(&srv, " {host_flags}", "")).unwrap();
    let project = d.path().join("zl.toml");
    fs::write(
        &project,
        "name = \"zl\"\nversion = \"1.0\"\ninstall_dir = \"/opt/zl\"\ncomponents = [\"zlib\"]\n\
         targets = [\"linux-x86_64\", \"linux-aarch64\"]\n\
         [toolchain]\ncompiler = \"zig\"\nglibc = \"2.17\"\n[package]\nformats = [\"tar.zst\"]\n",
    )
    .unwrap();
    let layout = Layout::new(&d.path().join("cache"), &d.path().join("build")).unwrap();
    let s = Session::open(
        &project,
        Some(&defs),
        layout,
        &d.path().join("dist"),
        Some(TargetName::LinuxAarch64),
        &[],
    )
    .unwrap();
    let Err(e) = ops::build(&s, &options()) else {
        panic!("the cross build of a zlib whose configure knows no --host succeeded")
    };
    let e = format!("{e:#}");
    let log = d.path().join("build/zl@aarch64/logs/zlib.log");
    assert!(
        e.contains("component zlib failed (target linux-aarch64)"),
        "{e}"
    );
    assert!(e.contains(&log.display().to_string()), "{e}");
    assert!(common::read(&log).contains("unknown option: --build=x86_64-linux-gnu"));
    // Nothing of it reached the dist, and the prefix records no zlib.
    assert!(
        !d.path()
            .join("dist")
            .join("zl-1.0-1.linux-aarch64.tar.zst")
            .exists()
    );
}

/// Bad settings fail `ferrobus plan` at load, before anything is fetched or
/// built: fast, with `file:line:col` and the valid values.
#[test]
fn bad_settings_fail_plan_in_under_a_second_naming_line_column_and_valid_values() {
    let d = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = fs::read_to_string(repo.join("projects/demo-agent.toml")).unwrap();
    let cases = [
        (
            "formats = [\"tar.xz\", \"tar.zst\", \"deb\"",
            "formats = [\"debb\"",
            "`deb`",
        ),
        (
            "[package.rpm]\n",
            "[package.rpm]\ncompression = \"lz4\"\n",
            "`zstd`",
        ),
        (
            "[package.rpm]\n",
            "[package.sh]\ncompression = \"bz2\"\n[package.rpm]\n",
            "`gzip` or `xz`",
        ),
        (
            "compiler = \"zig\"",
            "compiler = \"clang\"",
            "`host` or `zig`",
        ),
        (
            "[[service]]\n",
            "[[service]]\nrestart = \"sometimes\"\n",
            "`on-failure`",
        ),
        (
            "targets = [\"linux-x86_64\", ",
            "targets = [\"windows-arm64\", \"linux-x86_64\", ",
            "`windows-x86_64`",
        ),
    ];
    for (from, to, valid) in cases {
        assert!(demo.contains(from), "the demo project has no {from:?}");
        let text = demo.replacen(from, to, 1);
        let bad = to.split('"').nth(1).unwrap();
        let line = text[..text.find(&format!("\"{bad}\"")).unwrap()]
            .matches('\n')
            .count()
            + 1;
        let p = d.path().join("projects/bad.toml");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &text).unwrap();
        let t = std::time::Instant::now();
        let (ok, _, err) = ferrobus(
            &d.path().join("cache"),
            &d.path().join("build"),
            &[
                "--defs",
                &repo.join("software-defs").display().to_string(),
                "plan",
                &p.display().to_string(),
            ],
        );
        let secs = t.elapsed().as_secs_f64();
        assert!(!ok, "{to:?} was accepted");
        assert!(secs < 1.0, "{to:?}: plan took {secs:.2}s to fail");
        let at = format!("bad.toml:{line}:");
        assert!(
            err.contains(&at) && err.contains(valid),
            "{to:?}: wanted {at} and {valid}: {err}"
        );
    }
}

/// `[provenance] deny_licenses` fails `ferrobus plan` before anything is
/// fetched, naming the component and its license; a bad pattern names its line.
/// The default stack is GPL-free (CPython's readline module uses libedit); a
/// project that picks GNU readline is refused by a GPL policy.
#[test]
fn a_denied_license_fails_plan_naming_the_component() {
    let d = tempfile::tempdir().unwrap();
    let demo = demo_text();
    let plan = |extra: &str| plan_text(d.path(), "deny", &format!("{demo}\n{extra}\n"), false);
    let readline = "[choices.python]\nline_editing = \"readline\"\n";
    let (ok, out, err) = plan("[provenance]\ndeny_licenses = [\"GPL-*\", \"LGPL-*\", \"AGPL-*\"]");
    assert!(ok, "the default stack is not GPL-free: {err}");
    assert!(
        out.contains("libedit") && !out.contains("readline "),
        "the default plan does not use libedit alone: {out}"
    );
    assert!(out.contains("line_editing = libedit"), "{out}");
    let (ok, _, err) = plan(&format!(
        "{readline}[provenance]\ndeny_licenses = [\"GPL-3.0-or-later\"]"
    ));
    assert!(!ok, "a GPL component passed the policy");
    assert!(
        err.contains("component readline ")
            && err.contains("license GPL-3.0-or-later is denied")
            && err.contains("deny.toml"),
        "{err}"
    );
    let (ok, _, err) = plan(&format!(
        "{readline}[provenance]\ndeny_licenses = [\"GPL-*\"]"
    ));
    assert!(!ok && err.contains("component readline "), "{err}");
    let (ok, out, err) = plan(&format!(
        "{readline}[provenance]\ndeny_licenses = [\"AGPL-*\"]"
    ));
    assert!(
        ok && out.contains("readline ") && !out.contains("libedit"),
        "{err}"
    );
    assert!(out.contains("line_editing = readline"), "{out}");
    let (ok, _, err) = plan("[provenance]\ndeny_licenses = [\"GPL-[\"]");
    assert!(
        !ok && err.contains("deny.toml:") && err.contains("not an SPDX id or glob"),
        "{err}"
    );
}

/// A choice the definitions do not offer fails `plan` at its line, listing
/// what there is.
#[test]
fn a_bad_choice_fails_plan_at_its_line() {
    let d = tempfile::tempdir().unwrap();
    let demo = demo_text();
    let line = demo.lines().count() + 4;
    for (table, pick, wanted) in [
        (
            "python",
            "line_editing = \"editline\"",
            "options: libedit, readline",
        ),
        ("python", "line_edit = \"libedit\"", "has no such choice"),
        (
            "openssl",
            "line_editing = \"libedit\"",
            "has no such choice (",
        ),
        ("nosuch", "x = \"y\"", "there is no component \"nosuch\""),
        ("readline", "x = \"y\"", "has no such choice"),
    ] {
        let text = format!("{demo}\n\n[choices.{table}]\n{pick}\n");
        let (ok, _, err) = plan_text(d.path(), "choice", &text, false);
        assert!(!ok, "{pick} was accepted");
        let at = format!("choice.toml:{line}:");
        assert!(
            err.contains(&at) && err.contains(wanted),
            "{pick}: wanted {at} and {wanted}: {err}"
        );
    }
}

/// `[provenance.licenses]` as plan sees it, before anything is built: a name
/// that is neither locked nor the application fails at its line, naming the
/// lock; an expression that is not SPDX fails at load, at its line and column;
/// the deny policy judges a stated license; `manifest` shows the stated ones.
#[test]
fn stated_licenses_are_checked_by_plan_at_their_line() {
    let d = tempfile::tempdir().unwrap();
    let demo = demo_text();
    let line = demo.lines().count() + 3;
    let text = |entries: &str| format!("{demo}\n[provenance.licenses]\n{entries}\n");
    let lock = repo().join("examples/demo-agent/requirements.lock");

    let (ok, _, err) = plan_text(d.path(), "stated", &text("text-unidecode = \"MIT\""), false);
    assert!(!ok, "a name the lock does not have was accepted");
    let want = format!(
        "stated.toml:{line}:18: [provenance.licenses] states the license of text-unidecode, \
         which is neither locked in {} (locked: psutil, pyyaml) nor the application (demo-agent)",
        lock.display()
    );
    assert!(err.contains(&want), "wanted {want}: {err}");

    let (ok, _, err) = plan_text(
        d.path(),
        "stated",
        &text("PyYAML = \"MIT/Apache-2.0\""),
        false,
    );
    assert!(
        !ok && err.contains(&format!(
            "stated.toml:{line}:10: [provenance.licenses] PyYAML"
        )) && err.contains("is not an SPDX license expression"),
        "{err}"
    );

    let denied = format!(
        "{}[provenance]\ndeny_licenses = [\"GPL-*\"]\n",
        text("psutil = \"GPL-3.0-only\"")
    );
    let (ok, _, err) = plan_text(d.path(), "stated", &denied, false);
    assert!(
        !ok && err.contains(
            "Python distribution psutil 7.2.2 (license stated in [provenance.licenses]): \
             license GPL-3.0-only is denied"
        ),
        "{err}"
    );

    // Stated for a locked distribution (any spelling of its name) and for the
    // application: the manifest has them before the build reads any metadata.
    let ok_text = text("PyYAML = \"MIT OR Apache-2.0\"\n\"Demo_Agent\" = \"Apache-2.0\"");
    assert!(plan_text(d.path(), "stated", &ok_text, false).0);
    let defs = repo().join("software-defs").display().to_string();
    let p = d.path().join("projects/stated.toml").display().to_string();
    let (ok, out, err) = ferrobus(
        &d.path().join("cache"),
        &d.path().join("build"),
        &["--defs", &defs, "--json", "manifest", &p],
    );
    assert!(ok, "{err}");
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pyyaml = m["python_distributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "pyyaml")
        .unwrap();
    assert_eq!(pyyaml["license"], "MIT OR Apache-2.0");
    assert_eq!(pyyaml["license_stated"], "MIT OR Apache-2.0");
    assert!(pyyaml["license_metadata"].is_null(), "{pyyaml}");
    assert_eq!(m["app"]["license_stated"], "Apache-2.0");
    assert_eq!(m["app"]["license_metadata"], "Apache-2.0");
}

/// `[toolchain] hardening = false` (for measuring the hardening's cost) turns
/// every protection off in every component's flags and changes every key;
/// the default plan has them all on.
#[test]
fn hardening_off_turns_every_flag_off() {
    let d = tempfile::tempdir().unwrap();
    let demo = demo_text();
    let plan = |text: &str| -> serde_json::Value {
        let (ok, out, err) = plan_text(d.path(), "plain", text, true);
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let on = plan(&demo);
    let off = plan(&demo.replacen("[toolchain]\n", "[toolchain]\nhardening = false\n", 1));
    let (on, off) = (
        on["components"].as_array().unwrap(),
        off["components"].as_array().unwrap(),
    );
    assert_eq!(on.len(), off.len());
    for (a, b) in on.iter().zip(off) {
        let (fa, fb) = (
            a["env"]["CFLAGS"].to_string(),
            b["env"]["CFLAGS"].to_string(),
        );
        assert!(
            fa.contains("-fstack-protector-strong") && fa.contains("-D_FORTIFY_SOURCE=2"),
            "{fa}"
        );
        assert!(
            fb.contains("-fno-stack-protector") && fb.contains("-U_FORTIFY_SOURCE"),
            "{fb}"
        );
        assert!(
            b["env"]["LDFLAGS"].to_string().contains("-no-pie"),
            "{}",
            b["env"]
        );
        assert_ne!(
            a["key"], b["key"],
            "{}: same key with and without hardening",
            a["name"]
        );
    }
}
