//! pypkg::metadata: what an installed distribution's `.dist-info` says about
//! it: its core metadata (`METADATA`: name, version, license fields) and its
//! `entry_points.txt` (the console scripts).
//!
//! No crate of the PEP 440 / PEP 508 family reads these two formats, and both
//! are small: METADATA is RFC 822 headers (continuation lines start with
//! whitespace, the body follows the first empty line), entry_points.txt is an
//! INI file whose values are object references (`module:attr [extras]`).

use super::PackageName;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The header fields of a core-metadata file, in order (a field may repeat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// (field, value): names as written, values trimmed, continuation lines
    /// joined with `\n`.
    pub fields: Vec<(String, String)>,
}

impl Metadata {
    /// Parse the headers of a `METADATA` (or `PKG-INFO`) file; the body after
    /// the first empty line is not read.
    pub fn parse(text: &str) -> Metadata {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push('\n');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Metadata { fields }
    }

    /// The first value of `field` (names compare case-insensitively).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.get_all(field).next()
    }

    /// Every value of `field`, in order.
    pub fn get_all<'a, 'f>(
        &'a self,
        field: &'f str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'f> {
        self.fields
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(field))
            .map(|(_, v)| v.as_str())
    }

    /// `Name`, normalised.
    pub fn name(&self) -> Result<PackageName> {
        let Some(name) = self.get("Name") else {
            bail!("no Name");
        };
        Ok(name.parse()?)
    }

    /// `Version` as written (empty if none): kept as text, since installed
    /// distributions older than PEP 440 may carry any string.
    pub fn version(&self) -> &str {
        self.get("Version").unwrap_or("")
    }

    /// The distribution's SPDX license, if its metadata determines one:
    /// `License-Expression` (PEP 639) when it is a valid SPDX expression (a
    /// present but invalid one determines nothing: no guess replaces it), else a
    /// `License` that is a valid SPDX expression, else the SPDX ids of its license
    /// classifiers when every one of them names one license unambiguously. A
    /// `License` in prose (`BSD`, `LGPL with exceptions`) or a classifier such as
    /// `BSD License` (which BSD?) determines nothing: the project states it.
    pub fn license(&self) -> Option<String> {
        if let Some(e) = self.get("License-Expression").filter(|l| !l.is_empty()) {
            return is_spdx(e).then(|| e.to_string());
        }
        let classifiers: Vec<&str> = self.get_all("Classifier").collect();
        self.get("License")
            .filter(|l| is_spdx(l))
            .map(String::from)
            .or_else(|| license_from_classifiers(&classifiers))
    }

    /// What the metadata says about the license, for a message saying why
    /// [`Metadata::license`] found none: the `License-Expression`, the first
    /// line of `License` and the license classifiers, as written.
    pub fn license_evidence(&self) -> String {
        let mut said = Vec::new();
        let quote = |field: &str, v: &str| {
            let first = v.lines().next().unwrap_or("");
            let short: String = first.chars().take(72).collect();
            let more = if short.len() < v.len() { "..." } else { "" };
            format!("{field}: \"{short}{more}\"")
        };
        if let Some(e) = self.get("License-Expression").filter(|l| !l.is_empty()) {
            let why = crate::util::spdx_error(e).unwrap_or_default();
            said.push(format!("{} ({why})", quote("License-Expression", e)));
        }
        if let Some(l) = self.get("License").filter(|l| !l.is_empty()) {
            let spdx = if is_spdx(l) { "" } else { " (not SPDX)" };
            said.push(format!("{}{spdx}", quote("License", l)));
        }
        let classifiers: Vec<&str> = self
            .get_all("Classifier")
            .filter(|c| c.starts_with("License ::"))
            .collect();
        if !classifiers.is_empty() {
            said.push(format!("classifiers: {}", classifiers.join("; ")));
        }
        if said.is_empty() {
            "no License-Expression, License or license classifier".into()
        } else {
            said.join("; ")
        }
    }
}

/// True for a one-line valid SPDX expression that asserts a license
/// ([`crate::util::spdx_error`]): `MIT`, `(MIT OR Apache-2.0) AND Zlib`; not
/// `BSD`, `BSD License` or `LICENSE.txt`.
pub fn is_spdx(s: &str) -> bool {
    !s.contains('\n') && crate::util::spdx_error(s.trim()).is_none()
}

/// Trove license classifiers that name one SPDX license unambiguously. `BSD
/// License`, `GNU General Public License (GPL)`, `... v3 (GPLv3)` (only, or
/// later?) and the like are not here: they name a family, not a license.
const KNOWN_CLASSIFIERS: &[(&str, &str)] = &[
    ("License :: OSI Approved :: MIT License", "MIT"),
    (
        "License :: OSI Approved :: Apache Software License",
        "Apache-2.0",
    ),
    ("License :: OSI Approved :: ISC License (ISCL)", "ISC"),
    (
        "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)",
        "MPL-2.0",
    ),
    (
        "License :: OSI Approved :: Python Software Foundation License",
        "PSF-2.0",
    ),
    (
        "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)",
        "GPL-2.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
        "GPL-3.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)",
        "LGPL-2.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)",
        "LGPL-3.0-or-later",
    ),
    (
        "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)",
        "AGPL-3.0-or-later",
    ),
    (
        "License :: OSI Approved :: Boost Software License 1.0 (BSL-1.0)",
        "BSL-1.0",
    ),
    (
        "License :: OSI Approved :: The Unlicense (Unlicense)",
        "Unlicense",
    ),
    (
        "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication",
        "CC0-1.0",
    ),
];

/// The SPDX ids of a distribution's license classifiers, joined by AND, when
/// every license classifier is one of [`KNOWN_CLASSIFIERS`] (the bare `License
/// :: OSI Approved` says nothing and is passed over). One classifier ferrobus
/// cannot map makes the whole answer unknown: the ids of the others alone would
/// leave a license out (`Artistic License` beside `GPLv2+` is not GPL-2.0-or-later).
pub fn license_from_classifiers(classifiers: &[&str]) -> Option<String> {
    let mut ids = BTreeSet::new();
    for c in classifiers
        .iter()
        .filter(|c| c.starts_with("License ::") && **c != "License :: OSI Approved")
    {
        let (_, id) = KNOWN_CLASSIFIERS.iter().find(|(k, _)| k == c)?;
        ids.insert(*id);
    }
    (!ids.is_empty()).then(|| ids.into_iter().collect::<Vec<_>>().join(" AND "))
}

/// One console script's object reference: `module:attr`, optionally followed by
/// `[extras]` (deprecated; installers ignore them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// The module to import (`demo_agent.cli`).
    pub module: String,
    /// The callable inside it, possibly dotted (`main`, `Cli.run`).
    pub attr: String,
    /// Extras named after the reference.
    pub extras: Vec<String>,
}

impl FromStr for EntryPoint {
    type Err = anyhow::Error;

    /// Parse `module:attr [extras]`.
    fn from_str(value: &str) -> Result<EntryPoint> {
        let (reference, extras) = match value.split_once('[') {
            Some((r, rest)) => {
                let Some(list) = rest.trim_end().strip_suffix(']') else {
                    bail!("\"{value}\": unclosed [extras]");
                };
                let extras: Vec<String> = list
                    .split(',')
                    .map(|e| e.trim().to_string())
                    .filter(|e| !e.is_empty())
                    .collect();
                (r, extras)
            }
            None => (value, vec![]),
        };
        let Some((module, attr)) = reference.split_once(':') else {
            bail!("\"{value}\": no module:function");
        };
        let (module, attr) = (module.trim(), attr.trim());
        let dotted = |s: &str| {
            s.split('.').all(|part| {
                part.chars().next().is_some_and(|c| !c.is_ascii_digit())
                    && part.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
        };
        if !dotted(module) || !dotted(attr) {
            bail!("\"{value}\": not a module:function (dotted Python names)");
        }
        Ok(EntryPoint {
            module: module.into(),
            attr: attr.into(),
            extras,
        })
    }
}

impl fmt::Display for EntryPoint {
    /// `module:attr`, with ` [extras]` if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.module, self.attr)?;
        if !self.extras.is_empty() {
            write!(f, " [{}]", self.extras.join(","))?;
        }
        Ok(())
    }
}

/// The `[console_scripts]` section of an `entry_points.txt`: script name ->
/// entry point. Other sections are not read; a malformed console script fails,
/// naming its line (pip would refuse to install it too).
pub fn console_scripts(text: &str) -> Result<BTreeMap<String, EntryPoint>> {
    let mut out = BTreeMap::new();
    let mut section = "";
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with(['#', ';']) {
            continue;
        }
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim();
            continue;
        }
        if section != "console_scripts" {
            continue;
        }
        let Some((name, value)) = l.split_once('=') else {
            bail!("line {}: \"{l}\" is not name = module:function", i + 1);
        };
        let ep = value
            .trim()
            .parse()
            .with_context(|| format!("line {}: console script {}", i + 1, name.trim()))?;
        out.insert(name.trim().to_string(), ep);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_expressions_are_told_from_prose() {
        assert!(is_spdx("MIT"));
        assert!(is_spdx("BSD-3-Clause"));
        assert!(is_spdx("(MIT OR Apache-2.0) AND Zlib"));
        assert!(is_spdx("LicenseRef-Proprietary"));
        for prose in [
            "BSD License",
            "BSD",
            "LICENSE.txt",
            "LGPL with exceptions",
            "Copyright (c) 2009, Jay Loden",
            "NOASSERTION",
            "MIT\nApache-2.0",
            "",
        ] {
            assert!(!is_spdx(prose), "{prose:?}");
        }
    }

    /// The license headers of real sdists (their PKG-INFO) that determine no
    /// license: the project must state it.
    #[test]
    fn prose_licenses_and_family_classifiers_determine_nothing() {
        for (pkg_info, evidence) in [
            // ply 3.11: which BSD?
            (
                "Name: ply\nVersion: 3.11\nLicense: BSD\n\
                 Classifier: Programming Language :: Python :: 3\n",
                "License: \"BSD\" (not SPDX)",
            ),
            // text-unidecode 1.3: Artistic or GPL; the one exact classifier is
            // not the whole answer.
            (
                "Name: text-unidecode\nVersion: 1.3\nLicense: Artistic License\n\
                 Classifier: License :: OSI Approved :: Artistic License\n\
                 Classifier: License :: OSI Approved :: GNU General Public License (GPL)\n\
                 Classifier: License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)\n",
                "classifiers: License :: OSI Approved :: Artistic License; ",
            ),
            // progressbar 2.5: a file name in License, two families.
            (
                "Name: progressbar\nVersion: 2.5\nLicense: LICENSE.txt\n\
                 Classifier: License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)\n\
                 Classifier: License :: OSI Approved :: BSD License\n",
                "License: \"LICENSE.txt\" (not SPDX)",
            ),
            // psycopg2 2.9.10.
            (
                "Name: psycopg2\nVersion: 2.9.10\nLicense: LGPL with exceptions\n\
                 Classifier: License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)\n",
                "License: \"LGPL with exceptions\" (not SPDX)",
            ),
            // A PEP 639 expression that is not SPDX is not replaced by a guess.
            (
                "Name: x\nLicense-Expression: Apache 2.0\n\
                 Classifier: License :: OSI Approved :: Apache Software License\n",
                "License-Expression: \"Apache 2.0\" (",
            ),
            (
                "Name: x\nVersion: 1\n",
                "no License-Expression, License or license classifier",
            ),
        ] {
            let m = Metadata::parse(pkg_info);
            assert_eq!(m.license(), None, "{pkg_info}");
            let e = m.license_evidence();
            assert!(e.contains(evidence), "{pkg_info}: {e}");
        }
        let m = Metadata::parse("Name: x\nLicense: Copyright (c) someone\n  more text\n");
        assert_eq!(
            m.license_evidence(),
            "License: \"Copyright (c) someone...\" (not SPDX)"
        );
    }

    #[test]
    fn exact_license_classifiers_are_mapped() {
        let l = |c: &[&str]| license_from_classifiers(c);
        assert_eq!(
            l(&[
                "License :: OSI Approved",
                "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
                "Programming Language :: Python",
            ])
            .as_deref(),
            Some("GPL-3.0-or-later")
        );
        assert_eq!(l(&["License :: OSI Approved"]), None);
        assert_eq!(
            l(&[
                "License :: OSI Approved :: MIT License",
                "License :: OSI Approved :: BSD License"
            ]),
            None
        );
        assert_eq!(l(&[]), None);
        // Every mapped id is a valid SPDX expression.
        for (_, id) in KNOWN_CLASSIFIERS {
            assert!(is_spdx(id), "{id}");
        }
    }

    #[test]
    fn metadata_headers_are_read() {
        let m = Metadata::parse(
            "Metadata-Version: 2.4\nName: Foo_Bar\nVersion: 1.2\n\
             License: Copyright (c) someone\n  more text\n\tand more\n\
             Classifier: License :: OSI Approved :: MIT License\n\
             classifier: License :: OSI Approved :: Apache Software License\n\
             Classifier: Programming Language :: Python\n\
             \nLicense-Expression: body, not a header\n",
        );
        assert_eq!(m.name().unwrap(), "foo-bar");
        assert_eq!(m.version(), "1.2");
        assert_eq!(
            m.get("license"),
            Some("Copyright (c) someone\nmore text\nand more")
        );
        assert_eq!(m.get_all("Classifier").count(), 3);
        // The License is prose, the body is not read: the classifiers decide.
        assert_eq!(m.license().as_deref(), Some("Apache-2.0 AND MIT"));
        let m = Metadata::parse("Name: x\nLicense: GPL-2.0-only\nLicense-Expression: MIT\n");
        assert_eq!(m.license().as_deref(), Some("MIT"));
        let m = Metadata::parse("Name: x\nLicense-Expression:\nLicense: GPL-2.0-only\n");
        assert_eq!(m.license().as_deref(), Some("GPL-2.0-only"));
        let m = Metadata::parse("Name: x\nLicense: BSD License\n");
        assert_eq!(m.license(), None);
        let m = Metadata::parse("Name: x\nLicense: NOASSERTION\n");
        assert_eq!(m.license(), None);
        assert_eq!(m.version(), "");
        let e = Metadata::parse("Version: 1\n").name().unwrap_err();
        assert_eq!(e.to_string(), "no Name");
        let e = Metadata::parse("Name: a b\n").name().unwrap_err();
        assert!(
            e.to_string().contains("not a valid distribution name"),
            "{e}"
        );
    }

    #[test]
    fn console_scripts_are_read() {
        let s = console_scripts(
            "[gui_scripts]\nviewer = x:gui\n\n[console_scripts]\n# a comment\n\
             demo-agent = demo_agent.cli:main\n  tool=pkg.sub:Cli.run [fast, extra2]\n\
             [other]\nnot a reference\n",
        )
        .unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["demo-agent", "tool"]);
        let d = &s["demo-agent"];
        assert_eq!(
            (d.module.as_str(), d.attr.as_str()),
            ("demo_agent.cli", "main")
        );
        assert_eq!(d.to_string(), "demo_agent.cli:main");
        let t = &s["tool"];
        assert_eq!((t.module.as_str(), t.attr.as_str()), ("pkg.sub", "Cli.run"));
        assert_eq!(t.extras, ["fast", "extra2"]);
        assert_eq!(t.to_string(), "pkg.sub:Cli.run [fast,extra2]");
        assert!(console_scripts("").unwrap().is_empty());
        for (bad, want) in [
            (
                "x = mod",
                "line 2: console script x: \"mod\": no module:function",
            ),
            ("x = mod:f [a", "unclosed [extras]"),
            ("x = mod:f; rm -rf", "not a module:function"),
            ("x = 1mod:f", "not a module:function"),
            ("x", "line 2: \"x\" is not name = module:function"),
        ] {
            let e = console_scripts(&format!("[console_scripts]\n{bad}\n")).unwrap_err();
            let e = format!("{e:#}");
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
