//! sign: OpenPGP signatures of the packages, with the `rpm` crate's signer (the
//! `pgp` crate underneath).
//!
//! The key is an ASCII-armoured OpenPGP secret key (`gpg --export-secret-keys
//! --armor`), named on the command line or by `FERROBUS_SIGNING_KEY`, never in
//! the project file; its passphrase, if any, comes from
//! `FERROBUS_SIGNING_PASSPHRASE`. Every signature is made at SOURCE_DATE_EPOCH,
//! or at the key's creation if the key is younger (gpg refuses a signature older
//! than its key), so a signed package is as reproducible as an unsigned one (RSA
//! and EdDSA signatures are deterministic). What is signed: the rpm's header
//! (`rpm -K`), the deb's `debian-binary`, `control.tar` and `data.tar` (a
//! detached signature in the `_gpgorigin` member, as debsigs writes it), and
//! `SHA256SUMS` (`SHA256SUMS.sig`), which covers every other file in dist/.

use anyhow::{Context, Result};
use rpm::signature::pgp::{Signer, Verifier};
use rpm::signature::{Signing, Verifying};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A loaded signing key.
#[derive(Clone)]
pub struct SigningKey {
    signer: Signer,
    /// The key file, for messages.
    path: PathBuf,
    /// sha256 of the key file: what identifies the key in package ids.
    id: String,
    /// Creation time of the newest key in the file.
    created: u64,
}

impl fmt::Debug for SigningKey {
    // The secret key never reaches a log, an error or a cache key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(sha256:{})", self.id)
    }
}

impl SigningKey {
    /// sha256 of the key file: what identifies the key (never the key itself).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Load an armoured secret key; `passphrase` unlocks a protected one.
    pub fn load(path: &Path, passphrase: Option<String>) -> Result<SigningKey> {
        let data = std::fs::read(path)
            .with_context(|| format!("reading the signing key {}", path.display()))?;
        let mut signer = Signer::from_asc_bytes(&data).map_err(|e| {
            anyhow::anyhow!(
                "{}: not an ASCII-armoured OpenPGP secret key with a signing key: {e}",
                path.display()
            )
        })?;
        if let Some(p) = passphrase {
            signer = signer.with_key_passphrase(p);
        }
        Ok(SigningKey {
            signer,
            path: path.to_path_buf(),
            id: crate::util::sha256_bytes(&data),
            created: newest_key(&data).unwrap_or(0),
        })
    }

    /// The key named on the command line (or by `FERROBUS_SIGNING_KEY`), if any,
    /// unlocked with `FERROBUS_SIGNING_PASSPHRASE` when that is set.
    pub fn from_option(path: Option<&Path>) -> Result<Option<SigningKey>> {
        path.map(|p| SigningKey::load(p, std::env::var("FERROBUS_SIGNING_PASSPHRASE").ok()))
            .transpose()
    }

    /// When signatures are made: SOURCE_DATE_EPOCH, or the key's creation if later.
    pub fn signing_time(&self, epoch: u64) -> u64 {
        epoch.max(self.created)
    }

    /// The rpm crate's signer, for the rpm header signature.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// A detached binary OpenPGP signature of `data`, made at `epoch`.
    pub fn detached(&self, data: impl Read, epoch: u64) -> Result<Vec<u8>> {
        self.signer
            .sign(data, rpm::Timestamp(self.signing_time(epoch) as u32))
            .map_err(|e| anyhow::anyhow!("signing with {}: {e}", self.path.display()))
    }
}

/// The creation time of the newest primary key or subkey in an armoured secret
/// key file.
fn newest_key(armoured: &[u8]) -> Option<u64> {
    use pgp::composed::{Deserializable, SignedSecretKey};
    use pgp::types::KeyDetails;
    let text = std::str::from_utf8(armoured).ok()?;
    let (keys, _) = SignedSecretKey::from_string_many(text).ok()?;
    keys.filter_map(|k| k.ok())
        .flat_map(|k| {
            let subs: Vec<u32> = k
                .secret_subkeys
                .iter()
                .map(|s| s.key.created_at().as_secs())
                .collect();
            subs.into_iter()
                .chain([k.primary_key.created_at().as_secs()])
        })
        .max()
        .map(u64::from)
}

fn verifier(public_key: &[u8]) -> Result<Verifier> {
    Verifier::from_asc_bytes(public_key)
        .map_err(|e| anyhow::anyhow!("not an ASCII-armoured OpenPGP public key: {e}"))
}

/// Check a detached signature of `data` against the armoured public key(s) in
/// `public_key`.
pub fn verify_detached(public_key: &[u8], data: impl Read, signature: &[u8]) -> Result<()> {
    verifier(public_key)?
        .verify(data, signature)
        .map_err(|e| anyhow::anyhow!("bad signature: {e}"))
}

/// An rpm's header signature checked against the armoured public key(s).
pub fn verify_rpm(public_key: &[u8], pkg: &rpm::Package) -> Result<()> {
    pkg.verify_signature(verifier(public_key)?)
        .map_err(|e| anyhow::anyhow!("bad or missing signature: {e}"))
}

/// Sign `dist/SHA256SUMS` into `SHA256SUMS.sig`, or remove a stale
/// `SHA256SUMS.sig` when there is no key.
pub fn sign_sums(dist: &Path, key: Option<&SigningKey>, epoch: u64) -> Result<Option<PathBuf>> {
    let sig = dist.join("SHA256SUMS.sig");
    let Some(key) = key else {
        let _ = std::fs::remove_file(&sig);
        return Ok(None);
    };
    let sums = std::fs::read(dist.join("SHA256SUMS"))?;
    crate::util::write_atomic(&sig, &key.detached(&sums[..], epoch)?)?;
    Ok(Some(sig))
}
