//! Relocation and health check on real binaries: our in-place RPATH writer against
//! patchelf, corrupt input, glibc floors and libraries from outside the tree.

mod common;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(cmd: &str) {
    common::run(Command::new("sh").arg("-ec").arg(cmd));
}

fn readelf_d(p: &Path) -> String {
    let out = Command::new("readelf").arg("-d").arg(p).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // The string table's size and address are layout, not meaning.
        .filter(|l| !l.contains("(STRSZ)") && !l.contains("(STRTAB)"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tree built in a long build prefix: a library, a program linking it (RUNPATH),
/// the same program with an old-style RPATH, and copies of system binaries given
/// a long RUNPATH with patchelf.
fn build_tree(t: &Path) -> (PathBuf, PathBuf) {
    let prefix = t.join(format!("build/p{}", "_".repeat(60)));
    fs::create_dir_all(prefix.join("lib")).unwrap();
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::create_dir_all(prefix.join("lib/python3.13/lib-dynload")).unwrap();
    fs::write(
        t.join("greet.c"),
        "const char *greet(void) { return \"hello\"; }\n",
    )
    .unwrap();
    fs::write(
        t.join("main.c"),
        "#include <stdio.h>\nconst char *greet(void);\nint main(void) { puts(greet()); return 0; }\n",
    )
    .unwrap();
    let p = prefix.display();
    let d = t.display();
    sh(&format!(
        "cc -shared -fPIC -o {p}/lib/libgreet.so {d}/greet.c -Wl,-rpath,{p}/lib:/usr/local/lib && \
         cc -o {p}/bin/hello {d}/main.c -L{p}/lib -lgreet -Wl,-rpath,{p}/lib:{p}/lib/extra && \
         cc -o {p}/bin/hello-rpath {d}/main.c -L{p}/lib -lgreet -Wl,--disable-new-dtags -Wl,-rpath,{p}/lib && \
         cc -shared -fPIC -o {p}/lib/python3.13/lib-dynload/_mod.so {d}/greet.c -L{p}/lib -lgreet -Wl,-rpath,{p}/lib && \
         cp /usr/bin/ls {p}/bin/ls && patchelf --set-rpath {p}/lib {p}/bin/ls && \
         cp -L /lib/x86_64-linux-gnu/libz.so.1 {p}/lib/libz.so.1 && patchelf --set-rpath {p}/lib:/opt/elsewhere {p}/lib/libz.so.1"
    ));
    (prefix, t.join("build"))
}

#[test]
fn rpaths_match_what_patchelf_writes() {
    let t = tempfile::tempdir().unwrap();
    let (prefix, _) = build_tree(t.path());
    let ours = t.path().join("ours");
    let theirs = t.path().join("theirs");
    sh(&format!(
        "cp -a {0} {1} && cp -a {0} {2}",
        prefix.display(),
        ours.display(),
        theirs.display()
    ));
    let r = ferrobus::relocate::relocate(
        &ours,
        &ferrobus::relocate::Options {
            build_prefix: prefix.clone(),
            install_prefix: PathBuf::from("/opt/x/embedded"),
            strip: false,
            debug_dir: None,
            rpath_only: true,
            source_date_epoch: 1_700_000_000,
            build_python: None,
        },
    )
    .unwrap();
    assert_eq!(r.rpaths_rewritten, 6);
    let expected = [
        ("lib/libgreet.so", "$ORIGIN"),
        ("bin/hello", "$ORIGIN/../lib:$ORIGIN/../lib/extra"),
        ("bin/hello-rpath", "$ORIGIN/../lib"),
        ("lib/python3.13/lib-dynload/_mod.so", "$ORIGIN/../.."),
        ("bin/ls", "$ORIGIN/../lib"),
        ("lib/libz.so.1", "$ORIGIN"),
    ];
    for (f, rpath) in expected {
        // patchelf turns RPATH into RUNPATH unless told not to; we keep the tag.
        let force = if f.ends_with("-rpath") {
            "--force-rpath"
        } else {
            ""
        };
        sh(&format!(
            "patchelf {force} --set-rpath '{rpath}' {}",
            theirs.join(f).display()
        ));
        let a = readelf_d(&ours.join(f));
        let b = readelf_d(&theirs.join(f));
        assert_eq!(a, b, "{f}: ours vs patchelf");
        assert!(a.contains(&format!("[{rpath}]")), "{f}:\n{a}");
    }
    // The relocated programs run from anywhere, with the build prefix gone.
    let moved = t.path().join("moved/elsewhere");
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(&ours, &moved).unwrap();
    fs::rename(t.path().join("build"), t.path().join("build-gone")).unwrap();
    for prog in ["bin/hello", "bin/hello-rpath"] {
        let out = Command::new(moved.join(prog)).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n", "{prog}");
    }
}

#[test]
fn relocation_rewrites_strings_and_text_and_leaves_no_build_prefix() {
    let t = tempfile::tempdir().unwrap();
    let (prefix, _) = build_tree(t.path());
    let p = prefix.display().to_string();
    // A C string embedding the prefix, as OPENSSLDIR does.
    fs::write(t.path().join("dir.c"), format!("#include <stdio.h>\nconst char *d = \"{p}/ssl\";\nint main(void) {{ puts(d); return 0; }}\n")).unwrap();
    sh(&format!(
        "cc -o {p}/bin/showdir {}/dir.c",
        t.path().display()
    ));
    fs::write(
        prefix.join("bin/tool"),
        format!("#!{p}/bin/python3.13\nprint('x')\n"),
    )
    .unwrap();
    fs::write(
        prefix.join("bin/envpy"),
        "#!/usr/bin/env python3\nprint('y')\n",
    )
    .unwrap();
    fs::write(prefix.join("bin/perlish"), "#!/usr/bin/env perl\n").unwrap();
    fs::copy("/bin/true", prefix.join("bin/python3")).unwrap();
    fs::copy("/bin/true", prefix.join("bin/python3.13")).unwrap();
    sh(&format!(
        "chmod 755 {p}/bin/tool {p}/bin/envpy {p}/bin/perlish"
    ));
    fs::create_dir_all(prefix.join("lib/pkgconfig")).unwrap();
    fs::write(
        prefix.join("lib/pkgconfig/greet.pc"),
        format!("prefix={p}\nlibdir={p}/lib\n"),
    )
    .unwrap();
    fs::write(
        prefix.join("lib/libgreet.la"),
        format!("libdir='{p}/lib'\n"),
    )
    .unwrap();
    let install = PathBuf::from("/opt/x/embedded");
    let r = ferrobus::relocate::relocate(
        &prefix,
        &ferrobus::relocate::Options {
            build_prefix: prefix.clone(),
            install_prefix: install.clone(),
            strip: true,
            debug_dir: None,
            rpath_only: false,
            source_date_epoch: 1_700_000_000,
            build_python: None,
        },
    )
    .unwrap();
    assert_eq!(r.la_removed, 1);
    assert!(
        r.text_files >= 2 && r.binary_files >= 1 && r.stripped >= 5,
        "{r:?}"
    );
    let out = Command::new(prefix.join("bin/showdir")).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/opt/x/embedded/ssl\n"
    );
    // Python scripts, the tree's own and those run by "some python", now run
    // the tree's interpreter found relative to themselves.
    let launcher = |py: &str| {
        format!(
            "#!/bin/sh\n'''exec' \"$(dirname -- \"$(readlink -f -- \"$0\")\")/{py}\" \"$0\" \"$@\"\n' '''\n"
        )
    };
    assert_eq!(
        fs::read_to_string(prefix.join("bin/tool")).unwrap(),
        format!("{}print('x')\n", launcher("python3.13"))
    );
    assert_eq!(
        fs::read_to_string(prefix.join("bin/envpy")).unwrap(),
        format!("{}print('y')\n", launcher("python3"))
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(prefix.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    // Nothing mentions the build prefix any more, and the check agrees.
    let grep = Command::new("grep")
        .args(["-rl", &p])
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&grep.stdout)
    );
    let report = ferrobus::check::check(
        &prefix,
        &ferrobus::check::Policy {
            install_prefix: install,
            build_prefix: Some(prefix.clone()),
            build_paths: vec![],
            ..Default::default()
        },
    )
    .unwrap();
    let kinds: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.kind, p.path.clone()))
        .collect();
    // ls needs libselinux from the system, and a perl script stays perl's: the
    // expected findings, and the only ones.
    use ferrobus::check::Kind;
    let mut got = kinds.clone();
    got.sort();
    got.dedup();
    let expected = vec![
        (Kind::MissingLibrary, "bin/ls".to_string()),
        (Kind::Shebang, "bin/perlish".to_string()),
    ];
    assert_eq!(got, expected, "{}", report.render());
}

#[test]
fn corrupt_elf_is_refused_and_left_untouched() {
    let t = tempfile::tempdir().unwrap();
    let (prefix, _) = build_tree(t.path());
    let bad = prefix.join("lib/libbroken.so");
    let good = fs::read(prefix.join("lib/libgreet.so")).unwrap();
    fs::write(&bad, &good[..200]).unwrap();
    let e = ferrobus::relocate::relocate(
        &prefix,
        &ferrobus::relocate::Options {
            build_prefix: prefix.clone(),
            install_prefix: "/opt/x".into(),
            strip: false,
            debug_dir: None,
            rpath_only: false,
            source_date_epoch: 1_700_000_000,
            build_python: None,
        },
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("libbroken.so") && msg.contains("ELF"), "{msg}");
    assert_eq!(fs::read(&bad).unwrap(), &good[..200]);
    // Another class: a 64-bit file relabelled as 32-bit, and a file that only
    // starts like ELF. The check names them; nothing panics.
    let mut other = good.clone();
    other[4] = 1;
    fs::write(prefix.join("lib/libclass.so"), other).unwrap();
    fs::write(prefix.join("lib/notelf.so"), b"\x7fELFnot really").unwrap();
    let r = ferrobus::check::check(
        &prefix,
        &ferrobus::check::Policy {
            install_prefix: prefix.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let corrupt: Vec<&str> = r
        .problems
        .iter()
        .filter(|p| p.kind == ferrobus::check::Kind::CorruptElf)
        .map(|p| p.path.as_str())
        .collect();
    for f in ["lib/libbroken.so", "lib/notelf.so"] {
        assert!(corrupt.contains(&f), "{f} not reported:\n{}", r.render());
    }
    // Checked as an aarch64 tree, every (x86-64) ELF file is named as built
    // for another architecture; as an x86-64 tree, none is.
    let as_arch = |arch| {
        ferrobus::check::check(
            &prefix,
            &ferrobus::check::Policy {
                install_prefix: prefix.clone(),
                arch: Some(arch),
                ..Default::default()
            },
        )
        .unwrap()
    };
    use ferrobus::target::Arch;
    let r = as_arch(Arch::Aarch64);
    let wrong: Vec<&ferrobus::check::Problem> = r
        .problems
        .iter()
        .filter(|p| p.kind == ferrobus::check::Kind::WrongMachine)
        .collect();
    assert!(
        wrong
            .iter()
            .any(|p| p.path == "bin/ls" && p.detail == "built for x86_64, not aarch64"),
        "{}",
        r.render()
    );
    let r = as_arch(Arch::X86_64);
    assert!(
        !r.problems
            .iter()
            .any(|p| p.kind == ferrobus::check::Kind::WrongMachine),
        "{}",
        r.render()
    );
}

fn check_cli(dir: &Path, args: &[&str]) -> (bool, String) {
    let (status, out) = common::check(dir, args);
    (status.success(), out)
}

#[test]
fn glibc_floor_names_each_file_and_symbol() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::write(
        t.path().join("new.c"),
        "#include <stdlib.h>\n#include <stdio.h>\nint main(void) { unsigned char b[4]; arc4random_buf(b, 4); printf(\"%d\\n\", b[0] & 0); return 0; }\n",
    )
    .unwrap();
    sh(&format!(
        "cc -o {}/bin/new {}/new.c",
        tree.display(),
        t.path().display()
    ));
    let (ok, out) = check_cli(&tree, &["--glibc-floor", "2.17"]);
    assert!(!ok);
    assert!(out.contains("symbol versions above the floor"), "{out}");
    assert!(
        out.contains("bin/new: GLIBC_2.36 > floor 2.17: arc4random_buf"),
        "{out}"
    );
    assert!(
        out.contains("bin/new: GLIBC_2.34 > floor 2.17: __libc_start_main"),
        "{out}"
    );
    // At the host's own floor the same tree passes.
    let (ok, out) = check_cli(&tree, &["--glibc-floor", "2.36"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("highest GLIBC version needed: 2.36 (bin/new)"),
        "{out}"
    );
}

#[test]
fn a_library_from_outside_the_tree_is_named() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::copy("/usr/bin/curl", tree.join("bin/curl")).unwrap();
    let (ok, out) = check_cli(&tree, &[]);
    assert!(!ok);
    assert!(
        out.contains("bin/curl: needs libcurl.so.4: not in the tree"),
        "{out}"
    );
    // JSON output carries the same finding.
    let (_, json) = check_cli(&tree, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "missing-library"
                && p["detail"].as_str().unwrap().contains("libcurl.so.4"))
    );
    // In the tree but out of the rpath's reach: the system's copy would load.
    fs::create_dir_all(tree.join("lib")).unwrap();
    fs::write(tree.join("lib/libcurl.so.4"), b"").unwrap();
    let (_, out) = check_cli(&tree, &["--allow-lib", "libz.so.1"]);
    assert!(
        out.contains("needs libcurl.so.4, which is in the tree at lib/libcurl.so.4"),
        "{out}"
    );
}

#[test]
fn tree_hygiene_problems_are_reported() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("opt/app/embedded");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::write(tree.join("bin/script"), "#!/usr/bin/python3\n").unwrap();
    fs::write(tree.join("bin/ok"), "#!/opt/app/embedded/bin/python3\n").unwrap();
    fs::write(tree.join("bin/shell"), "#!/bin/sh\n").unwrap();
    fs::write(tree.join("open"), "x").unwrap();
    fs::write(tree.join("suid"), "x").unwrap();
    sh(&format!(
        "cd {} && chmod 755 bin/script bin/ok bin/shell && chmod 666 open && chmod 4755 suid && \
         ln -s missing dangling && ln -s ../../../../etc/passwd escape && ln -s /etc/passwd absolute && \
         ln -s /opt/app/embedded/bin/ok inside",
        tree.display()
    ));
    let (ok, out) = check_cli(&tree, &["--install-prefix", "/opt/app/embedded"]);
    assert!(!ok);
    for needle in [
        "bin/script: #!/usr/bin/python3",
        "open: mode 666",
        "suid: mode 4755",
        "dangling: -> missing (target does not exist)",
        "escape: -> ../../../../etc/passwd (leaves the tree)",
        "absolute: -> /etc/passwd (outside the install dir)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    for fine in ["bin/ok", "bin/shell", "inside"] {
        assert!(
            !out.contains(&format!("  {fine}:")),
            "{fine} flagged:\n{out}"
        );
    }
}
