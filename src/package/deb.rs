//! deb: a Debian binary package written directly (ar of `debian-binary`,
//! `control.tar.xz`, `data.tar.xz`), no dpkg-deb needed.

use super::archive::{Kind, entries, image, write_tar};
use super::scripts::{self, SystemFile};
use super::{Meta, Packager};
use anyhow::Result;
use md5::{Digest, Md5};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The `deb` format.
pub struct Deb;

fn xz(data: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut enc = super::tarball::xz_writer(Vec::new(), level)?;
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// The control file's text.
pub fn control(meta: &Meta, installed_kib: u64) -> String {
    let mut desc = meta.description.lines();
    let summary = desc.next().unwrap_or(&meta.name).trim().to_string();
    let mut s = format!(
        "Package: {}\nVersion: {}-{}\nArchitecture: {}\nMaintainer: {}\nInstalled-Size: {installed_kib}\n",
        meta.name,
        meta.version,
        meta.iteration,
        meta.arch.deb(),
        meta.maintainer
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
            "{}_{}-{}_{}.deb",
            meta.name,
            meta.version,
            meta.iteration,
            meta.arch.deb()
        )
    }

    fn write(&self, root: &Path, meta: &Meta, out: &Path) -> Result<()> {
        let scratch = tempfile::tempdir()?;
        let mut extra = scripts::system_files(meta, "/lib/systemd/system");
        extra.extend(doc_files(meta)?);
        let data_entries = image(root, &meta.install_dir, &extra, scratch.path())?;
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
        let xz_tar = super::tarball::xz_writer(Vec::new(), meta.xz_level)?;
        let data = write_tar(xz_tar, &data_entries, "./", meta.epoch)?.finish()?;

        let ctl_dir = tempfile::tempdir()?;
        let ctl = ctl_dir.path();
        fs::write(ctl.join("control"), control(meta, installed))?;
        fs::write(ctl.join("md5sums"), md5sums)?;
        let conffiles: String = extra
            .iter()
            .filter(|f| f.config)
            .map(|f| format!("{}\n", f.path))
            .collect();
        if !conffiles.is_empty() {
            fs::write(ctl.join("conffiles"), conffiles)?;
        }
        for (name, text) in scripts::deb_scripts(meta)? {
            fs::write(ctl.join(name), text)?;
            fs::set_permissions(ctl.join(name), fs::Permissions::from_mode(0o755))?;
        }
        let ctl_entries = entries(ctl)?;
        let control_tar = write_tar(Vec::new(), &ctl_entries, "./", meta.epoch)?;
        let control = xz(&control_tar, meta.xz_level)?;

        let mut members = vec![
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.xz", control),
            ("data.tar.xz", data),
        ];
        if let Some(key) = &meta.signing {
            members.push((
                GPG_ORIGIN,
                key.detached(&signed_data(&members)[..], meta.epoch)?,
            ));
        }
        let mut ar = ar::Builder::new(fs::File::create(out)?);
        for (name, body) in members {
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

/// The ar member holding the origin signature (debsigs' name; dpkg ignores
/// members starting with `_`).
pub const GPG_ORIGIN: &str = "_gpgorigin";

/// What the origin signature covers: the other members' contents, in order
/// (`cat debian-binary control.tar.xz data.tar.xz`).
pub fn signed_data(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    members
        .iter()
        .filter(|(n, _)| !n.starts_with('_'))
        .flat_map(|(_, b)| b.iter().copied())
        .collect()
}

/// `/usr/share/doc/<name>/copyright` and `changelog.Debian.gz`, which Debian policy
/// asks of every binary package, and the lintian overrides.
fn doc_files(meta: &Meta) -> Result<Vec<SystemFile>> {
    let doc = format!("/usr/share/doc/{}", meta.name);
    let copyright = format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {name}\nSource: {home}\n\n\
         Files: *\nCopyright: {year} {maint}\nLicense: {license}\n\n\
         Files: {dir}/embedded/*\nCopyright: the authors of each bundled component\n\
         License: various\n \
         {name} bundles its own CPython, OpenSSL and C libraries, each under its own\n \
         license; {dir}/embedded holds them.\n",
        name = meta.name,
        home = meta.homepage,
        maint = meta.maintainer,
        license = if meta.license.is_empty() {
            "unknown"
        } else {
            &meta.license
        },
        dir = meta.install_dir,
        year = rfc2822(meta.epoch).split(' ').nth(3).unwrap_or_default(),
    );
    let changelog = format!(
        "{name} ({v}) unstable; urgency=medium\n\n  * Package built by ferrobus.\n\n -- {maint}  {date}\n",
        name = meta.name,
        v = meta.full_version(),
        maint = meta.maintainer,
        date = rfc2822(meta.epoch),
    );
    // gzip -9n equivalent: no name, mtime 0, so the bytes are reproducible.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(changelog.as_bytes())?;
    Ok(vec![
        SystemFile {
            path: format!("{doc}/copyright"),
            data: copyright.into_bytes(),
            config: false,
        },
        SystemFile {
            path: format!("{doc}/changelog.Debian.gz"),
            data: gz.finish()?,
            config: false,
        },
        SystemFile {
            path: format!("/usr/share/lintian/overrides/{}", meta.name),
            data: LINTIAN_OVERRIDES.replace("@NAME@", &meta.name).into_bytes(),
            config: false,
        },
    ])
}

/// Tags kept on purpose, each argued in `packaging/deb/lintian-overrides`.
const LINTIAN_OVERRIDES: &str = include_str!("../../packaging/deb/lintian-overrides");

/// RFC 2822 date of a Unix time (UTC), as Debian changelogs write it.
fn rfc2822(epoch: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    httpdate::fmt_http_date(t).replace(" GMT", " +0000")
}
