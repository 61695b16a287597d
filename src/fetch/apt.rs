//! The Debian source archive the host's apt is configured for.
//!
//! Debian's `.orig.tar.*` files are usually the upstream tarballs byte for byte, so
//! the archive's `pool/` is a fallback for sources whose upstream site is
//! unreachable. The archive's address is read from the apt configuration at run
//! time, never written into definitions.

use std::fs;
use std::path::PathBuf;

/// Base URLs (e.g. `http://<mirror>/debian`) of the Debian archives apt uses.
/// `FERROBUS_APT_SOURCES` (a file or directory) replaces `/etc/apt` as the place
/// to read from.
pub fn debian_archives() -> Vec<String> {
    let roots: Vec<PathBuf> = match std::env::var_os("FERROBUS_APT_SOURCES") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            PathBuf::from("/etc/apt/sources.list"),
            PathBuf::from("/etc/apt/sources.list.d"),
        ],
    };
    let mut files = Vec::new();
    for r in roots {
        if r.is_dir() {
            if let Ok(rd) = fs::read_dir(&r) {
                let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                files.extend(v);
            }
        } else if r.is_file() {
            files.push(r);
        }
    }
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        let uris = if f.extension().is_some_and(|e| e == "sources") {
            deb822_uris(&text)
        } else {
            one_line_uris(&text)
        };
        for u in uris {
            let u = u.trim_end_matches('/').to_string();
            if is_debian_archive(&u) && !out.contains(&u) {
                out.push(u);
            }
        }
    }
    out
}

/// A Debian archive's URL ends in `/debian` (not `/debian-security`, not a
/// third-party repository).
fn is_debian_archive(uri: &str) -> bool {
    (uri.starts_with("http://") || uri.starts_with("https://") || uri.starts_with("file:/"))
        && uri.rsplit('/').next() == Some("debian")
}

fn deb822_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut enabled = true;
        let mut uris = Vec::new();
        for line in para.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("URIs:") {
                uris.extend(v.split_whitespace().map(String::from));
            } else if let Some(v) = line.strip_prefix("Enabled:") {
                enabled = v.trim() != "no";
            }
        }
        if enabled {
            out.extend(uris);
        }
    }
    out
}

fn one_line_uris(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deb ") || l.starts_with("deb-src "))
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.contains("://"))
                .map(String::from)
        })
        .collect()
}

/// The pool URL of a Debian orig tarball, e.g. `openssl_3.5.7.orig.tar.gz` →
/// `<base>/pool/main/o/openssl/openssl_3.5.7.orig.tar.gz`.
pub fn pool_url(base: &str, file: &str) -> Option<String> {
    let pkg = file.split('_').next()?;
    if pkg.is_empty() || pkg == file {
        return None;
    }
    let dir = if pkg.starts_with("lib") && pkg.len() > 3 {
        &pkg[..4]
    } else {
        &pkg[..1]
    };
    Some(format!("{base}/pool/main/{dir}/{pkg}/{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_paths() {
        assert_eq!(
            pool_url("http://m/debian", "libffi_3.4.8.orig.tar.gz").unwrap(),
            "http://m/debian/pool/main/libf/libffi/libffi_3.4.8.orig.tar.gz"
        );
        assert_eq!(
            pool_url("http://m/debian", "zlib_1.3.orig.tar.gz").unwrap(),
            "http://m/debian/pool/main/z/zlib/zlib_1.3.orig.tar.gz"
        );
        assert!(pool_url("http://m/debian", "noversion.tar.gz").is_none());
    }

    #[test]
    fn parses_both_formats() {
        let d = "Types: deb\nURIs: http://a.example/debian\nSuites: x\n\nTypes: deb\nURIs: http://b.example/debian-security\n\nEnabled: no\nURIs: http://c.example/debian\n";
        let u: Vec<String> = deb822_uris(d)
            .into_iter()
            .filter(|u| is_debian_archive(u))
            .collect();
        assert_eq!(u, vec!["http://a.example/debian"]);
        let l = "# c\ndeb [arch=amd64] http://d.example/debian bookworm main\ndeb https://x.example/apt stable main\n";
        let u: Vec<String> = one_line_uris(l)
            .into_iter()
            .filter(|u| is_debian_archive(u))
            .collect();
        assert_eq!(u, vec!["http://d.example/debian"]);
    }
}
