//! pypkg::index: where a locked file can be downloaded from. The package
//! indexes are pip's own configuration, read at run time (`PIP_INDEX_URL`,
//! `PIP_EXTRA_INDEX_URL`, then `pip config list`, then pip's built-in default,
//! asked of pip itself): nothing here names an index. A file is looked up by
//! name in an index's simple API (PEP 691 JSON), and must have the locked
//! sha256 there too.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// The indexes to look files up in, in order.
#[derive(Debug, Clone, Default)]
pub struct Indexes {
    /// Simple API base URLs.
    pub urls: Vec<String>,
}

/// `python3 -m pip config list` values of `key` (any scope).
fn pip_config(key: &str) -> Vec<String> {
    let Ok(out) = Command::new("python3")
        .args(["-m", "pip", "config", "list"])
        .output()
    else {
        return vec![];
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.rsplit('.').next() == Some(key))
        .flat_map(|(_, v)| {
            v.trim()
                .trim_matches('\'')
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

impl Indexes {
    /// pip's configured indexes (see the module comment).
    pub fn from_pip() -> Result<Indexes> {
        let env = |k: &str| -> Vec<String> {
            std::env::var(k)
                .map(|v| v.split_whitespace().map(String::from).collect())
                .unwrap_or_default()
        };
        let mut urls = env("PIP_INDEX_URL");
        if urls.is_empty() {
            urls = pip_config("index-url");
        }
        if urls.is_empty() {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
                ])
                .output()
                .context("asking the host's pip for its default index (python3 -m pip)")?;
            let u = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !out.status.success() || u.is_empty() {
                bail!(
                    "no Python package index configured: set PIP_INDEX_URL or pip's index-url \
                     (the host's python3 has no pip to ask for its default)"
                );
            }
            urls.push(u);
        }
        let mut extra = env("PIP_EXTRA_INDEX_URL");
        if extra.is_empty() {
            extra = pip_config("extra-index-url");
        }
        urls.extend(extra);
        Ok(Indexes { urls })
    }

    /// The URL of `file` (of distribution `name`, with `sha256`) on the first
    /// index that has it.
    pub async fn find(
        &self,
        client: &reqwest::Client,
        name: &str,
        file: &str,
        sha256: &str,
    ) -> Result<String> {
        let mut tried = Vec::new();
        for base in &self.urls {
            let page = format!("{}/{name}/", base.trim_end_matches('/'));
            match lookup(client, &page, file, sha256).await {
                Ok(Some(u)) => return Ok(u),
                Ok(None) => tried.push(format!("{page}: no {file} with that sha256")),
                Err(e) => tried.push(format!("{page}: {e:#}")),
            }
        }
        bail!(
            "{file} (sha256 {sha256}) is on no index:\n  {}",
            tried.join("\n  ")
        )
    }
}

/// The URL of `file` on one project page of a simple API.
async fn lookup(
    client: &reqwest::Client,
    page: &str,
    file: &str,
    sha256: &str,
) -> Result<Option<String>> {
    let resp = client
        .get(page)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await?
        .error_for_status()?;
    let base = resp.url().clone();
    let v: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await?).context("reading the index's JSON")?;
    let files = v
        .get("files")
        .and_then(|f| f.as_array())
        .context("no \"files\" in the index's answer")?;
    for f in files {
        let s = |k: &str| f.get(k).and_then(|x| x.as_str()).unwrap_or("");
        let sha = f
            .get("hashes")
            .and_then(|h| h.get("sha256"))
            .and_then(|x| x.as_str())
            .unwrap_or("");
        if s("filename") == file && (sha.is_empty() || sha == sha256) {
            return Ok(Some(base.join(s("url"))?.to_string()));
        }
    }
    Ok(None)
}
