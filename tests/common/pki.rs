//! A test PKI made with the host's openssl: a CA and a server certificate for
//! 127.0.0.1 (IP subject alternative name) it signed, valid two days.

#![allow(dead_code)] // each test binary uses part of it

use std::fs;
use std::path::Path;
use std::process::Command;

/// A test CA and a server certificate for 127.0.0.1 it signed, made with the
/// host's openssl: (ca.crt, server.pem, server.key).
pub fn test_pki(dir: &Path) -> [std::path::PathBuf; 3] {
    let ossl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        super::assert_success(&out, &format!("openssl {}", args.join(" ")));
    };
    ossl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=ferrobus test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    ossl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ossl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    ["ca.crt", "server.pem", "server.key"].map(|f| dir.join(f))
}
