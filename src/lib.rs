//! ferrobus: a full-stack installer builder.
//!
//! The pipeline, one module per stage: [`load`] → [`plan`] → [`fetch`] → [`build`]
//! (with [`extract`] and [`cache`]) → [`app`] → [`stage`] → [`provenance`]. Later
//! stages (relocate, check, package) consume the staged tree; [`verify`] reads
//! the written artifacts back.

pub mod app;
pub mod build;
pub mod cache;
pub mod check;
pub mod elf;
pub mod extract;
pub mod fetch;
pub mod fingerprint;
pub mod hardening;
pub mod load;
pub mod ops;
pub mod package;
pub mod paths;
pub mod plan;
pub mod provenance;
pub mod publish;
pub mod pypkg;
pub mod relocate;
pub mod stage;
pub mod target;
pub mod toolchain;
pub mod util;
pub mod verify;
pub mod windows;
