//! authenticode: Authenticode signatures of the Windows bundle's executables
//! and of its MSI, made and checked by Debian's `osslsigncode` (the one
//! maintained implementation of Authenticode outside Windows that signs both
//! PE files and MSI databases; no Rust crate does either).
//!
//! Reproducible: no timestamp server is asked, and the signing time is
//! SOURCE_DATE_EPOCH (`-time`), so the same file and key give the same bytes
//! (RSA PKCS#1 v1.5 signatures are deterministic). The key comes from a file
//! or the environment, never from the project: `--codesign FILE` or
//! `FERROBUS_CODESIGN` (a PKCS#12 file, a PEM file with the key and the
//! certificates, or that PEM text itself); a PKCS#12 password from
//! `FERROBUS_CODESIGN_PASSWORD`.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The signing tool.
pub const TOOL: &str = "osslsigncode";

/// A code-signing key and its certificates.
#[derive(Clone)]
pub struct CodeSign {
    /// What osslsigncode is given: PKCS#12, or PEM certificates and key.
    material: Material,
    /// The directory of the files written for osslsigncode.
    _dir: Arc<tempfile::TempDir>,
    /// The sha256 of the signing certificate (identifies the key in reports).
    pub id: String,
}

#[derive(Clone)]
enum Material {
    Pkcs12 { file: PathBuf, pass: PathBuf },
    Pem { certs: PathBuf, key: PathBuf },
}

impl std::fmt::Debug for CodeSign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodeSign({})", self.id)
    }
}

impl CodeSign {
    /// Load `spec`: a path to a `.p12`/`.pfx` or PEM file, or PEM text.
    /// `password` unlocks a PKCS#12 file.
    pub fn load(spec: &str, password: Option<String>) -> Result<CodeSign> {
        let dir = Arc::new(
            tempfile::Builder::new()
                .prefix("ferrobus-codesign-")
                .tempdir()?,
        );
        let (text, what) = if spec.trim_start().starts_with("-----BEGIN") {
            (spec.as_bytes().to_vec(), "FERROBUS_CODESIGN".to_string())
        } else {
            let p = Path::new(spec);
            let data = fs::read(p).with_context(|| format!("code-signing key {}", p.display()))?;
            (data, p.display().to_string())
        };
        let is_pem = text.windows(10).any(|w| w == b"-----BEGIN");
        let material = if is_pem {
            let pem = String::from_utf8_lossy(&text);
            let (mut certs, mut key) = (String::new(), String::new());
            for part in pem_blocks(&pem) {
                if part.contains("PRIVATE KEY-----") {
                    key.push_str(&part);
                } else if part.contains("BEGIN CERTIFICATE-----") {
                    certs.push_str(&part);
                }
            }
            if key.is_empty() || certs.is_empty() {
                bail!("{what}: a PEM code-signing key needs a private key and its certificate");
            }
            if key.contains("ENCRYPTED") {
                bail!(
                    "{what}: an encrypted PEM key is not supported; use PKCS#12 with FERROBUS_CODESIGN_PASSWORD"
                );
            }
            let (c, k) = (dir.path().join("certs.pem"), dir.path().join("key.pem"));
            fs::write(&c, &certs)?;
            write_private(&k, key.as_bytes())?;
            Material::Pem { certs: c, key: k }
        } else {
            let file = dir.path().join("key.p12");
            write_private(&file, &text)?;
            let pass = dir.path().join("pass");
            write_private(&pass, password.unwrap_or_default().as_bytes())?;
            Material::Pkcs12 { file, pass }
        };
        let mut cs = CodeSign {
            material,
            _dir: dir,
            id: String::new(),
        };
        // Sign a tiny PE: proves the key, the certificates and the password
        // work, and yields the signer's certificate digest.
        cs.id = cs
            .probe()
            .with_context(|| format!("{what}: not a usable code-signing key"))?;
        Ok(cs)
    }

    /// The certificate digest, from a signature made on an empty PE file.
    fn probe(&self) -> Result<String> {
        let dir = tempfile::tempdir()?;
        let exe = dir.path().join("probe.exe");
        fs::write(&exe, minimal_pe())?;
        self.sign(&exe, 0, "probe")?;
        let out = Command::new(TOOL)
            .args(["extract-signature", "-pem", "-in"])
            .arg(&exe)
            .arg("-out")
            .arg(dir.path().join("sig.pem"))
            .output()?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(crate::util::sha256_file(&dir.path().join("sig.pem"))?[..16].to_string())
    }

    /// Sign `file` in place (PE or MSI), its signing time `epoch`, its
    /// description `name`.
    pub fn sign(&self, file: &Path, epoch: u64, name: &str) -> Result<()> {
        let out = file.with_extension("signing");
        let _ = fs::remove_file(&out);
        let mut cmd = Command::new(TOOL);
        cmd.arg("sign");
        match &self.material {
            Material::Pkcs12 { file, pass } => {
                cmd.arg("-pkcs12").arg(file).arg("-readpass").arg(pass);
            }
            Material::Pem { certs, key } => {
                cmd.arg("-certs").arg(certs).arg("-key").arg(key);
            }
        }
        cmd.args(["-h", "sha256", "-n", name, "-time", &epoch.to_string()])
            .arg("-in")
            .arg(file)
            .arg("-out")
            .arg(&out);
        let res = cmd
            .output()
            .with_context(|| format!("running {TOOL} (Debian's osslsigncode package)"))?;
        if !res.status.success() {
            let _ = fs::remove_file(&out);
            bail!(
                "{TOOL} sign {}: {}{}",
                file.display(),
                String::from_utf8_lossy(&res.stdout),
                String::from_utf8_lossy(&res.stderr)
            );
        }
        fs::rename(&out, file)?;
        Ok(())
    }
}

/// The PEM blocks of `text`, each with its BEGIN and END lines.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            cur = Some(String::new());
        }
        if let Some(c) = &mut cur {
            c.push_str(line);
            c.push('\n');
        }
        if line.starts_with("-----END ") {
            out.extend(cur.take());
        }
    }
    out
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    Ok(())
}

/// The smallest valid PE32+ image osslsigncode signs: DOS header, PE header,
/// optional header with 16 data directories, no sections.
fn minimal_pe() -> Vec<u8> {
    let mut b = vec![0u8; 0x200];
    b[0..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    b[0x40..0x44].copy_from_slice(b"PE\0\0");
    b[0x44..0x46].copy_from_slice(&0x8664u16.to_le_bytes()); // machine
    b[0x54..0x56].copy_from_slice(&240u16.to_le_bytes()); // optional header size
    b[0x56..0x58].copy_from_slice(&0x22u16.to_le_bytes()); // characteristics
    let o = 0x58;
    b[o..o + 2].copy_from_slice(&0x20bu16.to_le_bytes()); // PE32+
    b[o + 32..o + 36].copy_from_slice(&0x1000u32.to_le_bytes()); // section alignment
    b[o + 36..o + 40].copy_from_slice(&0x200u32.to_le_bytes()); // file alignment
    b[o + 56..o + 60].copy_from_slice(&0x1000u32.to_le_bytes()); // size of image
    b[o + 60..o + 64].copy_from_slice(&0x200u32.to_le_bytes()); // size of headers
    b[o + 68..o + 70].copy_from_slice(&3u16.to_le_bytes()); // console subsystem
    b[o + 108..o + 112].copy_from_slice(&16u32.to_le_bytes()); // data directories
    b
}

/// One file's Authenticode check.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The file (for files inside an MSI, its path in the bundle).
    pub file: String,
    /// It carries a signature (good or not).
    pub signed: bool,
    /// Signed, the digest matches the content, and (with a trust anchor) the
    /// chain verifies.
    pub ok: bool,
    /// The signer's subject, when signed.
    pub signer: Option<String>,
    /// What failed, or what was checked.
    pub detail: String,
}

/// Check the Authenticode signature of `file` (PE or MSI) with osslsigncode:
/// against `ca` (the certificates to trust) if given, else the content digest
/// only (the chain is reported as not checked).
pub fn verify(file: &Path, label: &str, ca: Option<&Path>) -> Result<Verified> {
    let mut cmd = Command::new(TOOL);
    cmd.arg("verify");
    if let Some(ca) = ca {
        cmd.arg("-CAfile").arg(ca);
    }
    cmd.arg("-in").arg(file);
    let out = cmd
        .output()
        .with_context(|| format!("running {TOOL} (Debian's osslsigncode package)"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `Name    : value` lines; a PE reports its digests as "message digest",
    // an MSI as "DigitalSignature".
    let field = |names: &[&str]| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            names
                .contains(&k.trim())
                .then(|| v.split_whitespace().next().unwrap_or_default().to_string())
                .filter(|v| !v.is_empty())
        })
    };
    let signer = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Subject:")
            .map(|v| v.trim().to_string())
    });
    let current = field(&["Current message digest", "Current DigitalSignature"]);
    let calculated = field(&["Calculated message digest", "Calculated DigitalSignature"]);
    let digest_ok = current.is_some() && current == calculated;
    let signed = current.is_some();
    let (ok, detail) = if current.is_none() {
        (false, "not signed".to_string())
    } else if !digest_ok {
        (
            false,
            format!(
                "the content does not match its signature (signed digest {}, content {})",
                current.unwrap_or_default(),
                calculated.unwrap_or_default()
            ),
        )
    } else if ca.is_some() {
        if out.status.success() {
            (true, "signature and certificate chain verified".to_string())
        } else {
            let why = text
                .lines()
                .find(|l| l.trim_start().starts_with("Error:"))
                .unwrap_or("the certificate chain does not verify")
                .trim()
                .to_string();
            (false, why)
        }
    } else {
        (
            true,
            "content digest verified (certificate chain not checked: no --authenticode-ca)"
                .to_string(),
        )
    };
    Ok(Verified {
        file: label.to_string(),
        signed,
        ok,
        signer,
        detail,
    })
}
