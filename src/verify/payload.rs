//! verify::payload: read what an artifact would install, without installing it.
//!
//! Each format is read with the crate that writes it (tar + liblzma/zstd/flate2,
//! ar, rpm); the `.sh` is its header followed by a tar.gz or tar.xz payload at the
//! offset the header records. Every entry is returned by its path without a
//! leading `/` or `./`, files by their sha256; the contents of files named
//! `bom.json` are kept for the SBOM check.

use crate::provenance::SBOM_FILE;
use crate::provenance::seal::Node;
use crate::util::sha256_bytes;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

/// The artifact formats `ferrobus verify` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.deb`
    Deb,
    /// `.rpm`
    Rpm,
    /// `.tar.xz`
    TarXz,
    /// `.tar.zst`
    TarZst,
    /// the self-extracting `.sh`
    Sh,
}

impl Format {
    /// The format of an artifact, by its file name.
    pub fn of(path: &Path) -> Result<Format> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        Ok(match () {
            _ if name.ends_with(".deb") => Format::Deb,
            _ if name.ends_with(".rpm") => Format::Rpm,
            _ if name.ends_with(".tar.xz") => Format::TarXz,
            _ if name.ends_with(".tar.zst") => Format::TarZst,
            _ if name.ends_with(".sh") => Format::Sh,
            _ => bail!(
                "{}: not an artifact ferrobus writes (deb, rpm, tar.xz, tar.zst, sh)",
                path.display()
            ),
        })
    }
}

/// What an artifact holds.
#[derive(Debug, Default)]
pub struct Payload {
    /// Every file and symlink, by normalised path.
    pub nodes: BTreeMap<String, Node>,
    /// Contents of every `bom.json`, by path.
    pub boms: BTreeMap<String, Vec<u8>>,
    /// deb only: the ar members in order, with contents.
    pub members: Vec<(String, Vec<u8>)>,
}

fn normalise(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .to_string()
}

impl Payload {
    fn add(&mut self, path: &str, node: Node, data: Option<Vec<u8>>) {
        let path = normalise(path);
        if path.rsplit('/').next() == Some(SBOM_FILE)
            && let Some(d) = data
        {
            self.boms.insert(path.clone(), d);
        }
        self.nodes.insert(path, node);
    }

    /// Read the entries of a tar stream.
    fn read_tar(&mut self, r: impl Read, what: &str) -> Result<()> {
        let mut a = tar::Archive::new(r);
        for e in a.entries().with_context(|| format!("reading {what}"))? {
            let mut e = e.with_context(|| format!("reading {what}"))?;
            let path = e.path()?.to_string_lossy().into_owned();
            let kind = e.header().entry_type();
            if kind.is_dir() {
                continue;
            } else if kind.is_symlink() {
                let target = e
                    .link_name()?
                    .with_context(|| format!("{what}: symlink {path} without a target"))?;
                self.add(
                    &path,
                    Node::Link(target.to_string_lossy().into_owned()),
                    None,
                );
            } else if kind.is_file() {
                let mut data = Vec::new();
                e.read_to_end(&mut data)
                    .with_context(|| format!("{what}: reading {path}"))?;
                self.add(&path, Node::File(sha256_bytes(&data)), Some(data));
            } else {
                bail!("{what}: {path} is neither a file, a directory nor a symlink");
            }
        }
        Ok(())
    }
}

/// Read the payload of `artifact`.
pub fn read(artifact: &Path, format: Format) -> Result<Payload> {
    let what = artifact.display().to_string();
    let mut p = Payload::default();
    match format {
        Format::TarXz => p.read_tar(liblzma::read::XzDecoder::new(open(artifact)?), &what)?,
        Format::TarZst => p.read_tar(zstd::stream::Decoder::new(open(artifact)?)?, &what)?,
        Format::Deb => {
            let mut ar = ar::Archive::new(open(artifact)?);
            while let Some(m) = ar.next_entry() {
                let mut m = m.with_context(|| format!("{what}: not an ar archive"))?;
                let name = String::from_utf8_lossy(m.header().identifier()).into_owned();
                let mut data = Vec::new();
                m.read_to_end(&mut data)?;
                p.members.push((name, data));
            }
            let Some((name, data)) = p
                .members
                .iter()
                .find(|(n, _)| n.starts_with("data.tar"))
                .cloned()
            else {
                bail!("{what}: no data.tar member");
            };
            let what = format!("{what}: {name}");
            match name.as_str() {
                "data.tar.xz" => p.read_tar(liblzma::read::XzDecoder::new(&data[..]), &what)?,
                "data.tar.zst" => p.read_tar(zstd::stream::Decoder::new(&data[..])?, &what)?,
                "data.tar.gz" => p.read_tar(flate2::read::GzDecoder::new(&data[..]), &what)?,
                "data.tar" => p.read_tar(&data[..], &what)?,
                other => bail!("{what}: unknown data member {other}"),
            }
        }
        Format::Rpm => {
            let pkg = rpm::Package::open(artifact).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
            for f in pkg.files().map_err(|e| anyhow::anyhow!("{what}: {e}"))? {
                let f = f.map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
                let path = f.metadata.path().to_string_lossy().into_owned();
                match f.metadata.file_type() {
                    rpm::FileType::Dir => {}
                    rpm::FileType::SymbolicLink => {
                        let target = f.metadata.linkto().unwrap_or_default().to_string();
                        p.add(&path, Node::Link(target), None);
                    }
                    rpm::FileType::Regular => {
                        let data = f.content().unwrap_or_default().to_vec();
                        p.add(&path, Node::File(sha256_bytes(&data)), Some(data));
                    }
                    other => bail!("{what}: {path} is a {other:?}"),
                }
            }
        }
        Format::Sh => {
            let data = fs::read(artifact)?;
            let offset = sh_offset(&data).with_context(|| {
                format!("{what}: no payload_offset in the header of a ferrobus .sh")
            })?;
            let body = data
                .get(offset..)
                .with_context(|| format!("{what}: truncated before its payload"))?;
            if body.starts_with(&[0x1f, 0x8b]) {
                p.read_tar(flate2::read::GzDecoder::new(body), &what)?;
            } else {
                p.read_tar(liblzma::read::XzDecoder::new(body), &what)?;
            }
        }
    }
    Ok(p)
}

fn open(p: &Path) -> Result<fs::File> {
    fs::File::open(p).with_context(|| format!("opening {}", p.display()))
}

/// The payload offset a `.sh` header records (`payload_offset=N`).
fn sh_offset(data: &[u8]) -> Option<usize> {
    let head = &data[..data.len().min(64 << 10)];
    let at = memchr::memmem::find(head, b"\npayload_offset=")? + 16;
    let digits: String = head[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    digits.parse().ok()
}
