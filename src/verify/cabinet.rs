//! verify::cabinet: every file of a cabinet, each folder decompressed once.
//!
//! The `cab` crate reads one file at a time and decompresses its folder from
//! the start for each: a cabinet of n files in one folder (as ferrobus writes
//! them) costs O(n²) blocks, minutes for a large bundle. Here the headers are
//! parsed once, each folder's CFDATA blocks are decompressed in order (MSZIP: a
//! raw deflate stream per block, whose window is the previous 32 KiB, primed as
//! the `cab` crate primes it) and every file is a slice of its folder. Folders
//! compressed otherwise (LZX, Quantum) are read through the `cab` crate.
//! The blocks' checksums are not checked: verify compares every file's sha256.

use anyhow::{Context, Result, bail};
use std::io::Read;

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.context("truncated")?;
        let b = &self.data[self.at..end];
        self.at = end;
        Ok(b)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into()?))
    }
    fn name(&mut self) -> Result<String> {
        let rest = &self.data[self.at.min(self.data.len())..];
        let n = memchr::memchr(0, rest).context("a file name without its NUL")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }
}

struct Folder {
    start: usize,
    blocks: u16,
    compression: u16,
}

struct File {
    name: String,
    size: usize,
    offset: usize,
    folder: usize,
}

/// Call `f` with the name and contents of every file of the cabinet `data`, in
/// the order of its file table.
pub fn each_file(data: &[u8], mut f: impl FnMut(&str, &[u8]) -> Result<()>) -> Result<()> {
    let mut r = Reader { data, at: 0 };
    if r.bytes(4)? != b"MSCF" {
        bail!("not a cabinet (no MSCF signature)");
    }
    r.bytes(12)?; // reserved, cbCabinet, reserved
    let files_at = r.u32()? as usize;
    r.bytes(6)?; // reserved, version
    let (n_folders, n_files, flags) = (r.u16()?, r.u16()?, r.u16()?);
    r.bytes(4)?; // setID, iCabinet
    let (mut folder_reserve, mut data_reserve) = (0, 0);
    if flags & 0x4 != 0 {
        let header_reserve = r.u16()? as usize;
        folder_reserve = r.u8()? as usize;
        data_reserve = r.u8()? as usize;
        r.bytes(header_reserve)?;
    }
    if flags & 0x3 != 0 {
        bail!("a cabinet continued in other cabinets is not supported");
    }
    let mut folders = Vec::new();
    for _ in 0..n_folders {
        folders.push(Folder {
            start: r.u32()? as usize,
            blocks: r.u16()?,
            compression: r.u16()? & 0xf,
        });
        r.bytes(folder_reserve)?;
    }
    r.at = files_at;
    let mut files = Vec::new();
    for _ in 0..n_files {
        let (size, offset, folder) = (r.u32()? as usize, r.u32()? as usize, r.u16()? as usize);
        r.bytes(6)?; // date, time, attributes
        let name = r.name()?;
        if folder >= folders.len() {
            bail!("{name}: in folder {folder}, which the cabinet does not have");
        }
        files.push(File {
            name,
            size,
            offset,
            folder,
        });
    }
    let mut fallback = None;
    for (i, folder) in folders.iter().enumerate() {
        let mine: Vec<&File> = files.iter().filter(|x| x.folder == i).collect();
        if mine.is_empty() {
            continue;
        }
        if folder.compression > 1 {
            // LZX or Quantum: one file at a time through the cab crate.
            let cab = match &mut fallback {
                Some(c) => c,
                None => fallback.insert(cab::Cabinet::new(std::io::Cursor::new(data))?),
            };
            for x in mine {
                let mut buf = Vec::new();
                cab.read_file(&x.name)?.read_to_end(&mut buf)?;
                f(&x.name, &buf)?;
            }
            continue;
        }
        let buf = folder_data(data, folder, data_reserve).with_context(|| format!("folder {i}"))?;
        for x in mine {
            let bytes = x
                .offset
                .checked_add(x.size)
                .and_then(|end| buf.get(x.offset..end))
                .with_context(|| format!("{}: beyond the end of its folder", x.name))?;
            f(&x.name, bytes)?;
        }
    }
    Ok(())
}

/// The uncompressed contents of a stored (0) or MSZIP (1) folder.
fn folder_data(data: &[u8], folder: &Folder, reserve: usize) -> Result<Vec<u8>> {
    const WINDOW: usize = 0x8000;
    let mut r = Reader {
        data,
        at: folder.start,
    };
    let mut out = Vec::new();
    let mut inflate = flate2::Decompress::new(false);
    for b in 0..folder.blocks {
        r.bytes(4)?; // checksum
        let (packed, size) = (r.u16()? as usize, r.u16()? as usize);
        r.bytes(reserve)?;
        let block = r.bytes(packed).with_context(|| format!("block {b}"))?;
        let before = out.len();
        if folder.compression == 0 {
            out.extend_from_slice(block);
        } else {
            let body = block
                .strip_prefix(b"CK")
                .with_context(|| format!("block {b}: no MSZIP signature"))?;
            inflate.reset(false);
            // The previous 32 KiB as the window: a stored block, output dropped.
            let dict = &out[out.len().saturating_sub(WINDOW)..];
            if !dict.is_empty() {
                let n = dict.len() as u16;
                let mut stored = vec![0u8];
                stored.extend(n.to_le_bytes());
                stored.extend((!n).to_le_bytes());
                stored.extend_from_slice(dict);
                let mut sink = Vec::with_capacity(dict.len());
                inflate.decompress_vec(&stored, &mut sink, flate2::FlushDecompress::Sync)?;
            }
            out.reserve_exact(size);
            inflate
                .decompress_vec(body, &mut out, flate2::FlushDecompress::Finish)
                .with_context(|| format!("block {b}: not MSZIP data"))?;
        }
        if out.len() - before != size {
            bail!(
                "block {b}: {} bytes, its header says {size}",
                out.len() - before
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// What the cab crate writes, read back here: names, contents, and files
    /// spanning blocks (the window carried from block to block).
    #[test]
    fn reads_what_the_cab_crate_writes() {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut x: u64 = 7;
        for i in 0..40 {
            let n = (i * 7919) % 90_000;
            let data: Vec<u8> = (0..n)
                .map(|j| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    // Half noise, half repeats: both literal and matched data.
                    if j % 2 == 0 {
                        (x >> 40) as u8
                    } else {
                        b'a' + (j % 7) as u8
                    }
                })
                .collect();
            files.push((format!("f{i}"), data));
        }
        for kind in [cab::CompressionType::MsZip, cab::CompressionType::None] {
            let mut cb = cab::CabinetBuilder::new();
            let folder = cb.add_folder(kind);
            for (n, _) in &files {
                folder.add_file(n.clone());
            }
            let mut w = cb.build(Cursor::new(Vec::new())).unwrap();
            let mut i = 0;
            while let Some(mut fw) = w.next_file().unwrap() {
                fw.write_all(&files[i].1).unwrap();
                i += 1;
            }
            let bytes = w.finish().unwrap().into_inner();
            let mut got = Vec::new();
            each_file(&bytes, |n, d| {
                got.push((n.to_string(), d.to_vec()));
                Ok(())
            })
            .unwrap();
            assert!(got == files, "{kind:?}");
        }
        assert!(each_file(b"MSCF", |_, _| Ok(())).is_err());
        assert!(each_file(b"PK\x03\x04", |_, _| Ok(())).is_err());
    }
}
