//! pypkg: Python packaging names and formats, the bottom layer every stage that
//! deals with Python distributions reads them through.
//!
//! It owns the meaning of what Python's packaging specifications define, and
//! nothing of ferrobus' pipeline (it may import [`crate::util`], no other module of ferrobus):
//!
//! - [`name`]: distribution names, PEP 503 normalised ([`PackageName`]);
//! - versions: PEP 440's, the `pep440_rs` crate's [`Version`];
//! - [`lock`]: the requirements lock (pip's `--require-hashes` format), each
//!   entry a PEP 508 requirement parsed by `pep508_rs` ([`Requirement`]), and
//!   [`LockedApp`], what later stages read of a locked application;
//! - [`wheel`]: wheel file names and tags ([`WheelName`]), whether one fits an
//!   [`Interpreter`], and the record of the file a built wheel came from;
//! - [`buildlock`]: the build lock (the file each distribution is built from,
//!   the build requirements of each sdist), and [`index`]: where a locked file
//!   is downloaded from (pip's configured indexes);
//! - [`metadata`]: a `.dist-info`'s `METADATA` ([`Metadata`], the license its
//!   fields determine, if any) and `entry_points.txt` ([`console_scripts`]).

pub mod buildlock;
pub mod index;
pub mod lock;
pub mod metadata;
pub mod name;
pub mod wheel;

pub use lock::{LockedApp, Requirement, parse_lock};
pub use metadata::{EntryPoint, Metadata, console_scripts, is_spdx};
pub use name::{InvalidName, PackageName};
pub use pep440_rs::Version;
pub use wheel::{Interpreter, WheelName, WheelSource};
