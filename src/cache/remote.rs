//! cache::remote: the cache shared between machines, in an OCI registry.
//!
//! Any registry that speaks the distribution spec stores ferrobus' cached
//! things as OCI artifacts: one image manifest per key, tagged `<kind>-<key>`
//! (`component-…`, `wheel-…`, `source-<sha256>`), with the artifact type
//! `application/vnd.ferrobus.<kind>.v1`, the empty config, and the thing's
//! files as layers. The protocol is oci-client's; this module decides what is
//! pushed and what a pull must prove before it is used:
//!
//! - every blob is checked against its digest while it is pulled (a blob whose
//!   bytes do not match is refused, named, and its key is never pushed from
//!   this run: the local build replaces it only on this machine);
//! - the manifest must name the kind and key that were asked for;
//! - with a signing key or trusted keys configured, the manifest must carry an
//!   Ed25519 signature over its kind, key and layer digests by a trusted key
//!   (so a registry an attacker can write to cannot inject a binary).
//!
//! A registry that cannot be reached, or fails mid-build, is warned about once
//! and then left alone: the build goes on locally. Pushing the same key twice
//! (two machines at once) is harmless: blobs are content-addressed and both
//! manifests describe a valid artifact of that key.

use anyhow::{Context, Result, bail};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable naming the remote cache (`oci://HOST[:PORT]/REPO`).
pub const ENV_REMOTE: &str = "FERROBUS_CACHE_REMOTE";
/// Set (to anything but `0`) for a read-only remote cache: pull, never push.
pub const ENV_READ_ONLY: &str = "FERROBUS_CACHE_REMOTE_READ_ONLY";
/// An Ed25519 private key (PKCS#8 PEM, or the path of a file holding it) that
/// signs what is pushed; its public key is trusted for pulls.
pub const ENV_SIGNING_KEY: &str = "FERROBUS_CACHE_SIGNING_KEY";
/// Paths of Ed25519 public keys (SPKI PEM), `:`-separated, whose signatures
/// pulls accept. With this or a signing key set, unsigned manifests are refused.
pub const ENV_TRUSTED_KEYS: &str = "FERROBUS_CACHE_TRUSTED_KEYS";
/// A bearer token for the registry (else the docker config's `auths`).
pub const ENV_TOKEN: &str = "FERROBUS_CACHE_TOKEN";

const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const ANNOTATION_KEY: &str = "dev.ferrobus.key";
const ANNOTATION_KIND: &str = "dev.ferrobus.kind";
const ANNOTATION_NAME: &str = "dev.ferrobus.name";
const ANNOTATION_SIGNATURE: &str = "dev.ferrobus.signature.ed25519";
const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// What is cached remotely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A component's artifact (a tar.zst of its files and manifest).
    Component,
    /// A wheel built from an sdist, with the record of its source.
    Wheel,
    /// A source archive, by its sha256.
    Source,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::Wheel => "wheel",
            Kind::Source => "source",
        }
    }
}

/// One file of a cached thing: a layer.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Its file name (the layer's title).
    pub title: String,
    /// Its media type.
    pub media_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// One transfer (or a miss, or a refusal), for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// What kind of thing.
    pub kind: Kind,
    /// Its name (component, distribution or file).
    pub name: String,
    /// `pulled`, `pushed`, `present` (already there), `miss` or `refused`.
    pub action: &'static str,
    /// Bytes moved.
    pub bytes: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// How the remote cache is configured for one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RemoteSpec {
    /// `oci://HOST[:PORT]/REPO` (`oci+http://` for a plain-HTTP registry;
    /// `localhost` and `127.*` are plain HTTP, as container tools have them).
    pub url: String,
    /// Pull only.
    pub read_only: bool,
    /// Show a progress bar per transfer (on a terminal).
    #[serde(skip)]
    pub progress: bool,
}

impl RemoteSpec {
    /// The spec from the command line (`url`, `read_only`), else the
    /// environment, else the project (`project`: its `[cache]`).
    pub fn choose(
        cli: Option<&str>,
        cli_read_only: bool,
        project: Option<&RemoteSpec>,
    ) -> Option<RemoteSpec> {
        let env_ro = std::env::var(ENV_READ_ONLY).is_ok_and(|v| !v.is_empty() && v != "0");
        let url = cli
            .map(String::from)
            .or_else(|| std::env::var(ENV_REMOTE).ok().filter(|v| !v.is_empty()));
        match url {
            Some(url) if url == "none" => None,
            Some(url) => Some(RemoteSpec {
                url,
                read_only: cli_read_only || env_ro,
                progress: false,
            }),
            None => project.map(|p| RemoteSpec {
                url: p.url.clone(),
                read_only: p.read_only || cli_read_only || env_ro,
                progress: false,
            }),
        }
    }
}

/// Where the remote is, parsed.
#[derive(Debug, Clone)]
struct Location {
    registry: String,
    repository: String,
    http: bool,
}

fn parse_url(url: &str) -> Result<Location> {
    let (http, rest) = if let Some(r) = url.strip_prefix("oci+http://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("oci://") {
        (false, r)
    } else {
        bail!("remote cache {url}: expected oci://HOST[:PORT]/REPOSITORY");
    };
    let Some((registry, repository)) = rest.split_once('/') else {
        bail!(
            "remote cache {url}: no repository after the registry (oci://HOST[:PORT]/REPOSITORY)"
        );
    };
    let repository = repository.trim_end_matches('/');
    let valid = !repository.is_empty()
        && repository.split('/').all(|c| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
        });
    if !valid {
        bail!(
            "remote cache {url}: \"{repository}\" is not a repository name (lowercase letters, digits, . _ - and /)"
        );
    }
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    let local = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    Ok(Location {
        registry: registry.to_string(),
        repository: repository.to_string(),
        http: http || local,
    })
}

/// The credentials for `registry`: the token variable, else the docker
/// config's `auths` (`$DOCKER_CONFIG/config.json`, `~/.docker/config.json`),
/// else none. Read by hand: only the `auths` map is used (no credential
/// helpers), which needs no crate.
fn credentials(registry: &str) -> Result<RegistryAuth> {
    if let Ok(t) = std::env::var(ENV_TOKEN)
        && !t.is_empty()
    {
        return Ok(RegistryAuth::Bearer(t));
    }
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    let Some(file) = dir.map(|d| d.join("config.json")).filter(|f| f.is_file()) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let text = std::fs::read_to_string(&file)?;
    let conf: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let entry = conf["auths"].as_object().and_then(|a| {
        a.iter()
            .find(|(k, _)| {
                k.trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    == registry
            })
            .map(|(_, v)| v.clone())
    });
    let Some(e) = entry else {
        return Ok(RegistryAuth::Anonymous);
    };
    if let (Some(u), Some(p)) = (e["username"].as_str(), e["password"].as_str()) {
        return Ok(RegistryAuth::Basic(u.into(), p.into()));
    }
    if let Some(a) = e["auth"].as_str() {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a)
            .with_context(|| format!("{}: auths.{registry}.auth is not base64", file.display()))?;
        let s = String::from_utf8_lossy(&raw).into_owned();
        if let Some((u, p)) = s.split_once(':') {
            return Ok(RegistryAuth::Basic(u.into(), p.into()));
        }
    }
    Ok(RegistryAuth::Anonymous)
}

/// A PEM from a variable: the PEM itself, or the path of a file holding it.
fn pem_of(value: &str, what: &str) -> Result<String> {
    if value.contains("-----BEGIN") {
        return Ok(value.to_string());
    }
    std::fs::read_to_string(value).with_context(|| format!("{what}: reading {value}"))
}

/// The remote cache of one run.
pub struct Remote {
    spec: RemoteSpec,
    loc: Location,
    auth: RegistryAuth,
    client: Client,
    rt: tokio::runtime::Runtime,
    signing: Option<SigningKey>,
    trusted: Vec<VerifyingKey>,
    down: Mutex<Option<String>>,
    refused: Mutex<BTreeSet<String>>,
    events: Mutex<Vec<Event>>,
    warnings: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.spec.url)
    }
}

/// The bytes a manifest's signature covers.
fn signed_text(kind: Kind, key: &str, layers: &[OciDescriptor]) -> String {
    let mut s = format!("ferrobus-cache-v1\n{}\n{key}\n", kind.as_str());
    for l in layers {
        s.push_str(&l.digest);
        s.push('\n');
    }
    s
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", crate::util::sha256_bytes(data))
}

/// A transport failure (the registry is down or broken), as opposed to an
/// answer about the thing asked for.
fn is_transport(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::RequestError(_) | E::IoError(_) => true,
        E::ServerError { code, .. } => *code >= 500,
        _ => false,
    }
}

impl Remote {
    /// Open the remote of `spec` (nothing is contacted yet). Errors name what
    /// is misconfigured: the URL, a key.
    pub fn open(spec: &RemoteSpec) -> Result<Remote> {
        let loc = parse_url(&spec.url)?;
        let auth = credentials(&loc.registry)?;
        let signing = match std::env::var(ENV_SIGNING_KEY) {
            Ok(v) if !v.is_empty() => {
                let pem = pem_of(&v, ENV_SIGNING_KEY)?;
                Some(SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                    anyhow::anyhow!(
                        "{ENV_SIGNING_KEY}: not an Ed25519 private key in PKCS#8 PEM: {e}"
                    )
                })?)
            }
            _ => None,
        };
        let mut trusted: Vec<VerifyingKey> = signing.iter().map(|k| k.verifying_key()).collect();
        if let Ok(v) = std::env::var(ENV_TRUSTED_KEYS) {
            for p in v.split(':').filter(|p| !p.is_empty()) {
                let pem = pem_of(p, ENV_TRUSTED_KEYS)?;
                trusted.push(VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
                    anyhow::anyhow!(
                        "{ENV_TRUSTED_KEYS}: {p} is not an Ed25519 public key in PEM: {e}"
                    )
                })?);
            }
        }
        let config = ClientConfig {
            protocol: if loc.http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(Duration::from_secs(5)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        Ok(Remote {
            spec: spec.clone(),
            loc,
            auth,
            client: Client::new(config),
            rt,
            signing,
            trusted,
            down: Mutex::new(None),
            refused: Mutex::new(BTreeSet::new()),
            events: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
        })
    }

    /// The configured URL.
    pub fn url(&self) -> &str {
        &self.spec.url
    }

    /// True when this run pushes.
    pub fn writable(&self) -> bool {
        !self.spec.read_only
    }

    /// Every transfer so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Every warning so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn warn(&self, msg: String) {
        eprintln!("warning: {msg}");
        if let Ok(mut w) = self.warnings.lock() {
            w.push(msg);
        }
    }

    fn event(&self, kind: Kind, name: &str, action: &'static str, bytes: u64, t: Instant) {
        if let Ok(mut e) = self.events.lock() {
            e.push(Event {
                kind,
                name: name.to_string(),
                action,
                bytes,
                seconds: t.elapsed().as_secs_f64(),
            });
        }
    }

    fn is_down(&self) -> bool {
        self.down.lock().map(|d| d.is_some()).unwrap_or(true)
    }

    /// The registry failed: say so once; nothing more is tried in this run.
    fn went_down(&self, e: &dyn std::fmt::Display) {
        let Ok(mut d) = self.down.lock() else { return };
        if d.is_none() {
            *d = Some(e.to_string());
            drop(d);
            self.warn(format!(
                "remote cache {} failed ({e}): building locally; nothing more is pulled from or pushed to it in this run",
                self.spec.url
            ));
        }
    }

    fn reference(&self, kind: Kind, key: &str) -> Reference {
        Reference::with_tag(
            self.loc.registry.clone(),
            self.loc.repository.clone(),
            format!("{}-{key}", kind.as_str()),
        )
    }

    /// True when a pull of `key` was refused in this run (it is then never
    /// pushed from this run).
    pub fn was_refused(&self, key: &str) -> bool {
        self.refused.lock().is_ok_and(|r| r.contains(key))
    }

    /// The files of `kind`/`key` (named `name` in messages), or `None`: a
    /// miss, a registry that is down (warned once), or a refused artifact
    /// (warned, naming it and both digests).
    pub fn pull(&self, kind: Kind, key: &str, name: &str) -> Option<Vec<Blob>> {
        if self.is_down() {
            return None;
        }
        let t = Instant::now();
        match self.rt.block_on(self.pull_async(kind, key, name)) {
            Ok(Some(blobs)) => {
                let bytes = blobs.iter().map(|b| b.data.len() as u64).sum();
                self.event(kind, name, "pulled", bytes, t);
                Some(blobs)
            }
            Ok(None) => {
                self.event(kind, name, "miss", 0, t);
                None
            }
            Err(PullError::Down(e)) => {
                self.went_down(&e);
                None
            }
            Err(PullError::Refused(msg)) => {
                if let Ok(mut r) = self.refused.lock() {
                    r.insert(key.to_string());
                }
                self.event(kind, name, "refused", 0, t);
                self.warn(format!(
                    "remote cache: {} {name}: {msg}; refused, built locally, and not pushed again",
                    kind.as_str()
                ));
                None
            }
        }
    }

    async fn pull_async(
        &self,
        kind: Kind,
        key: &str,
        name: &str,
    ) -> std::result::Result<Option<Vec<Blob>>, PullError> {
        let r = self.reference(kind, key);
        let manifest = match self.client.pull_manifest(&r, &self.auth).await {
            Ok((OciManifest::Image(m), _)) => m,
            Ok((OciManifest::ImageIndex(_), _)) => {
                return Err(PullError::Refused(format!(
                    "{r} is an image index, not an artifact"
                )));
            }
            Err(e) if is_transport(&e) => return Err(PullError::Down(e.to_string())),
            Err(_) => return Ok(None),
        };
        let ann = manifest.annotations.clone().unwrap_or_default();
        if ann.get(ANNOTATION_KEY).map(String::as_str) != Some(key)
            || ann.get(ANNOTATION_KIND).map(String::as_str) != Some(kind.as_str())
        {
            return Err(PullError::Refused(format!(
                "the manifest tagged {} names another key or kind",
                r.tag().unwrap_or_default()
            )));
        }
        if !self.trusted.is_empty() {
            let Some(sig) = ann.get(ANNOTATION_SIGNATURE) else {
                return Err(PullError::Refused(
                    "its manifest is not signed, and a signature by a trusted key is required"
                        .into(),
                ));
            };
            use base64::Engine as _;
            let sig = base64::engine::general_purpose::STANDARD
                .decode(sig)
                .ok()
                .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok());
            let text = signed_text(kind, key, &manifest.layers);
            let ok = sig.is_some_and(|s| {
                self.trusted
                    .iter()
                    .any(|k| k.verify(text.as_bytes(), &s).is_ok())
            });
            if !ok {
                return Err(PullError::Refused(
                    "its manifest's signature is not by a trusted key".into(),
                ));
            }
        }
        let mut blobs = Vec::new();
        for layer in &manifest.layers {
            let mut data = Counted::new(layer.size, self.bar(kind, name, "pulling", layer.size));
            let pulled = self.client.pull_blob(&r, layer, &mut data).await;
            let data = data.finish();
            match pulled {
                Ok(()) => {}
                Err(oci_client::errors::OciDistributionError::DigestError(e)) => {
                    let got = digest_of(&data);
                    return Err(PullError::Refused(format!(
                        "blob {} arrived with digest {got} ({e})",
                        layer.digest
                    )));
                }
                Err(e) if is_transport(&e) => return Err(PullError::Down(e.to_string())),
                Err(e) => {
                    return Err(PullError::Refused(format!("blob {}: {e}", layer.digest)));
                }
            }
            // Checked here as well: the digest is what the signature covers.
            let got = digest_of(&data);
            if got != layer.digest {
                return Err(PullError::Refused(format!(
                    "blob {} arrived with digest {got}",
                    layer.digest
                )));
            }
            let title = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_TITLE))
                .cloned()
                .unwrap_or_default();
            blobs.push(Blob {
                title,
                media_type: layer.media_type.clone(),
                data,
            });
        }
        Ok(Some(blobs))
    }

    /// Push `blobs` as `kind`/`key` unless the remote is read-only, down, or
    /// refused this key earlier in the run. Failures warn (once) and are
    /// otherwise ignored: the local cache has the thing.
    pub fn push(&self, kind: Kind, key: &str, name: &str, blobs: Vec<Blob>) {
        if !self.writable() || self.is_down() || self.was_refused(key) {
            return;
        }
        let t = Instant::now();
        match self.rt.block_on(self.push_async(kind, key, name, blobs)) {
            Ok(Some(bytes)) => self.event(kind, name, "pushed", bytes, t),
            Ok(None) => self.event(kind, name, "present", 0, t),
            Err(e) => self.went_down(&format!("{e:#}")),
        }
    }

    /// True when the remote has `kind`/`key` (false when it is down).
    pub fn has(&self, kind: Kind, key: &str) -> bool {
        if self.is_down() {
            return false;
        }
        let r = self.reference(kind, key);
        match self.rt.block_on(self.client.pull_manifest(&r, &self.auth)) {
            Ok(_) => true,
            Err(e) => {
                if is_transport(&e) {
                    self.went_down(&e);
                }
                false
            }
        }
    }

    async fn push_async(
        &self,
        kind: Kind,
        key: &str,
        name: &str,
        blobs: Vec<Blob>,
    ) -> Result<Option<u64>> {
        let r = self.reference(kind, key);
        self.client
            .store_auth_if_needed(r.resolve_registry(), &self.auth)
            .await;
        let mut layers = Vec::new();
        let mut bytes = 0u64;
        for b in &blobs {
            let digest = digest_of(&b.data);
            if !self.client.blob_exists(&r, &digest).await? {
                // oci-client takes the blob whole: the bar shows its size
                // and fills when it is up.
                let pb = self.bar(kind, name, "pushing", b.data.len() as i64);
                self.client
                    .push_blob(&r, b.data.clone(), &digest)
                    .await
                    .with_context(|| format!("pushing {digest} ({name})"))?;
                pb.finish_and_clear();
                bytes += b.data.len() as u64;
            }
            layers.push(OciDescriptor {
                media_type: b.media_type.clone(),
                digest,
                size: b.data.len() as i64,
                annotations: Some([(ANNOTATION_TITLE.to_string(), b.title.clone())].into()),
                ..Default::default()
            });
        }
        let config = b"{}";
        let config_digest = digest_of(config);
        if !self.client.blob_exists(&r, &config_digest).await? {
            self.client
                .push_blob(&r, config.to_vec(), &config_digest)
                .await?;
        }
        let mut ann: BTreeMap<String, String> = [
            (ANNOTATION_KEY.to_string(), key.to_string()),
            (ANNOTATION_KIND.to_string(), kind.as_str().to_string()),
            (ANNOTATION_NAME.to_string(), name.to_string()),
        ]
        .into();
        if let Some(k) = &self.signing {
            use base64::Engine as _;
            let sig = k.sign(signed_text(kind, key, &layers).as_bytes());
            ann.insert(
                ANNOTATION_SIGNATURE.to_string(),
                base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
            );
        }
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(oci_client::manifest::OCI_IMAGE_MEDIA_TYPE.to_string()),
            config: OciDescriptor {
                media_type: EMPTY_CONFIG.to_string(),
                digest: config_digest,
                size: config.len() as i64,
                ..Default::default()
            },
            layers,
            subject: None,
            artifact_type: Some(format!("application/vnd.ferrobus.{}.v1", kind.as_str())),
            annotations: Some(ann),
        };
        self.client
            .push_manifest(&r, &OciManifest::Image(manifest))
            .await
            .with_context(|| format!("pushing the manifest of {name}"))?;
        Ok(Some(bytes))
    }
}

impl Remote {
    /// A byte progress bar for one transfer (hidden unless `progress`).
    fn bar(&self, kind: Kind, name: &str, verb: &str, size: i64) -> indicatif::ProgressBar {
        if !self.spec.progress {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(size.max(0) as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>12} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_prefix(name.to_string());
        pb.set_message(format!("{verb} {} ({})", kind.as_str(), self.spec.url));
        pb
    }
}

/// A blob as it arrives, counted on a progress bar.
struct Counted {
    data: Vec<u8>,
    pb: indicatif::ProgressBar,
}

impl Counted {
    fn new(size: i64, pb: indicatif::ProgressBar) -> Counted {
        Counted {
            data: Vec::with_capacity(size.max(0) as usize),
            pb,
        }
    }
    fn finish(self) -> Vec<u8> {
        self.pb.finish_and_clear();
        self.data
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.data.extend_from_slice(buf);
        self.pb.inc(buf.len() as u64);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

enum PullError {
    /// The registry is unreachable or failing.
    Down(String),
    /// What arrived is not what was asked for.
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_registry_and_a_repository() {
        let l = parse_url("oci://127.0.0.1:5000/ferrobus/cache").unwrap();
        assert_eq!(
            (l.registry.as_str(), l.repository.as_str(), l.http),
            ("127.0.0.1:5000", "ferrobus/cache", true)
        );
        assert!(
            !parse_url("oci://registry.example:443/team/cache")
                .unwrap()
                .http
        );
        assert!(parse_url("oci+http://build-host:5000/c").unwrap().http);
        for bad in [
            "http://x/y",
            "oci://host-only",
            "oci://h/Upper",
            "oci://h//x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_signature_covers_kind_key_and_every_layer() {
        let k = SigningKey::from_bytes(&[7u8; 32]);
        let l = |d: &str| OciDescriptor {
            digest: d.into(),
            ..Default::default()
        };
        let text = signed_text(Kind::Component, "k1", &[l("sha256:a")]);
        let sig = k.sign(text.as_bytes());
        let v = k.verifying_key();
        assert!(v.verify(text.as_bytes(), &sig).is_ok());
        for other in [
            signed_text(Kind::Wheel, "k1", &[l("sha256:a")]),
            signed_text(Kind::Component, "k2", &[l("sha256:a")]),
            signed_text(Kind::Component, "k1", &[l("sha256:b")]),
        ] {
            assert!(v.verify(other.as_bytes(), &sig).is_err());
        }
    }
}
