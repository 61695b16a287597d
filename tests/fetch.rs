//! The fetcher against a real HTTP server on 127.0.0.1.

mod common;
use common::*;
use ferrobus::fetch::{FetchOptions, SourceCache, fetch_all};
use ferrobus::plan::Source;
use std::path::Path;

fn source(data: &[u8], urls: Vec<String>) -> Source {
    Source {
        sha256: sha256(data),
        urls,
        debian: None,
        file_name: "thing-1.0.tar.gz".into(),
    }
}

fn opts() -> FetchOptions {
    FetchOptions {
        attempts: 3,
        debian_archives: Some(vec![]),
        ..Default::default()
    }
}

fn fetch(cache: &Path, src: &Source, o: &FetchOptions) -> anyhow::Result<std::path::PathBuf> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = SourceCache::new(cache);
    rt.block_on(fetch_all(&[("thing".into(), src.clone())], &c, o))
        .map(|mut v| v.remove(0).1)
}

#[test]
fn http_mirror_is_tried_first_then_upstream() {
    let srv = Server::start();
    let data = noise(50_000, 1);
    srv.add("/upstream/thing-1.0.tar.gz", data.clone());
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&data, vec![srv.url("/upstream/thing-1.0.tar.gz")]);
    let mut o = opts();
    o.mirrors = vec![srv.url("/mirror")];
    let p = fetch(tmp.path(), &src, &o).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), data);
    let paths: Vec<String> = srv.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        vec!["/mirror/thing-1.0.tar.gz", "/upstream/thing-1.0.tar.gz"]
    );
}

#[test]
fn mirror_that_has_the_file_wins_and_upstream_is_not_asked() {
    let srv = Server::start();
    let data = noise(10_000, 2);
    srv.add("/mirror/thing-1.0.tar.gz", data.clone());
    srv.add("/upstream/thing-1.0.tar.gz", data.clone());
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&data, vec![srv.url("/upstream/thing-1.0.tar.gz")]);
    let mut o = opts();
    o.mirrors = vec![srv.url("/mirror/")];
    fetch(tmp.path(), &src, &o).unwrap();
    assert_eq!(srv.seen().len(), 1);
    // A directory mirror holding files by name needs no network at all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thing-1.0.tar.gz"), &data).unwrap();
    let tmp2 = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.offline = true;
    o.mirrors = vec![dir.path().display().to_string()];
    let p = fetch(tmp2.path(), &src, &o).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), data);
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn dropped_connection_is_retried_and_resumed() {
    let srv = Server::start();
    let data = noise(200_000, 3);
    srv.add("/f.tar.gz", data.clone());
    srv.cut("/f.tar.gz", 70_000, 1);
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&data, vec![srv.url("/f.tar.gz")]);
    let p = fetch(tmp.path(), &src, &opts()).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), data);
    let seen = srv.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=70000-"));
}

#[test]
fn partial_download_from_an_earlier_run_is_resumed() {
    let srv = Server::start();
    let data = noise(120_000, 4);
    srv.add("/f.tar.gz", data.clone());
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&data, vec![srv.url("/f.tar.gz")]);
    std::fs::create_dir_all(tmp.path().join("partial")).unwrap();
    std::fs::write(
        tmp.path()
            .join("partial")
            .join(format!("{}.part", src.sha256)),
        &data[..50_000],
    )
    .unwrap();
    let p = fetch(tmp.path(), &src, &opts()).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), data);
    let seen = srv.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].range.as_deref(), Some("bytes=50000-"));
}

#[test]
fn connection_cut_on_every_attempt_never_reaches_the_cache() {
    let srv = Server::start();
    let data = noise(100_000, 5);
    srv.add("/f.tar.gz", data.clone());
    srv.cut("/f.tar.gz", 1_000, 10); // every attempt is cut
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&data, vec![srv.url("/f.tar.gz")]);
    let e = fetch(tmp.path(), &src, &opts()).unwrap_err().to_string();
    assert!(e.contains("f.tar.gz"), "{e}");
    assert!(!tmp.path().join(&src.sha256).exists());
}

#[test]
fn sha256_mismatch_is_a_clear_error_and_nothing_is_cached() {
    let srv = Server::start();
    let good = noise(30_000, 6);
    let evil = noise(30_000, 7);
    srv.add("/f.tar.gz", evil.clone());
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&good, vec![srv.url("/f.tar.gz")]);
    let e = format!("{:#}", fetch(tmp.path(), &src, &opts()).unwrap_err());
    assert!(e.contains("sha256 mismatch"), "{e}");
    assert!(e.contains(&sha256(&evil)), "{e}");
    assert!(e.contains(&src.sha256), "{e}");
    assert!(!tmp.path().join(&src.sha256).exists());
    assert!(
        !tmp.path()
            .join("partial")
            .join(format!("{}.part", src.sha256))
            .exists(),
        "bad bytes must not be kept for a later resume"
    );
}

#[test]
fn every_source_unreachable_lists_each_url_tried() {
    let srv = Server::start();
    // A port with nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let data = noise(100, 8);
    let tmp = tempfile::tempdir().unwrap();
    let mut src = source(
        &data,
        vec![
            srv.url("/missing/thing-1.0.tar.gz"),
            format!("http://127.0.0.1:{closed}/thing-1.0.tar.gz"),
        ],
    );
    src.debian = Some("thing_1.0.orig.tar.gz".into());
    let mut o = opts();
    o.mirrors = vec![srv.url("/m")];
    o.debian_archives = Some(vec![srv.url("/debian")]);
    let e = format!("{:#}", fetch(tmp.path(), &src, &o).unwrap_err());
    for u in [
        srv.url("/m/thing-1.0.tar.gz"),
        srv.url("/missing/thing-1.0.tar.gz"),
        format!("http://127.0.0.1:{closed}/thing-1.0.tar.gz"),
        srv.url("/debian/pool/main/t/thing/thing_1.0.orig.tar.gz"),
    ] {
        assert!(e.contains(&u), "missing {u} in:\n{e}");
    }
    assert!(e.contains("404"), "{e}");
}

#[test]
fn debian_archive_is_the_last_fallback() {
    let srv = Server::start();
    let data = noise(40_000, 9);
    srv.add(
        "/debian/pool/main/libt/libthing/libthing_1.0.orig.tar.gz",
        data.clone(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = source(&data, vec![srv.url("/upstream-gone/libthing-1.0.tar.gz")]);
    src.debian = Some("libthing_1.0.orig.tar.gz".into());
    let mut o = opts();
    o.debian_archives = Some(vec![srv.url("/debian")]);
    fetch(tmp.path(), &src, &o).unwrap();
    let paths: Vec<String> = srv.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        vec![
            "/upstream-gone/libthing-1.0.tar.gz",
            "/debian/pool/main/libt/libthing/libthing_1.0.orig.tar.gz"
        ]
    );
}

#[test]
fn offline_uses_the_warm_cache_and_fails_cold() {
    let srv = Server::start();
    let data = noise(20_000, 10);
    srv.add("/f.tar.gz", data.clone());
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&data, vec![srv.url("/f.tar.gz")]);
    fetch(tmp.path(), &src, &opts()).unwrap();
    let n = srv.seen().len();
    let mut o = opts();
    o.offline = true;
    let p = fetch(tmp.path(), &src, &o).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), data);
    assert_eq!(srv.seen().len(), n, "offline must not touch the network");
    let cold = tempfile::tempdir().unwrap();
    let e = format!("{:#}", fetch(cold.path(), &src, &o).unwrap_err());
    assert!(e.contains("offline"), "{e}");
    assert_eq!(srv.seen().len(), n);
}
