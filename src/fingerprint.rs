//! fingerprint: the one way a cache key is made.
//!
//! Every key (a component's artifact, a wheel, the app's build backend, the
//! staged tree, the provenance files, the packages in dist/) is a
//! [`Fingerprint`]: a kind, named parts serialised with serde into canonical
//! JSON (object keys sorted), and the one [`SCHEMA`] constant, hashed with
//! sha256. Never `Debug` output: it is not a stable format.

use crate::util::sha256_bytes;
use serde::Serialize;
use serde_json::{Map, Value};

/// Bumped whenever the meaning of any key, or what a keyed thing holds
/// (artifact layout, staging, relocation, wheel building), changes: every
/// cached thing made by an older ferrobus is then made again.
pub const SCHEMA: u32 = 10;

/// The inputs of one cache key.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    kind: &'static str,
    parts: Map<String, Value>,
}

impl Fingerprint {
    /// A fingerprint of one kind of cached thing (`component`, `wheel`, ...).
    pub fn new(kind: &'static str) -> Fingerprint {
        Fingerprint {
            kind,
            parts: Map::new(),
        }
    }

    /// Add a named part. Panics only if `value` cannot be serialised, which
    /// no type used in a key can fail (plain data, string-keyed maps).
    pub fn with(mut self, name: &str, value: impl Serialize) -> Fingerprint {
        let v = serde_json::to_value(value)
            .unwrap_or_else(|e| panic!("fingerprint part {name} does not serialise: {e}"));
        self.parts.insert(name.to_string(), v);
        self
    }

    /// The canonical text that is hashed (kept public for `--json` plans and
    /// debugging a surprising miss).
    /// [`Fingerprint::with`] when `when` holds (so that a part added later
    /// leaves the keys made without it as they were).
    pub fn with_if(self, name: &str, value: impl Serialize, when: bool) -> Fingerprint {
        if when { self.with(name, value) } else { self }
    }

    pub fn canonical(&self) -> String {
        let mut all = Map::new();
        all.insert("schema".into(), SCHEMA.into());
        all.insert("kind".into(), self.kind.into());
        all.insert("parts".into(), Value::Object(self.parts.clone()));
        Value::Object(all).to_string()
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
}
