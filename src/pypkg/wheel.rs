//! pypkg::wheel: wheel file names, their compatibility tags, and the record of
//! the file a built wheel was made from.
//!
//! A wheel's file name is `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`
//! (the binary distribution format); each of the three tags may be a compressed
//! set (`py2.py3`). [`WheelName::fits`] says whether an [`Interpreter`] can
//! install it, with the rules of the interpreters ferrobus ships (CPython 3).

use super::PackageName;
use anyhow::{Context, Result, bail};
use pep440_rs::Version;
use std::fs;
use std::path::Path;
use std::str::FromStr;

/// A wheel's file name, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// The distribution's name.
    pub name: PackageName,
    /// Its version.
    pub version: Version,
    /// The optional build tag (starts with a digit).
    pub build: Option<String>,
    /// Python tags (`cp313`, `py3`), one or more.
    pub python: Vec<String>,
    /// ABI tags (`cp313`, `abi3`, `none`), one or more.
    pub abi: Vec<String>,
    /// Platform tags (`win_amd64`, `manylinux_2_17_x86_64`, `any`), one or more.
    pub platform: Vec<String>,
}

impl FromStr for WheelName {
    type Err = anyhow::Error;

    /// Parse a wheel file name (no directory).
    fn from_str(file: &str) -> Result<WheelName> {
        let Some(stem) = file.strip_suffix(".whl") else {
            bail!("{file}: not a wheel file name (no .whl)");
        };
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts.as_slice() {
            [n, v, py, abi, plat] => (n, v, None, [py, abi, plat]),
            [n, v, b, py, abi, plat] => (n, v, Some(*b), [py, abi, plat]),
            _ => bail!(
                "{file}: not a wheel file name ({{name}}-{{version}}(-{{build}})?-{{python}}-{{abi}}-{{platform}}.whl)"
            ),
        };
        if build.is_some_and(|b| !b.starts_with(|c: char| c.is_ascii_digit())) {
            bail!("{file}: not a wheel file name (a build tag starts with a digit)");
        }
        let set = |t: &str| -> Result<Vec<String>> {
            let tags: Vec<String> = t.split('.').map(String::from).collect();
            if tags
                .iter()
                .any(|t| t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                bail!("{file}: not a wheel file name (tag \"{t}\")");
            }
            Ok(tags)
        };
        Ok(WheelName {
            name: name
                .parse()
                .with_context(|| format!("{file}: not a wheel file name"))?,
            version: version
                .parse()
                .with_context(|| format!("{file}: not a wheel file name"))?,
            build: build.map(String::from),
            python: set(tags[0])?,
            abi: set(tags[1])?,
            platform: set(tags[2])?,
        })
    }
}

impl WheelName {
    /// Every (python, abi, platform) tag the file name's sets expand to.
    pub fn tags(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.python.iter().flat_map(move |py| {
            self.abi.iter().flat_map(move |abi| {
                self.platform
                    .iter()
                    .map(move |plat| (py.as_str(), abi.as_str(), plat.as_str()))
            })
        })
    }

    /// Whether `interp` can install this wheel: one of its tags has the
    /// interpreter's platform or `any`, and the interpreter's own tag (`cp313`,
    /// ABI `cp313`, `abi3` or `none`), or a stable-ABI (`abi3`) tag of an
    /// earlier CPython of the same major version, or `py3` with no ABI.
    pub fn fits(&self, interp: &Interpreter) -> bool {
        self.tags()
            .any(|(py, abi, plat)| interp.platform_fits(plat) && interp.python_fits(py, abi))
    }

    /// `name==version`, the pin as pip takes it.
    pub fn pin(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// The interpreter a wheel is installed for: implementation (`cp`), version and
/// platform tag (`win_amd64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// Implementation tag: `cp` for CPython.
    pub implementation: String,
    /// Major version (3).
    pub major: u32,
    /// Minor version (13).
    pub minor: u32,
    /// Platform tag.
    pub platform: String,
}

impl Interpreter {
    /// CPython `version` (`3.13` or `3.13.2`) on `platform`.
    pub fn cpython(version: &str, platform: &str) -> Result<Interpreter> {
        let mut it = version.split('.');
        let num = |s: Option<&str>| s.and_then(|s| s.parse::<u32>().ok());
        let (Some(major), Some(minor)) = (num(it.next()), num(it.next())) else {
            bail!("python version \"{version}\" is not major.minor[.patch]");
        };
        if it.next().is_some_and(|p| p.parse::<u32>().is_err()) || it.next().is_some() {
            bail!("python version \"{version}\" is not major.minor[.patch]");
        }
        Ok(Interpreter {
            implementation: "cp".into(),
            major,
            minor,
            platform: platform.into(),
        })
    }

    /// Whether the wheel file `file` (a name, no directory) fits this
    /// interpreter; false when it is not a wheel's name.
    pub fn accepts(&self, file: &str) -> bool {
        file.parse::<WheelName>().is_ok_and(|w| w.fits(self))
    }

    /// The interpreter's own tag: `cp313`.
    pub fn tag(&self) -> String {
        format!("{}{}{}", self.implementation, self.major, self.minor)
    }

    fn platform_fits(&self, plat: &str) -> bool {
        plat == "any" || plat == self.platform
    }

    fn python_fits(&self, py: &str, abi: &str) -> bool {
        let own = self.tag();
        let stable = self.implementation == "cp"
            && abi == "abi3"
            && py
                .strip_prefix(&format!("cp{}", self.major))
                .and_then(|m| m.parse::<u32>().ok())
                .is_some_and(|m| m <= self.minor);
        (py == own && (abi == own || abi == "abi3" || abi == "none"))
            || stable
            || (py == format!("py{}", self.major) && abi == "none")
    }
}

/// Beside each wheel of the wheelhouse: which file it was made from.
pub const SOURCE_RECORD: &str = "source.json";

/// The file one built wheel was made from, recorded beside it when it was built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WheelSource {
    /// `sdist` or `wheel`.
    pub kind: String,
    /// The downloaded file's name.
    pub file: String,
    /// Its sha256 (one of the lock's hashes).
    pub sha256: String,
}

impl WheelSource {
    /// The record beside `wheel` ([`SOURCE_RECORD`] in its directory).
    pub fn read(wheel: &Path) -> Result<WheelSource> {
        let rec = wheel.with_file_name(SOURCE_RECORD);
        let text =
            fs::read_to_string(&rec).with_context(|| format!("reading {}", rec.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", rec.display()))
    }

    /// Write the record into `dir`, the directory its wheel lands in.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let rec = dir.join(SOURCE_RECORD);
        fs::write(&rec, serde_json::to_vec(self)?)
            .with_context(|| format!("writing {}", rec.display()))
    }
}

/// Rewrite the wheel at `path` with every occurrence of `from` in its members
/// replaced by `to` (of the same length), their lines in `RECORD` updated
/// (sha256, urlsafe base64 without padding; the size is unchanged). Members
/// keep their order, names, times, permissions and compression. Returns how
/// many members changed (the file is left alone when none did). Written by hand:
/// no wheel crate edits a wheel in place.
pub fn swap_in_wheel(path: &Path, from: &[u8], to: &[u8]) -> Result<usize> {
    use base64::Engine as _;
    use std::io::{Read, Write};
    anyhow::ensure!(from.len() == to.len(), "swapped strings differ in length");
    let mut zin = zip::ZipArchive::new(fs::File::open(path)?)
        .with_context(|| format!("{}: not a wheel", path.display()))?;
    let mut members = Vec::new();
    let mut hashes = std::collections::BTreeMap::new();
    for i in 0..zin.len() {
        let mut m = zin.by_index(i)?;
        let name = m.name()?.to_string();
        let mut data = Vec::new();
        m.read_to_end(&mut data)?;
        let n = crate::util::swap_bytes(&mut data, from, to);
        if n > 0 {
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&data);
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            hashes.insert(name.clone(), format!("sha256={b64}"));
        }
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(m.compression())
            .last_modified_time(m.last_modified().unwrap_or_default())
            .unix_permissions(m.unix_mode().unwrap_or(0o644));
        members.push((name, opts, data));
    }
    if hashes.is_empty() {
        return Ok(0);
    }
    for (name, _, data) in &mut members {
        if !name.ends_with(".dist-info/RECORD") {
            continue;
        }
        let text = String::from_utf8(std::mem::take(data))
            .with_context(|| format!("{}: {name} is not UTF-8", path.display()))?;
        let mut out = String::new();
        for line in text.lines() {
            // `path,hash,size`; a path with a comma is quoted (csv): it is kept.
            let mut parts: Vec<&str> = line.splitn(3, ',').collect();
            if let Some(h) = parts.first().and_then(|p| hashes.get(*p)) {
                parts[1] = h;
            }
            out.push_str(&parts.join(","));
            out.push('\n');
        }
        *data = out.into_bytes();
    }
    let tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    let mut zout = zip::ZipWriter::new(tmp.reopen()?);
    for (name, opts, data) in &members {
        zout.start_file(name.as_str(), *opts)?;
        zout.write_all(data)?;
    }
    zout.finish()?;
    tmp.persist(path)?;
    Ok(hashes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapped_wheel_keeps_its_record_true() {
        use std::io::{Read, Write};
        let d = tempfile::tempdir().unwrap();
        let w = d.path().join("x-1-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(fs::File::create(&w).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("x/a.so", o).unwrap();
        z.write_all(b"\x7fELF rpath=/build/pfx/lib\0").unwrap();
        z.start_file("x/b.py", o).unwrap();
        z.write_all(b"print(1)\n").unwrap();
        z.start_file("x-1.dist-info/RECORD", o).unwrap();
        z.write_all(b"x/a.so,sha256=old,29\nx/b.py,sha256=keep,9\nx-1.dist-info/RECORD,,\n")
            .unwrap();
        z.finish().unwrap();
        assert_eq!(swap_in_wheel(&w, b"/build/pfx", b"/PLACE/HLD").unwrap(), 1);
        let mut z = zip::ZipArchive::new(fs::File::open(&w).unwrap()).unwrap();
        let read = |z: &mut zip::ZipArchive<fs::File>, n: &str| {
            let mut s = String::new();
            z.by_name(n).unwrap().read_to_string(&mut s).unwrap();
            s
        };
        assert_eq!(read(&mut z, "x/a.so"), "\x7fELF rpath=/PLACE/HLD/lib\0");
        let record = read(&mut z, "x-1.dist-info/RECORD");
        // sha256 of the new member, urlsafe base64 without padding.
        let want = {
            use base64::Engine as _;
            let d = <sha2::Sha256 as sha2::Digest>::digest(b"\x7fELF rpath=/PLACE/HLD/lib\0");
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
        };
        assert!(
            record.starts_with(&format!("x/a.so,sha256={want},29\n")),
            "{record}"
        );
        assert!(record.contains("x/b.py,sha256=keep,9\n"), "{record}");
        assert_eq!(swap_in_wheel(&w, b"/build/pfx", b"/PLACE/HLD").unwrap(), 0);
    }

    fn w(file: &str) -> WheelName {
        file.parse().unwrap()
    }

    #[test]
    fn wheels_must_fit_the_interpreter() {
        let py = Interpreter::cpython("3.13", "win_amd64").unwrap();
        for ok in [
            "psutil-7.2.2-cp37-abi3-win_amd64.whl",
            "PyYAML-6.0.2-cp313-cp313-win_amd64.whl",
            "six-1.17.0-py2.py3-none-any.whl",
            "x-1.0-1build-cp313-none-win_amd64.whl",
        ] {
            assert!(py.accepts(ok), "{ok}");
        }
        for bad in [
            "PyYAML-6.0.2-cp312-cp312-win_amd64.whl",
            "PyYAML-6.0.2-cp313-cp313-win32.whl",
            "PyYAML-6.0.2-cp313-cp313t-win_amd64.whl",
            "psutil-7.2.2-cp314-abi3-win_amd64.whl",
            "psutil-7.2.2-cp37-abi3-manylinux_2_17_x86_64.whl",
            "pyyaml-6.0.2.tar.gz",
        ] {
            assert!(!py.accepts(bad), "{bad}");
        }
        // The platform is the interpreter's.
        let linux = Interpreter::cpython("3.13.2", "manylinux_2_17_x86_64").unwrap();
        assert!(linux.accepts("psutil-7.2.2-cp37-abi3-manylinux_2_17_x86_64.whl"));
        assert!(!linux.accepts("psutil-7.2.2-cp37-abi3-win_amd64.whl"));
        // abi3 needs a cp tag: py3 with abi3 is no stable-ABI wheel.
        assert!(!py.accepts("x-1-py3-abi3-any.whl"));
        assert!(!py.accepts("x-1-cp2-abi3-any.whl"));
        assert_eq!(py.tag(), "cp313");
        for bad in ["3", "three.13", "3.13.x", "3.13.1.1"] {
            let e = Interpreter::cpython(bad, "any").unwrap_err().to_string();
            assert!(e.contains("is not major.minor[.patch]"), "{bad}: {e}");
        }
    }

    #[test]
    fn wheel_names_are_parsed() {
        let x = w("Foo_Bar-1.0.0rc1-cp37-abi3-win_amd64.whl");
        assert_eq!(x.name, "foo-bar");
        assert_eq!(x.version.to_string(), "1.0.0rc1");
        assert_eq!(x.build, None);
        assert_eq!(
            (x.python, x.abi, x.platform),
            (
                vec!["cp37".to_string()],
                vec!["abi3".to_string()],
                vec!["win_amd64".to_string()]
            )
        );
        let x = w("x-2.0-12b-py2.py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl");
        assert_eq!(x.build.as_deref(), Some("12b"));
        assert_eq!(x.pin(), "x==2.0");
        let tags: Vec<_> = x.tags().collect();
        assert_eq!(tags.len(), 4);
        assert_eq!(tags[0], ("py2", "none", "manylinux1_x86_64"));
        assert_eq!(tags[3], ("py3", "none", "manylinux_2_5_x86_64"));
        for (bad, why) in [
            ("x-1.0-py3-none-any.zip", "no .whl"),
            ("x-1.0-any.whl", "{name}-{version}"),
            ("x-y-1.0-b1-py3-none-any.whl", "{name}-{version}"),
            (
                "x-1.0-build-py3-none-any.whl",
                "a build tag starts with a digit",
            ),
            ("x-1.0-py3..py2-none-any.whl", "tag \"py3..py2\""),
            ("x-one-py3-none-any.whl", "not a wheel file name"),
            ("x!-1.0-py3-none-any.whl", "not a wheel file name"),
        ] {
            let e = format!("{:#}", bad.parse::<WheelName>().unwrap_err());
            assert!(e.contains(why) && e.starts_with(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn wheel_sources_are_recorded_beside_the_wheel() {
        let t = tempfile::tempdir().unwrap();
        let src = WheelSource {
            kind: "sdist".into(),
            file: "x-1.0.tar.gz".into(),
            sha256: "a".repeat(64),
        };
        src.write(t.path()).unwrap();
        assert_eq!(
            WheelSource::read(&t.path().join("x-1.0-py3-none-any.whl")).unwrap(),
            src
        );
        let e = WheelSource::read(&t.path().join("sub/x.whl")).unwrap_err();
        assert!(e.to_string().contains("reading"), "{e}");
    }
}
