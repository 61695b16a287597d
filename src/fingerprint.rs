//! fingerprint: the one way a cache key is made.
//!
//! Every key (a component's artifact, a wheel, the app's build backend, the
//! staged tree, the provenance files, the packages in dist/) is a
//! [`Fingerprint`]: a kind, named parts serialised with serde into canonical
//! JSON (object keys sorted), and the one [`SCHEMA`] constant, hashed with
//! sha256. Never `Debug` output: it is not a stable format.
//!
//! A key never depends on where the build runs: the [`Places`] of a build (its
//! build prefix, its cache root) are replaced by fixed tokens in the canonical
//! text, so another user, checkout or project resolving the same component
//! gets the same key (and can take its artifact from a shared cache).

use crate::util::sha256_bytes;
use serde::Serialize;
use serde_json::{Map, Value};

/// Bumped whenever the meaning of any key, or what a keyed thing holds
/// (artifact layout, staging, relocation, wheel building), changes: every
/// cached thing made by an older ferrobus is then made again.
pub const SCHEMA: u32 = 11;

/// Paths a key must not depend on, each with the token that stands for it.
#[derive(Debug, Clone, Default)]
pub struct Places(Vec<(String, &'static str)>);

impl Places {
    /// The places `pairs` (path, token); longer paths are replaced first, so a
    /// prefix inside the cache root becomes its own token.
    pub fn new(pairs: impl IntoIterator<Item = (std::path::PathBuf, &'static str)>) -> Places {
        let mut v: Vec<(String, &'static str)> = pairs
            .into_iter()
            .map(|(p, t)| (p.display().to_string(), t))
            .filter(|(p, _)| p.len() > 1)
            .collect();
        v.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Places(v)
    }

    /// `text` with every place replaced by its token.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (p, t) in &self.0 {
            out = out.replace(p.as_str(), t);
        }
        out
    }
}

/// The inputs of one cache key.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    kind: &'static str,
    parts: Map<String, Value>,
    places: Places,
}

impl Fingerprint {
    /// A fingerprint of one kind of cached thing (`component`, `wheel`, ...).
    pub fn new(kind: &'static str) -> Fingerprint {
        Fingerprint {
            kind,
            parts: Map::new(),
            places: Places::default(),
        }
    }

    /// Key this fingerprint independently of `places` (the build's prefix and
    /// cache root): they are replaced by tokens in the canonical text.
    pub fn placed(mut self, places: &Places) -> Fingerprint {
        self.places = places.clone();
        self
    }

    /// Add a named part. Panics only if `value` cannot be serialised, which
    /// no type used in a key can fail (plain data, string-keyed maps).
    pub fn with(mut self, name: &str, value: impl Serialize) -> Fingerprint {
        let v = serde_json::to_value(value)
            .unwrap_or_else(|e| panic!("fingerprint part {name} does not serialise: {e}"));
        self.parts.insert(name.to_string(), v);
        self
    }

    /// [`Fingerprint::with`] when `when` holds (so that a part added later
    /// leaves the keys made without it as they were).
    pub fn with_if(self, name: &str, value: impl Serialize, when: bool) -> Fingerprint {
        if when { self.with(name, value) } else { self }
    }

    /// The canonical text that is hashed (kept public for `--json` plans and
    /// debugging a surprising miss).
    pub fn canonical(&self) -> String {
        let mut all = Map::new();
        all.insert("schema".into(), SCHEMA.into());
        all.insert("kind".into(), self.kind.into());
        all.insert("parts".into(), Value::Object(self.parts.clone()));
        self.places.apply(&Value::Object(all).to_string())
    }

    /// The key: sha256 of [`Fingerprint::canonical`], 64 hex digits.
    pub fn key(&self) -> String {
        sha256_bytes(self.canonical().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_are_canonical_and_depend_on_every_part() {
        let a: BTreeMap<&str, u32> = [("b", 2), ("a", 1)].into();
        let k1 = Fingerprint::new("x").with("m", &a).with("n", "v").key();
        let k2 = Fingerprint::new("x").with("n", "v").with("m", &a).key();
        assert_eq!(k1, k2, "part order does not matter");
        assert_ne!(k1, Fingerprint::new("y").with("m", &a).with("n", "v").key());
        assert_ne!(k1, Fingerprint::new("x").with("m", &a).with("n", "w").key());
        assert!(
            Fingerprint::new("x")
                .with("m", &a)
                .canonical()
                .contains(r#""m":{"a":1,"b":2}"#)
        );
    }

    #[test]
    fn keys_do_not_depend_on_the_places_of_the_build() {
        let key = |cache: &str, prefix: &str| {
            let places = Places::new([
                (std::path::PathBuf::from(prefix), "@PREFIX@"),
                (std::path::PathBuf::from(cache), "@CACHE@"),
            ]);
            Fingerprint::new("x")
                .with("cc", format!("{cache}/toolchains/zig/cc"))
                .with("prefix", prefix)
                .placed(&places)
                .key()
        };
        assert_eq!(
            key("/home/a/.cache/f", "/home/a/.cache/f/prefixes/demo/p___"),
            key("/b/c", "/b/c/prefixes/other/p______")
        );
        let other = Fingerprint::new("x")
            .with("cc", "/b/c/toolchains/gcc/cc")
            .with("prefix", "/b/c/prefixes/other/p______")
            .placed(&Places::new([(
                std::path::PathBuf::from("/b/c"),
                "@CACHE@",
            )]))
            .key();
        assert_ne!(key("/b/c", "/b/c/prefixes/other/p______"), other);
    }
}
