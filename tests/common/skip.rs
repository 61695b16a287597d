//! Tests that cannot run here. A test missing a prerequisite (root, wine, zig,
//! setpriv) calls [`skip`] and returns, or [`skip_part`] and goes on with the
//! rest: never a silent pass.
//!
//! - Under `CI=true` both panic: in CI a missing prerequisite is a failure.
//! - Otherwise they print `SKIPPED <test>: <reason>` to stderr and append the
//!   line `<test>: <reason>` (`<test>: (part) <reason>` for a part) to the file
//!   named by `FERROBUS_SKIP_LOG`, from which scripts/test counts the skipped
//!   tests and lists them with their reasons.

use std::io::Write;

/// The calling test cannot run here: `missing` says which prerequisite is
/// missing, `remedy` what provides it (e.g. "scripts/deps installs it"). The
/// caller returns right after; the test is reported as skipped, not passed.
pub fn skip(missing: &str, remedy: &str) {
    record(false, missing, remedy);
}

/// Like [`skip`], for one part of the calling test, which goes on with the
/// rest: it counts as passed and is listed with the reason.
pub fn skip_part(missing: &str, remedy: &str) {
    record(true, missing, remedy);
}

/// The running test's name, `<test file>::<test function>` (libtest names
/// each test's thread after the test).
pub fn test_name() -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("unknown test");
    format!("{}::{name}", env!("CARGO_CRATE_NAME"))
}

fn record(part: bool, missing: &str, remedy: &str) {
    let test = test_name();
    let reason = format!("{missing}; {remedy}").replace('\n', " ");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        let what = if part {
            "part of this test"
        } else {
            "this test"
        };
        panic!(
            "{test}: {reason}\n(CI=true: a missing prerequisite fails {what} instead of skipping it)"
        );
    }
    let reason = if part {
        format!("(part) {reason}")
    } else {
        reason
    };
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(log) = std::env::var_os("FERROBUS_SKIP_LOG").filter(|l| !l.is_empty()) {
        // One write of one line to a file opened for appending: lines of tests
        // running at the same time do not mix.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("FERROBUS_SKIP_LOG {}: {e}", log.to_string_lossy()));
        f.write_all(format!("{test}: {reason}\n").as_bytes())
            .unwrap_or_else(|e| panic!("FERROBUS_SKIP_LOG {}: {e}", log.to_string_lossy()));
    }
}
