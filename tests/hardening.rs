//! The health check's hardening report agrees with Debian's `hardening-check`
//! (devscripts) file by file: on programs and a library compiled here with and
//! without each hardening flag, and on real binaries of the host.

mod common;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

const C: &str = r#"#include <stdio.h>
#include <string.h>
int work(const char *s) { char b[64]; strcpy(b, s); printf("%s\n", b); return (int)strlen(b); }
int main(int argc, char **argv) { return work(argc > 1 ? argv[1] : "x") > 100; }
"#;

/// What `hardening-check` says of one file, in the health check's words.
fn reference(file: &Path) -> BTreeMap<&'static str, String> {
    let out = Command::new("hardening-check").arg(file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in {text}"))
            .trim()
            .to_string()
    };
    let yes_no = |v: String| {
        (if v.starts_with("yes") {
            "true"
        } else {
            "false"
        })
        .to_string()
    };
    let pie = get("Position Independent Executable:");
    let pie = match () {
        _ if pie.starts_with("yes") => "yes",
        _ if pie.contains("shared library") => "library",
        _ => "no",
    };
    let sp = get("Stack protected:");
    let sp = match () {
        _ if sp.starts_with("yes") => "true",
        _ if sp.starts_with("unknown") => "null",
        _ => "false",
    };
    let fo = get("Fortify Source functions:");
    let fo = match () {
        _ if fo.starts_with("yes") => "yes",
        _ if fo.starts_with("unknown") => "nothing-to-protect",
        _ => "no",
    };
    [
        ("pie", pie.to_string()),
        ("stack_protector", sp.to_string()),
        ("fortify", fo.to_string()),
        ("relro", yes_no(get("Read-only relocations:"))),
        ("bind_now", yes_no(get("Immediate binding:"))),
        ("cf_protection", yes_no(get("Control flow integrity:"))),
    ]
    .into()
}

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
        let want = reference(&tree.join(file));
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
