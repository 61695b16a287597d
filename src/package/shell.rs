//! shell: the self-extracting `.sh` installer.
//!
//! This module owns the `sh` format: a POSIX sh header rendered from
//! `packaging/sh/installer.sh.in`, followed by the payload, a tar.gz or tar.xz
//! (the shared reproducible writer) of the install dir's
//! contents plus the configuration defaults under `.ferrobus/config/<dest>`.
//! The header carries the payload's byte offset (a fixed-width field, so the
//! header's length does not depend on it) and sha256; it installs releases side
//! by side under `<prefix>/releases/` and switches `current` with rename(2).
//! No crate writes such a header, so it is hand-written (see the template).

use super::archive::{Entry, entries, write_tar};
use super::{Meta, Packager};
use crate::load::ShCompression;
use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// The header template (hand-written POSIX sh).
const TEMPLATE: &str = include_str!("../../packaging/sh/installer.sh.in");

/// Where the configuration defaults live inside the payload.
pub const CONFIG_DIR: &str = ".ferrobus/config";

/// Width of the payload offset field, in bytes.
const OFFSET_WIDTH: usize = 12;

/// Names the installer itself manages directly below the prefix.
const RESERVED: &[&str] = &["releases", "current", "previous", "embedded", ".ferrobus"];

/// The `sh` format.
pub struct Shell;

/// `s` as one single-quoted sh word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A config destination (`/etc/x/y.conf`) as a path relative to the prefix,
/// refused if it could escape the prefix or hit what the installer manages.
pub fn config_rel(dest: &str) -> Result<String> {
    let rel = dest.trim_start_matches('/');
    let parts: Vec<&str> = rel.split('/').collect();
    ensure!(
        !rel.is_empty()
            && !rel.contains(['\n', '\0'])
            && parts
                .iter()
                .all(|p| !p.is_empty() && *p != "." && *p != "..")
            && !RESERVED.contains(&parts[0]),
        "config destination \"{dest}\" cannot be installed by the sh installer"
    );
    Ok(rel.to_string())
}

/// The header for a payload of `sha256`, starting at byte `offset`.
fn header(meta: &Meta, config: &[String], sha256: &str, offset: u64) -> Result<String> {
    let version = meta.full_version();
    ensure!(
        !version.starts_with('.') && !version.contains(['/', '\n', '\0', ' ']),
        "version \"{version}\" cannot name a release directory"
    );
    let offset = format!("{offset:<OFFSET_WIDTH$}");
    ensure!(offset.len() == OFFSET_WIDTH, "payload offset too large");
    let h = TEMPLATE
        .replace("@@NAME@@", &sh_quote(&meta.name))
        .replace("@@VERSION@@", &sh_quote(&version))
        .replace("@@PREFIX@@", &sh_quote(&meta.install_dir))
        .replace("@@CONFIG_FILES@@", &sh_quote(&config.join("\n")))
        .replace("@@SHA256@@", sha256)
        .replace("@@OFFSET@@", &offset)
        .replace("@@UNPACKER@@", meta.sh_compression.as_str())
        .replace("@@ARCH@@", meta.arch.uname());
    ensure!(
        !h.replacen("@@SELFTEST@@", "", 1).contains("@@"),
        "unreplaced placeholder in the sh template"
    );
    // Last: the self-test's command is the project's text.
    Ok(h.replacen(
        "@@SELFTEST@@",
        super::scripts::selftest_functions(meta)?.trim_end(),
        1,
    ))
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Packager for Shell {
    fn format(&self) -> &'static str {
        "sh"
    }

    fn file_name(&self, meta: &Meta) -> String {
        format!(
            "{}-{}.linux-{}.sh",
            meta.name,
            meta.full_version(),
            meta.arch.uname()
        )
    }

    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()> {
        let dir = root.join(meta.install_dir.trim_start_matches('/'));
        let mut list: Vec<Entry> = entries(&dir)?;
        if list.iter().any(|e| e.rel == ".ferrobus") {
            bail!(
                "{}: .ferrobus is reserved for the sh installer",
                dir.display()
            );
        }
        // The config defaults go through the same writer, from a scratch dir.
        let scratch = tempfile::tempdir()?;
        let mut config = Vec::new();
        for c in &meta.config {
            let rel = config_rel(&c.dest)?;
            ensure!(!config.contains(&rel), "config {} listed twice", c.dest);
            let path = scratch.path().join(CONFIG_DIR).join(&rel);
            fs::create_dir_all(path.parent().unwrap_or(scratch.path()))?;
            fs::write(&path, &c.data)?;
            config.push(rel);
        }
        list.extend(entries(scratch.path())?);
        list.sort_by(|a, b| a.rel.cmp(&b.rel));

        // Header with a placeholder hash first; its length is final (fixed-width
        // fields), so the payload can be streamed after it and the header rewritten.
        let len = header(meta, &config, &"0".repeat(64), 0)?.len() as u64;
        let mut file =
            fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        file.write_all(header(meta, &config, &"0".repeat(64), len)?.as_bytes())?;
        let hashing = Hashing {
            inner: &mut file,
            hash: Sha256::new(),
        };
        let mut hashing = match meta.sh_compression {
            ShCompression::Gzip => {
                let gz = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(hashing, flate2::Compression::new(6));
                write_tar(gz, &list, "", meta.epoch)?.finish()?
            }
            ShCompression::Xz => {
                let xz = super::tarball::xz_writer(hashing, meta.xz_level)?;
                write_tar(xz, &list, "", meta.epoch)?.finish()?
            }
        };
        hashing.flush()?;
        let sha = hex::encode(hashing.hash.finalize());
        let real = header(meta, &config, &sha, len)?;
        ensure!(real.len() as u64 == len, "sh header length changed");
        file.seek(SeekFrom::Start(0))?;
        file.write_all(real.as_bytes())?;
        file.flush()?;
        Ok(())
    }
}
