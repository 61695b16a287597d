//! pypkg::lock: the requirements lock, pip's `--require-hashes` format.
//!
//! Every entry is one PEP 508 requirement pinned with `==` to one version,
//! followed by one or more `--hash=sha256:` options; `\` continues a line and
//! ` #` starts a comment. Each requirement is parsed by `pep508_rs` (name,
//! extras, version specifiers, markers) and its pin is a typed PEP 440
//! [`Version`]. Errors name the lock as `file:line`.

use super::PackageName;
use anyhow::{Context, Result, bail};
use pep440_rs::{Operator, Version};
use pep508_rs::VersionOrUrl;
use std::fs;
use std::path::{Path, PathBuf};

/// One locked distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Its name.
    pub name: PackageName,
    /// The version it is pinned to.
    pub version: Version,
    /// Allowed sha256 hashes of its files (lowercase hex).
    pub hashes: Vec<String>,
    /// The requirement as written, without its options (markers kept).
    pub spec: String,
    /// 1-based line of the lock it starts on.
    pub line: usize,
    /// The lock it was read from.
    pub lock: PathBuf,
}

impl Requirement {
    /// `name==version`, the pin as pip takes it.
    pub fn pin(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// `lock:line`, where it is locked (for messages).
    pub fn at(&self) -> String {
        format!("{}:{}", self.lock.display(), self.line)
    }
}

/// A Python application as the stages after its install read it: its own
/// distribution and the distributions its lock pins. `app::AppPlan` is one;
/// later stages (provenance) take this instead of the app layer's type.
pub trait LockedApp {
    /// The application's own distribution name.
    fn name(&self) -> &PackageName;
    /// Its version as its `pyproject.toml` gives it (empty when dynamic).
    fn version(&self) -> &str;
    /// Its license (SPDX) from its `pyproject.toml`, empty if none.
    fn license(&self) -> &str;
    /// The locked distributions, in the lock's order.
    fn requirements(&self) -> &[Requirement];
    /// True when `name` is installed from its published wheel rather than
    /// built from its sdist.
    fn uses_published_wheel(&self, name: &PackageName) -> bool;
}

/// Parse a requirements lock: every distribution pinned with `==` and carrying at
/// least one `--hash=sha256:`; errors name the file, the line and the distribution.
pub fn parse_lock(path: &Path) -> Result<Vec<Requirement>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out: Vec<Requirement> = Vec::new();
    let mut logical = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = i + 1;
        }
        let line = raw.split(" #").next().unwrap_or("");
        let line = if line.trim_start().starts_with('#') {
            ""
        } else {
            line
        };
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        if entry.trim().is_empty() {
            continue;
        }
        let req = parse_entry(entry.trim(), path, start)?;
        if let Some(prev) = out.iter().find(|r| r.name == req.name) {
            bail!(
                "{}:{start}: {} is locked twice (also on line {})",
                path.display(),
                req.name,
                prev.line
            );
        }
        out.push(req);
    }
    if out.is_empty() {
        bail!("{}: no requirements", path.display());
    }
    Ok(out)
}

/// One logical line of a lock (continuations joined, comments removed), which
/// starts on line `line` of `path`.
pub fn parse_entry(entry: &str, path: &Path, line: usize) -> Result<Requirement> {
    let mut spec = Vec::new();
    let mut hashes = Vec::new();
    for word in entry.split_whitespace() {
        if let Some(h) = word.strip_prefix("--hash=") {
            let Some(hex) = h.strip_prefix("sha256:") else {
                bail!(
                    "{}:{line}: only sha256 hashes are accepted, got \"{h}\"",
                    path.display()
                );
            };
            hashes.push(hex.to_ascii_lowercase());
        } else if word.starts_with('-') {
            bail!(
                "{}:{line}: option \"{word}\" is not allowed in a lock (only --hash)",
                path.display()
            );
        } else {
            spec.push(word);
        }
    }
    let spec = spec.join(" ");
    let req_part = spec.split(';').next().unwrap_or("").trim();
    if !req_part.contains("==") {
        let name = req_part
            .split(|c: char| "<>=!~[ @".contains(c))
            .next()
            .unwrap_or(req_part);
        bail!(
            "{}:{line}: {name} is not pinned: a lock needs `name==version` (got \"{req_part}\")",
            path.display()
        );
    }
    let req: pep508_rs::Requirement = match spec.parse() {
        Ok(r) => r,
        Err(e) => {
            let e: pep508_rs::Pep508Error = e;
            bail!(
                "{}:{line}: \"{spec}\" is not a requirement (PEP 508): {}",
                path.display(),
                e.message
            );
        }
    };
    let name = PackageName::from(req.name);
    // Exactly one `==` specifier, with no wildcard: `===`, `==1.*` and ranges
    // pin nothing.
    let version = match &req.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(s))
            if s.len() == 1 && *s[0].operator() == Operator::Equal =>
        {
            s[0].version().clone()
        }
        _ => bail!(
            "{}:{line}: \"{req_part}\" is not an exact pin",
            path.display()
        ),
    };
    if hashes.is_empty() {
        bail!(
            "{}:{line}: {name}=={version} has no --hash=sha256:...; every locked \
             distribution needs the hash of its file",
            path.display()
        );
    }
    if let Some(bad) = hashes
        .iter()
        .find(|h| h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        bail!(
            "{}:{line}: {name}: \"{bad}\" is not a sha256",
            path.display()
        );
    }
    Ok(Requirement {
        name,
        version,
        hashes,
        spec,
        line,
        lock: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(text: &str) -> Result<Vec<Requirement>> {
        let t = tempfile::NamedTempFile::new().unwrap();
        fs::write(t.path(), text).unwrap();
        parse_lock(t.path())
    }

    #[test]
    fn locks_are_parsed_and_checked() {
        let h = "a".repeat(64);
        let r = lock(&format!(
            "# c\nPyYAML==6.0.2 \\\n    --hash=sha256:{h} \\\n    --hash=sha256:{h}\n\
             psutil==7.2.2 --hash=sha256:{h} ; sys_platform == \"linux\"  # via x\n"
        ))
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (
                r[0].name.as_str(),
                r[0].version.to_string().as_str(),
                r[0].line
            ),
            ("pyyaml", "6.0.2", 2)
        );
        assert!(r[1].at().ends_with(":5"), "{}", r[1].at());
        assert_eq!(r[1].spec, "psutil==7.2.2 ; sys_platform == \"linux\"");
        let e = lock("psutil==7.2.2\n").unwrap_err().to_string();
        assert!(e.contains(":1: psutil==7.2.2 has no --hash"), "{e}");
        let e = lock(&format!("psutil>=7 --hash=sha256:{h}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: psutil is not pinned"), "{e}");
        let e = lock(&format!(
            "-i https://example.invalid\nx==1 --hash=sha256:{h}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains(":1: option \"-i\""), "{e}");
        let e = lock("x==1 --hash=sha256:abc\n").unwrap_err().to_string();
        assert!(e.contains("is not a sha256"), "{e}");
        let e = lock(&format!("x==1 --hash=sha256:{h}\nX==2 --hash=sha256:{h}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: x is locked twice (also on line 1)"), "{e}");
    }

    #[test]
    fn the_demo_lock_parses() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-agent/requirements.lock");
        let r = parse_lock(&path).unwrap();
        let pins: Vec<String> = r.iter().map(Requirement::pin).collect();
        assert_eq!(pins, ["psutil==7.2.2", "pyyaml==6.0.2"]);
        assert!(r.iter().all(|r| r.hashes.len() == 2));
    }

    #[test]
    fn pins_are_typed_pep508_requirements() {
        let h = "A".repeat(64);
        let r = lock(&format!(
            "Foo.Bar[extra1,extra2]==1.0.0rc1 --hash=sha256:{h}\n\
             baz==2.0.post1+local ; python_version >= \"3.8\" --hash=sha256:{h}\n"
        ))
        .unwrap();
        assert_eq!(r[0].name, "foo-bar");
        assert_eq!(r[0].version, "1.0.0rc1".parse::<Version>().unwrap());
        assert_eq!(r[0].pin(), "foo-bar==1.0.0rc1");
        assert_eq!(r[0].hashes, ["a".repeat(64)]);
        assert_eq!(r[1].pin(), "baz==2.0.post1+local");
        // Versions are PEP 440's: `1.0.0-RC1` is `1.0.0rc1`, and compares as one.
        let r = lock(&format!("x==1.0.0-RC1 --hash=sha256:{h}\n")).unwrap();
        assert_eq!(r[0].version.to_string(), "1.0.0rc1");
        assert!(r[0].version < "1.0.0".parse::<Version>().unwrap());
        for (bad, want) in [
            ("x==1.*", ":1: \"x==1.*\" is not an exact pin"),
            ("x===1", ":1: \"x===1\" is not an exact pin"),
            ("x==1,>=0", ":1: \"x==1,>=0\" is not an exact pin"),
            ("x==", ":1: \"x==\" is not a requirement (PEP 508)"),
            (
                "x==1 ; bogus",
                ":1: \"x==1 ; bogus\" is not a requirement (PEP 508)",
            ),
            ("x @ https://example.invalid/x.whl", ":1: x is not pinned"),
        ] {
            let e = lock(&format!("{bad} --hash=sha256:{h}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        let e = lock("\n# only comments\n").unwrap_err().to_string();
        assert!(e.ends_with(": no requirements"), "{e}");
        let e = lock(&format!("x==1 --hash=md5:{h}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: only sha256 hashes are accepted"), "{e}");
    }
}
