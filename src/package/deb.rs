//! deb: a Debian binary package written directly (ar of `debian-binary`,
//! `control.tar.xz`, `data.tar.xz`), no dpkg-deb needed.

use super::archive::{Entry, Kind, entries, parents, write_tar};
use super::{Meta, Packager};
use anyhow::Result;
use md5::{Digest, Md5};
use std::fs;
use std::io::Write;
use std::path::Path;

/// The `deb` format.
pub struct Deb;

fn xz(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = super::tarball::xz_writer(Vec::new())?;
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// The control file's text.
pub fn control(meta: &Meta, installed_kib: u64) -> String {
    let mut desc = meta.description.lines();
    let summary = desc.next().unwrap_or(&meta.name).trim().to_string();
    let mut s = format!(
        "Package: {}\nVersion: {}-{}\nArchitecture: amd64\nMaintainer: {}\nInstalled-Size: {installed_kib}\n",
        meta.name, meta.version, meta.iteration, meta.maintainer
    );
    if !meta.deb_depends.is_empty() {
        s.push_str(&format!("Depends: {}\n", meta.deb_depends.join(", ")));
    }
    s.push_str(&format!(
        "Section: {}\nPriority: {}\n",
        meta.deb_section, meta.deb_priority
    ));
    if !meta.homepage.is_empty() {
        s.push_str(&format!("Homepage: {}\n", meta.homepage));
    }
    s.push_str(&format!("Description: {summary}\n"));
    for l in desc {
        let l = l.trim_end();
        s.push_str(if l.is_empty() { " .\n" } else { " " });
        if !l.is_empty() {
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

impl Packager for Deb {
    fn format(&self) -> &'static str {
        "deb"
    }

    fn file_name(&self, meta: &Meta) -> String {
        format!(
            "{}_{}-{}_amd64.deb",
            meta.name, meta.version, meta.iteration
        )
    }

    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()> {
        let mut data_entries: Vec<Entry> = parents(&meta.install_dir)
            .into_iter()
            .map(|rel| Entry {
                path: root.join(&rel),
                rel,
                kind: Kind::Dir,
                mode: 0o755,
                size: 0,
            })
            .collect();
        let inside = root.join(meta.install_dir.trim_start_matches('/'));
        let base = meta.install_dir.trim_matches('/');
        for mut e in entries(&inside)? {
            e.rel = format!("{base}/{}", e.rel);
            data_entries.push(e);
        }
        // Installed-Size: KiB of files, one block per directory/link, as dpkg-gencontrol.
        let installed: u64 = data_entries
            .iter()
            .map(|e| {
                if e.kind == Kind::File {
                    e.size.div_ceil(1024)
                } else {
                    1
                }
            })
            .sum();
        let mut md5sums = String::new();
        for e in data_entries.iter().filter(|e| e.kind == Kind::File) {
            let mut h = Md5::new();
            h.update(fs::read(&e.path)?);
            md5sums.push_str(&format!("{}  {}\n", hex::encode(h.finalize()), e.rel));
        }
        let data_tar = write_tar(Vec::new(), &data_entries, "./", meta.epoch)?;
        let data = xz(&data_tar)?;
        let ctl_dir = tempfile::tempdir()?;
        fs::write(ctl_dir.path().join("control"), control(meta, installed))?;
        fs::write(ctl_dir.path().join("md5sums"), md5sums)?;
        let ctl_entries = entries(ctl_dir.path())?;
        let control_tar = write_tar(Vec::new(), &ctl_entries, "./", meta.epoch)?;
        let control = xz(&control_tar)?;

        let mut ar = ar::Builder::new(fs::File::create(out)?);
        for (name, body) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.xz", control),
            ("data.tar.xz", data),
        ] {
            let mut h = ar::Header::new(name.as_bytes().to_vec(), body.len() as u64);
            h.set_mtime(meta.epoch);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mode(0o100644);
            ar.append(&h, &body[..])?;
        }
        ar.into_inner()?.flush()?;
        Ok(())
    }
}
