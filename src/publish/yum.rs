//! yum: the rpm-md repository index (what createrepo_c writes): `primary`,
//! `filelists` and `other` (gzip-compressed XML, named by their sha256) and
//! `repomd.xml`, which the publisher signs and renames into place last.
//!
//! Each package's entry follows createrepo_c (`parsehdr.c`, `xml_dump_*.c`)
//! field by field, so that the decompressed XML is the one createrepo_c
//! writes for the same rpms, with one deliberate exception: `<time file=..>`
//! is the package's build time, not the rpm file's mtime, so that the same
//! rpms and revision always give the same bytes. Every timestamp in
//! `repomd.xml` is the revision, and the gzip streams carry no name and
//! mtime 0.

use anyhow::{Context, Result, bail};
use rpm::{FileFlags, FileType, IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

const COMMON_NS: &str = "http://linux.duke.edu/metadata/common";
const RPM_NS: &str = "http://linux.duke.edu/metadata/rpm";
const FILELISTS_NS: &str = "http://linux.duke.edu/metadata/filelists";
const OTHER_NS: &str = "http://linux.duke.edu/metadata/other";
const REPO_NS: &str = "http://linux.duke.edu/metadata/repo";
const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// createrepo_c's default `--changelog-limit`: the newest 10 entries.
const CHANGELOG_LIMIT: usize = 10;

/// One rpm in the repository.
#[derive(Debug, Clone)]
pub struct RpmEntry {
    /// The file on disk.
    pub path: PathBuf,
    /// Its location relative to the repository's root (`Packages/<file>`).
    pub href: String,
}

/// The index of a set of rpms.
#[derive(Debug, Clone)]
pub struct Repodata {
    /// Files to write under `repodata/`: (file name, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// The contents of `repodata/repomd.xml`.
    pub repomd: Vec<u8>,
}

/// The repodata of `entries` (sorted by the caller), stamped with `revision`
/// (unix seconds): the same entries and revision give the same bytes.
pub fn repodata(entries: &[RpmEntry], revision: u64) -> Result<Repodata> {
    let n = entries.len();
    let mut primary = format!(
        "{XML_DECL}<metadata xmlns=\"{COMMON_NS}\" xmlns:rpm=\"{RPM_NS}\" packages=\"{n}\">\n"
    );
    let mut filelists =
        format!("{XML_DECL}<filelists xmlns=\"{FILELISTS_NS}\" packages=\"{n}\">\n");
    let mut other = format!("{XML_DECL}<otherdata xmlns=\"{OTHER_NS}\" packages=\"{n}\">\n");
    for entry in entries {
        let pkg =
            Package::read(entry).with_context(|| format!("indexing {}", entry.path.display()))?;
        let (p, f, o) = (pkg.primary(), pkg.filelists(), pkg.other());
        for chunk in [&p, &f, &o] {
            if let Some(c) = chunk
                .chars()
                .find(|&c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
            {
                bail!(
                    "{}: its metadata holds the control character {:?}, which XML cannot \
                     carry (createrepo_c refuses such a package too)",
                    entry.path.display(),
                    c
                );
            }
        }
        primary.push_str(&p);
        filelists.push_str(&f);
        other.push_str(&o);
    }
    // No newline after the root's end tag, as createrepo_c writes it.
    primary.push_str("</metadata>");
    filelists.push_str("</filelists>");
    other.push_str("</otherdata>");

    let mut repomd = format!(
        "{XML_DECL}<repomd xmlns=\"{REPO_NS}\" xmlns:rpm=\"{RPM_NS}\">\n  \
         <revision>{revision}</revision>\n"
    );
    let mut files = Vec::new();
    for (kind, xml) in [
        ("primary", primary),
        ("filelists", filelists),
        ("other", other),
    ] {
        let gz = gzip(xml.as_bytes())?;
        let sum = sha256_hex(&gz);
        let name = format!("{sum}-{kind}.xml.gz");
        write!(
            repomd,
            "  <data type=\"{kind}\">\n    \
             <checksum type=\"sha256\">{sum}</checksum>\n    \
             <open-checksum type=\"sha256\">{open}</open-checksum>\n    \
             <location href=\"repodata/{name}\"/>\n    \
             <timestamp>{revision}</timestamp>\n    \
             <size>{size}</size>\n    \
             <open-size>{open_size}</open-size>\n  \
             </data>\n",
            open = sha256_hex(xml.as_bytes()),
            size = gz.len(),
            open_size = xml.len(),
        )?;
        files.push((name, gz));
    }
    repomd.push_str("</repomd>\n");
    Ok(Repodata {
        files,
        repomd: repomd.into_bytes(),
    })
}

/// gzip with no file name and mtime 0: the same input gives the same bytes.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A dependency as createrepo_c keeps it: the version string split into
/// epoch, version and release, the comparison as `LT`..`GE`.
#[derive(Debug, Clone)]
struct Dep {
    name: String,
    flags: Option<&'static str>,
    epoch: Option<String>,
    ver: Option<String>,
    rel: Option<String>,
    pre: bool,
}

/// The dependency lists, in the order primary.xml lists them.
const DEP_ELEMENTS: [&str; 8] = [
    "rpm:provides",
    "rpm:requires",
    "rpm:conflicts",
    "rpm:obsoletes",
    "rpm:suggests",
    "rpm:enhances",
    "rpm:recommends",
    "rpm:supplements",
];
const PROVIDES: usize = 0;
const REQUIRES: usize = 1;
const CONFLICTS: usize = 2;
const OBSOLETES: usize = 3;
const SUGGESTS: usize = 4;
const ENHANCES: usize = 5;
const RECOMMENDS: usize = 6;
const SUPPLEMENTS: usize = 7;

// rpmds.h's sense bits that createrepo_c reads.
const SENSE_POSTTRANS: u32 = 1 << 5;
const SENSE_PREREQ: u32 = 1 << 6;
const SENSE_PRETRANS: u32 = 1 << 7;
const SENSE_SCRIPT_PRE: u32 = 1 << 9;
const SENSE_SCRIPT_POST: u32 = 1 << 10;
const SENSE_MISSINGOK: u32 = 1 << 19;
const SENSE_STRONG: u32 = 1 << 27;

/// What one rpm contributes to the three XML files.
struct Package {
    name: String,
    arch: String,
    epoch: String,
    version: String,
    release: String,
    pkgid: String,
    summary: String,
    description: String,
    packager: String,
    url: String,
    build_time: u64,
    size_package: u64,
    size_installed: u64,
    size_archive: u64,
    href: String,
    license: String,
    vendor: String,
    group: String,
    buildhost: String,
    sourcerpm: String,
    header_start: u64,
    header_end: u64,
    deps: [Vec<Dep>; 8],
    /// (full path, type: "dir", "ghost" or "").
    files: Vec<(String, &'static str)>,
    /// (author, date, text), oldest first.
    changelogs: Vec<(String, u64, String)>,
}

/// A tag's value, or the type's default (`""`, 0) when the header lacks it,
/// as createrepo_c's `headerGetString`/`headerGetNumber` give NULL/0.
fn opt<T: Default>(r: std::result::Result<T, rpm::Error>) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(rpm::Error::TagNotFound(_)) => Ok(T::default()),
        Err(e) => Err(e.into()),
    }
}

impl Package {
    fn read(entry: &RpmEntry) -> Result<Package> {
        let md = PackageMetadata::open(&entry.path)?;
        let (pkgid, size_package) = file_sha256(&entry.path)?;
        let h = &md.header;
        let offsets = md.get_package_segment_offsets();
        let arch = if md.is_source_package() {
            "src".to_string()
        } else {
            opt(md.get_arch())?.to_string()
        };
        let name = opt(md.get_name())?.to_string();
        let files = file_list(&md)?;
        let deps = dependencies(&md, &files)?;
        Ok(Package {
            arch,
            epoch: opt(md.get_epoch())?.to_string(),
            version: opt(md.get_version())?.to_string(),
            release: opt(md.get_release())?.to_string(),
            pkgid,
            summary: opt(md.get_summary())?.to_string(),
            description: opt(md.get_description())?.to_string(),
            packager: opt(md.get_packager())?.to_string(),
            url: opt(md.get_url())?.to_string(),
            build_time: opt(md.get_build_time())?,
            size_package,
            size_installed: opt(md.get_installed_size())?,
            size_archive: archive_size(&md)?,
            href: entry.href.clone(),
            license: opt(md.get_license())?.to_string(),
            vendor: opt(md.get_vendor())?.to_string(),
            group: opt(h.get_entry_data_as_i18n_string(IndexTag::RPMTAG_GROUP))?.to_string(),
            buildhost: opt(md.get_build_host())?.to_string(),
            sourcerpm: opt(md.get_source_rpm())?.to_string(),
            header_start: offsets.header,
            header_end: offsets.payload,
            deps,
            files,
            changelogs: changelogs(&md)?,
            name,
        })
    }

    fn version_element(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
            attr(&self.epoch),
            attr(&self.version),
            attr(&self.release)
        );
    }

    fn primary(&self) -> String {
        let mut o = String::from("<package type=\"rpm\">\n");
        text_element(&mut o, 1, "name", &self.name, "");
        text_element(&mut o, 1, "arch", &self.arch, "");
        self.version_element(&mut o);
        text_element(
            &mut o,
            1,
            "checksum",
            &self.pkgid,
            " type=\"sha256\" pkgid=\"YES\"",
        );
        text_element(&mut o, 1, "summary", &self.summary, "");
        text_element(&mut o, 1, "description", &self.description, "");
        text_element(&mut o, 1, "packager", &self.packager, "");
        text_element(&mut o, 1, "url", &self.url, "");
        let _ = writeln!(
            o,
            "  <time file=\"{t}\" build=\"{t}\"/>",
            t = self.build_time
        );
        let _ = writeln!(
            o,
            "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
            self.size_package, self.size_installed, self.size_archive
        );
        let _ = writeln!(o, "  <location href=\"{}\"/>", attr(&self.href));
        o.push_str("  <format>\n");
        text_element(&mut o, 2, "rpm:license", &self.license, "");
        text_element(&mut o, 2, "rpm:vendor", &self.vendor, "");
        text_element(&mut o, 2, "rpm:group", &self.group, "");
        text_element(&mut o, 2, "rpm:buildhost", &self.buildhost, "");
        text_element(&mut o, 2, "rpm:sourcerpm", &self.sourcerpm, "");
        let _ = writeln!(
            o,
            "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
            self.header_start, self.header_end
        );
        for (element, deps) in DEP_ELEMENTS.iter().zip(&self.deps) {
            if deps.is_empty() {
                continue;
            }
            let entries: Vec<&Dep> = deps.iter().filter(|d| !d.name.is_empty()).collect();
            if entries.is_empty() {
                let _ = writeln!(o, "    <{element}/>");
                continue;
            }
            let _ = writeln!(o, "    <{element}>");
            for d in entries {
                let _ = write!(o, "      <rpm:entry name=\"{}\"", attr(&d.name));
                if let Some(flags) = d.flags {
                    let _ = write!(o, " flags=\"{flags}\"");
                    for (key, value) in [("epoch", &d.epoch), ("ver", &d.ver), ("rel", &d.rel)] {
                        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                            let _ = write!(o, " {key}=\"{}\"", attr(v));
                        }
                    }
                }
                if *element == "rpm:requires" && d.pre {
                    o.push_str(" pre=\"1\"");
                }
                o.push_str("/>\n");
            }
            let _ = writeln!(o, "    </{element}>");
        }
        for (path, kind) in self.files.iter().filter(|(p, _)| is_primary_file(p)) {
            file_element(&mut o, 2, path, kind);
        }
        o.push_str("  </format>\n</package>\n");
        o
    }

    fn package_open(&self) -> String {
        format!(
            "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n",
            attr(&self.pkgid),
            attr(&self.name),
            attr(&self.arch)
        )
    }

    fn filelists(&self) -> String {
        let mut o = self.package_open();
        self.version_element(&mut o);
        for (path, kind) in &self.files {
            file_element(&mut o, 1, path, kind);
        }
        o.push_str("</package>\n");
        o
    }

    fn other(&self) -> String {
        let mut o = self.package_open();
        self.version_element(&mut o);
        for (author, date, text) in &self.changelogs {
            let _ = write!(
                o,
                "  <changelog author=\"{}\" date=\"{date}\"",
                attr(author)
            );
            if text.is_empty() {
                o.push_str("></changelog>\n");
            } else {
                let _ = writeln!(o, ">{}</changelog>", escape_text(text));
            }
        }
        o.push_str("</package>\n");
        o
    }
}

/// The sha256 and the size of the file at `path`.
fn file_sha256(path: &std::path::Path) -> Result<(String, u64)> {
    let mut sha = Sha256::new();
    let size = crate::util::read_chunks(path, |b| sha.update(b))?;
    Ok((hex::encode(sha.finalize()), size))
}

/// The uncompressed payload (cpio archive) size, from wherever rpm keeps it:
/// the signature header's 64- or 32-bit tag (rpm merges those into the main
/// header on reading), the main header's, or v6's `PAYLOADSIZEALT`; 0 if none.
fn archive_size(md: &PackageMetadata) -> Result<u64> {
    let (s, h) = (&md.signature, &md.header);
    if let Some(v) = opt(s
        .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .map(Some))?
    {
        return Ok(v);
    }
    if let Some(v) = opt(h
        .get_entry_data_as_u64(IndexTag::RPMTAG_LONGARCHIVESIZE)
        .map(Some))?
    {
        return Ok(v);
    }
    if let Some(v) = opt(s
        .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
        .map(Some))?
    {
        return Ok(v.into());
    }
    if let Some(v) = opt(h
        .get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE)
        .map(Some))?
    {
        return Ok(v.into());
    }
    opt(h.get_entry_data_as_u64(IndexTag::RPMTAG_PAYLOADSIZEALT))
}

/// Every file, in header order, typed as createrepo_c types it: `dir` by
/// mode, then `ghost` by flag, else plain.
fn file_list(md: &PackageMetadata) -> Result<Vec<(String, &'static str)>> {
    let mut files = Vec::new();
    md.for_each_file_entry(|f| {
        let kind = if f.mode().file_type() == FileType::Dir {
            "dir"
        } else if f.flags().contains(FileFlags::GHOST) {
            "ghost"
        } else {
            ""
        };
        files.push((format!("{}{}", f.dirname(), f.basename()), kind));
        Ok(())
    })?;
    Ok(files)
}

/// The files primary.xml lists (createrepo_c's `cr_is_primary`), and so the
/// ones a solver can resolve a file requirement against without filelists.
fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

/// One dependency tag triple (names, flags, versions); empty unless the
/// header has all three.
fn raw_deps(
    md: &PackageMetadata,
    names: IndexTag,
    flags: IndexTag,
    versions: IndexTag,
) -> Result<Vec<(String, u32, String)>> {
    let h = &md.header;
    let (n, f, v) = (
        opt(h.get_entry_data_as_string_array(names))?,
        opt(h.get_entry_data_as_u32_array(flags))?,
        opt(h.get_entry_data_as_string_array(versions))?,
    );
    if n.is_empty() || f.is_empty() || v.is_empty() {
        return Ok(Vec::new());
    }
    Ok(n.iter()
        .zip(f)
        .zip(v)
        .map(|((n, f), v)| (n.to_string(), f, v.to_string()))
        .collect())
}

/// `LT`, `GT`, `EQ`, `LE`, `GE` or none, from a dependency's sense bits.
fn flag_str(flags: u32) -> Option<&'static str> {
    match flags & 0xf {
        2 => Some("LT"),
        4 => Some("GT"),
        8 => Some("EQ"),
        10 => Some("LE"),
        12 => Some("GE"),
        _ => None,
    }
}

/// `[epoch:]version[-release]` split as createrepo_c's `cr_str_to_evr` does:
/// the epoch defaults to `0`; None if the epoch is not a number.
fn split_evr(s: &str) -> Option<(Option<String>, Option<String>, Option<String>)> {
    if s.is_empty() {
        return Some((None, None, None));
    }
    let (epoch, rest) = match s.find(':') {
        Some(i) => {
            let e = &s[..i];
            // strtol's view: blanks, a sign, then digits up to the ':'.
            let digits = e.trim_start().trim_start_matches(['+', '-']);
            let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            if !e.is_empty() && !numeric {
                return None;
            }
            let epoch = if e.is_empty() { "0" } else { e };
            (epoch.to_string(), &s[i + 1..])
        }
        None => ("0".to_string(), s),
    };
    let (ver, rel) = match rest.find('-') {
        Some(i) => {
            let rel = &rest[i + 1..];
            (
                rest[..i].to_string(),
                (!rel.is_empty()).then(|| rel.to_string()),
            )
        }
        None => (rest.to_string(), None),
    };
    Some((Some(epoch), Some(ver), rel))
}

/// The dependency lists as createrepo_c builds them: `rpmlib(...)`
/// requirements, requirements on the package's own primary files, on what it
/// provides itself and repeated ones are left out; the scriptlet and prereq
/// requirements are marked `pre`; of the `libc.so.6` requirements only the
/// highest version is kept (last); legacy weak dependencies (`MISSINGOK`
/// requires, the old suggests/enhances tags) become weak ones.
fn dependencies(md: &PackageMetadata, files: &[(String, &str)]) -> Result<[Vec<Dep>; 8]> {
    use IndexTag::*;
    let own_files: HashSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let mut out: [Vec<Dep>; 8] = Default::default();
    let mut provided: HashSet<String> = HashSet::new();
    // name → (flags, version, pre) of the last requirement kept on it.
    let mut seen: HashMap<String, (Option<&'static str>, String, bool)> = HashMap::new();
    let tags: [(usize, IndexTag, IndexTag, IndexTag); 10] = [
        (
            PROVIDES,
            RPMTAG_PROVIDENAME,
            RPMTAG_PROVIDEFLAGS,
            RPMTAG_PROVIDEVERSION,
        ),
        (
            CONFLICTS,
            RPMTAG_CONFLICTNAME,
            RPMTAG_CONFLICTFLAGS,
            RPMTAG_CONFLICTVERSION,
        ),
        (
            OBSOLETES,
            RPMTAG_OBSOLETENAME,
            RPMTAG_OBSOLETEFLAGS,
            RPMTAG_OBSOLETEVERSION,
        ),
        (
            REQUIRES,
            RPMTAG_REQUIRENAME,
            RPMTAG_REQUIREFLAGS,
            RPMTAG_REQUIREVERSION,
        ),
        (
            SUGGESTS,
            RPMTAG_SUGGESTNAME,
            RPMTAG_SUGGESTFLAGS,
            RPMTAG_SUGGESTVERSION,
        ),
        (
            ENHANCES,
            RPMTAG_ENHANCENAME,
            RPMTAG_ENHANCEFLAGS,
            RPMTAG_ENHANCEVERSION,
        ),
        (
            RECOMMENDS,
            RPMTAG_RECOMMENDNAME,
            RPMTAG_RECOMMENDFLAGS,
            RPMTAG_RECOMMENDVERSION,
        ),
        (
            SUPPLEMENTS,
            RPMTAG_SUPPLEMENTNAME,
            RPMTAG_SUPPLEMENTFLAGS,
            RPMTAG_SUPPLEMENTVERSION,
        ),
        // Legacy (SUSE) weak dependencies: STRONG ones are the strong kind.
        (
            SUGGESTS,
            RPMTAG_OLDSUGGESTSNAME,
            RPMTAG_OLDSUGGESTSFLAGS,
            RPMTAG_OLDSUGGESTSVERSION,
        ),
        (
            ENHANCES,
            RPMTAG_OLDENHANCESNAME,
            RPMTAG_OLDENHANCESFLAGS,
            RPMTAG_OLDENHANCESVERSION,
        ),
    ];
    for (i, (kind, names, flags, versions)) in tags.into_iter().enumerate() {
        let legacy = i >= 8;
        let mut libc: Option<Dep> = None;
        for (name, bits, version) in raw_deps(md, names, flags, versions)? {
            let flags = flag_str(bits);
            let nfv = format!("{name}{}{version}", flags.unwrap_or(""));
            let mut pre = false;
            if kind == REQUIRES && !legacy {
                if name.starts_with("rpmlib(") {
                    continue;
                }
                if name.starts_with('/')
                    && own_files.contains(name.as_str())
                    && is_primary_file(&name)
                {
                    continue;
                }
                if provided.contains(&nfv) {
                    continue;
                }
                pre = bits
                    & (SENSE_PREREQ
                        | SENSE_SCRIPT_PRE
                        | SENSE_POSTTRANS
                        | SENSE_PRETRANS
                        | SENSE_SCRIPT_POST)
                    != 0;
                if let Some((f, v, p)) = seen.get(&name)
                    && *f == flags
                    && *v == version
                    && *p == pre
                {
                    continue;
                }
            }
            // createrepo_c warns and skips a dependency with a bad epoch.
            let Some((epoch, ver, rel)) = split_evr(&version) else {
                continue;
            };
            let mut dep = Dep {
                name: name.clone(),
                flags,
                epoch,
                ver,
                rel,
                pre: false,
            };
            if kind == PROVIDES {
                provided.insert(nfv);
                out[PROVIDES].push(dep);
            } else if kind == REQUIRES {
                if bits & SENSE_MISSINGOK != 0 {
                    out[RECOMMENDS].push(dep);
                    continue;
                }
                dep.pre = pre;
                if name.starts_with("libc.so.6") {
                    match &libc {
                        Some(high) if compare_dependency(&high.name, &dep.name) != 2 => {}
                        _ => libc = Some(dep),
                    }
                    continue;
                }
                out[REQUIRES].push(dep);
                seen.insert(name, (flags, version, pre));
            } else if legacy && bits & SENSE_STRONG != 0 {
                out[if kind == SUGGESTS {
                    RECOMMENDS
                } else {
                    SUPPLEMENTS
                }]
                .push(dep);
            } else {
                out[kind].push(dep);
            }
        }
        if let Some(dep) = libc {
            out[REQUIRES].push(dep);
        }
    }
    Ok(out)
}

/// createrepo_c's `cr_compare_dependency` for two `libc.so.6(...)` names:
/// 0 same, 1 the first is higher, 2 the second, -1 unparsable.
fn compare_dependency(d1: &str, d2: &str) -> i32 {
    if d1 == d2 {
        return 0;
    }
    let (Some(o1), Some(o2)) = (d1.find('('), d2.find('(')) else {
        return match (d1.contains('('), d2.contains('(')) {
            (false, false) => 0,
            (false, true) => 2,
            _ => 1,
        };
    };
    let (c1, c2) = (
        d1[o1..].find(')').map(|i| o1 + i),
        d2[o2..].find(')').map(|i| o2 + i),
    );
    let (e1, e2) = match (c1, c2) {
        (None, None) => return -1,
        (None, _) => return 2,
        (_, None) => return 1,
        (Some(a), Some(b)) => (a, b),
    };
    let (s1, s2) = (o1 + 1, o2 + 1);
    if s1 == e1 && s2 == e2 {
        return 0;
    }
    if s1 == e1 {
        return 2;
    }
    if s2 == e2 {
        return 1;
    }
    let first_digit = |s: &str, from: usize| {
        s.bytes()
            .skip(from)
            .position(|b| b.is_ascii_digit())
            .map_or(s.len(), |i| from + i)
    };
    let (v1, v2) = (first_digit(d1, s1), first_digit(d2, s2));
    match (v1 > e1, v2 > e2) {
        (true, true) => return 0,
        (true, false) => return 2,
        (false, true) => return 1,
        _ => {}
    }
    match rpmvercmp(&d1[v1..e1], &d2[v2..e2]) {
        std::cmp::Ordering::Less => 2,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// rpm's `rpmvercmp`: segments of digits or letters compared in turn, `~`
/// before anything, `^` after the end but before anything else.
fn rpmvercmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    if a == b {
        return Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    let sep = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while at(a, i) != 0 || at(b, j) != 0 {
        while sep(at(a, i)) {
            i += 1;
        }
        while sep(at(b, j)) {
            j += 1;
        }
        let (x, y) = (at(a, i), at(b, j));
        if x == b'~' || y == b'~' {
            if x != b'~' {
                return Greater;
            }
            if y != b'~' {
                return Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if x == b'^' || y == b'^' {
            if x == 0 {
                return Less;
            }
            if y == 0 {
                return Greater;
            }
            if x != b'^' {
                return Greater;
            }
            if y != b'^' {
                return Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if x == 0 || y == 0 {
            break;
        }
        let numeric = x.is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (mut ie, mut je) = (i, j);
        while class(at(a, ie)) {
            ie += 1;
        }
        while class(at(b, je)) {
            je += 1;
        }
        if ie == i {
            return Less;
        }
        if je == j {
            return if numeric { Greater } else { Less };
        }
        let (mut sa, mut sb) = (&a[i..ie], &b[j..je]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Equal => {}
                o => return o,
            }
        }
        match sa.cmp(sb) {
            Equal => {}
            o => return o,
        }
        i = ie;
        j = je;
    }
    match (at(a, i) == 0, at(b, j) == 0) {
        (true, true) => Equal,
        (true, false) => Less,
        _ => Greater,
    }
}

/// The newest [`CHANGELOG_LIMIT`] changelog entries, oldest first, authors'
/// trailing blanks trimmed; entries sharing a time are spread one second
/// apart the way createrepo_c does, so that each has its own date.
fn changelogs(md: &PackageMetadata) -> Result<Vec<(String, u64, String)>> {
    let h = &md.header;
    let (times, names, texts) = (
        opt(h.get_entry_data_as_u32_array(IndexTag::RPMTAG_CHANGELOGTIME))?,
        opt(h.get_entry_data_as_string_array(IndexTag::RPMTAG_CHANGELOGNAME))?,
        opt(h.get_entry_data_as_string_array(IndexTag::RPMTAG_CHANGELOGTEXT))?,
    );
    // Built newest first, as createrepo_c prepends to its list.
    let mut list: Vec<(String, u64, String)> = Vec::new();
    let mut last_time = 0u64;
    for ((time, name), text) in times
        .into_iter()
        .zip(names)
        .zip(texts)
        .take(CHANGELOG_LIMIT)
    {
        let time = u64::from(time);
        let mut author = name.to_string();
        while author.len() > 1 && author.ends_with(' ') {
            author.pop();
        }
        list.insert(0, (author, time, text.to_string()));
        if last_time == time {
            for (t, prev) in (time..).zip(list.iter_mut().skip(1)) {
                if prev.1 != t {
                    break;
                }
                prev.1 += 1;
            }
        } else {
            last_time = time;
        }
    }
    Ok(list)
}

/// `<name attrs>text</name>` on its own line, as libxml2 writes a text child.
fn text_element(out: &mut String, level: usize, name: &str, text: &str, attrs: &str) {
    let indent = "  ".repeat(level);
    let _ = writeln!(out, "{indent}<{name}{attrs}>{}</{name}>", escape_text(text));
}

fn file_element(out: &mut String, level: usize, path: &str, kind: &str) {
    let attrs = if kind.is_empty() {
        String::new()
    } else {
        format!(" type=\"{kind}\"")
    };
    text_element(out, level, "file", path, &attrs);
}

/// Character data escaped as libxml2 escapes it.
fn escape_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\r' => o.push_str("&#13;"),
            c => o.push(c),
        }
    }
    o
}

/// An attribute value escaped as libxml2 escapes it when serialising a node
/// outside a document: whitespace other than a space and every non-ASCII
/// character as character references.
fn attr(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\n' => o.push_str("&#10;"),
            '\r' => o.push_str("&#13;"),
            '\t' => o.push_str("&#9;"),
            c if !c.is_ascii() => {
                let _ = write!(o, "&#x{:X};", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o
}

/// The integration tests' skip mechanism (the same file), so that a skipped
/// unit test here is counted as scripts/test counts theirs.
#[cfg(test)]
#[path = "../../tests/common/skip.rs"]
#[allow(dead_code)]
mod test_skip;

#[cfg(test)]
mod tests {
    use super::*;
    use rpm::{Dependency, FileOptions, PackageBuilder};
    use std::io::Read;
    use std::path::Path;
    use std::process::Command;

    const BUILT: u32 = 1_700_000_000;

    /// Whether `tool` is on PATH. If not, the calling test is skipped
    /// (tests/common/skip.rs: a failure under CI=true, else `SKIPPED` and a line in
    /// `$FERROBUS_SKIP_LOG`), so `scripts/test` counts it as skipped, not passed.
    fn have(tool: &str) -> bool {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        if !found {
            super::test_skip::skip(&format!("{tool} not installed"), "scripts/deps installs it");
        }
        found
    }

    /// A package with something in every field createrepo_c reads.
    fn rich(version: &str) -> PackageBuilder {
        let config = rpm::BuildConfig::v4().source_date(BUILT);
        let mut b = PackageBuilder::new(
            "demo-agent",
            version,
            "Apache-2.0 AND MIT",
            "x86_64",
            "Demo agent <with> & \"markup\"",
        );
        b.using_config(config)
            .release("1")
            .description("A demo agent — naïve & <sharp>.\n\tIndented line\n\nLast.")
            .url("https://example.invalid/demo?a=1&b=2")
            .vendor("Example <ops@example.invalid>")
            .packager("Ops Team <ops@example.invalid>")
            .group("Applications/System")
            .build_host("ferrobus")
            .add_changelog_entry(
                "José Ops <ops@example.invalid>  ",
                "- Second \"release\" & <fixes>\n- ünïcode",
                BUILT,
            )
            .add_changelog_entry("Ops <ops@example.invalid>", "- same second", BUILT)
            .add_changelog_entry("Ops <ops@example.invalid>", "- first", BUILT - 86400)
            .provides(Dependency::eq("demo-api", "2:1.0-3"))
            .requires(Dependency::greater_eq("glibc", "2.28"))
            .requires(Dependency::any("libc.so.6()(64bit)"))
            .requires(Dependency::any("libc.so.6(GLIBC_2.17)(64bit)"))
            .requires(Dependency::any("libc.so.6(GLIBC_2.4)(64bit)"))
            .requires(Dependency::any("/usr/bin/demo-agent"))
            .requires(Dependency::any("/opt/demo-agent/lib/x.py"))
            .requires(Dependency::eq("demo-api", "2:1.0-3"))
            .requires(Dependency::any("coreutils"))
            .requires(Dependency::any("coreutils"))
            .requires(Dependency::script_pre("/bin/sh"))
            .requires(Dependency::script_postun("/bin/sh"))
            .conflicts(Dependency::less("demo-agent-legacy", "0.1"))
            .obsoletes(Dependency::less_eq("old-agent", "1:0.9"))
            .recommends(Dependency::any("demo-extras"))
            .suggests(Dependency::any("demo-docs"))
            .supplements(Dependency::any("demo-platform"))
            .enhances(Dependency::any("demo-server"))
            .pre_install_script("getent group demo >/dev/null || true")
            .post_install_script("true");
        b.with_file_contents(
            "x = 1\n",
            FileOptions::new("/etc/demo-agent/agent.conf")
                .config()
                .noreplace(),
        )
        .unwrap()
        .with_file_contents(
            "#!/bin/sh\n",
            FileOptions::new("/usr/bin/demo-agent").permissions(0o755),
        )
        .unwrap()
        .with_dir_entry(FileOptions::dir("/opt/demo-agent"))
        .unwrap()
        .with_dir_entry(FileOptions::dir("/opt/demo-agent/bin"))
        .unwrap()
        .with_symlink(FileOptions::symlink(
            "/opt/demo-agent/bin/python3",
            "python3.12",
        ))
        .unwrap()
        .with_file_contents("print(1)\n", FileOptions::new("/opt/demo-agent/lib/x.py"))
        .unwrap()
        .with_file_contents(
            "é\n",
            FileOptions::new("/opt/demo-agent/share/naïve & <odd>.txt"),
        )
        .unwrap()
        .with_ghost(FileOptions::ghost("/var/log/demo-agent.log"))
        .unwrap();
        b
    }

    /// Three rpms under `root/Packages`: two versions of one package and an
    /// almost empty noarch one with an epoch; sorted by href.
    fn build_repo(root: &Path) -> Vec<RpmEntry> {
        let dir = root.join("Packages");
        std::fs::create_dir_all(&dir).unwrap();
        let mut tool = PackageBuilder::new("demo-tool", "1.0", "MIT", "noarch", "Tool");
        tool.using_config(rpm::BuildConfig::v4().source_date(BUILT + 7))
            .epoch(2)
            .release("3");
        let pkgs = [
            rich("0.1.0").build().unwrap(),
            rich("0.2.0").build().unwrap(),
            tool.build().unwrap(),
        ];
        let mut entries: Vec<RpmEntry> = pkgs
            .iter()
            .map(|p| {
                let name = p.canonical_filename().unwrap();
                p.write_file(dir.join(&name)).unwrap();
                RpmEntry {
                    path: dir.join(&name),
                    href: format!("Packages/{name}"),
                }
            })
            .collect();
        entries.sort_by(|a, b| a.href.cmp(&b.href));
        entries
    }

    fn gunzip(data: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(data)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    /// The text of every `<tag ...>text</tag>` in `xml`, in order.
    fn texts(xml: &str, tag: &str) -> Vec<String> {
        xml.split(&format!("<{tag}"))
            .skip(1)
            .map(|s| {
                let start = s.find('>').unwrap() + 1;
                s[start..s.find(&format!("</{tag}>")).unwrap()].to_string()
            })
            .collect()
    }

    fn write_repo(root: &Path, data: &Repodata) {
        let repodata = root.join("repodata");
        std::fs::create_dir_all(&repodata).unwrap();
        for (name, bytes) in &data.files {
            std::fs::write(repodata.join(name), bytes).unwrap();
        }
        std::fs::write(repodata.join("repomd.xml"), &data.repomd).unwrap();
    }

    #[test]
    fn repodata_is_deterministic_and_repomd_matches_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let entries = build_repo(tmp.path());
        let a = repodata(&entries, 1_234).unwrap();
        let b = repodata(&entries, 1_234).unwrap();
        assert_eq!(a.repomd, b.repomd);
        assert_eq!(a.files, b.files);
        let repomd = String::from_utf8(a.repomd.clone()).unwrap();
        assert!(repomd.contains("<revision>1234</revision>"));
        assert_eq!(texts(&repomd, "timestamp"), vec!["1234"; 3]);
        let (sums, opens) = (texts(&repomd, "checksum"), texts(&repomd, "open-checksum"));
        let (sizes, open_sizes) = (texts(&repomd, "size"), texts(&repomd, "open-size"));
        assert_eq!(a.files.len(), 3);
        for (i, ((name, gz), kind)) in a
            .files
            .iter()
            .zip(["primary", "filelists", "other"])
            .enumerate()
        {
            let sum = sha256_hex(gz);
            assert_eq!(name, &format!("{sum}-{kind}.xml.gz"));
            assert_eq!(sums[i], sum);
            assert!(repomd.contains(&format!("<location href=\"repodata/{name}\"/>")));
            assert_eq!(sizes[i], gz.len().to_string());
            let xml = gunzip(gz);
            assert_eq!(opens[i], sha256_hex(xml.as_bytes()));
            assert_eq!(open_sizes[i], xml.len().to_string());
            assert!(xml.contains("packages=\"3\""), "{xml}");
        }
        // Another revision changes only repomd.xml.
        let c = repodata(&entries, 1_235).unwrap();
        assert_eq!(a.files, c.files);
        assert_ne!(a.repomd, c.repomd);
    }

    #[test]
    fn primary_follows_createrepo_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let entries = build_repo(tmp.path());
        let data = repodata(&entries[..1], 1).unwrap();
        let primary = gunzip(&data.files[0].1);
        // rpmlib(), own primary files, own provides and repeats left out.
        assert!(!primary.contains("rpmlib("), "{primary}");
        assert!(!primary.contains("<rpm:entry name=\"/usr/bin/demo-agent\""));
        assert!(primary.contains("<rpm:entry name=\"/opt/demo-agent/lib/x.py\"/>"));
        assert_eq!(primary.matches("name=\"coreutils\"").count(), 1);
        assert_eq!(primary.matches("name=\"demo-api\"").count(), 1);
        // Only the highest libc.so.6, last.
        assert!(
            primary.contains(
                "<rpm:entry name=\"libc.so.6(GLIBC_2.17)(64bit)\"/>\n    </rpm:requires>"
            )
        );
        assert_eq!(primary.matches("libc.so.6").count(), 1);
        assert!(primary.contains("<rpm:entry name=\"/bin/sh\" pre=\"1\"/>"));
        assert!(
            primary
                .contains("<rpm:entry name=\"old-agent\" flags=\"LE\" epoch=\"1\" ver=\"0.9\"/>")
        );
        assert!(primary.contains("<file>/etc/demo-agent/agent.conf</file>"));
        assert!(!primary.contains("<file type=\"dir\">/opt/demo-agent/bin</file>"));
        assert!(primary.contains("<file>/opt/demo-agent/bin/python3</file>"));
        assert!(!primary.contains("x.py</file>"));
        let filelists = gunzip(&data.files[1].1);
        assert!(filelists.contains("<file type=\"ghost\">/var/log/demo-agent.log</file>"));
        assert!(
            filelists.contains("<file>/opt/demo-agent/share/naïve &amp; &lt;odd&gt;.txt</file>")
        );
        let other = gunzip(&data.files[2].1);
        let dates: Vec<&str> = other
            .match_indices("date=\"")
            .map(|(i, _)| &other[i + 6..i + 16])
            .collect();
        let (b0, b1) = (BUILT.to_string(), (BUILT + 1).to_string());
        assert_eq!(dates, [(BUILT - 86400).to_string(), b0, b1]);
    }

    #[test]
    fn versions_compare_as_rpm_does() {
        use std::cmp::Ordering::*;
        for (a, b, o) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0.1", Less),
            ("2.10", "2.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0^1", "1.0", Greater),
            ("1.0^1", "1.0.1", Less),
            ("a", "1", Less),
            ("010", "10", Equal),
            ("1.a", "1.b", Less),
        ] {
            assert_eq!(rpmvercmp(a, b), o, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), o.reverse(), "{b} vs {a}");
        }
        assert_eq!(
            compare_dependency(
                "libc.so.6(GLIBC_2.4)(64bit)",
                "libc.so.6(GLIBC_2.17)(64bit)"
            ),
            2
        );
        assert_eq!(
            compare_dependency("libc.so.6()(64bit)", "libc.so.6(GLIBC_2.4)(64bit)"),
            2
        );
        assert_eq!(compare_dependency("libc.so.6(GLIBC_2.4)", "libc.so.6"), 1);
        assert_eq!(
            split_evr("2:1.0-3"),
            Some((Some("2".into()), Some("1.0".into()), Some("3".into())))
        );
        assert_eq!(
            split_evr("1.0"),
            Some((Some("0".into()), Some("1.0".into()), None))
        );
        assert_eq!(split_evr("x:1.0"), None);
    }

    #[test]
    fn decompressed_xml_matches_createrepo_c() {
        if !have("createrepo_c") {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let entries = build_repo(tmp.path());
        // createrepo_c's <time file> is the file's mtime; ours the build time.
        for e in &entries {
            let built = PackageMetadata::open(&e.path)
                .unwrap()
                .get_build_time()
                .unwrap();
            std::fs::File::options()
                .write(true)
                .open(&e.path)
                .unwrap()
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(built))
                .unwrap();
        }
        let ours = repodata(&entries, 1_700_000_100).unwrap();
        let out = Command::new("createrepo_c")
            .args([
                "--no-database",
                "--revision",
                "1700000100",
                "--set-timestamp-to-revision",
            ])
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs_dir = tmp.path().join("repodata");
        let mut theirs_repomd = std::fs::read_to_string(theirs_dir.join("repomd.xml")).unwrap();
        let ours_repomd = String::from_utf8(ours.repomd.clone()).unwrap();
        for (name, gz) in &ours.files {
            let kind = name.split('-').nth(1).unwrap().trim_end_matches(".xml.gz");
            let their_name = std::fs::read_dir(&theirs_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .find(|n| n.ends_with(&format!("-{kind}.xml.gz")))
                .unwrap();
            let their_gz = std::fs::read(theirs_dir.join(&their_name)).unwrap();
            let (mine, theirs) = (gunzip(gz), gunzip(&their_gz));
            if mine != theirs {
                let ours_path = tmp.path().join(format!("ours-{kind}.xml"));
                let theirs_path = tmp.path().join(format!("theirs-{kind}.xml"));
                std::fs::write(&ours_path, &mine).unwrap();
                std::fs::write(&theirs_path, &theirs).unwrap();
                let diff = Command::new("diff")
                    .arg("-u")
                    .arg(&theirs_path)
                    .arg(&ours_path)
                    .output()
                    .unwrap();
                panic!("{kind} differs:\n{}", String::from_utf8_lossy(&diff.stdout));
            }
            // Same XML: repomd.xml may differ only in the gzip bytes' names,
            // checksums and sizes.
            let their_sum = their_name.split('-').next().unwrap().to_string();
            let our_sum = name.split('-').next().unwrap();
            theirs_repomd = theirs_repomd.replace(&their_sum, our_sum).replace(
                &format!("<size>{}</size>", their_gz.len()),
                &format!("<size>{}</size>", gz.len()),
            );
        }
        assert_eq!(ours_repomd, theirs_repomd);
    }

    #[test]
    fn dnf_reads_the_repository() {
        if !have("dnf") {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let entries = build_repo(&repo);
        let data = repodata(&entries, 1_700_000_100).unwrap();
        write_repo(&repo, &data);
        let dnf = |args: &[&str]| {
            let out = Command::new("dnf")
                .args(["-y", "-q", "--releasever=1"])
                .arg(format!(
                    "--installroot={}",
                    tmp.path().join("root").display()
                ))
                .arg(format!(
                    "--setopt=reposdir={}",
                    tmp.path().join("repos").display()
                ))
                .arg(format!(
                    "--setopt=cachedir={}",
                    tmp.path().join("cache").display()
                ))
                .args(["--disablerepo=*", "--enablerepo=t", "--nogpgcheck"])
                .arg(format!("--repofrompath=t,file://{}", repo.display()))
                .args(args)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "dnf {args:?}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("dnf {args:?}:\n{stdout}");
            stdout
        };
        let list = dnf(&["list", "--showduplicates", "--available"]);
        assert!(
            list.contains("demo-agent.x86_64") && list.contains("0.1.0-1"),
            "{list}"
        );
        assert!(list.contains("0.2.0-1"), "{list}");
        assert!(
            list.contains("demo-tool.noarch") && list.contains("2:1.0-3"),
            "{list}"
        );
        let requires = dnf(&["repoquery", "--requires", "demo-agent-0.2.0-1.x86_64"]);
        assert!(requires.contains("glibc >= 2.28"), "{requires}");
        assert!(
            requires.contains("libc.so.6(GLIBC_2.17)(64bit)"),
            "{requires}"
        );
        let files = dnf(&["repoquery", "-l", "demo-agent-0.1.0-1.x86_64"]);
        assert!(files.contains("/opt/demo-agent/lib/x.py"), "{files}");
        assert!(files.contains("/var/log/demo-agent.log"), "{files}");
        let dest = tmp.path().join("dl");
        dnf(&[
            "download",
            &format!("--destdir={}", dest.display()),
            "demo-agent-0.1.0-1.x86_64",
        ]);
        let got = std::fs::read(dest.join("demo-agent-0.1.0-1.x86_64.rpm")).unwrap();
        assert_eq!(got, std::fs::read(&entries[0].path).unwrap());
    }
}
