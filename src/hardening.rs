//! hardening: the compiler and linker flags that harden every component and
//! every wheel built from an sdist, and a definition's typed opt-out of one of
//! them (`[hardening] disable = { fortify = "reason" }`).
//!
//! The flags are those of Debian's and Ubuntu's hardened builds, the same for
//! the host compiler (gcc) and zig:
//!
//! | protection        | on                          | off (opted out)          |
//! |-------------------|-----------------------------|--------------------------|
//! | `stack-protector` | `-fstack-protector-strong`  | `-fno-stack-protector`   |
//! | `fortify`         | `-D_FORTIFY_SOURCE=2`       | `-U_FORTIFY_SOURCE`      |
//! | `stack-clash`     | `-fstack-clash-protection`  | `-fno-stack-clash-protection` |
//! | `cf-protection`   | `-fcf-protection=full` (x86-64 only) | `-fcf-protection=none` |
//! | `relro`           | `-Wl,-z,relro`              | `-Wl,-z,norelro`         |
//! | `bind-now`        | `-Wl,-z,now`                | `-Wl,-z,lazy`            |
//! | `pie`             | the compiler's default for executables | `-no-pie`     |
//!
//! The compile flags go into `CFLAGS` and `CXXFLAGS` (FORTIFY beside the
//! `-O2` it needs, not into `CPPFLAGS`, which configure scripts also use
//! without optimisation), the link flags into `LDFLAGS`. PIE cannot be a flag
//! in `LDFLAGS`: shared libraries are linked with the same `LDFLAGS` and
//! `-shared -pie` is wrong. A gcc built with `--enable-default-pie` (Debian's,
//! Ubuntu's) makes executables PIE by itself; zig does not, so its wrapper adds
//! `-pie` to executable links ([`crate::toolchain::zig::rewrite`]). (A host gcc
//! without that default links fixed-address executables, which the health
//! check then names.)
//!
//! A component's flags are applied after its definition's own `env`: a
//! definition that sets `CFLAGS` keeps the hardening (the flags are appended),
//! and only `[hardening] disable` takes one away, with a reason, which is part
//! of its cache key and shown by the health check.

use crate::load::Spans;
use crate::target::Arch;
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

crate::load::setting!(
    /// One hardening measure: a flag set of the standard environment and a
    /// property the health check reads from every ELF file.
    Protection {
        /// Position-independent executables (ASLR for the program itself).
        Pie = "pie",
        /// `-fstack-protector-strong`: a canary in every function with a
        /// local array or a local whose address is taken.
        StackProtector = "stack-protector",
        /// `-D_FORTIFY_SOURCE=2`: libc calls with known buffer sizes go
        /// through the checking `__*_chk` variants.
        Fortify = "fortify",
        /// `-Wl,-z,relro`: relocated data made read-only after start-up.
        Relro = "relro",
        /// `-Wl,-z,now`: every symbol bound at start-up, so all of RELRO
        /// (the GOT too) is read-only.
        BindNow = "bind-now",
        /// `-fstack-clash-protection`: large stack allocations are probed
        /// page by page. Not visible in a binary: never a policy property.
        StackClash = "stack-clash",
        /// `-fcf-protection=full` (x86-64): IBT landing pads and shadow-stack
        /// compatibility, marked in the GNU property note.
        CfProtection = "cf-protection",
    } default Pie
);

impl Protection {
    /// True when the health check can read this property from an ELF file
    /// (all but `stack-clash`, whose probes are not a reliable signature).
    pub fn checkable(self) -> bool {
        self != Protection::StackClash
    }

    /// The compile flags (CFLAGS, CXXFLAGS) turning it on, or off, for `arch`.
    fn cflags(self, on: bool, arch: Arch) -> &'static [&'static str] {
        match (self, on) {
            (Protection::StackProtector, true) => &["-fstack-protector-strong"],
            (Protection::StackProtector, false) => &["-fno-stack-protector"],
            (Protection::Fortify, true) => &["-D_FORTIFY_SOURCE=2"],
            (Protection::Fortify, false) => &["-U_FORTIFY_SOURCE"],
            (Protection::StackClash, true) => &["-fstack-clash-protection"],
            (Protection::StackClash, false) => &["-fno-stack-clash-protection"],
            (Protection::CfProtection, _) if arch != Arch::X86_64 => &[],
            (Protection::CfProtection, true) => &["-fcf-protection=full"],
            (Protection::CfProtection, false) => &["-fcf-protection=none"],
            _ => &[],
        }
    }

    /// The link flags (LDFLAGS) turning it on, or off.
    fn ldflags(self, on: bool) -> &'static [&'static str] {
        match (self, on) {
            (Protection::Relro, true) => &["-Wl,-z,relro"],
            (Protection::Relro, false) => &["-Wl,-z,norelro"],
            (Protection::BindNow, true) => &["-Wl,-z,now"],
            (Protection::BindNow, false) => &["-Wl,-z,lazy"],
            (Protection::Pie, false) => &["-no-pie"],
            _ => &[],
        }
    }
}

/// Flags a definition's `env` may not set itself (it opts out with
/// `[hardening] disable` instead): a word starting with one of these.
const OWN_FLAGS: &[&str] = &[
    "-fstack-protector",
    "-fno-stack-protector",
    "-D_FORTIFY_SOURCE",
    "-U_FORTIFY_SOURCE",
    "-fstack-clash-protection",
    "-fno-stack-clash-protection",
    "-fcf-protection",
    "-no-pie",
    "-Wl,-z,relro",
    "-Wl,-z,norelro",
    "-Wl,-z,now",
    "-Wl,-z,lazy",
];

/// A software definition's `[hardening]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HardeningDef {
    /// Protections this component is built without, each with the reason
    /// (required, non-empty): `disable = { fortify = "..." }`.
    #[serde(default)]
    pub disable: BTreeMap<Protection, String>,
}

impl HardeningDef {
    /// Validate at load: every reason says something; no `env` value of the
    /// definition sets a hardening flag itself. Errors name `file:line:col`.
    pub fn check(
        &self,
        env_tables: &[(&[&str], &BTreeMap<String, String>)],
        at: &Spans,
    ) -> Result<()> {
        for (p, reason) in &self.disable {
            if reason.trim().is_empty() {
                bail!(
                    "{}: [hardening] disable: {p} needs its reason (a sentence saying why this \
                     component cannot be built with it), got \"{reason}\"",
                    at.at(&["hardening", "disable", p.as_str()])
                );
            }
        }
        for (table, env) in env_tables {
            for (k, v) in *env {
                if let Some(w) = v
                    .split_whitespace()
                    .find(|w| OWN_FLAGS.iter().any(|f| w.starts_with(f)))
                {
                    let mut keys = table.to_vec();
                    keys.push(k);
                    bail!(
                        "{}: {k} sets the hardening flag \"{w}\": the standard environment \
                         adds the hardening flags itself; to build without one, write \
                         [hardening] disable = {{ <protection> = \"<reason>\" }} \
                         (protections: {})",
                        at.at(&keys),
                        Protection::valid()
                    );
                }
            }
        }
        Ok(())
    }
}

/// The hardening flags of one build: what goes into `CFLAGS`/`CXXFLAGS` and
/// into `LDFLAGS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flags {
    /// Compile flags.
    pub cflags: Vec<&'static str>,
    /// Link flags.
    pub ldflags: Vec<&'static str>,
}

impl Flags {
    /// Every protection on for `arch`, but those in `disabled` (turned off
    /// explicitly, since some compilers turn them on by default).
    pub fn new<'a>(
        arch: Arch,
        disabled: impl IntoIterator<Item = &'a Protection> + Clone,
    ) -> Flags {
        let off = |p: Protection| disabled.clone().into_iter().any(|d| *d == p);
        let mut f = Flags {
            cflags: vec![],
            ldflags: vec![],
        };
        for &p in Protection::ALL {
            f.cflags.extend(p.cflags(!off(p), arch));
            f.ldflags.extend(p.ldflags(!off(p)));
        }
        f
    }

    /// Put these flags into `env` (`CFLAGS`, `CXXFLAGS`, `LDFLAGS`), after
    /// removing any hardening flag already there: what a definition's `env`
    /// set is kept, the hardening is this set's.
    pub fn apply(&self, env: &mut BTreeMap<String, String>) {
        let all = |ld: bool| -> Vec<&'static str> {
            Protection::ALL
                .iter()
                .flat_map(|p| {
                    [true, false].into_iter().flat_map(move |on| {
                        if ld {
                            p.ldflags(on)
                        } else {
                            p.cflags(on, Arch::X86_64)
                        }
                    })
                })
                .copied()
                .collect()
        };
        for (var, ld) in [("CFLAGS", false), ("CXXFLAGS", false), ("LDFLAGS", true)] {
            let known = all(ld);
            let mine = if ld { &self.ldflags } else { &self.cflags };
            let old = env.get(var).map(String::as_str).unwrap_or("");
            let mut words: Vec<&str> = old
                .split_whitespace()
                .filter(|w| !known.contains(w))
                .collect();
            words.extend(mine.iter().copied());
            env.insert(var.to_string(), words.join(" "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_per_arch_and_opt_out() {
        let f = Flags::new(Arch::X86_64, &[]);
        assert_eq!(
            f.cflags,
            [
                "-fstack-protector-strong",
                "-D_FORTIFY_SOURCE=2",
                "-fstack-clash-protection",
                "-fcf-protection=full"
            ]
        );
        assert_eq!(f.ldflags, ["-Wl,-z,relro", "-Wl,-z,now"]);
        let a = Flags::new(Arch::Aarch64, &[]);
        assert!(!a.cflags.iter().any(|c| c.contains("cf-protection")));
        let off = Flags::new(Arch::X86_64, &[Protection::Fortify, Protection::Pie]);
        assert!(off.cflags.contains(&"-U_FORTIFY_SOURCE"));
        assert!(!off.cflags.contains(&"-D_FORTIFY_SOURCE=2"));
        assert!(off.ldflags.contains(&"-no-pie"));
    }

    #[test]
    fn apply_keeps_the_definitions_flags_and_replaces_hardening() {
        let mut env: BTreeMap<String, String> = [
            (
                "CFLAGS",
                "-O2 -fPIC -DX=1 -fstack-protector-strong -D_FORTIFY_SOURCE=2",
            ),
            ("LDFLAGS", "-L/p/lib -Wl,-z,relro -Wl,-z,now"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Flags::new(Arch::X86_64, &[Protection::StackProtector]).apply(&mut env);
        assert_eq!(
            env["CFLAGS"],
            "-O2 -fPIC -DX=1 -fno-stack-protector -D_FORTIFY_SOURCE=2 \
             -fstack-clash-protection -fcf-protection=full"
        );
        assert_eq!(env["LDFLAGS"], "-L/p/lib -Wl,-z,relro -Wl,-z,now");
        assert!(env["CXXFLAGS"].starts_with("-fno-stack-protector"));
    }

    /// A definition `a.toml` with `extra` after its top-level keys.
    fn def(dir: &std::path::Path, extra: &str) -> Result<crate::load::SoftwareDef> {
        let p = dir.join("a.toml");
        std::fs::write(
            &p,
            format!(
                "name = \"a\"\nlicense = \"MIT\"\ndefault_version = \"1\"\nsteps = [\"true\"]\n\
                 {extra}\n[[version]]\nversion = \"1\"\nsha256 = \"{}\"\nurl = [\"http://127.0.0.1/a.tgz\"]\n",
                "a".repeat(64)
            ),
        )
        .unwrap();
        crate::load::load_software(&p)
    }

    #[test]
    fn a_definition_opts_out_with_a_reason_checked_at_load() {
        let d = tempfile::tempdir().unwrap();
        let ok = def(
            d.path(),
            "[hardening]\ndisable = { fortify = \"its own memcpy wrappers trip __memcpy_chk\" }",
        )
        .unwrap();
        assert_eq!(
            ok.hardening.disable.keys().collect::<Vec<_>>(),
            [&Protection::Fortify]
        );
        assert!(def(d.path(), "").unwrap().hardening.disable.is_empty());
        for (extra, at, says) in [
            (
                "[hardening]\ndisable = { fortiffy = \"a reason\" }",
                "a.toml:6:",
                "unknown variant `fortiffy`",
            ),
            (
                "[hardening]\ndisable = { pie = \"  \" }",
                "a.toml:6:19",
                "pie needs its reason",
            ),
            (
                "[hardening]\nenable = []",
                "a.toml:6:1",
                "unknown field `enable`",
            ),
            (
                "[env]\nCFLAGS = \"-O2 -fno-stack-protector\"",
                "a.toml:6:10",
                "sets the hardening flag \"-fno-stack-protector\"",
            ),
            (
                "[targets.linux.env]\nLDFLAGS = \"-Wl,-z,lazy\"",
                "a.toml:6:11",
                "[hardening] disable",
            ),
        ] {
            let e = format!("{:#}", def(d.path(), extra).unwrap_err());
            assert!(e.contains(at) && e.contains(says), "{extra}: {e}");
        }
        // A version's env is checked too (`[[version]]` tables come last).
        def(d.path(), "").unwrap();
        let p = d.path().join("a.toml");
        let text =
            std::fs::read_to_string(&p).unwrap() + "env = { CFLAGS = \"-D_FORTIFY_SOURCE=3\" }\n";
        std::fs::write(&p, text).unwrap();
        let e = format!("{:#}", crate::load::load_software(&p).unwrap_err());
        assert!(
            e.contains("a.toml:10:") && e.contains("_FORTIFY_SOURCE=3"),
            "{e}"
        );
    }

    #[test]
    fn the_health_policy_lists_checkable_properties() {
        let d = tempfile::tempdir().unwrap();
        let load = |h: &str| {
            let p = d.path().join("p.toml");
            std::fs::write(
                &p,
                format!(
                    "name = \"p\"\nversion = \"1\"\ninstall_dir = \"/opt/p\"\n\
                     components = [\"a\"]\n[health]\nhardening = {h}\n"
                ),
            )
            .unwrap();
            crate::load::load_project(&p).map_err(|e| format!("{e:#}"))
        };
        let p = load("[\"pie\", \"relro\"]").unwrap();
        assert_eq!(
            p.health.hardening,
            Some(vec![Protection::Pie, Protection::Relro])
        );
        let e = load("[\"pie\", \"stack-clash\"]").unwrap_err();
        assert!(
            e.contains("p.toml:6:21") && e.contains("cannot be read from a binary"),
            "{e}"
        );
        let e = load("[\"nx\"]").unwrap_err();
        assert!(
            e.contains("p.toml:6:") && e.contains("unknown variant `nx`"),
            "{e}"
        );
    }
}
