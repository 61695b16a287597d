//! Bad definitions and hostile archives: clear errors naming file, line, key or
//! component, and no damage to caches.

mod common;
use common::*;
use std::fs;
use std::path::Path;

const ZLIB_LIKE: &str = r#"name = "alpha"
license = "MIT"
default_version = "1.0"
steps = ["true"]

[[version]]
version = "1.0"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
url = ["http://127.0.0.1:1/alpha-1.0.tar.gz"]
"#;

/// The project `p` (four lines) made of `components`.
fn project(dir: &Path, components: &[&str]) -> std::path::PathBuf {
    write_project(dir, "p", "1", components, "")
}

fn plan_err(dir: &Path, p: &Path) -> String {
    let cache = dir.join("cache");
    fs::create_dir_all(cache.join("sources")).unwrap();
    fs::write(cache.join("sources/keep"), "x").unwrap();
    let (ok, _, err) = ferrobus(&cache, &dir.join("b"), &["plan", p.to_str().unwrap()]);
    assert!(!ok, "plan should fail");
    assert_eq!(fs::read_to_string(cache.join("sources/keep")).unwrap(), "x");
    err
}

#[test]
fn malformed_toml_names_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &["alpha"]);
    write_def(
        t.path(),
        "alpha",
        &ZLIB_LIKE.replace("license = \"MIT\"", "license = \"MIT"),
    );
    let e = plan_err(t.path(), &p);
    assert!(e.contains("software-defs/alpha.toml:2:"), "{e}");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &["alpha"]);
    write_def(
        t.path(),
        "alpha",
        &ZLIB_LIKE.replace("steps =", "colour = \"blue\"\nsteps ="),
    );
    let e = plan_err(t.path(), &p);
    assert!(e.contains("alpha.toml:4:"), "{e}");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn unknown_key_in_a_version_table_and_in_the_project() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &["alpha"]);
    write_def(
        t.path(),
        "alpha",
        &ZLIB_LIKE.replace("url =", "md5 = \"x\"\nurl ="),
    );
    let e = plan_err(t.path(), &p);
    assert!(e.contains("alpha.toml:9:") && e.contains("md5"), "{e}");
    write_def(t.path(), "alpha", ZLIB_LIKE);
    fs::write(&p, format!("{}instal_dir = \"/x\"\n", read(&p))).unwrap();
    let e = plan_err(t.path(), &p);
    assert!(e.contains("p.toml:5:") && e.contains("instal_dir"), "{e}");
}

#[test]
fn wrong_type_and_missing_field() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &["alpha"]);
    write_def(
        t.path(),
        "alpha",
        &ZLIB_LIKE.replace("steps = [\"true\"]", "steps = \"true\""),
    );
    let e = plan_err(t.path(), &p);
    assert!(e.contains("alpha.toml:4:") && e.contains("steps"), "{e}");
    write_def(
        t.path(),
        "alpha",
        &ZLIB_LIKE.replace("sha256 = ", "#sha256 = "),
    );
    let e = plan_err(t.path(), &p);
    assert!(
        e.contains("alpha.toml") && e.contains("missing field `sha256`"),
        "{e}"
    );
}

#[test]
fn dependency_cycle_is_named() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &["alpha"]);
    write_def(
        t.path(),
        "alpha",
        &ZLIB_LIKE.replace("steps =", "depends = [\"beta\"]\nsteps ="),
    );
    write_def(
        t.path(),
        "beta",
        &ZLIB_LIKE
            .replace("\"alpha\"", "\"beta\"")
            .replace("steps =", "depends = [\"gamma\"]\nsteps ="),
    );
    write_def(
        t.path(),
        "gamma",
        &ZLIB_LIKE
            .replace("\"alpha\"", "\"gamma\"")
            .replace("steps =", "depends = [\"alpha\"]\nsteps ="),
    );
    let e = plan_err(t.path(), &p);
    assert!(
        e.contains("dependency cycle: alpha -> beta -> gamma -> alpha"),
        "{e}"
    );
}

#[test]
fn unknown_component_names_who_needs_it() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &["alpha"]);
    write_def(
        t.path(),
        "alpha",
        &ZLIB_LIKE.replace("steps =", "depends = [\"zeta\"]\nsteps ="),
    );
    let e = plan_err(t.path(), &p);
    assert!(e.contains("unknown component \"zeta\""), "{e}");
    assert!(e.contains("\"alpha\""), "{e}");
    let p = project(t.path(), &["omega"]);
    let e = plan_err(t.path(), &p);
    assert!(
        e.contains("unknown component \"omega\" in the project"),
        "{e}"
    );
}

#[test]
fn unknown_override_version_lists_known_versions() {
    let t = tempfile::tempdir().unwrap();
    let p = project(t.path(), &["alpha"]);
    write_def(t.path(), "alpha", ZLIB_LIKE);
    let (ok, _, e) = ferrobus(
        &t.path().join("c"),
        &t.path().join("b"),
        &["plan", p.to_str().unwrap(), "--override", "alpha=9.9"],
    );
    assert!(!ok);
    assert!(
        e.contains("alpha: version \"9.9\" (command line)") && e.contains("known: 1.0"),
        "{e}"
    );
}

// ---- hostile archives -------------------------------------------------------

/// A raw tar with one entry whose name is written byte for byte (the tar crate's
/// builder refuses such names, which is the point).
fn raw_tar(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_old();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn unpack_err(archive: Vec<u8>) -> (String, tempfile::TempDir) {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.tar.gz");
    fs::write(&a, archive).unwrap();
    let dest = t.path().join("root/out");
    let e = format!("{:#}", ferrobus::extract::unpack(&a, &dest).unwrap_err());
    (e, t)
}

#[test]
fn archive_with_dotdot_is_refused_and_writes_nothing() {
    let (e, t) = unpack_err(gz(&raw_tar(&[
        ("pkg/ok.txt", b'0', "", b"fine"),
        ("pkg/../../x", b'0', "", b"evil"),
    ])));
    assert!(e.contains("pkg/../../x") && e.contains(".."), "{e}");
    assert!(!t.path().join("root/x").exists());
    assert!(
        !t.path().join("root/out/pkg/ok.txt").exists(),
        "validated before writing"
    );
}

#[test]
fn archive_with_absolute_path_is_refused() {
    let (e, _t) = unpack_err(gz(&raw_tar(&[("/tmp/ferrobus-evil", b'0', "", b"evil")])));
    assert!(e.contains("absolute path /tmp/ferrobus-evil"), "{e}");
    assert!(!Path::new("/tmp/ferrobus-evil").exists());
}

#[test]
fn symlink_out_of_the_tree_is_refused() {
    let (e, _t) = unpack_err(gz(&raw_tar(&[("pkg/link", b'2', "../../etc", b"")])));
    assert!(e.contains("symlink pkg/link -> ../../etc"), "{e}");
    let (e, _t) = unpack_err(gz(&raw_tar(&[("pkg/link", b'2', "/etc/passwd", b"")])));
    assert!(e.contains("points out of the tree"), "{e}");
}

#[test]
fn hard_link_out_of_the_tree_is_refused() {
    let (e, _t) = unpack_err(gz(&raw_tar(&[("pkg/h", b'1', "../outside", b"")])));
    assert!(e.contains("hard link pkg/h -> ../outside"), "{e}");
}

#[test]
fn writing_through_an_inner_symlink_is_refused() {
    // The link itself stays inside, but an entry is then written "through" it.
    let (e, t) = unpack_err(gz(&raw_tar(&[
        ("pkg/sub", b'2', ".", b""),
        ("pkg/sub/file", b'0', "", b"data"),
    ])));
    assert!(e.contains("written through the symlink"), "{e}");
    assert!(!t.path().join("root/out/pkg/file").exists());
}

#[test]
fn safe_archives_unpack_in_every_format() {
    let tar = raw_tar(&[
        ("pkg/a.txt", b'0', "", b"hello"),
        ("pkg/l", b'2', "a.txt", b""),
        ("pkg/h", b'1', "pkg/a.txt", b""),
    ]);
    let t = tempfile::tempdir().unwrap();
    let xz = {
        let mut out = Vec::new();
        let mut e = liblzma::read::XzEncoder::new(&tar[..], 6);
        std::io::Read::read_to_end(&mut e, &mut out).unwrap();
        out
    };
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let bz = {
        let mut out = Vec::new();
        let mut e = bzip2::read::BzEncoder::new(&tar[..], bzip2::Compression::fast());
        std::io::Read::read_to_end(&mut e, &mut out).unwrap();
        out
    };
    for (name, data) in [
        ("a.tgz", gz(&tar)),
        ("a.txz", xz),
        ("a.tzst", zst),
        ("a.tbz", bz),
    ] {
        let a = t.path().join(name);
        fs::write(&a, data).unwrap();
        let dest = t.path().join(format!("out-{name}"));
        ferrobus::extract::unpack(&a, &dest).unwrap();
        let root = ferrobus::extract::source_root(&dest).unwrap();
        assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "hello");
        assert_eq!(fs::read_to_string(root.join("l")).unwrap(), "hello");
        assert_eq!(fs::read_to_string(root.join("h")).unwrap(), "hello");
    }
    // zip, with a hostile member too
    let mk_zip = |names: &[&str]| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for n in names {
            w.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, b"z").unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let a = t.path().join("ok.zip");
    fs::write(&a, mk_zip(&["pkg/z.txt"])).unwrap();
    ferrobus::extract::unpack(&a, &t.path().join("zout")).unwrap();
    assert_eq!(
        fs::read_to_string(t.path().join("zout/pkg/z.txt")).unwrap(),
        "z"
    );
    let a = t.path().join("bad.zip");
    fs::write(&a, mk_zip(&["pkg/../../evil.txt"])).unwrap();
    let e = format!(
        "{:#}",
        ferrobus::extract::unpack(&a, &t.path().join("zbad")).unwrap_err()
    );
    assert!(e.contains("evil.txt"), "{e}");
    assert!(!t.path().join("evil.txt").exists());
}

#[test]
fn garbage_is_not_an_archive() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("junk.tar.gz");
    fs::write(&a, b"<html>not found</html>").unwrap();
    let e = format!(
        "{:#}",
        ferrobus::extract::unpack(&a, &t.path().join("o")).unwrap_err()
    );
    assert!(
        e.contains("junk.tar.gz") && e.contains("not a supported archive"),
        "{e}"
    );
}
