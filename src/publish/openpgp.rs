//! openpgp: the repository's signatures, made with the `pgp` crate (rPGP, the
//! crate the rpm writer already signs with): detached signatures
//! (`Release.gpg`, `repomd.xml.asc`), cleartext-signed text (`InRelease`) and
//! the public keys clients trust, each by one or more keys at once (key
//! rotation: old and new sign together).
//!
//! Hand-written on top of rPGP's packets because neither rPGP nor the rpm crate
//! signs one text with several keys into one block, which is what gpgv (apt)
//! and gpgme (dnf) read: one armoured block holding one signature per key.

use anyhow::{Context, Result, bail};
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{
    PacketTrait, SecretKey, SecretSubkey, Signature, SignatureConfig, SignatureType, Subpacket,
    SubpacketData,
};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, KeyVersion, Password, Timestamp};
use std::fmt;
use std::path::{Path, PathBuf};

/// The key (primary or subkey) that makes the signatures.
#[derive(Clone)]
enum Signer {
    Primary(SecretKey),
    Sub(SecretSubkey),
}

/// One repository signing key: an ASCII-armoured OpenPGP secret key file.
#[derive(Clone)]
pub struct RepoKey {
    key: SignedSecretKey,
    signer: Signer,
    passphrase: Option<String>,
    /// The key file, for messages.
    pub path: PathBuf,
    /// The primary key's fingerprint (upper-case hex), what clients see.
    pub fingerprint: String,
    /// When the signing key (or its primary) expires, unix seconds.
    pub expires: Option<u64>,
}

impl fmt::Debug for RepoKey {
    // The secret key never reaches a log or an error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoKey({})", self.fingerprint)
    }
}

/// Seconds since the epoch of a key's creation plus a validity period.
fn expiry(created: Timestamp, validity: Option<pgp::types::Duration>) -> Option<u64> {
    let secs = validity?.as_secs();
    (secs > 0).then(|| u64::from(created.as_secs()) + u64::from(secs))
}

impl RepoKey {
    /// Load the first usable key of an armoured secret key file; `passphrase`
    /// unlocks a protected one. The signing subkey is preferred, as gpg does.
    pub fn load(path: &Path, passphrase: Option<String>) -> Result<RepoKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the repository signing key {}", path.display()))?;
        let bad = |why: String| {
            anyhow::anyhow!(
                "{}: not an ASCII-armoured OpenPGP secret key that can sign ({why})",
                path.display()
            )
        };
        let (mut keys, _) =
            SignedSecretKey::from_string_many(&text).map_err(|e| bad(e.to_string()))?;
        let key = keys
            .next()
            .ok_or_else(|| bad("no key in the file".into()))?
            .map_err(|e| bad(e.to_string()))?;
        key.verify_bindings().map_err(|e| bad(e.to_string()))?;
        let primary_expiry = key
            .details
            .users
            .iter()
            .flat_map(|u| u.signatures.iter())
            .chain(key.details.direct_signatures.iter())
            .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0))
            .and_then(|s| expiry(key.primary_key.created_at(), s.key_expiration_time()));
        let sub = key
            .secret_subkeys
            .iter()
            .find(|s| s.signatures.iter().any(|sig| sig.key_flags().sign()));
        let (signer, sub_expiry) = match sub {
            Some(s) => (
                Signer::Sub(s.key.clone()),
                s.signatures
                    .iter()
                    .find_map(|sig| expiry(s.key.created_at(), sig.key_expiration_time())),
            ),
            None => {
                let can_sign = key
                    .details
                    .users
                    .iter()
                    .flat_map(|u| u.signatures.iter())
                    .any(|s| s.key_flags().sign());
                if !can_sign {
                    return Err(bad("neither the primary key nor a subkey may sign".into()));
                }
                (Signer::Primary(key.primary_key.clone()), None)
            }
        };
        let expires = match (primary_expiry, sub_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(RepoKey {
            fingerprint: hex::encode_upper(key.primary_key.fingerprint().as_bytes()),
            key,
            signer,
            passphrase,
            path: path.to_path_buf(),
            expires,
        })
    }

    /// The public half, for clients.
    pub fn public(&self) -> SignedPublicKey {
        self.key.to_public_key()
    }

    /// A signature of `data` of type `typ` made at `time` (unix seconds).
    fn sign(&self, typ: SignatureType, data: &[u8], time: u64) -> Result<Signature> {
        let pw = Password::from(self.passphrase.clone().unwrap_or_default());
        let (alg, fingerprint, key_id, version) = match &self.signer {
            Signer::Primary(k) => (
                k.algorithm(),
                k.fingerprint(),
                k.legacy_key_id(),
                k.version(),
            ),
            Signer::Sub(k) => (
                k.algorithm(),
                k.fingerprint(),
                k.legacy_key_id(),
                k.version(),
            ),
        };
        if version != KeyVersion::V4 {
            bail!(
                "{}: only version 4 OpenPGP keys are supported (apt's and rpm's verifiers read no other)",
                self.path.display()
            );
        }
        let mut config = SignatureConfig::v4(typ, alg, HashAlgorithm::Sha256);
        let t = Timestamp::from_secs(u32::try_from(time).unwrap_or(u32::MAX));
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(t))?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(fingerprint))?,
        ];
        config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::IssuerKeyId(key_id))?];
        let sig = match &self.signer {
            Signer::Primary(k) => config.sign(k, &pw, data),
            Signer::Sub(k) => config.sign(k, &pw, data),
        };
        sig.map_err(|e| anyhow::anyhow!("signing with {}: {e}", self.path.display()))
    }
}

/// Several packets written as one: one armoured block for all signatures or keys.
struct Packets<'a, T>(&'a [T]);

impl Serialize for Packets<'_, Signature> {
    fn to_writer<W: std::io::Write>(&self, w: &mut W) -> pgp::errors::Result<()> {
        self.0.iter().try_for_each(|s| s.to_writer_with_header(w))
    }
    fn write_len(&self) -> usize {
        self.0.iter().map(|s| s.write_len_with_header()).sum()
    }
}

impl Serialize for Packets<'_, SignedPublicKey> {
    fn to_writer<W: std::io::Write>(&self, w: &mut W) -> pgp::errors::Result<()> {
        self.0.iter().try_for_each(|k| k.to_writer(w))
    }
    fn write_len(&self) -> usize {
        self.0.iter().map(|k| k.write_len()).sum()
    }
}

fn armor(source: &impl Serialize, typ: pgp::armor::BlockType) -> Result<String> {
    let mut out = Vec::new();
    pgp::armor::write(source, typ, &mut out, None, true)?;
    Ok(String::from_utf8(out)?)
}

/// One armoured detached signature block of `data` by every key in `keys`
/// (`Release.gpg`, `repomd.xml.asc`), made at `time`.
pub fn detached(keys: &[RepoKey], data: &[u8], time: u64) -> Result<String> {
    let sigs: Vec<Signature> = keys
        .iter()
        .map(|k| k.sign(SignatureType::Binary, data, time))
        .collect::<Result<_>>()?;
    armor(&Packets(&sigs), pgp::armor::BlockType::Signature)
}

/// `text` in the cleartext signature framework, signed by every key in `keys`
/// (`InRelease`), made at `time`.
pub fn cleartext(keys: &[RepoKey], text: &str, time: u64) -> Result<String> {
    // The closure must return rPGP's error type: a signing failure is kept
    // here and returned as ours.
    let mut failure = None;
    let msg = CleartextSignedMessage::new_many(text, |normalized| {
        match keys
            .iter()
            .map(|k| k.sign(SignatureType::Text, normalized.as_bytes(), time))
            .collect::<Result<Vec<_>>>()
        {
            Ok(sigs) => Ok(sigs),
            Err(e) => {
                failure = Some(e);
                Ok(vec![])
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(msg.to_armored_string(ArmorOptions::default())?)
}

/// The public keys of `keys`, armoured (dnf's `gpgkey`, apt's `.asc`).
pub fn public_armored(keys: &[RepoKey]) -> Result<String> {
    let public: Vec<SignedPublicKey> = keys.iter().map(RepoKey::public).collect();
    armor(&Packets(&public), pgp::armor::BlockType::PublicKey)
}

/// The public keys of `keys` as a binary keyring (apt's `signed-by` file).
pub fn public_binary(keys: &[RepoKey]) -> Result<Vec<u8>> {
    let public: Vec<SignedPublicKey> = keys.iter().map(RepoKey::public).collect();
    Ok(Packets(&public).to_bytes()?)
}

/// How a key's expiry bears on publishing now (unix seconds `now`): an expired
/// key is an error (clients refuse its signatures: EXPKEYSIG), one that
/// expires within 30 days a warning.
pub fn expiry_warning(key: &RepoKey, now: u64) -> Result<Option<String>> {
    const MONTH: u64 = 30 * 86400;
    let Some(at) = key.expires else {
        return Ok(None);
    };
    let date = crate::util::rfc2822_utc(at);
    if at <= now {
        bail!(
            "the repository signing key {} ({}) expired on {date}: clients refuse its signatures; extend it (gpg --quick-set-expire) or sign with a new key",
            key.fingerprint,
            key.path.display()
        );
    }
    Ok((at - now < MONTH).then(|| {
        format!(
            "the repository signing key {} ({}) expires on {date}, in {} days: once it has, every client's update fails; extend it (gpg --quick-set-expire) and publish again, or add a new key beside it (--key OLD --key NEW) and ship the new public key",
            key.fingerprint,
            key.path.display(),
            (at - now) / 86400
        )
    }))
}
