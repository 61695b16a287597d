//! shell: the self-extracting `.sh` installer (being written).

use super::{Meta, Packager};
use anyhow::{Result, bail};
use std::path::Path;

/// The `sh` format.
pub struct Shell;

impl Packager for Shell {
    fn format(&self) -> &'static str {
        "sh"
    }

    fn file_name(&self, meta: &Meta) -> String {
        format!("{}-{}.linux-x86_64.sh", meta.name, meta.full_version())
    }

    fn write(&self, _root: &Path, _meta: &Meta, _out: &Path) -> Result<()> {
        bail!("the sh format is not written yet")
    }
}
