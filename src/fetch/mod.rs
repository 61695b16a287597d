//! fetch: every source of a plan at once into a content-addressed cache.
//!
//! Order of attempts per source: the cache, configured mirrors (directories or HTTP
//! base URLs), the upstream URLs, then the Debian source archive apt is configured
//! for. Downloads go to `sources/partial/<sha256>.part`, resume from there with a
//! `Range` request, retry transient failures with backoff, and are renamed to
//! `sources/<sha256>` only after the hash matches.

pub mod apt;

use crate::plan::{Plan, Source};
use crate::util::sha256_file;
use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Use only the cache and mirrors.
    pub offline: bool,
    /// Mirrors: directories or `http(s)://` base URLs holding files by name.
    pub mirrors: Vec<String>,
    /// Attempts per URL for transient failures (at least 1).
    pub attempts: u32,
    /// Show progress bars.
    pub progress: bool,
    /// Debian archive base URLs; `None` reads them from the apt configuration.
    pub debian_archives: Option<Vec<String>>,
    /// The remote cache, looked up after the local one and before the network
    /// (sources by sha256; the build's artifacts and wheels too).
    pub remote: Option<std::sync::Arc<crate::cache::remote::Remote>>,
}

/// The content-addressed source cache.
#[derive(Debug, Clone)]
pub struct SourceCache {
    dir: PathBuf,
}

impl SourceCache {
    /// A cache rooted at `dir` (created on demand).
    pub fn new(dir: &Path) -> Self {
        SourceCache {
            dir: dir.to_path_buf(),
        }
    }
    /// Where a verified source with this hash lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }
    fn partial(&self, sha256: &str) -> PathBuf {
        self.dir.join("partial").join(format!("{sha256}.part"))
    }
    /// Put `data` (from the remote cache) into the cache as `src`, if its
    /// sha256 is the one `src` names; a mismatch is an error naming both.
    pub fn adopt(&self, src: &Source, data: &[u8]) -> Result<PathBuf> {
        let got = crate::util::sha256_bytes(data);
        if got != src.sha256 {
            bail!(
                "{}: the remote cache's copy has sha256 {got}, expected {}",
                src.file_name,
                src.sha256
            );
        }
        fs::create_dir_all(self.dir.join("partial"))?;
        let part = self.partial(&src.sha256);
        fs::write(&part, data)?;
        self.commit(&part, src)
    }

    /// Move a verified file into the cache and record its original name.
    fn commit(&self, tmp: &Path, src: &Source) -> Result<PathBuf> {
        let dst = self.path(&src.sha256);
        fs::rename(tmp, &dst)
            .with_context(|| format!("moving {} into the cache", tmp.display()))?;
        let _ = fs::write(
            self.dir.join(format!("{}.name", src.sha256)),
            &src.file_name,
        );
        Ok(dst)
    }
}

/// Why one attempt at one URL failed.
enum Failure {
    /// Worth trying the same URL again.
    Transient(String),
    /// Try the next URL.
    Permanent(String),
}

/// Fetch every source of `plan`; returns (component, cached path) pairs.
pub async fn fetch_plan(
    plan: &Plan,
    cache: &SourceCache,
    opts: &FetchOptions,
) -> Result<Vec<(String, PathBuf)>> {
    let items: Vec<(String, Source)> = plan
        .components
        .iter()
        .map(|c| (c.name.clone(), c.source.clone()))
        .collect();
    fetch_all(&items, cache, opts).await
}

/// Fetch `(label, source)` items concurrently. All failures are reported together.
pub async fn fetch_all(
    items: &[(String, Source)],
    cache: &SourceCache,
    opts: &FetchOptions,
) -> Result<Vec<(String, PathBuf)>> {
    fs::create_dir_all(cache.dir.join("partial"))
        .with_context(|| format!("creating {}", cache.dir.display()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("ferrobus/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mp = if opts.progress {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
    };
    let archives = match (&opts.debian_archives, opts.offline) {
        (_, true) => vec![],
        (Some(a), false) => a.clone(),
        (None, false) => apt::debian_archives(),
    };
    let futs = items.iter().map(|(label, src)| {
        let client = client.clone();
        let mp = mp.clone();
        let archives = archives.clone();
        async move {
            let r = fetch_one(&client, label, src, cache, opts, &archives, &mp).await;
            (label.clone(), r)
        }
    });
    let results = futures_util::future::join_all(futs).await;
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (label, r) in results {
        match r {
            Ok(p) => ok.push((label, p)),
            Err(e) => errors.push(format!("{label}: {e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "could not fetch {} source(s):\n{}",
            errors.len(),
            errors.join("\n")
        );
    }
    Ok(ok)
}

/// Every place a source may come from, in order (the cache excluded).
pub fn candidates(src: &Source, opts: &FetchOptions, archives: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for m in &opts.mirrors {
        let m = m.trim_end_matches('/');
        out.push(format!("{m}/{}", src.file_name));
        if !m.contains("://") {
            // A directory mirror may also be another ferrobus source cache.
            out.push(format!("{m}/{}", src.sha256));
        }
    }
    if !opts.offline {
        out.extend(src.urls.iter().cloned());
        if let Some(deb) = &src.debian {
            out.extend(archives.iter().filter_map(|a| apt::pool_url(a, deb)));
        }
    }
    out
}

async fn fetch_one(
    client: &reqwest::Client,
    label: &str,
    src: &Source,
    cache: &SourceCache,
    opts: &FetchOptions,
    archives: &[String],
    mp: &MultiProgress,
) -> Result<PathBuf> {
    let dst = cache.path(&src.sha256);
    if dst.is_file() {
        return Ok(dst);
    }
    // One process downloads a given hash at a time.
    let lock_path = cache
        .dir
        .join("partial")
        .join(format!("{}.lock", src.sha256));
    let lock = fs::File::create(&lock_path)?;
    let lock =
        tokio::task::spawn_blocking(move || fs2::FileExt::lock_exclusive(&lock).map(|_| lock))
            .await??;
    if dst.is_file() {
        return Ok(dst);
    }
    let cands = candidates(src, opts, archives);
    if cands.is_empty() {
        bail!(
            "{} ({}) is not in the cache and no mirror is configured{}",
            src.file_name,
            src.sha256,
            if opts.offline { " (offline)" } else { "" }
        );
    }
    let part = cache.partial(&src.sha256);
    let mut tried = Vec::new();
    let pb = mp.add(ProgressBar::new(0));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} {bar:30} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_prefix(label.to_string());
    for url in &cands {
        pb.set_message(url.clone());
        let attempts = opts.attempts.max(1);
        let mut last = String::new();
        let mut done = false;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 << (attempt - 1))).await;
            }
            match get_to_part(client, url, &part, &pb).await {
                Ok(()) => {
                    let got = sha256_file(&part)?;
                    if got == src.sha256 {
                        done = true;
                    } else {
                        let _ = fs::remove_file(&part);
                        last = format!("sha256 mismatch: got {got}, expected {}", src.sha256);
                    }
                    break;
                }
                Err(Failure::Permanent(e)) => {
                    last = e;
                    break;
                }
                Err(Failure::Transient(e)) => last = e,
            }
        }
        if done {
            pb.finish_and_clear();
            drop(lock);
            return cache.commit(&part, src);
        }
        tried.push(format!("  {url}: {last}"));
    }
    pb.finish_and_clear();
    bail!(
        "{} (sha256 {}) could not be fetched; tried:\n{}",
        src.file_name,
        src.sha256,
        tried.join("\n")
    )
}

/// Download `url` into `part`, resuming from its current length.
async fn get_to_part(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    pb: &ProgressBar,
) -> Result<(), Failure> {
    if let Some(dir) =
        url.strip_prefix("file://")
            .or(if url.contains("://") { None } else { Some(url) })
    {
        return copy_local(Path::new(dir), part);
    }
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = client.get(url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let resp = req.send().await.map_err(classify)?;
    let status = resp.status();
    let append = match status.as_u16() {
        206 => true,
        200 => false,
        416 if have > 0 => return Ok(()), // already complete: the hash decides
        s if (500..600).contains(&s) || s == 429 || s == 408 => {
            return Err(Failure::Transient(format!("HTTP {status}")));
        }
        _ => return Err(Failure::Permanent(format!("HTTP {status}"))),
    };
    let start = if append { have } else { 0 };
    let total = resp.content_length().map(|l| l + start);
    pb.set_length(total.unwrap_or(0));
    pb.set_position(start);
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .map_err(|e| Failure::Permanent(format!("writing {}: {e}", part.display())))?;
    let mut stream = resp.bytes_stream();
    let mut written = start;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Failure::Transient(format!("connection dropped after {written} bytes: {e}"))
        })?;
        f.write_all(&chunk)
            .map_err(|e| Failure::Permanent(format!("writing {}: {e}", part.display())))?;
        written += chunk.len() as u64;
        pb.set_position(written);
    }
    f.flush().ok();
    if let Some(t) = total
        && written < t
    {
        return Err(Failure::Transient(format!(
            "truncated: {written} of {t} bytes"
        )));
    }
    Ok(())
}

fn copy_local(path: &Path, part: &Path) -> Result<(), Failure> {
    if !path.is_file() {
        return Err(Failure::Permanent("no such file in the mirror".into()));
    }
    fs::copy(path, part)
        .map(|_| ())
        .map_err(|e| Failure::Permanent(format!("copying: {e}")))
}

fn classify(e: reqwest::Error) -> Failure {
    let text = format!("{e}");
    let chain = {
        let mut s = text.clone();
        let mut src = std::error::Error::source(&e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    };
    if chain.contains("dns error") || chain.contains("failed to lookup") || e.is_builder() {
        Failure::Permanent(chain)
    } else {
        Failure::Transient(chain)
    }
}
