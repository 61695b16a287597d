//! pypkg::name: distribution names, validated and normalised.
//!
//! The normalisation is PEP 503's (lowercase, every run of `-`, `_` and `.` one
//! `-`), the validity rule PEP 508's; both are those of `pep508_rs::PackageName`,
//! which [`PackageName`] wraps so that the rest of ferrobus names one type of its
//! own (the one `pep508_rs` requirements convert into) and reads it as a `&str`.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// A distribution's name, PEP 503 normalised: `PyYAML`, `pyyaml` and `PyYaml`
/// are one name, `pyyaml`; `zope.interface` is `zope-interface`. Displays,
/// serialises and dereferences as the normalised string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PackageName(pep508_rs::PackageName);

/// A string that is not a valid distribution name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName(pub String);

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not a valid distribution name (letters, digits, `-`, `_` and `.`, \
             starting and ending with a letter or digit)",
            self.0
        )
    }
}

impl std::error::Error for InvalidName {}

impl PackageName {
    /// The normalised name.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The name as `.dist-info` directories and wheel file names spell it
    /// (`-` escaped as `_`): `zope_interface`.
    pub fn as_dist_info_name(&self) -> String {
        self.0.as_dist_info_name().into_owned()
    }
}

impl FromStr for PackageName {
    type Err = InvalidName;

    /// Validate and normalise `name` (surrounding whitespace ignored).
    fn from_str(name: &str) -> Result<Self, InvalidName> {
        let trimmed = name.trim();
        match trimmed.parse() {
            // pep508_rs takes "" for a name.
            Ok(n) if !trimmed.is_empty() => Ok(PackageName(n)),
            _ => Err(InvalidName(name.to_string())),
        }
    }
}

impl From<pep508_rs::PackageName> for PackageName {
    fn from(name: pep508_rs::PackageName) -> Self {
        PackageName(name)
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Deref for PackageName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// Lookups by `&str` in maps keyed by names: the order, equality and hash are
/// the normalised string's.
impl Borrow<str> for PackageName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for PackageName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for PackageName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PackageName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PackageName {
        s.parse().unwrap()
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(n("PyYAML"), "pyyaml");
        assert_eq!(n("zope.interface"), "zope-interface");
        assert_eq!(n("a__b-_c"), "a-b-c");
        assert_eq!(n("  Foo_Bar \n").to_string(), "foo-bar");
        assert_eq!(n("Foo.Bar"), n("foo_bar"));
        assert_eq!(n("zope.interface").as_dist_info_name(), "zope_interface");
    }

    #[test]
    fn invalid_names_are_refused() {
        for bad in ["", "-a", "a-", "a b", "a/b", "a==1", "é"] {
            let e = bad.parse::<PackageName>().unwrap_err().to_string();
            assert!(e.contains("is not a valid distribution name"), "{bad}: {e}");
        }
    }

    #[test]
    fn names_serialise_as_strings() {
        let name = n("Foo_Bar");
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"foo-bar\"");
        let back: PackageName = serde_json::from_str("\"FOO.bar\"").unwrap();
        assert_eq!(back, name);
        assert!(serde_json::from_str::<PackageName>("\"a b\"").is_err());
        // Sorted by the normalised name.
        let mut v = [n("b"), n("A_c"), n("a-b")];
        v.sort();
        assert_eq!(v.map(|x| x.to_string()), ["a-b", "a-c", "b"]);
    }
}
