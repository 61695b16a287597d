//! rpm: an RPM package written with the `rpm` crate (being written).

use super::{Meta, Packager};
use anyhow::{Result, bail};
use std::path::Path;

/// The `rpm` format.
pub struct Rpm;

impl Packager for Rpm {
    fn format(&self) -> &'static str {
        "rpm"
    }

    fn file_name(&self, meta: &Meta) -> String {
        format!("{}-{}.x86_64.rpm", meta.name, meta.full_version())
    }

    fn write(&self, _root: &Path, _meta: &Meta, _out: &Path) -> Result<()> {
        bail!("the rpm format is not written yet")
    }
}
