//! verify::payload: read what an artifact would install, without installing it.
//!
//! Each format is read with the crate that writes it (tar + liblzma/zstd/flate2,
//! ar, rpm, zip; msi + cab); the `.sh` is its header followed by a tar.gz or
//! tar.xz payload at the offset the header records; the MSI's files are those of
//! its embedded cabinets (`Media.Cabinet = #<stream>`), mapped to their paths
//! under `INSTALLDIR` through the File, Component and Directory tables. Every
//! entry is returned by its path without a leading `/` or `./`, files by their
//! sha256; the contents of files named `bom.json` and of the payload's file list
//! are kept for the SBOM check.

use crate::provenance::SBOM_FILE;
use crate::provenance::seal::{Node, PAYLOAD_LIST};
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
    /// `.zip` (Windows)
    Zip,
    /// `.msi` (Windows)
    Msi,
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
            _ if name.ends_with(".zip") => Format::Zip,
            _ if name.ends_with(".msi") => Format::Msi,
            _ => bail!(
                "{}: not an artifact ferrobus writes (deb, rpm, tar.xz, tar.zst, sh, zip, msi)",
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
    /// Contents of every payload file list ([`PAYLOAD_LIST`]), by path.
    pub lists: BTreeMap<String, Vec<u8>>,
    /// deb only: the ar members in order, with contents.
    pub members: Vec<(String, Vec<u8>)>,
    /// Contents of the executables ferrobus wrote into a Windows bundle
    /// ([`crate::windows::is_produced_executable`]), by path.
    pub executables: BTreeMap<String, Vec<u8>>,
}

fn normalise(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .to_string()
}

impl Payload {
    fn add(&mut self, path: &str, node: Node, data: Option<Vec<u8>>) {
        let path = normalise(path);
        if let Some(d) = data {
            match path.rsplit('/').next() {
                Some(SBOM_FILE) => {
                    self.boms.insert(path.clone(), d);
                }
                Some(PAYLOAD_LIST) => {
                    self.lists.insert(path.clone(), d);
                }
                _ if crate::windows::is_produced_executable(&path) => {
                    self.executables.insert(path.clone(), d);
                }
                _ => {}
            }
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
        Format::Zip => read_zip(&mut p, artifact, &what)?,
        Format::Msi => read_msi(&mut p, artifact, &what)?,
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

/// The entries of a zip: files (and symlinks, should a zip hold any) by their
/// names in the zip.
fn read_zip(p: &mut Payload, artifact: &Path, what: &str) -> Result<()> {
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(open(artifact)?))
        .with_context(|| format!("{what}: not a zip archive"))?;
    for i in 0..z.len() {
        let mut e = z
            .by_index(i)
            .with_context(|| format!("{what}: entry {i}"))?;
        let name = e
            .name()
            .with_context(|| format!("{what}: entry {i}: name"))?
            .replace('\\', "/");
        if e.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data)
            .with_context(|| format!("{what}: reading {name}"))?;
        if e.is_symlink() {
            let target = String::from_utf8_lossy(&data).into_owned();
            p.add(&name, Node::Link(target), None);
        } else {
            p.add(&name, Node::File(sha256_bytes(&data)), Some(data));
        }
    }
    Ok(())
}

/// The string in column `col` of an MSI row (`None` for a null).
fn msi_str(row: &msi::Row, table: &str, col: &str) -> Result<Option<String>> {
    if !row.has_column(col) {
        bail!("the {table} table has no {col} column");
    }
    Ok(row[col].as_str().map(String::from))
}

/// The rows of an MSI table, as the strings of `cols` (empty for a null).
fn msi_rows<F: Read + std::io::Seek>(
    pkg: &mut msi::Package<F>,
    table: &str,
    cols: &[&str],
) -> Result<Vec<Vec<String>>> {
    if !pkg.has_table(table) {
        bail!("no {table} table");
    }
    let rows = pkg
        .select_rows(msi::Select::table(table))
        .with_context(|| format!("reading the {table} table"))?;
    rows.map(|row| {
        cols.iter()
            .map(|c| Ok(msi_str(&row, table, c)?.unwrap_or_default()))
            .collect()
    })
    .collect()
}

/// The long name in an MSI `DefaultDir` or `FileName` value: the target part of
/// `target:source`, the long part of `short|long`.
fn msi_long(name: &str) -> &str {
    let target = name.split(':').next().unwrap_or(name);
    target.rsplit('|').next().unwrap_or(target)
}

/// The files an MSI installs, by their paths under `INSTALLDIR`: the File
/// table's rows, located through Component and Directory, their contents from
/// the embedded cabinets.
fn read_msi(p: &mut Payload, artifact: &Path, what: &str) -> Result<()> {
    let mut pkg = msi::open(artifact).with_context(|| format!("{what}: not an MSI database"))?;
    let mut dirs = BTreeMap::new();
    for r in msi_rows(
        &mut pkg,
        "Directory",
        &["Directory", "Directory_Parent", "DefaultDir"],
    )
    .with_context(|| what.to_string())?
    {
        dirs.insert(r[0].clone(), (r[1].clone(), msi_long(&r[2]).to_string()));
    }
    let dir_path = |id: &str| -> Result<String> {
        let mut parts = Vec::new();
        let mut cur = id.to_string();
        while cur != "INSTALLDIR" {
            let (parent, name) = dirs
                .get(&cur)
                .with_context(|| format!("{what}: directory {cur} is not under INSTALLDIR"))?;
            if parts.len() > dirs.len() {
                bail!("{what}: the Directory table has a cycle at {cur}");
            }
            if name != "." {
                parts.push(name.clone());
            }
            cur = parent.clone();
        }
        parts.reverse();
        Ok(parts.join("/"))
    };
    let comps: BTreeMap<String, String> =
        msi_rows(&mut pkg, "Component", &["Component", "Directory_"])
            .with_context(|| what.to_string())?
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
    let mut paths = BTreeMap::new();
    for r in msi_rows(&mut pkg, "File", &["File", "Component_", "FileName"])
        .with_context(|| what.to_string())?
    {
        let dir = comps
            .get(&r[1])
            .with_context(|| format!("{what}: file {}: no component {}", r[0], r[1]))?;
        let dir = dir_path(dir)?;
        let name = msi_long(&r[2]);
        let path = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        paths.insert(r[0].clone(), path);
    }
    let cabinets: Vec<String> = msi_rows(&mut pkg, "Media", &["Cabinet"])
        .with_context(|| what.to_string())?
        .into_iter()
        .filter_map(|r| r[0].strip_prefix('#').map(String::from))
        .collect();
    if cabinets.is_empty() {
        bail!("{what}: no embedded cabinet (Media.Cabinet = #<stream>)");
    }
    let mut seen = std::collections::BTreeSet::new();
    for stream in &cabinets {
        let mut data = Vec::new();
        pkg.read_stream(stream)
            .and_then(|mut s| s.read_to_end(&mut data))
            .with_context(|| format!("{what}: reading the cabinet stream {stream}"))?;
        super::cabinet::each_file(&data, |key, bytes| {
            let path = paths.get(key).with_context(|| {
                format!("{key} is in the cabinet, but the File table does not list it")
            })?;
            seen.insert(key.to_string());
            p.add(path, Node::File(sha256_bytes(bytes)), Some(bytes.to_vec()));
            Ok(())
        })
        .with_context(|| format!("{what}: cabinet {stream}"))?;
    }
    if let Some(k) = paths.keys().find(|k| !seen.contains(*k)) {
        bail!("{what}: {} (File {k}) is in no embedded cabinet", paths[k]);
    }
    Ok(())
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
